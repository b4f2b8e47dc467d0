//! End to end: JSON Lines in, decisions out, through the real binary
//! (`sovra eval --requests`), against the same through regorus
//! (`--engine rego-rvm`, `--engine rego`). Throughput is in decisions per
//! second. Reproduce: `cargo bench --bench e2e`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "../tests/support/gen.rs"]
mod gen;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::process::{Command, Stdio};

fn lines(n: usize) -> std::path::PathBuf {
    let mut rng = gen::Rng::new(5);
    let mut s = String::with_capacity(n * 320);
    for i in 0..n {
        let mut r = gen::catalog_request(&mut rng);
        r["time"] = serde_json::json!("2026-03-01T12:00:00Z");
        let _ = i;
        s.push_str(&r.to_string());
        s.push('\n');
    }
    let path = std::env::temp_dir().join(format!("sovra-e2e-{n}.jsonl"));
    std::fs::write(&path, s).expect("write requests");
    path
}

fn run(args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run sovra");
    assert!(matches!(status.code(), Some(0) | Some(2)), "{status:?}");
}

fn e2e(c: &mut Criterion) {
    let mut g = c.benchmark_group("e2e");
    g.sample_size(10);
    for (engine, n) in [("sovra", 200_000), ("rego-rvm", 20_000), ("rego", 20_000)] {
        let path = lines(n);
        let p = path.to_str().expect("path");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new(engine, n), |b| {
            b.iter(|| run(&["eval", "--engine", engine, "--requests", p]))
        });
        std::fs::remove_file(&path).ok();
    }
    g.finish();
}

criterion_group!(benches, e2e);
criterion_main!(benches);
