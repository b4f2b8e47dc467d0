//! Sovra and regorus side by side, on the same policy, documents and
//! requests, in the same run: the bundled library, one request per action and
//! outcome. regorus runs the module `sovra export --to rego` writes, prepared
//! once (policy parsed, data loaded, input converted outside the loop), through
//! its interpreter and through its compiled RVM.
//! Reproduce: `cargo bench --bench compare`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, Scratch};
use sovra::rego::{to_rego_value, RegoEngine, RegoMode};

const GRANTS: &str = r#"{ "grants": [
  { "id": "g-1", "principal": "alice", "resource": "ds-customers", "to_country": "US", "purpose": "support", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "valid_from": "2026-01-01T00:00:00Z", "expires_at": "2026-12-31T00:00:00Z" },
  { "id": "g-2", "principal": "alice", "classifications": ["identity"], "to_country": "IN", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "expires_at": "2026-12-31T00:00:00Z" },
  { "id": "g-3", "principal": "svc-billing", "resource": "ds-customers", "to_country": "US", "mechanism": "dpf", "requested_by": "carol", "approved_by": "dave", "expires_at": "2026-12-31T00:00:00Z" }
] }"#;

const REQUESTS: &[(&str, &str, bool)] = &[
    (
        "store-allow",
        r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-billing","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#,
        true,
    ),
    (
        "store-deny",
        r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-other","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"global","home_country":"DE"},"target_region":"us-east-1"}"#,
        false,
    ),
    (
        "replicate-allow",
        r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-billing","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"global","home_country":"DE"},"source_region":"eu-central-1","target_region":"us-east-1"}"#,
        true,
    ),
    (
        "access-allow",
        r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#,
        true,
    ),
    (
        "access-deny",
        r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"mallory","country":"CN"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1"}"#,
        false,
    ),
];

fn bundled(c: &mut Criterion) {
    let program = sovra::policy::compile(&sovra::policy::bundled()).expect("compiles");
    let regions = bundled_regions();
    let grants = Grants::from_json(GRANTS).expect("grants");
    let engine = Engine::new(program.clone(), regions.clone(), grants.clone());
    let mut interp =
        RegoEngine::new(&program, &regions, &grants, RegoMode::Interpreter).expect("regorus");
    let mut rvm = RegoEngine::new(&program, &regions, &grants, RegoMode::Rvm).expect("regorus rvm");
    let mut g = c.benchmark_group("bundled");
    for (name, json, allow) in REQUESTS {
        let req = Request::from_json(json).expect("request");
        let input = to_rego_value(&req).expect("input");
        let mut scratch = Scratch::default();
        g.bench_with_input(BenchmarkId::new("sovra", name), &req, |b, req| {
            b.iter(|| assert_eq!(engine.verdict(black_box(req), &mut scratch).allow, *allow))
        });
        g.bench_with_input(
            BenchmarkId::new("regorus-interpreter", name),
            &input,
            |b, input| {
                b.iter(|| {
                    assert_eq!(
                        interp
                            .decide_value(black_box(input.clone()))
                            .expect("eval")
                            .allow,
                        *allow
                    )
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("regorus-rvm", name), &input, |b, input| {
            b.iter(|| {
                assert_eq!(
                    rvm.decide_value(black_box(input.clone()))
                        .expect("eval")
                        .allow,
                    *allow
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bundled);
criterion_main!(benches);
