//! `sovra diff`: what a policy change allows that was denied, and denies
//! that was allowed, for every possible request (docs/analysis.md).

use super::*;
use sovra::analysis::{diff::diff, Space};

/// How the changes are written.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum DiffFormat {
    /// For people.
    Text,
    /// `{"changes": [{"from", "to", "old_rules", "new_rules", "where", "example"}], …}`.
    Json,
    /// A table for a pull-request comment.
    Markdown,
}

/// The diff's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra diff --old policies/ --new proposed/
  sovra diff --old policies/ --new proposed/ --any-grants --format json
  sovra diff --old main/policies --new policies --format markdown > comment.md

Exit status: 0 when no request changes, 1 when some do, 2 on an error.")]
pub(super) struct Args {
    /// The policies before the change (files or folders); repeatable.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    old: Vec<PathBuf>,
    /// The policies after it; repeatable.
    #[arg(long, value_name = "PATH", required = true, num_args = 1..)]
    new: Vec<PathBuf>,
    #[command(flatten)]
    docs: DocArgs,
    /// Whatever grants anyone is given: every `exists grant` condition may
    /// hold or not, independently (instead of the grants document).
    #[arg(long)]
    any_grants: bool,
    /// Also report requests allowed by both whose obligations change.
    #[arg(long)]
    obligations: bool,
    /// The instant to decide at (RFC 3339). Absent: now.
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: DiffFormat,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let old = engine(&PolicyArgs { policies: a.old }, &a.docs)?;
    let new = engine(&PolicyArgs { policies: a.new }, &a.docs)?;
    let time = instant(&a.time)?;
    let space = Space::new(&[&old, &new], time, a.any_grants);
    let report = diff(&space, &old, &new, a.obligations).map_err(Fail)?;
    match a.format {
        DiffFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        DiffFormat::Text => {
            if report.changes.is_empty() {
                outln!(
                    "no request changes ({} classes of requests decided at {})",
                    report.classes,
                    report.time
                );
            } else {
                outln!(
                    "{} classes of requests change ({} decided at {}):",
                    report.changes.len(),
                    report.classes,
                    report.time
                );
            }
            for (i, c) in report.changes.iter().enumerate() {
                outln!();
                outln!("{}. {} -> {}", i + 1, c.from, c.to);
                outln!("   where {}", c.words);
                outln!("   before: {}", c.old_rules.join(", "));
                outln!("   after:  {}", c.new_rules.join(", "));
                if let Some((b, n)) = &c.obligations {
                    outln!("   obligations: [{}] -> [{}]", b.join(", "), n.join(", "));
                }
                outln!("   example: {}", c.example);
            }
            for c in &report.caveats {
                outln!();
                outln!("not covered: {c}");
            }
        }
        DiffFormat::Markdown => {
            outln!(
                "### sovra diff: {} classes of requests change",
                report.changes.len()
            );
            outln!();
            if !report.changes.is_empty() {
                outln!("| # | change | requests | before | after |");
                outln!("| --- | --- | --- | --- | --- |");
                for (i, c) in report.changes.iter().enumerate() {
                    outln!(
                        "| {} | {} → {} | {} | {} | {} |",
                        i + 1,
                        c.from,
                        c.to,
                        c.words.replace('|', "\\|"),
                        c.old_rules.join(", "),
                        c.new_rules.join(", ")
                    );
                }
                outln!();
            }
            outln!(
                "{} classes of requests decided at {}.",
                report.classes,
                report.time
            );
            for c in &report.caveats {
                outln!();
                outln!("> not covered: {c}");
            }
        }
    }
    Ok(u8::from(!report.changes.is_empty()))
}
