//! The `sovra` command line: argument parsing and output, on top of the
//! library's public API only.

use clap::{Parser, Subcommand, ValueEnum};
use sovra::documents::{bundled_regions, Grants, Regions, Request};
use sovra::eval::{Decision, Engine, Scratch, TraceLevel};
use sovra::ir::Program;
use sovra::source::Sources;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum Explain {
    Off,
    Summary,
    Full,
}

impl From<Explain> for TraceLevel {
    fn from(e: Explain) -> Self {
        match e {
            Explain::Off => TraceLevel::Off,
            Explain::Summary => TraceLevel::Summary,
            Explain::Full => TraceLevel::Full,
        }
    }
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the chain, hashes, sequence and stored objects: exit 0 clean, 1 tampered, 2 error.
    Verify { dir: PathBuf },
    /// Decide every record again from its stored policy and documents (exit 1
    /// on any difference); with --policies, show which decisions a new policy would change.
    Replay {
        dir: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Examples to show per rule and direction.
        #[arg(long, default_value = "3")]
        examples: usize,
    },
    /// Print the records that match every filter given.
    Show {
        dir: PathBuf,
        #[arg(long)]
        decision: Option<String>,
        /// A determining rule.
        #[arg(long)]
        rule: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        resource: Option<String>,
        /// A source or target region id.
        #[arg(long)]
        region: Option<String>,
        /// The principal's country or the country of a region of the request.
        #[arg(long)]
        country: Option<String>,
        /// Records at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Records written before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Show records even when the log does not verify (with a banner).
        #[arg(long)]
        unverified: bool,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ReportFormat {
    Html,
    Md,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum EngineKind {
    Sovra,
    /// regorus's interpreter on the exported Rego.
    Rego,
    /// regorus's compiled RVM on the exported Rego.
    RegoRvm,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportTarget {
    /// A Rego v1 module (entry point `data.sovra.decision`).
    Rego,
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

#[derive(Subcommand)]
enum Cmd {
    /// Decide one request (--request) or a JSON Lines batch (--requests).
    Eval {
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        docs: DocArgs,
        /// One request (JSON); `-` reads standard input. Exit 0 allow, 1 deny, 2 error.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "requests",
            required_unless_present = "requests"
        )]
        request: Option<PathBuf>,
        /// JSON Lines, one request a line; `-` reads standard input. Exit 0, or 2 if any line failed.
        #[arg(long, value_name = "FILE")]
        requests: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        #[arg(long, value_enum, default_value = "off")]
        explain: Explain,
        /// Which engine decides: Sovra's own, or regorus on the exported Rego
        /// (its interpreter, or its compiled RVM), to cross-check.
        #[arg(long, value_enum, default_value = "sovra")]
        engine: EngineKind,
        /// Append every decision to the tamper-evident log in this folder
        /// (fsynced before the decision is printed).
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
        /// A request field to store as a keyed hash in the log (`principal.id`); repeatable.
        #[arg(long, value_name = "FIELD", requires = "log")]
        mask: Vec<String>,
    },
    /// A compliance report over a decision log, as one HTML file or Markdown.
    Report {
        dir: PathBuf,
        /// The current grants document, for grants expiring within 30 days.
        #[arg(long, value_name = "FILE")]
        grants: Option<PathBuf>,
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
    },
    /// Serve the evaluate API over HTTP (docs/api.md).
    Serve {
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        docs: DocArgs,
        /// The address to listen on; without --tokens it must be loopback.
        #[arg(long, default_value = "127.0.0.1:8181")]
        addr: std::net::SocketAddr,
        /// Bearer tokens, one a line: `evaluate TOKEN` or `admin TOKEN`.
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
        /// Append every decision to the decision log in this folder.
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
        /// The largest request body accepted, in bytes.
        #[arg(long, default_value = "67108864")]
        max_body: usize,
        /// The longest a request may take, in milliseconds; its work stops then too.
        #[arg(long, default_value = "10000")]
        timeout_ms: u64,
        /// A request field to store as a keyed hash in the log (`principal.id`); repeatable.
        #[arg(long, value_name = "FIELD", requires = "log")]
        mask: Vec<String>,
        /// Decide at each request's own `time` instead of the server's clock
        /// (for replays and tests; otherwise only tokens with the `historic` scope may).
        #[arg(long)]
        trust_request_time: bool,
        /// The most connections at once; more are closed when accepted.
        #[arg(long, default_value = "1024")]
        max_connections: usize,
        /// How long a connection may take to send a request's headers, and
        /// stay idle between requests, in milliseconds.
        #[arg(long, default_value = "5000")]
        header_timeout_ms: u64,
        /// The most requests in one batch.
        #[arg(long, default_value = "10000")]
        max_batch: usize,
    },
    /// Where may this data go now? Every catalog region where the request
    /// (without its target) would be allowed, and why the others are refused.
    Place {
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        docs: DocArgs,
        /// A request; its `target_region` is ignored. `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
    },
    /// Audit a decision log: verify it, replay it, or show its records.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Export the compiled policy to another policy language.
    Export {
        #[command(flatten)]
        policy: PolicyArgs,
        /// The target language.
        #[arg(long, value_enum)]
        to: ExportTarget,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Parse and check policies: exit 0 when clean, 2 with every diagnostic otherwise.
    Check {
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Compile policies and print (or write) the decision IR.
    Compile {
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long, value_enum, default_value = "ir")]
        emit: Emit,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Explain a decision in plain words: decide a request, or read a decision `eval` wrote.
    Explain {
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
    },
}

/// An error that ends the command with exit status 2.
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Audit { cmd } => audit(cmd),
        Cmd::Serve {
            policy,
            docs,
            addr,
            tokens,
            log,
            max_body,
            timeout_ms,
            mask,
            trust_request_time,
            max_connections,
            header_timeout_ms,
            max_batch,
        } => {
            let e = engine(&policy, &docs);
            e.and_then(|e| {
                let cfg = crate::server::Config {
                    policies: policy.policies.clone(),
                    addr,
                    tokens,
                    log,
                    mask,
                    max_body,
                    timeout: std::time::Duration::from_millis(timeout_ms),
                    trust_request_time,
                    max_connections: max_connections.max(1),
                    header_timeout: std::time::Duration::from_millis(header_timeout_ms.max(1)),
                    max_batch,
                };
                crate::server::run(cfg, e.regions().clone(), e.grants().clone())
                    .map(|_| 0)
                    .map_err(Fail)
            })
        }
        Cmd::Place {
            policy,
            docs,
            request,
        } => (|| {
            let e = engine(&policy, &docs)?;
            let req = Request::from_json(&read(&request)?)
                .map_err(|err| Fail(format!("{}: {err}", name(&request))))?;
            outln!(
                "{}",
                serde_json::to_string_pretty(&sovra::placement::place(&e, &req, None))?
            );
            Ok(0)
        })(),
        Cmd::Report {
            dir,
            grants,
            format,
            output,
            since,
            until,
            unverified,
        } => report(
            &dir,
            grants.as_deref(),
            format,
            output.as_deref(),
            (since, until),
            unverified,
        ),
        Cmd::Eval {
            policy,
            docs,
            request,
            requests,
            format,
            explain,
            engine,
            log,
            mask,
        } => {
            let level: TraceLevel = explain.into();
            if let Some(dir) = log {
                if engine != EngineKind::Sovra {
                    return finish(Err(Fail("--log needs the native engine".into())));
                }
                eval_logged(
                    &policy,
                    &docs,
                    request.as_deref(),
                    requests.as_deref(),
                    format,
                    level,
                    &dir,
                    &mask,
                )
            } else if engine == EngineKind::Sovra {
                eval(
                    &policy,
                    &docs,
                    request.as_deref(),
                    requests.as_deref(),
                    format,
                    level,
                )
            } else if level != TraceLevel::Off {
                Err(Fail(
                    "--explain needs the native engine: regorus decides without Sovra's trace"
                        .into(),
                ))
            } else {
                let rvm = engine == EngineKind::RegoRvm;
                eval_rego(
                    &policy,
                    &docs,
                    request.as_deref(),
                    requests.as_deref(),
                    format,
                    rvm,
                )
            }
        }
        Cmd::Export {
            policy,
            to: ExportTarget::Rego,
            output,
        } => export(&policy, output.as_deref()),
        Cmd::Check { policy } => check(&policy),
        Cmd::Compile {
            policy,
            emit,
            output,
        } => compile(&policy, emit, output.as_deref()),
        Cmd::Explain {
            policy,
            docs,
            request,
            decision,
        } => explain(&policy, &docs, request.as_deref(), decision.as_deref()),
    };
    finish(result)
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

fn sources(p: &PolicyArgs) -> Result<Sources, Fail> {
    if p.policies.is_empty() {
        Ok(sovra::policy::bundled())
    } else {
        Ok(sovra::policy::load(&p.policies)?)
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

fn eval(
    p: &PolicyArgs,
    docs: &DocArgs,
    request: Option<&Path>,
    requests: Option<&Path>,
    format: Format,
    level: TraceLevel,
) -> Result<u8, Fail> {
    let engine = engine(p, docs)?;
    if let Some(path) = request {
        let text = read(path)?;
        let req = Request::from_json(&text).map_err(|e| Fail(format!("{}: {e}", name(path))))?;
        let d = engine.decide(&req, level);
        print_decision(&d, format)?;
        return Ok(if d.allowed() { 0 } else { 1 });
    }
    let Some(path) = requests else {
        return Err(Fail("give --request FILE or --requests FILE".into()));
    };
    let text = read(path)?;
    batch(&engine, &text, format, level)
}

/// Decides JSON Lines on every core, printing results in input order. The
/// input is cut into pieces of whole lines; workers take pieces as they free
/// up and the main thread writes finished pieces in order.
fn batch(engine: &Engine, text: &str, format: Format, level: TraceLevel) -> Result<u8, Fail> {
    const PIECE: usize = 64 * 1024;
    let bytes = text.as_bytes();
    // (start, end, number of the first line)
    let mut pieces = Vec::new();
    let (mut start, mut line) = (0usize, 1usize);
    while start < bytes.len() {
        let cut = (start + PIECE).min(bytes.len());
        let end = bytes
            .get(cut..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
            .map_or(bytes.len(), |i| cut + i + 1);
        pieces.push((start, end, line));
        line += bytes
            .get(start..end)
            .map_or(0, |p| p.iter().filter(|b| **b == b'\n').count());
        start = end;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<u8>, bool)>();
    let mut failed = false;
    std::thread::scope(|s| -> Result<(), Fail> {
        for _ in 0..threads {
            let (tx, next, pieces) = (tx.clone(), &next, &pieces);
            s.spawn(move || {
                // A request read into again and again, and the engine's buffers.
                let mut reused = (Request::default(), Scratch::default());
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(a, b, first)) = pieces.get(i) else {
                        break;
                    };
                    let piece = text.get(a..b).unwrap_or("");
                    let mut buf = Vec::with_capacity(piece.len() * 2);
                    let mut ok = true;
                    for (k, l) in piece.lines().enumerate() {
                        if !l.trim().is_empty() {
                            ok &= one_line(
                                engine,
                                first + k,
                                l,
                                format,
                                level,
                                &mut reused,
                                &mut buf,
                            );
                        }
                    }
                    if tx.send((i, buf, ok)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut out = std::io::stdout().lock();
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (i, buf, ok) in rx {
            failed |= !ok;
            waiting.insert(i, buf);
            while let Some(buf) = waiting.remove(&due) {
                out.write_all(&buf)?;
                due += 1;
            }
        }
        out.flush()?;
        Ok(())
    })?;
    Ok(if failed { 2 } else { 0 })
}

fn one_line(
    engine: &Engine,
    n: usize,
    line: &str,
    format: Format,
    level: TraceLevel,
    (req, scratch): &mut (Request, Scratch),
    out: &mut Vec<u8>,
) -> bool {
    match req.read_json(line) {
        Ok(()) => {
            let req = &*req;
            match (format, level) {
                (Format::Json, TraceLevel::Off) => {
                    engine.decide_json(req, scratch, out);
                }
                (Format::Json, _) => {
                    let _ = serde_json::to_writer(&mut *out, &engine.decide(req, level));
                }
                (Format::Text, _) => {
                    let d = engine.decide(req, level);
                    let first = d.reasons.first().map_or(String::new(), |r| {
                        let clean = sovra::explain::clean;
                        format!(" {} {}", clean(&r.rule), clean(&r.message))
                    });
                    out.extend_from_slice(format!("line {n}: {}{first}", d.decision).as_bytes());
                }
            }
            out.push(b'\n');
            true
        }
        Err(e) => {
            // `line` first, as contract.md writes it.
            let msg = serde_json::to_string(&e.to_string()).unwrap_or_default();
            out.extend_from_slice(format!("{{\"line\":{n},\"error\":{msg}}}\n").as_bytes());
            false
        }
    }
}

fn export(p: &PolicyArgs, output: Option<&Path>) -> Result<u8, Fail> {
    let prog = program(p)?;
    let text = sovra::rego::export(&prog)?;
    match output {
        Some(f) => std::fs::write(f, text)
            .map_err(|e| Fail(format!("cannot write `{}`: {e}", f.display())))?,
        None => out!("{text}"),
    }
    Ok(0)
}

/// `eval --engine rego`: the same command, decided by regorus on the export.
fn eval_rego(
    p: &PolicyArgs,
    docs: &DocArgs,
    request: Option<&Path>,
    requests: Option<&Path>,
    format: Format,
    rvm: bool,
) -> Result<u8, Fail> {
    let engine = engine(p, docs)?;
    let mode = if rvm {
        sovra::rego::RegoMode::Rvm
    } else {
        sovra::rego::RegoMode::Interpreter
    };
    let mut rego =
        sovra::rego::RegoEngine::new(engine.program(), engine.regions(), engine.grants(), mode)?;
    let mut decide = |req: &Request| -> Result<Decision, Fail> {
        let outcome = rego.decide(req)?;
        Ok(sovra::rego::decision_from(&engine, req, &outcome))
    };
    if let Some(path) = request {
        let req =
            Request::from_json(&read(path)?).map_err(|e| Fail(format!("{}: {e}", name(path))))?;
        let d = decide(&req)?;
        print_decision(&d, format)?;
        return Ok(if d.allowed() { 0 } else { 1 });
    }
    let Some(path) = requests else {
        return Err(Fail("give --request FILE or --requests FILE".into()));
    };
    let text = read(path)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let n = i + 1;
        match Request::from_json(line) {
            Ok(req) => writeln!(out, "{}", serde_json::to_string(&decide(&req)?)?)?,
            Err(e) => {
                failed = true;
                let msg = serde_json::to_string(&e.to_string())?;
                writeln!(out, "{{\"line\":{n},\"error\":{msg}}}")?;
            }
        }
    }
    out.flush()?;
    Ok(if failed { 2 } else { 0 })
}

fn check(p: &PolicyArgs) -> Result<u8, Fail> {
    let s = sources(p)?;
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

fn compile(p: &PolicyArgs, emit: Emit, output: Option<&Path>) -> Result<u8, Fail> {
    let prog = program(p)?;
    let text = match emit {
        Emit::Ir => prog.render(),
        Emit::Json => format!("{}\n", serde_json::to_string_pretty(&prog)?),
        Emit::Hash => format!("{}\n", prog.hash()),
    };
    match output {
        Some(f) => std::fs::write(f, text)
            .map_err(|e| Fail(format!("cannot write `{}`: {e}", f.display())))?,
        None => out!("{text}"),
    }
    Ok(0)
}

fn explain(
    p: &PolicyArgs,
    docs: &DocArgs,
    request: Option<&Path>,
    decision: Option<&Path>,
) -> Result<u8, Fail> {
    let d: Decision = match (request, decision) {
        (Some(path), _) => {
            let engine = engine(p, docs)?;
            let req = Request::from_json(&read(path)?)
                .map_err(|e| Fail(format!("{}: {e}", name(path))))?;
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

/// `eval --log`: decide, append, fsync, then print (a batch shares one fsync
/// per block of records).
#[allow(clippy::too_many_arguments)]
fn eval_logged(
    p: &PolicyArgs,
    docs: &DocArgs,
    request: Option<&Path>,
    requests: Option<&Path>,
    format: Format,
    level: TraceLevel,
    dir: &Path,
    mask: &[String],
) -> Result<u8, Fail> {
    let engine = engine(p, docs)?;
    sovra::audit::check_mask(mask, engine.program())?;
    let mut log = sovra::audit::LogWriter::open(dir, mask)?;
    for w in &log.warnings {
        eprintln!("sovra: warning: {w}");
    }
    if let Some(path) = request {
        let req =
            Request::from_json(&read(path)?).map_err(|e| Fail(format!("{}: {e}", name(path))))?;
        let d = engine.decide(&req, level);
        log.append(&engine, &req, &d)?;
        log.sync()?;
        print_decision(&d, format)?;
        return Ok(if d.allowed() { 0 } else { 1 });
    }
    let Some(path) = requests else {
        return Err(Fail("give --request FILE or --requests FILE".into()));
    };
    let text = read(path)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = false;
    let mut pending: Vec<u8> = Vec::new();
    let mut in_block = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match Request::from_json(line) {
            Ok(req) => {
                let d = engine.decide(&req, level);
                log.append(&engine, &req, &d)?;
                serde_json::to_writer(&mut pending, &d)?;
            }
            Err(e) => {
                failed = true;
                let msg = serde_json::to_string(&e.to_string())?;
                pending.extend_from_slice(
                    format!("{{\"line\":{},\"error\":{msg}}}", i + 1).as_bytes(),
                );
            }
        }
        pending.push(b'\n');
        in_block += 1;
        if in_block == 4096 {
            log.sync()?;
            out.write_all(&pending)?;
            pending.clear();
            in_block = 0;
        }
    }
    log.sync()?;
    out.write_all(&pending)?;
    out.flush()?;
    Ok(if failed { 2 } else { 0 })
}

fn audit(cmd: AuditCmd) -> Result<u8, Fail> {
    match cmd {
        AuditCmd::Verify { dir } => match sovra::audit::verify(&dir)? {
            sovra::audit::Verdict::Clean { records, head } => {
                outln!(
                    "ok: {records} records, chain and objects intact ({}); head {head}",
                    dir.display()
                );
                Ok(0)
            }
            sovra::audit::Verdict::Tampered { record, line, why } => {
                outln!(
                    "tampered: record {record} (line {line} of {}): {why}",
                    sovra::audit::LOG
                );
                Ok(1)
            }
        },
        AuditCmd::Replay {
            dir,
            policy,
            examples,
        } => {
            let new = if policy.policies.is_empty() {
                None
            } else {
                Some(program(&policy)?)
            };
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let results = sovra::audit::replay(&dir, new.as_ref(), |done, total| {
                if tty && total > 10_000 {
                    eprint!("\rreplayed {done} of {total}");
                    if done == total {
                        eprintln!();
                    }
                }
            })?;
            let changed: Vec<&sovra::audit::Redecided> =
                results.iter().filter(|r| r.was != r.now).collect();
            match new {
                None => {
                    let masked = changed.iter().filter(|r| r.masked).count();
                    let changed: Vec<_> = changed.into_iter().filter(|r| !r.masked).collect();
                    if masked > 0 {
                        outln!("note: {masked} decisions read masked fields and cannot be replayed exactly");
                    }
                    if changed.is_empty() {
                        outln!(
                            "ok: all {} logged decisions replay identically",
                            results.len()
                        );
                        Ok(0)
                    } else {
                        outln!(
                            "{} of {} logged decisions decide differently on replay (a defect):",
                            changed.len(),
                            results.len()
                        );
                        for r in changed.iter().take(20) {
                            outln!(
                                "  record {}: logged {} {:?}, replayed {} {:?}",
                                r.seq,
                                r.was.0,
                                r.was.1,
                                r.now.0,
                                r.now.1
                            );
                        }
                        Ok(1)
                    }
                }
                Some(p) => {
                    outln!(
                        "impact of policy {} on {} logged decisions: {} would change",
                        p.hash(),
                        results.len(),
                        changed.len()
                    );
                    let groups = sovra::audit::impact(&changed);
                    for ((direction, rule), seqs) in &groups {
                        let ex: Vec<String> =
                            seqs.iter().take(examples).map(|s| s.to_string()).collect();
                        outln!(
                            "  {direction}  {rule}: {} (records {})",
                            seqs.len(),
                            ex.join(", ")
                        );
                    }
                    Ok(0)
                }
            }
        }
        AuditCmd::Show {
            dir,
            decision,
            rule,
            principal,
            resource,
            region,
            country,
            since,
            until,
            format,
            unverified,
        } => {
            let Some(checked) = verify_first(&dir, unverified)? else {
                return Ok(1);
            };
            let banner = checked
                .defect
                .as_ref()
                .map(|why| format!("UNVERIFIED LOG ({why}): this record cannot be relied on"));
            let time = |t: &Option<String>| -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, Fail> {
                t.as_deref()
                    .map(|s| chrono::DateTime::parse_from_rfc3339(s).map_err(|_| Fail(format!("`{s}` is not an RFC 3339 time"))))
                    .transpose()
            };
            let (since, until) = (time(&since)?, time(&until)?);
            let decision = match decision.as_deref() {
                None => None,
                Some("allow") => Some(sovra::eval::Outcome::Allow),
                Some("deny") => Some(sovra::eval::Outcome::Deny),
                Some(o) => return Err(Fail(format!("--decision `{o}`: allow or deny"))),
            };
            let filter = sovra::audit::Filter {
                decision,
                rule,
                principal,
                resource,
                region,
                country,
                since,
                until,
            };
            let mut objects = sovra::audit::Objects::new(&dir);
            let mut shown = 0;
            let log = sovra::audit::read(&dir)?;
            for (line, why) in &log.unreadable {
                eprintln!(
                    "sovra: warning: line {line} of the log is not a record ({why}); it is not shown"
                );
            }
            for rec in log.records {
                if rec.logged_at().is_none() && (since.is_some() || until.is_some()) {
                    // Never dropped silently: a record that cannot be placed
                    // in time is shown, flagged.
                    eprintln!(
                        "sovra: warning: record {} has no readable time; it is shown whatever --since/--until say",
                        rec.seq
                    );
                }
                if !filter.matches(&dir, &mut objects, &rec) {
                    continue;
                }
                shown += 1;
                match format {
                    Format::Json => match &banner {
                        Some(b) => {
                            outln!("{}", serde_json::json!({"unverified": b, "record": rec}))
                        }
                        None => outln!("{}", serde_json::to_string(&rec)?),
                    },
                    Format::Text => {
                        if let Some(b) = &banner {
                            outln!("!!! {b}");
                        }
                        outln!("--- record {} ---", rec.seq);
                        out!("{}", sovra::explain::render(&rec.as_decision()));
                    }
                }
            }
            if format == Format::Text {
                outln!("{shown} record{} shown", if shown == 1 { "" } else { "s" });
            }
            Ok(0)
        }
    }
}

fn rfc3339(t: Option<String>) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, Fail> {
    t.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| Fail(format!("`{s}` is not an RFC 3339 time")))
        })
        .transpose()
}

/// What `audit verify` found, before a log is read for a person.
struct Verified {
    records: u64,
    head: String,
    /// What is wrong, when the log does not verify and `--unverified` was given.
    defect: Option<String>,
}

/// Verifies a log before anything is read from it. A defect ends the
/// command (`None`: exit 1, said on standard error) unless `unverified`.
fn verify_first(dir: &Path, unverified: bool) -> Result<Option<Verified>, Fail> {
    match sovra::audit::verify(dir)? {
        sovra::audit::Verdict::Clean { records, head } => Ok(Some(Verified {
            records,
            head,
            defect: None,
        })),
        sovra::audit::Verdict::Tampered { record, line, why } => {
            let defect = format!("record {record} (line {line}): {why}");
            if !unverified {
                eprintln!(
                    "sovra: the log does not verify: {defect}\nsovra: nothing was read from it; run `sovra audit verify {}`, or pass --unverified to read it anyway",
                    dir.display()
                );
                return Ok(None);
            }
            Ok(Some(Verified {
                records: 0,
                head: "(unverified)".into(),
                defect: Some(defect),
            }))
        }
    }
}

fn report(
    dir: &Path,
    grants: Option<&Path>,
    format: ReportFormat,
    output: Option<&Path>,
    (since, until): (Option<String>, Option<String>),
    unverified: bool,
) -> Result<u8, Fail> {
    let Some(checked) = verify_first(dir, unverified)? else {
        return Ok(1);
    };
    let grants = match grants {
        None => None,
        Some(f) => Some(
            Grants::from_file(f)
                .map_err(|e| Fail(format!("cannot read `{}`: {e}", f.display())))?
                .map_err(|e| Fail(format!("{}: {e}", name(f))))?,
        ),
    };
    let mut r = sovra::report::gather(dir, grants.as_ref(), rfc3339(since)?, rfc3339(until)?)?;
    (r.log_records, r.log_head, r.unverified) = (checked.records, checked.head, checked.defect);
    let text = match format {
        ReportFormat::Html => sovra::report::html(&r),
        ReportFormat::Md => sovra::report::markdown(&r),
    };
    match output {
        Some(f) => std::fs::write(f, text)
            .map_err(|e| Fail(format!("cannot write `{}`: {e}", f.display())))?,
        None => out!("{text}"),
    }
    Ok(0)
}
