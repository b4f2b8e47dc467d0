//! Compile time (parse, check, lower, index) per policy size, for the
//! generated realistic policies of benches/scale.rs, with the allocator the
//! `sovra` binary uses. Reproduce: `cargo bench --bench compile`.

#[path = "../tests/support/gen.rs"]
mod gen;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    for n in [10, 100, 1_000, 10_000] {
        let mut src = sovra::source::Sources::default();
        src.add(
            "scale.sov",
            gen::scale_policy(&mut gen::Rng::new(n as u64), n),
        );
        g.bench_with_input(BenchmarkId::new("sovra", n), &src, |b, src| {
            b.iter(|| {
                assert_eq!(
                    sovra::policy::compile(black_box(src))
                        .expect("compiles")
                        .rules
                        .len(),
                    n
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
