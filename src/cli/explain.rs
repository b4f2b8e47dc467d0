//! `sovra explain`: a decision in plain words.

use super::*;
use sovra::eval::TraceLevel;

/// The explanation's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra explain --request docs/examples/store-us.json
  sovra eval --request req.json --explain full > d.json && sovra explain --decision d.json")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    docs: DocArgs,
    /// A request to decide (with a full trace) and explain; `-` reads standard input.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "decision",
        required_unless_present = "decision"
    )]
    request: Option<PathBuf>,
    /// A decision document written by `sovra eval --format json`.
    #[arg(long, value_name = "FILE")]
    decision: Option<PathBuf>,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let (p, docs, request, decision) = (
        &a.policy,
        &a.docs,
        a.request.as_deref(),
        a.decision.as_deref(),
    );
    let d: Decision = match (request, decision) {
        (Some(path), _) => {
            let engine = engine(p, docs)?;
            let req = read_request(path)?;
            fits(&engine, &req, path)?;
            engine.decide(&req, TraceLevel::Full)
        }
        (None, Some(path)) => serde_json::from_str(&read(path)?).map_err(|e| {
            Fail(format!(
                "{}: not a decision document written by `sovra eval`: {e}",
                path.display()
            ))
        })?,
        (None, None) => return Err(Fail("give --request FILE or --decision FILE".into())),
    };
    out!("{}", sovra::explain::render(&d));
    Ok(if d.allowed() { 0 } else { 1 })
}
