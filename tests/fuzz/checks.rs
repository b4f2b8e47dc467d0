//! What each fuzz target checks, shared by the fuzz targets
//! (`tests/fuzz/fuzz_targets/*.rs`, run with cargo-fuzz on nightly) and by
//! `tests/fuzz_corpus.rs`, which replays the saved corpus as ordinary tests.
//!
//! Every check holds for any input: no panic, no hang, and where several
//! readers read the same bytes, they accept exactly the same inputs.

#![allow(
    dead_code,
    reason = "shared by the fuzz targets and the corpus test; each uses part of it"
)]

use sovra::audit;
use sovra::documents::{bundled_regions, Grants, Regions, Request};
use sovra::eval::{Engine, TraceLevel};
use sovra::ir::Program;
use sovra::source::Sources;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---- a structure-aware generator ------------------------------------------------------

/// Reads choices from the fuzzer's bytes (zeros once they run out).
struct G<'a> {
    data: &'a [u8],
    at: usize,
}

impl G<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[self.byte() as usize % from.len()]
    }
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

const PATHS: &[&str] = &[
    "action",
    "principal.id",
    "principal.country",
    "principal.roles",
    "resource.classification",
    "resource.residency",
    "resource.home_country",
    "resource.tenant",
    "target.country",
    "target.status",
    "source.country",
    "purpose",
    "now",
    "request.priority",
];
const VALUES: &[&str] = &[
    "store",
    "access",
    "DE",
    "US",
    "UK",
    "\"x\"",
    "3",
    "2.5",
    "true",
    "EEA",
    "SENSITIVE",
    "2026-01-01T00:00:00Z",
    "90d",
    "identity",
    "[DE, FR]",
    "[store, replicate]",
    "active",
];
const OPS: &[&str] = &["==", "!=", "<", ">=", "in", "not in"];

fn condition(g: &mut G, depth: u32, out: &mut String) {
    if depth > 90 || g.done() {
        out.push_str(g.pick(PATHS));
        out.push_str(" == ");
        out.push_str(g.pick(VALUES));
        return;
    }
    match g.byte() % 12 {
        0 => {
            out.push('(');
            condition(g, depth + 1, out);
            out.push(')');
        }
        1 => {
            out.push_str("not ");
            condition(g, depth + 1, out);
        }
        2 | 3 => {
            condition(g, depth + 1, out);
            out.push_str(if g.byte().is_multiple_of(2) {
                " and "
            } else {
                " or "
            });
            condition(g, depth + 1, out);
        }
        // Long chains: many `not`s, `+`s, or brackets at once.
        4 => {
            let n = g.byte() as usize;
            out.push_str(&"not ".repeat(n));
            condition(g, depth + 1, out);
        }
        5 => {
            let n = g.byte() as usize;
            out.push_str("now < now");
            out.push_str(&" + 1d".repeat(n));
        }
        6 => {
            let n = g.byte() as usize;
            out.push_str(&"(".repeat(n));
            condition(g, depth + 1, out);
            out.push_str(&")".repeat(n));
        }
        7 => {
            out.push_str("exists grant g where g.to_country == ");
            out.push_str(g.pick(PATHS));
        }
        8 => {
            out.push_str(g.pick(PATHS));
            out.push_str(if g.byte().is_multiple_of(2) {
                " is missing"
            } else {
                " is not declared"
            });
        }
        9 => {
            let n = g.byte() as usize % 40;
            out.push_str("action in ");
            out.push_str(&"[".repeat(n));
            out.push_str("store");
            out.push_str(&"]".repeat(n));
        }
        _ => {
            out.push_str(g.pick(PATHS));
            out.push(' ');
            out.push_str(g.pick(OPS));
            out.push(' ');
            out.push_str(g.pick(VALUES));
        }
    }
}

