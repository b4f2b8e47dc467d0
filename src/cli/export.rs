//! `sovra export`: the compiled policy in another policy language.

use super::*;

/// The export's options.
#[derive(clap::Args)]
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

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let ExportTarget::Rego = a.to;
    let prog = program(&a.policy)?;
    write_out(a.output.as_deref(), &sovra::rego::export(&prog)?)?;
    Ok(0)
}
