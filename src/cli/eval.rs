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
    // Standard input is read whole first, as before: a caller that writes
    // all its requests before reading any decision would otherwise wait on
    // a full pipe while Sovra waits on it.
    let input: Box<dyn Read> = if path == Path::new("-") {
        let mut all = Vec::new();
        std::io::stdin()
            .read_to_end(&mut all)
            .map_err(|e| Fail(format!("cannot read standard input: {e}")))?;
        Box::new(std::io::Cursor::new(all))
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| Fail(format!("cannot read `{}`: {e}", path.display())))?,
        )
    };
    batch(engine, input, &name(path), format, level)
}

/// Decides JSON Lines on every core, printing results in input order. The
/// input is read in blocks of whole lines ([`Blocks`]), each handed to a
/// core as soon as it is read, so the first decisions are made while the
/// rest is read (reading a whole file first, into fresh memory the kernel
/// zeroed, kept a core idle for a fifth of a batch); the main thread reads
/// and writes finished blocks in order. Blocks and their outputs go back
/// and forth for reuse.
fn batch(
    engine: &Engine,
    input: impl Read,
    name: &str,
    format: Format,
    level: TraceLevel,
) -> Result<u8, Fail> {
    /// A block to decide: its number, its bytes (the first `len` of the
    /// buffer), its first line's number, and a buffer for its output.
    type Job = (usize, (Vec<u8>, usize), usize, Vec<u8>);
    /// A block decided: its number, its output, whether every line was
    /// decided, and its bytes (to be read into again).
    type Done = (usize, Vec<u8>, bool, Vec<u8>);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(threads * 2);
    let queue = std::sync::Mutex::new(queue);
    let (done_tx, done) = std::sync::mpsc::channel::<Done>();
    let mut failed = false;
    std::thread::scope(|s| -> Result<(), Fail> {
        for _ in 0..threads {
            let (done_tx, queue) = (done_tx.clone(), &queue);
            s.spawn(move || {
                // The engine's buffers, and (below) a request read into again
                // and again, its strings borrowed from the block's lines.
                let mut scratch = Scratch::default();
                loop {
                    let job = queue.lock().ok().and_then(|q| q.recv().ok());
                    let Some((i, (block, len), first, mut out)) = job else {
                        break;
                    };
                    let mut ok = true;
                    let mut req = Request::default();
                    for (k, line) in lines(block.get(..len).unwrap_or_default()).enumerate() {
                        let n = first + k;
                        match std::str::from_utf8(line) {
                            Ok(l) if l.trim().is_empty() => {}
                            Ok(l) => {
                                let reused = (&mut req, &mut scratch);
                                ok &= one_line(engine, n, l, format, level, reused, &mut out)
                            }
                            Err(e) => {
                                ok = false;
                                let msg = serde_json::to_string(&format!("not UTF-8 text: {e}"))
                                    .unwrap_or_default();
                                out.extend_from_slice(
                                    format!("{{\"line\":{n},\"error\":{msg}}}\n").as_bytes(),
                                );
                            }
                        }
                    }
                    if done_tx.send((i, out, ok, block)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut out = std::io::stdout().lock();
        let mut waiting = std::collections::BTreeMap::new();
        let (mut due, mut sent) = (0, 0);
        let (mut spare_in, mut spare_out) = (Vec::new(), Vec::new());
        let mut write = |(i, buf, ok, block): Done,
                         spare_in: &mut Vec<Vec<u8>>,
                         spare_out: &mut Vec<Vec<u8>>|
         -> Result<(), Fail> {
            failed |= !ok;
            spare_in.push(block);
            waiting.insert(i, buf);
            while let Some(mut buf) = waiting.remove(&due) {
                out.write_all(&buf)?;
                buf.clear();
                spare_out.push(buf);
                due += 1;
            }
            Ok(())
        };
        let mut blocks = Blocks::new(input, BLOCK);
        loop {
            let read = blocks.next(spare_in.pop().unwrap_or_default());
            let Some((block, len, first)) =
                read.map_err(|e| Fail(format!("cannot read {name}: {e}")))?
            else {
                break;
            };
            let buf = spare_out.pop().unwrap_or_default();
            if jobs.send((sent, (block, len), first, buf)).is_err() {
                break;
            }
            sent += 1;
            for d in done.try_iter() {
                write(d, &mut spare_in, &mut spare_out)?;
            }
        }
        drop(jobs);
        for d in done {
            write(d, &mut spare_in, &mut spare_out)?;
        }
        out.flush()?;
        Ok(())
    })?;
    Ok(if failed { 2 } else { 0 })
}

/// About how many bytes of requests a block holds.
const BLOCK: usize = 64 * 1024;

/// A JSON Lines input read in blocks of whole lines, numbered.
struct Blocks<R> {
    input: R,
    size: usize,
    /// What was read after the last block's last newline.
    rest: Vec<u8>,
    /// The number of the next block's first line.
    line: usize,
}

impl<R: Read> Blocks<R> {
    fn new(input: R, size: usize) -> Self {
        Blocks {
            input,
            size: size.max(1),
            rest: Vec::new(),
            line: 1,
        }
    }

    /// The next block, read into `buf`, its length and the number of its
    /// first line: whole lines of about the block size (a longer line
    /// whole), ending just after a newline or at the end of the input;
    /// `None` at the end. The block is the first `len` bytes of the buffer:
    /// a buffer given back keeps its length, so the bytes it already has are
    /// read over rather than zeroed again for every block (zeroing was
    /// 1.9 % of a batch's time by `perf`).
    fn next(&mut self, mut buf: Vec<u8>) -> std::io::Result<Option<(Vec<u8>, usize, usize)>> {
        let mut len = self.rest.len();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        if let Some(to) = buf.get_mut(..len) {
            to.copy_from_slice(&self.rest);
        }
        self.rest.clear();
        loop {
            let had = len;
            let want = self.size.saturating_sub(had).max(self.size / 2).max(1);
            // Read straight into the block's room, not through
            // `read_to_end` (which reads in growing pieces from a few
            // bytes: four calls a block).
            if buf.len() < had + want {
                buf.resize(had + want, 0);
            }
            let mut n = 0;
            while n < want {
                match self
                    .input
                    .read(buf.get_mut(had + n..had + want).unwrap_or_default())
                {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            len = had + n;
            if n < want {
                // The end: all that is left.
                break;
            }
            let new = buf.get(had..len).unwrap_or_default();
            if let Some(at) = memchr::memrchr(b'\n', new) {
                // Whole lines; the rest goes to the next block.
                self.rest
                    .extend_from_slice(buf.get(had + at + 1..len).unwrap_or_default());
                len = had + at + 1;
                break;
            }
        }
        if len == 0 {
            return Ok(None);
        }
        let first = self.line;
        let block = buf.get(..len).unwrap_or_default();
        // Found and counted by `memchr` (a byte at a time, numbering the
        // lines was a twentieth of a batch's time).
        self.line +=
            memchr::memchr_iter(b'\n', block).count() + usize::from(block.last() != Some(&b'\n'));
        Ok(Some((buf, len, first)))
    }
}

/// The lines of a block, as `str::lines` gives them: split after each
/// newline, which is dropped with a `\r` before it. Each newline is found
/// by `memchr` (a byte at a time, splitting was a twelfth of a batch's
/// time by `perf`).
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr(b'\n', rest) {
            Some(at) => {
                let line = rest.get(..at)?;
                rest = rest.get(at + 1..)?;
                Some(line.strip_suffix(b"\r").unwrap_or(line))
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}

fn one_line<'b>(
    engine: &Engine,
    n: usize,
    line: &'b str,
    format: Format,
    level: TraceLevel,
    (req, scratch): (&mut Request<'b>, &mut Scratch),
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
    use super::{lines, Blocks};

    /// The blocks of `text` read `size` bytes at a time: each block's text
    /// and first line's number.
    fn blocks(text: &[u8], size: usize) -> Vec<(String, usize)> {
        let mut b = Blocks::new(text, size);
        let mut out = Vec::new();
        while let Some((block, len, first)) = b.next(Vec::new()).unwrap() {
            out.push((String::from_utf8(block[..len].to_vec()).unwrap(), first));
        }
        out
    }

    #[test]
    fn a_buffer_given_back_gives_the_same_blocks_whatever_it_held() {
        // Each block read into the last one's buffer, or into one that
        // holds more (and other) bytes than any block: nothing it held
        // shows.
        let text = b"aaaa\nbb\ncccccc\nd";
        for size in 1..20 {
            for spare in [Vec::new(), vec![b'#'; 64]] {
                let mut b = Blocks::new(&text[..], size);
                let (mut got, mut buf) = (Vec::new(), spare);
                while let Some((block, len, first)) = b.next(buf).unwrap() {
                    got.push((String::from_utf8(block[..len].to_vec()).unwrap(), first));
                    buf = block;
                }
                assert_eq!(got, blocks(text, size), "size {size}");
            }
        }
    }

    #[test]
    fn blocks_are_whole_lines_in_order_numbered_from_one() {
        let text = b"aaaa\nbb\ncccccc\nd";
        assert_eq!(
            blocks(text, 3),
            [
                ("aaaa\n".into(), 1),
                ("bb\n".into(), 2),
                ("cccccc\n".into(), 3),
                ("d".into(), 4)
            ]
        );
        assert_eq!(
            blocks(text, 100),
            [(String::from_utf8(text.to_vec()).unwrap(), 1)]
        );
        assert_eq!(blocks(b"", 3), []);
        // Every byte is in exactly one block, in order; each block but the
        // last ends just after a newline; the numbers count the lines.
        for size in 1..20 {
            let b = blocks(text, size);
            let all: String = b.iter().map(|(t, _)| t.as_str()).collect();
            assert_eq!(all, "aaaa\nbb\ncccccc\nd", "size {size}");
            assert!(b.iter().rev().skip(1).all(|(t, _)| t.ends_with('\n')));
            let mut line = 1;
            for (t, first) in &b {
                assert_eq!(*first, line, "size {size}");
                line += t.matches('\n').count();
            }
        }
    }

    #[test]
    fn blocks_read_alike_from_an_input_that_gives_a_few_bytes_at_a_time() {
        // A pipe gives what it has: a few bytes, or an interrupted call.
        struct Trickle<'a>(&'a [u8], bool);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.1 = !self.1;
                if self.1 {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let n = buf.len().min(self.0.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = b"aaaa\nbb\r\ncccccc\n\nd";
        for size in 1..20 {
            let mut b = Blocks::new(Trickle(text, false), size);
            let mut got = Vec::new();
            while let Some((block, len, first)) = b.next(Vec::new()).unwrap() {
                got.push((String::from_utf8(block[..len].to_vec()).unwrap(), first));
            }
            assert_eq!(got, blocks(text, size), "size {size}");
        }
    }

    #[test]
    fn lines_are_split_as_str_lines_splits_them() {
        for text in [
            "",
            "a",
            "a\n",
            "a\r\nb",
            "a\r\n\r\nb\r",
            "\n\n",
            "x\ry\n",
            "\r",
            "\r\n",
            "\n",
            "ab\r\r\n",
        ] {
            let ours: Vec<&[u8]> = lines(text.as_bytes()).collect();
            let std: Vec<&[u8]> = text.lines().map(str::as_bytes).collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }
}
