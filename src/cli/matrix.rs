//! `sovra matrix`: the static flow matrix (docs/analysis.md).

use super::*;
use sovra::analysis::matrix::{html, matrix, text};

/// How the matrix is written.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum MatrixFormat {
    /// One line a row, one mark a region.
    Text,
    /// Every cell, with its rule.
    Json,
    /// One self-contained page with the picture and a legend.
    Html,
}

/// The matrix's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra matrix
  sovra matrix --policies policies/ --regions regions.json --format html > matrix.html")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    docs: DocArgs,
    /// The action asked in every cell.
    #[arg(long, default_value = "store")]
    action: String,
    /// The instant to decide at (RFC 3339). Absent: now.
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: MatrixFormat,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let e = engine(&a.policy, &a.docs)?;
    let time = instant(&a.time)?;
    let m = matrix(&e, &a.action, time);
    match a.format {
        MatrixFormat::Text => out!("{}", text(&m)),
        MatrixFormat::Json => outln!("{}", serde_json::to_string_pretty(&m)?),
        MatrixFormat::Html => out!("{}", html(&m)),
    }
    Ok(0)
}
