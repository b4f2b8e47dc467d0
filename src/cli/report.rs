//! `sovra report`: a compliance report over a log that verifies.

use super::audit::{rfc3339, verify_first};
use super::*;

/// The report's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra report decisions/ --format html -o report.html
  sovra report decisions/ --format md --since 2026-11-01T00:00:00Z --grants grants.json")]
pub(super) struct Args {
    /// The decision log folder (it must verify, unless --unverified).
    dir: PathBuf,
    /// The current grants document, for grants expiring within 30 days.
    #[arg(long, value_name = "FILE")]
    grants: Option<PathBuf>,
    /// `html` (one self-contained file with charts) or `md` (Markdown).
    #[arg(long, value_enum)]
    format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Records written at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Records written before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Build the report even when the log does not verify (every page
    /// then carries a banner saying so).
    #[arg(long)]
    unverified: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ReportFormat {
    Html,
    Md,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let Some(checked) = verify_first(&a.dir, a.unverified)? else {
        return Ok(1);
    };
    let grants = match &a.grants {
        None => None,
        Some(f) => Some(
            Grants::from_file(f)
                .map_err(|e| Fail(format!("cannot read `{}`: {e}", f.display())))?
                .map_err(|e| Fail(format!("{}: {e}", name(f))))?,
        ),
    };
    let mut r = sovra::report::gather(
        &a.dir,
        grants.as_ref(),
        rfc3339(a.since)?,
        rfc3339(a.until)?,
    )?;
    (r.log_records, r.log_head, r.unverified) = (checked.records, checked.head, checked.defect);
    let text = match a.format {
        ReportFormat::Html => sovra::report::html(&r),
        ReportFormat::Md => sovra::report::markdown(&r),
    };
    write_out(a.output.as_deref(), &text)?;
    Ok(0)
}
