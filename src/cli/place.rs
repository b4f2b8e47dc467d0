//! `sovra place`: where may this data go now?

use super::*;

/// The placement's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra place --request docs/examples/store-us.json
  sovra place --policies policies/ --regions regions.json --request -")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    docs: DocArgs,
    /// A request; its `target_region` is ignored. `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let Args {
        policy,
        docs,
        request,
    } = a;
    let e = engine(&policy, &docs)?;
    let req = read_request(&request)?;
    fits(&e, &req, &request)?;
    outln!(
        "{}",
        serde_json::to_string_pretty(&sovra::placement::place(&e, &req, None))?
    );
    Ok(0)
}
