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

#[path = "../tests/support/bundled.rs"]
mod bundled;

use bundled::{GRANTS, REQUESTS};

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
