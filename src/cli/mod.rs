//! The `sovra` command line: argument parsing and output, one file per
//! command, on top of the library's public API only.

/// `println!` that never panics: output to a closed pipe (`| head`) is dropped.
macro_rules! outln {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that never panics.
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

mod audit;
mod catalog;
mod check;
mod diff;
mod eval;
mod explain;
mod export;
mod fmt;
mod generate;
mod lsp;
mod matrix;
mod place;
mod report;
mod serve;
mod state;
mod test;
mod verify;

use clap::{Parser, Subcommand, ValueEnum};
use sovra::documents::{bundled_regions, Grants, Regions};
use sovra::eval::{Decision, Engine};
use sovra::ir::Program;
use sovra::source::Sources;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sovra",
    version,
    about = "Decide where data may live and who may reach it from where"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct PolicyArgs {
    /// Policy files or folders (searched for `*.sov`); repeatable. Absent: the bundled library.
    #[arg(long = "policies", value_name = "PATH")]
    policies: Vec<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct DocArgs {
    /// The regions document. Absent: the bundled catalog of real cloud regions, all active.
    #[arg(long, value_name = "FILE")]
    regions: Option<PathBuf>,
    /// The grants document. Absent: no grants.
    #[arg(long, value_name = "FILE")]
    grants: Option<PathBuf>,
    /// Decide on a state store's regions and grants instead (`sqlite:PATH` or `postgres://…`).
    #[arg(long, value_name = "URL", conflicts_with_all = ["regions", "grants"])]
    state: Option<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

#[derive(Subcommand)]
enum Cmd {
    /// Decide one request (--request) or a JSON Lines batch (--requests).
    Eval(eval::Args),
    /// A compliance report over a decision log, as one HTML file or Markdown.
    Report(report::Args),
    /// Serve the evaluate API over HTTP (docs/api.md).
    Serve(serve::Args),
    /// Where may this data go now? Every catalog region where the request
    /// (without its target) would be allowed, and why the others are refused.
    Place(place::Args),
    /// Audit a decision log: verify it, replay it, or show its records.
    Audit {
        #[command(subcommand)]
        cmd: audit::Cmd,
    },
    /// Keep regions and grants in a state store: seed it, export its
    /// documents, change a region's status, verify its history.
    State {
        #[command(subcommand)]
        cmd: state::Cmd,
    },
    /// The cross-border grant workflow on a state store: request, approve,
    /// reject, revoke, list, show.
    Grants {
        #[command(subcommand)]
        cmd: state::GrantsCmd,
    },
    /// For every dataset with a copy in a failed region (a state store's),
    /// every region it may move to now, with the obligations that would apply.
    Failover(state::FailoverArgs),
    /// Refresh the region catalog from the providers' own listings.
    Catalog {
        #[command(subcommand)]
        cmd: catalog::Cmd,
    },
    /// What a policy change allows that was denied and denies that was
    /// allowed, for every possible request: exit 0 when nothing changes, 1
    /// when something does.
    Diff(diff::Args),
    /// Prove assertions about a policy set over every request (`assert NAME:
    /// never allow when …`): exit 0 when all hold, 1 with a counterexample.
    Verify(verify::Args),
    /// The static flow matrix: for each classification, profile and
    /// jurisdiction against each target region, allowed, denied (by which
    /// rule) or allowed only with a grant.
    Matrix(matrix::Args),
    /// Export the compiled policy to another policy language.
    Export(export::Args),
    /// Parse and check policies: exit 0 when clean, 2 with every diagnostic otherwise.
    Check(check::Args),
    /// Compile policies and print (or write) the decision IR.
    Compile(check::CompileArgs),
    /// Explain a decision in plain words: decide a request, or read a decision `eval` wrote.
    Explain(explain::Args),
    /// Run case files (`*.test.json`) against a policy set: exit 0 when all
    /// pass, 1 when any fails, 2 when a case file or policy is invalid.
    Test(test::Args),
    /// Lay policy files out one way (comments kept, the policy hash
    /// unchanged); --check lists the files that would change and exits 1.
    Fmt(fmt::Args),
    /// A language server over standard input and output: diagnostics as
    /// you type, hover, go to definition, formatting.
    Lsp(lsp::Args),
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell.
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff).
    Man(generate::ManArgs),
}

/// An error that ends the command with exit status 2.
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

/// Parses the command line and runs the command: exit 0 (allow, clean), 1
/// (deny, tampered), or 2 (an error, said on standard error).
pub fn run() -> ExitCode {
    let result = match parse().cmd {
        Cmd::Eval(a) => eval::run(a),
        Cmd::Report(a) => report::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Place(a) => place::run(a),
        Cmd::Audit { cmd } => audit::run(cmd),
        Cmd::Catalog { cmd } => catalog::run(cmd),
        Cmd::State { cmd } => state::run(cmd),
        Cmd::Grants { cmd } => state::grants(cmd),
        Cmd::Failover(a) => state::failover(a),
        Cmd::Diff(a) => diff::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Matrix(a) => matrix::run(a),
        Cmd::Export(a) => export::run(a),
        Cmd::Check(a) => check::check(a),
        Cmd::Compile(a) => check::compile(a),
        Cmd::Explain(a) => explain::run(a),
        Cmd::Test(a) => test::run(a),
        Cmd::Fmt(a) => fmt::run(a),
        Cmd::Lsp(a) => lsp::run(a),
        Cmd::Completions(a) => generate::completions(a),
        Cmd::Man(a) => generate::man(a),
    };
    finish(result)
}

/// The bundled library's version: the date its rules were last changed.
const BUNDLED_VERSION: &str = "2026-12-02";

/// Parses the command line; `--version` also names the bundled library and
/// its policy hash (compiled only when asked for).
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let asked = std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V");
    let mut cmd = Cli::command();
    if asked {
        let hash = sovra::policy::compile(&sovra::policy::bundled())
            .map_or_else(|_| "(does not compile)".to_string(), |p| p.hash());
        let rules = sovra::policy::bundled().files.len();
        let text = format!(
            "{} (bundled library {BUNDLED_VERSION}: {rules} files, policy {hash})",
            env!("CARGO_PKG_VERSION")
        );
        // Once, for --version, which exits: clap keeps &'static strs.
        cmd = cmd.version(&*Box::leak(text.into_boxed_str()));
    }
    let matches = cmd.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn finish(result: Result<u8, Fail>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fail(msg)) => {
            let msg = msg.trim_end();
            eprintln!("sovra: error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// How a path is named in messages (`-` is standard input).
fn name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

fn read(path: &Path) -> Result<String, Fail> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail(format!("cannot read standard input: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| Fail(format!("cannot read `{}`: {e}", path.display())))
}

/// One request read from a file (`-`: standard input), errors naming it.
fn read_request(path: &Path) -> Result<sovra::documents::Request<'static>, Fail> {
    sovra::documents::Request::from_json(&read(path)?)
        .map(sovra::documents::Request::into_owned)
        .map_err(|e| Fail(format!("{}: {e}", name(path))))
}

/// A request read for an engine over `docs`: with `--state`, a request that
/// names a registered dataset is filled in from the registry (an input error
/// when it contradicts it).
fn read_request_for(
    path: &Path,
    docs: &DocArgs,
) -> Result<sovra::documents::Request<'static>, Fail> {
    let mut req = read_request(path)?;
    if let Some(url) = &docs.state {
        let datasets = sovra::state::Store::open(url)?.datasets(None)?;
        sovra::state::fill(&mut req, &datasets)
            .map_err(|(_, why)| Fail(format!("{}: {why}", name(path))))?;
    }
    Ok(req)
}

/// A request whose declared fields have other types is an input error,
/// as a malformed request is, naming the file and the field.
fn fits(
    engine: &sovra::eval::Engine,
    req: &sovra::documents::Request,
    path: &Path,
) -> Result<(), Fail> {
    engine
        .check_request(req)
        .map_err(|m| Fail(format!("{}: {m}", name(path))))
}

fn sources(p: &PolicyArgs) -> Result<Sources, Fail> {
    if p.policies.is_empty() {
        Ok(sovra::policy::bundled())
    } else {
        Ok(sovra::policy::load(&p.policies)?)
    }
}

/// `--time`: the instant an analysis decides at (RFC 3339; absent: now).
fn instant(t: &Option<String>) -> Result<chrono::DateTime<chrono::Utc>, Fail> {
    match t {
        None => Ok(chrono::Utc::now()),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|x| x.with_timezone(&chrono::Utc))
            .map_err(|e| Fail(format!("--time: `{t}` is not an RFC 3339 time ({e})"))),
    }
}

fn program(p: &PolicyArgs) -> Result<Program, Fail> {
    let s = sources(p)?;
    sovra::policy::compile(&s).map_err(|d| {
        Fail(format!(
            "the policies do not compile:\n\n{}",
            sovra::diag::render(&d, &s)
        ))
    })
}

fn engine(p: &PolicyArgs, d: &DocArgs) -> Result<Engine, Fail> {
    let program = program(p)?;
    if let Some(url) = &d.state {
        let now = sovra::state::Store::open(url)?.snapshot()?;
        return Ok(Engine::new(program, now.regions, now.grants).with_state_version(now.version));
    }
    let regions = match &d.regions {
        None => bundled_regions(),
        Some(f) => Regions::from_json(&read(f)?).map_err(|e| Fail(format!("{}: {e}", name(f))))?,
    };
    let grants = match &d.grants {
        None => Grants::default(),
        // Streamed: a large grants file is never held in memory as text.
        Some(f) if f != Path::new("-") => Grants::from_file(f)
            .map_err(|e| Fail(format!("cannot read `{}`: {e}", f.display())))?
            .map_err(|e| Fail(format!("{}: {e}", name(f))))?,
        Some(f) => Grants::from_json(&read(f)?).map_err(|e| Fail(format!("{}: {e}", name(f))))?,
    };
    Ok(Engine::new(program, regions, grants))
}

fn print_decision(d: &Decision, format: Format) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(d)?)?,
        Format::Text => write!(out, "{}", sovra::explain::render(d))?,
    }
    Ok(())
}

/// Writes `text` to `output`, or to standard output.
fn write_out(output: Option<&Path>, text: &str) -> Result<(), Fail> {
    match output {
        Some(f) => std::fs::write(f, text)
            .map_err(|e| Fail(format!("cannot write `{}`: {e}", f.display())))?,
        None => out!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command's flags and arguments say what they do, and every
    /// command's `--help` ends with examples.
    #[test]
    fn every_flag_has_a_description_and_every_command_examples() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}: no description"));
                }
            }
            let leaf = cmd.get_subcommands().next().is_none();
            if leaf && !path.is_empty() {
                let examples = cmd
                    .get_after_help()
                    .or(cmd.get_after_long_help())
                    .is_some_and(|h| h.to_string().contains("Examples:"));
                if !examples {
                    missing.push(format!("{path}: no examples"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
