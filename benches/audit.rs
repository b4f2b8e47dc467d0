//! Replaying a decision log: 100,000 logged decisions decided again from
//! their stored policy and documents. Reproduce: `cargo bench --bench audit`.

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

use criterion::{criterion_group, criterion_main, Criterion};
use sovra::audit::LogWriter;
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, TraceLevel};

#[global_allocator]
static GLOBAL: sovra::alloc::MiMalloc = sovra::alloc::MiMalloc;

fn replay(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("sovra-bench-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::new(
        sovra::policy::compile(&sovra::policy::bundled()).expect("compiles"),
        bundled_regions(),
        Grants::from_json(&gen::grants(&mut gen::Rng::new(1), 6, 4).to_string()).expect("grants"),
    );
    let mut rng = gen::Rng::new(2);
    let mut log = LogWriter::open(&dir, &[]).expect("log");
    for _ in 0..100_000 {
        let r = gen::catalog_request(&mut rng);
        let req = Request::from_value(&r).expect("request");
        let d = engine.decide(&req, TraceLevel::Off);
        log.append(&engine, &req, &d).expect("append");
    }
    log.sync().expect("sync");
    drop(log);
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.bench_function("replay/100000", |b| {
        b.iter(|| {
            let r = sovra::audit::replay(&dir, None, |_, _| {}).expect("replay");
            assert!(r.iter().all(|x| x.was == x.now));
        })
    });
    g.bench_function("verify/100000", |b| {
        b.iter(|| sovra::audit::verify(&dir).expect("verify"))
    });
    g.finish();
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(benches, replay);
criterion_main!(benches);
