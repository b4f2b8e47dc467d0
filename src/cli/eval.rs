//! `sovra eval`: decide one request or a JSON Lines batch, with the native
//! engine or regorus, optionally logged.

use super::*;
use sovra::documents::Request;
use sovra::eval::{Scratch, TraceLevel};

/// The decision's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra eval --request docs/examples/store-us.json --format text --explain full
  sovra eval --requests docs/examples/batch.jsonl --grants docs/examples/grants.json --log decisions/")]
pub(super) struct Args {
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
    /// `json`: the contract's decision document; `text`: in words for a person.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// How much of the reasoning the decision carries: none, the rules
    /// considered, or every condition with its values and every grant.
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

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum EngineKind {
    Sovra,
    /// regorus's interpreter on the exported Rego.
    Rego,
    /// regorus's compiled RVM on the exported Rego.
    RegoRvm,
}

pub(super) fn run(a: Args) -> Result<u8, Fail> {
    let Args {
        policy,
        docs,
        request,
        requests,
        format,
        explain,
        engine,
        log,
        mask,
    } = a;
    let level: TraceLevel = explain.into();
    if let Some(dir) = log {
        if engine != EngineKind::Sovra {
            return Err(Fail("--log needs the native engine".into()));
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
            "--explain needs the native engine: regorus decides without Sovra's trace".into(),
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

/// The engine of a command that decides and exits: never dropped, since
/// the process's exit frees it at once, where dropping a million grants
/// one by one took a tenth of a second.
fn one_shot(engine: Engine) -> &'static Engine {
    Box::leak(Box::new(engine))
}

fn eval(
    p: &PolicyArgs,
    docs: &DocArgs,
    request: Option<&Path>,
    requests: Option<&Path>,
    format: Format,
    level: TraceLevel,
) -> Result<u8, Fail> {
    let engine = one_shot(engine(p, docs)?);
    if let Some(path) = request {
        let req = read_request_for(path, docs)?;
        fits(engine, &req, path)?;
        let d = engine.decide(&req, level);
        print_decision(&d, format)?;
        return Ok(if d.allowed() { 0 } else { 1 });
    }
    let Some(path) = requests else {
        return Err(Fail("give --request FILE or --requests FILE".into()));
    };
    let text = read(path)?;
    batch(engine, &text, format, level)
}

/// Decides JSON Lines on every core, printing results in input order. The
/// input is cut into pieces of whole lines; workers take pieces as they free
/// up and the main thread writes finished pieces in order.
fn batch(engine: &Engine, text: &str, format: Format, level: TraceLevel) -> Result<u8, Fail> {
    let pieces = cut(text.as_bytes(), 64 * 1024);
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

/// Cut points of `bytes` into pieces of whole lines of about `size` bytes:
/// (start, end, the number of the piece's first line). A piece ends just
/// after a newline, or at the end.
fn cut(bytes: &[u8], size: usize) -> Vec<(usize, usize, usize)> {
    let mut pieces = Vec::new();
    let (mut start, mut line) = (0usize, 1usize);
    while start < bytes.len() {
        let at = (start + size.max(1)).min(bytes.len());
        let end = bytes
            .get(at..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
            .map_or(bytes.len(), |i| at + i + 1);
        pieces.push((start, end, line));
        line += bytes
            .get(start..end)
            .map_or(0, |p| p.iter().filter(|b| **b == b'\n').count());
        start = end;
    }
    pieces
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
            match format {
                Format::Json => {
                    engine.decide_json_traced(req, level, scratch, out);
                }
                Format::Text => {
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

/// `eval --engine rego`: the same command, decided by regorus on the export.
#[cfg(not(feature = "rego"))]
fn eval_rego(
    _: &PolicyArgs,
    _: &DocArgs,
    _: Option<&Path>,
    _: Option<&Path>,
    _: Format,
    _: bool,
) -> Result<u8, Fail> {
    Err(Fail(
        "--engine rego: this build of sovra has no Rego bridge (built without the `rego` feature)"
            .into(),
    ))
}

#[cfg(feature = "rego")]
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
        let req = read_request(path)?;
        fits(&engine, &req, path)?;
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

/// `eval --log`: decide, append, fsync, then print (a batch shares one fsync
/// per block of records).
#[expect(
    clippy::too_many_arguments,
    reason = "one flag a parameter, as the command line gives them"
)]
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
    let engine = one_shot(engine(p, docs)?);
    sovra::audit::check_mask(mask, engine.program())?;
    let mut log = sovra::audit::LogWriter::open(dir, mask)?;
    for w in &log.warnings {
        eprintln!("sovra: warning: {w}");
    }
    if let Some(path) = request {
        let req = read_request(path)?;
        fits(engine, &req, path)?;
        let d = engine.decide(&req, level);
        log.append(engine, &req, &d)?;
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
                log.append(engine, &req, &d)?;
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

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_points_fall_after_newlines_and_number_lines_from_one() {
        let text = b"aaaa\nbb\ncccccc\nd";
        assert_eq!(cut(text, 3), [(0, 5, 1), (5, 15, 2), (15, 16, 4)]);
        assert_eq!(cut(text, 100), [(0, 16, 1)]);
        assert_eq!(cut(b"", 3), []);
        // Every byte is in exactly one piece, in order.
        for size in 1..20 {
            let p = cut(text, size);
            assert_eq!(p.first().map(|x| x.0), Some(0));
            assert_eq!(p.last().map(|x| x.1), Some(text.len()));
            assert!(p.windows(2).all(|w| w[0].1 == w[1].0));
        }
        // A cut at a newline ends the piece just after the next one.
        assert_eq!(cut(b"ab\ncd\n", 2), [(0, 3, 1), (3, 6, 2)]);
    }
}