/// A policy file built from the fuzzer's choices: declarations and rules
/// with conditions nested and chained at every depth, around the limit too.
pub fn generate_policy(data: &[u8]) -> String {
    let mut g = G { data, at: 0 };
    let mut out = String::from("package p\n\nclassification identity sensitivity high\nset SENSITIVE = [identity]\nset EEA = [DE, FR] + [NO]\nprofile eea = regional(EEA)\n");
    let mut rule = 0;
    while !g.done() && rule < 20 {
        out.push_str(if g.byte().is_multiple_of(2) {
            "permit"
        } else {
            "forbid"
        });
        out.push_str(&format!(" r{rule}\n  when "));
        condition(&mut g, 0, &mut out);
        if g.byte().is_multiple_of(3) {
            out.push_str("\n  because \"{principal.id} in {target.country}\"");
        }
        out.push('\n');
        rule += 1;
    }
    out
}

// ---- shared inputs ---------------------------------------------------------------------

fn regions() -> &'static sovra::Regions {
    static R: OnceLock<sovra::Regions> = OnceLock::new();
    R.get_or_init(bundled_regions)
}

fn grants() -> &'static Grants {
    static G: OnceLock<Grants> = OnceLock::new();
    G.get_or_init(|| {
        Grants::from_json(include_str!("../../docs/examples/grants.json")).expect("example grants")
    })
}

fn requests() -> &'static [Request<'static>] {
    static R: OnceLock<Vec<Request<'static>>> = OnceLock::new();
    R.get_or_init(|| {
        include_str!("../../docs/examples/batch.jsonl")
            .lines()
            .filter_map(|l| Request::from_json(l).ok())
            .collect()
    })
}

fn decide_all(program: Program) {
    let e = Engine::new(program, regions().clone(), grants().clone());
    for r in requests() {
        let _ = e.decide(r, TraceLevel::Full);
    }
}

// ---- the checks ------------------------------------------------------------------------

/// Parse and check a policy (generated from the bytes, or the bytes as text);
/// a program that compiles reads back from its stored form unchanged, and
/// decides.
pub fn policy(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let text = if mode.is_multiple_of(2) {
        generate_policy(rest)
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    // The hand-written parser gives pest's tree, or declines.
    if let sovra::syntax::Agreement::Differ(both) = sovra::syntax::parsers_agree(&text) {
        panic!("the parsers differ on {text:?}:\n{both}");
    }
    let mut src = Sources::default();
    src.add("fuzz.sov", text);
    match sovra::policy::compile(&src) {
        Ok(p) => {
            let back = Program::from_json(&p.canonical()).expect("a compiled program reads back");
            assert_eq!(back.hash(), p.hash());
            decide_all(back);
        }
        Err(d) => {
            assert!(!d.is_empty(), "a refused policy has a diagnostic");
            let _ = sovra::diag::render(&d, &src);
        }
    }
}

/// Every document reader: the small-file reader, the streaming reader and the
/// parallel reader accept exactly the same grants documents.
pub fn documents(data: &[u8]) {
    let stream = Grants::from_reader(data);
    // Pieces of a few grants' bytes, so that the fuzzer's documents are cut.
    let piece = 1 + data.first().map_or(0, |&b| usize::from(b)) % 200;
    let parallel = Grants::from_reader_parallel(data, piece);
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(stream.is_err(), "bytes that are not UTF-8 are refused");
        assert!(
            !matches!(parallel, Some(Ok(_))),
            "bytes that are not UTF-8 are refused"
        );
        return;
    };
    let small = Grants::from_json(text);
    assert_eq!(
        small.is_ok(),
        stream.is_ok(),
        "small {small:?} vs stream {stream:?}"
    );
    if let (Ok(a), Ok(b)) = (&small, &stream) {
        assert_eq!((a.len(), &a.hash), (b.len(), &b.hash));
    }
    match (&small, &parallel) {
        (_, None) => {}
        (Ok(a), Some(Ok(b))) => {
            assert_eq!((a.len(), &a.hash), (b.len(), &b.hash));
            assert!(a.iter().eq(b.iter()), "the same grants");
        }
        (Err(a), Some(Err(b))) => assert_eq!(a, b),
        (a, b) => panic!("small-file {a:?} but parallel {b:?}"),
    }
    let _ = Regions::from_json(text);
}

