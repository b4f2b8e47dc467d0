//! Every example in the documentation is run.
//!
//! In `docs/*.md` and `README.md`:
//! - a ```` ```sov ```` block must compile clean (several files in one block
//!   are separated by `// file: NAME.sov` lines);
//! - a ```` ```sov fails CODE ```` block must be rejected with diagnostic CODE;
//! - a ```` ```json allow ```` / ```` ```json deny ```` block is a request,
//!   decided against the last `sov` block before it (or the bundled library),
//!   with the bundled region catalog;
//! - a ```` ```rust ```` block must be the crate's doctest (`src/lib.rs`),
//!   which `cargo test` runs;
//! - a ```` ```sh ```` block's `sovra …` lines are run through the real binary
//!   (`cargo run --release --` stands for it), and a trailing `# exit N`
//!   asserts the exit status.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, TraceLevel};
use sovra::source::Sources;
use std::path::{Path, PathBuf};

struct Block {
    info: String,
    body: String,
    line: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, l)) = lines.next() {
        let Some(info) = l.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut body = String::new();
        for (_, b) in lines.by_ref() {
            if b.trim_start().starts_with("```") {
                break;
            }
            body.push_str(b);
            body.push('\n');
        }
        out.push(Block {
            info: info.trim().to_string(),
            body,
            line: i + 1,
        });
    }
    out
}

fn sources(doc: &str, b: &Block) -> Sources {
    let mut s = Sources::default();
    let mut name = format!("{doc}:{}.sov", b.line);
    let mut text = String::new();
    for l in b.body.lines() {
        if let Some(n) = l.strip_prefix("// file: ") {
            if !text.trim().is_empty() {
                s.add(name.clone(), std::mem::take(&mut text));
            }
            name = n.trim().to_string();
            text.clear();
            text.push('\n');
            continue;
        }
        text.push_str(l);
        text.push('\n');
    }
    if !text.trim().is_empty() {
        s.add(name, text);
    }
    s.files.sort_by(|a, b| a.name.cmp(&b.name));
    s
}

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    v.push(root.join("README.md"));
    v.sort();
    v
}

fn run_sh(line: &str, doc: &str) {
    let (cmd, exit) = match line.split_once("# exit ") {
        Some((c, e)) => (c.trim(), Some(e.trim().parse::<i32>().unwrap())),
        None => (line.trim(), None),
    };
    let cmd = cmd
        .strip_prefix("cargo run --release -- ")
        .or_else(|| cmd.strip_prefix("sovra "))
        .unwrap_or(cmd);
    let args: Vec<&str> = cmd.split_whitespace().collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    match exit {
        Some(want) => assert_eq!(
            code,
            want,
            "{doc}: `{line}` exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        None => assert!(
            code == 0 || code == 1,
            "{doc}: `{line}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn every_documentation_example_runs() {
    // The guides' logs start empty on every run.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _ = std::fs::remove_dir_all(root.join("target/doc-audit-log"));
    // And the operators' guide seeds its store anew.
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(root.join(format!("target/doc-state.db{ext}")));
    }
    let mut ran = 0;
    for path in docs() {
        let doc = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        // Requests before any policy example are decided by the bundled library.
        let bundled = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
        let mut engine: Option<Engine> =
            Some(Engine::new(bundled, bundled_regions(), Grants::default()));
        for b in blocks(&text) {
            let words: Vec<&str> = b.info.split_whitespace().collect();
            let at = format!("{doc}:{}", b.line);
            match words.as_slice() {
                ["sov"] => {
                    let s = sources(&doc, &b);
                    let p = sovra::policy::compile(&s).unwrap_or_else(|d| {
                        panic!(
                            "{at}: example does not check:\n{}",
                            sovra::diag::render(&d, &s)
                        )
                    });
                    // Its assertions hold, as `sovra test` would prove them.
                    if !p.assertions.is_empty() {
                        let out = sovra::analysis::verify::verify(
                            &s,
                            &[],
                            &bundled_regions(),
                            &Grants::default(),
                            chrono::Utc::now(),
                            false,
                        )
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                        for o in out {
                            assert!(
                                o.holds,
                                "{at}: assertion {} fails: {:?}",
                                o.name, o.counterexample
                            );
                            ran += 1;
                        }
                    }
                    engine = Some(Engine::new(p, bundled_regions(), Grants::default()));
                    ran += 1;
                }
                ["sov", "fails", code] => {
                    let s = sources(&doc, &b);
                    let d = sovra::policy::compile(&s)
                        .err()
                        .unwrap_or_else(|| panic!("{at}: example should fail"));
                    assert!(
                        d.iter().any(|d| d.code().as_str() == *code),
                        "{at}: expected {code}, got {d:?}"
                    );
                    ran += 1;
                }
                ["json", want @ ("allow" | "deny")] => {
                    let e = engine
                        .as_ref()
                        .unwrap_or_else(|| panic!("{at}: no policy example before this request"));
                    let req = Request::from_json(&b.body).unwrap_or_else(|e| panic!("{at}: {e}"));
                    let d = e.decide(&req, TraceLevel::Off);
                    assert_eq!(d.decision, *want, "{at}: {:?}", d.reasons);
                    ran += 1;
                }
                ["sh"] => {
                    for line in b.body.lines().filter(|l| {
                        l.starts_with("sovra ") || l.starts_with("cargo run --release -- ")
                    }) {
                        run_sh(line, &at);
                        ran += 1;
                    }
                }
                ["rust"] => {
                    // Run as the crate's doctest: the block must be it, line
                    // for line.
                    let doctest: String = include_str!("../src/lib.rs")
                        .lines()
                        .filter_map(|l| l.strip_prefix("//!"))
                        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
                        .collect::<Vec<_>>()
                        .join("\n");
                    let block = b.body.trim_end();
                    assert!(
                        doctest.contains(block),
                        "{at}: this Rust example is not the doctest in src/lib.rs, so nothing runs it"
                    );
                    ran += 1;
                }
                _ => {}
            }
        }
    }
    assert!(ran > 20, "only {ran} examples found");
}
