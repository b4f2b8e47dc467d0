//! `sovra check` and `sovra compile`: diagnostics, and the decision IR.

use super::*;

/// The check's options.
#[derive(clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
}

/// The compilation's options.
#[derive(clap::Args)]
pub(super) struct CompileArgs {
    #[command(flatten)]
    policy: PolicyArgs,
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
    match sovra::policy::compile(&s) {
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
