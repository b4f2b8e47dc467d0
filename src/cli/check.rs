//! `sovra check` and `sovra compile`: diagnostics, and the decision IR.

use super::*;

/// The check's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra check --policies policies/
  sovra check --policies policies/ --format sarif > sovra.sarif")]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// How to print diagnostics (on standard output for json and sarif).
    #[arg(long, value_enum, default_value = "text")]
    format: DiagFormat,
}

/// How `sovra check` prints diagnostics.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DiagFormat {
    /// For a person: each with its source lines underlined.
    Text,
    /// For tools: a JSON array, one object per diagnostic (severity, code,
    /// message, file, line, column, end_line, end_column, label, help).
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
}

/// The compilation's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra compile --policies policies/ --emit ir
  sovra compile --emit hash")]
pub(super) struct CompileArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// What to print: the IR for a person, its canonical JSON, or the policy hash.
    #[arg(long, value_enum, default_value = "ir")]
    emit: Emit,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// The IR as text for a person.
    Ir,
    /// The IR as JSON (its canonical, hashed form).
    Json,
    /// Only the policy hash.
    Hash,
}

pub(super) fn check(a: Args) -> Result<u8, Fail> {
    let s = sources(&a.policy)?;
    let result = sovra::policy::compile(&s);
    let diags = result.as_ref().err().map_or(&[][..], Vec::as_slice);
    match a.format {
        DiagFormat::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&sovra::diag::records(diags, &s))?
            );
            return Ok(if diags.is_empty() { 0 } else { 2 });
        }
        DiagFormat::Sarif => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&sovra::diag::sarif(diags, &s))?
            );
            return Ok(if diags.is_empty() { 0 } else { 2 });
        }
        DiagFormat::Text => {}
    }
    match result {
        Ok(prog) => {
            outln!(
                "ok: {} file{}, {} rule{}, policy {}",
                s.files.len(),
                if s.files.len() == 1 { "" } else { "s" },
                prog.rules.len(),
                if prog.rules.len() == 1 { "" } else { "s" },
                prog.hash()
            );
            Ok(0)
        }
        Err(d) => {
            eprint!("{}", sovra::diag::render(&d, &s));
            Ok(2)
        }
    }
}

pub(super) fn compile(a: CompileArgs) -> Result<u8, Fail> {
    let prog = program(&a.policy)?;
    let text = match a.emit {
        Emit::Ir => prog.render(),
        Emit::Json => format!("{}\n", serde_json::to_string_pretty(&prog)?),
        Emit::Hash => format!("{}\n", prog.hash()),
    };
    write_out(a.output.as_deref(), &text)?;
    Ok(0)
}
