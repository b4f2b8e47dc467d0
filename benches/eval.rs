//! Per-decision time on reference-pack requests of each action, with tracing
//! off (the hot path, `verdict`), the full decision document without a trace,
//! and with a full trace. Reproduce: `cargo bench --bench eval`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};

const GRANTS: &str = r#"{ "grants": [
  { "id": "g-1", "principal": "alice", "resource": "ds-customers", "to_country": "US", "purpose": "support", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "valid_from": "2026-01-01T00:00:00Z", "expires_at": "2026-12-31T00:00:00Z" },
  { "id": "g-2", "principal": "alice", "classifications": ["identity"], "to_country": "IN", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "expires_at": "2026-12-31T00:00:00Z" },
  { "id": "g-3", "principal": "svc-billing", "resource": "ds-customers", "to_country": "US", "mechanism": "dpf", "requested_by": "carol", "approved_by": "dave", "expires_at": "2026-12-31T00:00:00Z" }
] }"#;

/// (name, request, expected allow)
const REQUESTS: &[(&str, &str, bool)] = &[
    (
        "store/allow",
        r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-billing","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#,
        true,
    ),
    (
        "store/deny-gdpr",
        r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-other","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"global","home_country":"DE"},"target_region":"us-east-1"}"#,
        false,
    ),
    (
        "replicate/allow-hybrid",
        r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds-orders","classification":"transactional","residency":"de-primary-eea","home_country":"DE"},"source_region":"eu-central-1","target_region":"eu-west-3"}"#,
        true,
    ),
    (
        "replicate/allow-dpf-grant",
        r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-billing","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"global","home_country":"DE"},"source_region":"eu-central-1","target_region":"us-east-1"}"#,
        true,
    ),
    (
        "access/allow-grant",
        r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#,
        true,
    ),
    (
        "access/deny-no-grant",
        r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"mallory","country":"CN"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1"}"#,
        false,
    ),
];

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
        g.bench_with_input(BenchmarkId::new("trace-full", name), &req, |b, req| {
            b.iter(|| {
                let d = engine.decide(black_box(req), TraceLevel::Full);
                assert_eq!(d.allowed(), *allow);
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
    c.bench_function("compile/bundled", |b| {
        let src = sovra::policy::bundled();
        b.iter(|| sovra::policy::compile(black_box(&src)).expect("compiles"))
    });
}

criterion_group!(benches, decide, parse);
criterion_main!(benches);
