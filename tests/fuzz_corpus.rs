//! The fuzzers' saved corpus, replayed as ordinary tests on stable: every
//! input under `tests/fuzz/corpus/<target>/` passes the target's check
//! (`tests/fuzz/checks.rs`). The fuzzers themselves run with cargo-fuzz on
//! nightly (docs/PERFORMANCE.md, "Fuzzing").

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{target}: no corpus");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails its check", f.display());
    }
}

#[test]
fn policy_corpus() {
    replay("policy", checks::policy);
}

#[test]
fn documents_corpus() {
    replay("documents", checks::documents);
}

#[test]
fn request_corpus() {
    replay("request", checks::request);
}

#[test]
fn program_corpus() {
    replay("program", checks::program);
}

#[test]
fn log_corpus() {
    replay("log", checks::log);
}

/// The generator reaches what it is for: nesting past the limit, and chains.
#[test]
fn the_policy_generator_nests_and_chains() {
    let deep = checks::generate_policy(&[0, 6, 70, 1]);
    assert!(deep.contains(&"(".repeat(70)), "{deep}");
    let chain = checks::generate_policy(&[0, 4, 200, 10]);
    assert!(chain.contains(&"not ".repeat(200)), "{chain}");
}
