//! Sovra and regorus side by side, on the same policy, documents and
//! requests, in the same run: the bundled library, one request per action and
//! outcome. regorus runs the module `sovra export --to rego` writes, prepared
//! once (policy parsed, data loaded, input converted outside the loop), through
//! its interpreter and through its compiled RVM.
//!
//! `batch`: what `POST /v1/evaluate/batch` does without HTTP, for 1,000
//! distinct requests of the bundled catalog in one JSON array: Sovra reads
//! the array in one pass and writes every decision document; regorus reads
//! each request's JSON into its input and evaluates it.
//! Reproduce: `cargo bench --bench compare`.

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
use sovra::eval::{Engine, Scratch};
use sovra::rego::{to_rego_value, RegoEngine, RegoMode};

#[path = "../tests/support/bundled.rs"]
mod bundled;

use bundled::{GRANTS, REQUESTS};

#[path = "../tests/support/gen.rs"]
mod gen;

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

fn batch(c: &mut Criterion) {
    const N: usize = 1000;
    let program = sovra::policy::compile(&sovra::policy::bundled()).expect("compiles");
    let regions = bundled_regions();
    let grants = Grants::from_json(GRANTS).expect("grants");
    let engine = Engine::new(program.clone(), regions.clone(), grants.clone());
    let mut rvm = RegoEngine::new(&program, &regions, &grants, RegoMode::Rvm).expect("regorus rvm");
    let mut rng = gen::Rng::new(17);
    let items: Vec<String> = (0..N)
        .map(|_| gen::catalog_request(&mut rng).to_string())
        .collect();
    let body = format!("[{}]", items.join(","));
    let mut g = c.benchmark_group("batch");
    g.throughput(criterion::Throughput::Elements(N as u64));
    g.sample_size(20);
    let mut scratch = Scratch::default();
    let mut out = Vec::with_capacity(body.len() * 2);
    g.bench_function(BenchmarkId::new("sovra", N), |b| {
        b.iter(|| {
            out.clear();
            let read = Request::each_from_json(black_box(body.as_bytes()), |run| {
                for req in run {
                    engine.decide_json(req, &mut scratch, &mut out);
                }
            });
            assert!(read);
        })
    });
    g.bench_function(BenchmarkId::new("regorus-rvm", N), |b| {
        b.iter(|| {
            for item in &items {
                let input = regorus::Value::from_json_str(black_box(item)).expect("input");
                black_box(rvm.decide_value(input).expect("eval"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bundled, batch);
criterion_main!(benches);
