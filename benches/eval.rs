//! Per-decision time on reference-pack requests of each action, with tracing
//! off (the hot path, `verdict`), the full decision document without a trace,
//! and with a full trace. Reproduce: `cargo bench --bench eval`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};

#[path = "../tests/support/bundled.rs"]
mod bundled;

use bundled::{GRANTS, REQUESTS};

fn engine() -> Engine {
    let program =
        sovra::policy::compile(&sovra::policy::bundled()).expect("bundled library compiles");
    Engine::new(
        program,
        bundled_regions(),
        Grants::from_json(GRANTS).expect("grants parse"),
    )
}

fn decide(c: &mut Criterion) {
    let engine = engine();
    let mut g = c.benchmark_group("decide");
    for (name, json, allow) in REQUESTS {
        let req = Request::from_json(json).expect("request parses");
        let mut scratch = Scratch::default();
        g.bench_with_input(BenchmarkId::new("trace-off", name), &req, |b, req| {
            b.iter(|| {
                let v = engine.verdict(black_box(req), &mut scratch);
                assert_eq!(v.allow, *allow);
            })
        });
        g.bench_with_input(BenchmarkId::new("document", name), &req, |b, req| {
            b.iter(|| {
                let d = engine.decide(black_box(req), TraceLevel::Off);
                assert_eq!(d.allowed(), *allow);
            })
        });
        // Issue 15 point 2: from the request's JSON text to the decision
        // document's JSON text, as `sovra eval --requests` does for each line
        // (the request read into a reused one, the document written into a
        // reused buffer).
        let mut reused = Request::default();
        let mut out = Vec::with_capacity(16 * 1024);
        g.bench_with_input(
            BenchmarkId::new("json-to-document", name),
            json,
            |b, json| {
                b.iter(|| {
                    reused.read_json(black_box(json)).expect("parses");
                    out.clear();
                    let v = engine.decide_json(&reused, &mut scratch, &mut out);
                    assert_eq!(v.allow, *allow);
                })
            },
        );
        // The same from `Request::from_json` (a new request each time).
        g.bench_with_input(
            BenchmarkId::new("from-json-to-document", name),
            json,
            |b, json| {
                b.iter(|| {
                    let req = Request::from_json(black_box(json)).expect("parses");
                    out.clear();
                    let v = engine.decide_json(&req, &mut scratch, &mut out);
                    assert_eq!(v.allow, *allow);
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("trace-full", name), &req, |b, req| {
            b.iter(|| {
                let d = engine.decide(black_box(req), TraceLevel::Full);
                assert_eq!(d.allowed(), *allow);
            })
        });
        // What every decision document pays whatever the engine does: the
        // input hash, sha256 of the documents' hashes (a state taken once)
        // and the request's compact form (issue 15 points 2 and 5: the cost
        // no change to the engine removes).
        let mut compact = Vec::with_capacity(1024);
        g.bench_with_input(BenchmarkId::new("input-hash", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                engine.input_hash_into(black_box(req), &mut compact, &mut out);
                black_box(&out);
            })
        });
        // The same document as JSON text without a trace: what the trace
        // adds is the difference.
        g.bench_with_input(BenchmarkId::new("document-json", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                let v = engine.decide_json(black_box(req), &mut scratch, &mut out);
                assert_eq!(v.allow, *allow);
            })
        });
        // Issue 15 point 6: the document with its full trace as JSON text,
        // as the server answers `?explain=full` and `sovra eval --requests
        // --explain full` writes each line (the trace written as the walk
        // goes, into a reused buffer).
        g.bench_with_input(BenchmarkId::new("trace-full-json", name), &req, |b, req| {
            b.iter(|| {
                out.clear();
                let v = engine.decide_json_traced(
                    black_box(req),
                    TraceLevel::Full,
                    &mut scratch,
                    &mut out,
                );
                assert_eq!(v.allow, *allow);
            })
        });
    }
    g.finish();
}

fn parse(c: &mut Criterion) {
    let (_, json, _) = REQUESTS[0];
    c.bench_function("parse/request", |b| {
        b.iter(|| Request::from_json(black_box(json)).expect("parses"))
    });
    // The in-place reader `Request::from_json` is held to (issue 15: within
    // 1.5× of it).
    let mut reused = Request::default();
    c.bench_function("parse/request-in-place", |b| {
        b.iter(|| reused.read_json(black_box(json)).expect("parses"))
    });
    c.bench_function("compile/bundled", |b| {
        let src = sovra::policy::bundled();
        b.iter(|| sovra::policy::compile(black_box(&src)).expect("compiles"))
    });
}

criterion_group!(benches, decide, parse);
criterion_main!(benches);