/// The in-place request reader (into a request that held another one, and a
/// batch's) reads exactly what reading alone reads.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let alone = Request::from_json(text);
    let mut reused = Request::from_json(
        r#"{"action":"store","time":"2026-01-01T00:00:00Z","principal":{"id":"p","country":"DE","roles":["a"],"x":1},
            "resource":{"id":"r","classification":"identity","residency":"eea","home_country":"FR","client_regions":["a"],"t":2},
            "source_region":"s","target_region":"t","purpose":"p","extra":{"k":[1,2]}}"#,
    )
    .expect("the base request");
    let in_place = reused.read_json(text);
    assert_eq!(alone.is_ok(), in_place.is_ok(), "{alone:?} vs {in_place:?}");
    if let Ok(a) = &alone {
        assert_eq!(*a, reused, "read in place");
        // The same as serde reads it from a JSON value (requests of the plain
        // shape are read by hand, the rest by serde).
        let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(
            Request::from_value(&value).as_ref(),
            Ok(a),
            "read from a JSON value"
        );
        let mut seen = Vec::new();
        let batch = format!("[{text}]");
        assert!(Request::each_from_json(batch.as_bytes(), |run| seen.extend_from_slice(run)));
        assert_eq!(seen, vec![a.clone()], "read in a batch");
        let canonical = a.canonical();
        let again =
            Request::from_json(std::str::from_utf8(&canonical).expect("canonical JSON is UTF-8"))
                .expect("the canonical form reads back");
        assert_eq!(again.canonical(), a.canonical());
    }
}

/// A stored program from any bytes: refused, or safe to run.
pub fn program(data: &[u8]) {
    if let Ok(p) = Program::from_json(data) {
        decide_all(p);
    }
}

/// The files of a small log, written once.
fn template() -> &'static Vec<(PathBuf, Vec<u8>)> {
    static T: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sovra-fuzz-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = sovra::policy::compile(&sovra::policy::bundled()).expect("bundled");
        let e = Engine::new(p, regions().clone(), grants().clone());
        let mut w = audit::LogWriter::open(&dir, &["principal.id".to_string()]).expect("log");
        for r in requests().iter().take(3) {
            let d = e.decide(r, TraceLevel::Summary);
            w.append(&e, r, &d).expect("append");
        }
        w.sync().expect("sync");
        drop(w);
        let mut files = Vec::new();
        collect(&dir, &dir, &mut files);
        let _ = std::fs::remove_dir_all(&dir);
        files.sort();
        files
    })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read the template").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if let (Ok(rel), Ok(bytes)) = (p.strip_prefix(root), std::fs::read(&p)) {
            out.push((rel.to_path_buf(), bytes));
        }
    }
}

/// `audit verify` on a log folder changed by the bytes (each 4 bytes: which
/// file, where, what); a folder that still verifies replays and reports.
pub fn log(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("sovra-fuzz-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = template().clone();
    for op in data.chunks(4) {
        let [f, hi, lo, v] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let n = files.len().max(1);
        let Some((_, bytes)) = files.get_mut(f as usize % n) else {
            break;
        };
        let at = ((hi as usize) << 8 | lo as usize) % (bytes.len() + 1);
        match v >> 6 {
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = v << 2;
                }
            }
            1 => {
                if at < bytes.len() {
                    bytes.remove(at);
                }
            }
            2 => bytes.insert(at, b"\n{\"}:,0a"[v as usize % 8]),
            _ => bytes.truncate(at),
        }
    }
    for (rel, bytes) in &files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&p, bytes);
    }
    if let Ok(audit::Verdict::Clean { .. }) = audit::verify(&dir) {
        let _ = audit::replay(&dir, None, |_, _| {});
        let _ = sovra::report::gather(&dir, None, None, None);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
