//! `sovra export`: the compiled policy in another policy language.

use super::*;

/// The export's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra export --to rego -o sovra.rego
  sovra export --policies policies/ --to rego")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// The target language.
    #[arg(long, value_enum)]
    to: ExportTarget,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportTarget {
    /// A Rego v1 module (entry point `data.sovra.decision`).
    Rego,
}

#[cfg(not(feature = "rego"))]
pub(super) fn run(_: Args) -> Result<u8, Fail> {
    Err(Fail(
        "export: this build of sovra has no Rego bridge (built without the `rego` feature)".into(),
    ))
}

#[cfg(feature = "rego")]
pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let ExportTarget::Rego = a.to;
    let prog = program(&a.policy)?;
    write_out(a.output.as_deref(), &sovra::rego::export(&prog)?)?;
    Ok(0)
}
