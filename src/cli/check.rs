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
    /// Treat warnings as errors (exit 2).
    #[arg(long)]
    deny_warnings: bool,
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
    let checked = sovra::policy::compile_all(&s);
    let mut diags = checked.errors.clone();
    diags.extend(checked.warnings.iter().cloned());
    let failed = !checked.errors.is_empty() || (a.deny_warnings && !checked.warnings.is_empty());
    let code = if failed { 2 } else { 0 };
    match a.format {
        DiagFormat::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&sovra::diag::records(&diags, &s))?
            );
            return Ok(code);
        }
        DiagFormat::Sarif => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&sovra::diag::sarif(&diags, &s))?
            );
            return Ok(code);
        }
        DiagFormat::Text => {}
    }
    if !diags.is_empty() {
        eprint!("{}", sovra::diag::render(&diags, &s));
    }
    if let Some(prog) = &checked.program {
        let w = checked.warnings.len();
        let n = prog.assertions.len();
        let assertions = match n {
            0 => String::new(),
            1 => ", 1 assertion".to_string(),
            _ => format!(", {n} assertions"),
        };
        outln!(
            "{}: {} file{}, {} rule{}{assertions}, {w} warning{}, policy {}",
            if failed { "refused" } else { "ok" },
            s.files.len(),
            if s.files.len() == 1 { "" } else { "s" },
            prog.rules.len(),
            if prog.rules.len() == 1 { "" } else { "s" },
            if w == 1 { "" } else { "s" },
            prog.hash()
        );
    }
    Ok(code)
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
