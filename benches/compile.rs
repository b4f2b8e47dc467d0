//! Compile time (parse, check, lower, index) per policy size, for the
//! generated realistic policies of benches/scale.rs, with the allocator the
//! `sovra` binary uses. Reproduce: `cargo bench --bench compile`.

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

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

#[global_allocator]
static GLOBAL: sovra::alloc::MiMalloc = sovra::alloc::MiMalloc;

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    for n in [10, 100, 1_000, 10_000, 100_000] {
        if n == 100_000 {
            g.sample_size(10);
        }
        let mut src = sovra::source::Sources::default();
        src.add(
            "scale.sov",
            gen::scale_policy(&mut gen::Rng::new(n as u64), n),
        );
        g.bench_with_input(BenchmarkId::new("sovra", n), &src, |b, src| {
            // The program is dropped outside the timing: freeing it is
            // not compiling (and it is freed on another thread than the
            // compile thread that built it, mimalloc's slower path).
            b.iter_with_large_drop(|| {
                let program = sovra::policy::compile(black_box(src)).expect("compiles");
                assert_eq!(program.rules.len(), n);
                program
            })
        });
    }
    g.finish();
}

/// Inputs that were once slow or crashed (issue 9): 2,000 keyed permits plus
/// 2,000 keyed forbids (target: under 1 s), and a 20 KB chain of `not`s,
/// refused by the nesting limit (target: under 0.1 s).
fn hostile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile_hostile");
    g.sample_size(10);
    let mut keyed = String::from("package p\n");
    for i in 0..2_000 {
        keyed.push_str(&format!(
            "permit p{i} when resource.id == \"ds-{i}\" and target.country in [DE, FR]\n"
        ));
    }
    for i in 0..2_000 {
        keyed.push_str(&format!(
            "forbid f{i} when resource.id == \"ds-{i}\" and principal.country == US\n"
        ));
    }
    let mut src = sovra::source::Sources::default();
    src.add("keyed.sov", keyed);
    g.bench_function("keyed_4000", |b| {
        b.iter(|| {
            assert_eq!(
                sovra::policy::compile(black_box(&src))
                    .expect("compiles")
                    .rules
                    .len(),
                4_000
            )
        })
    });
    let mut src = sovra::source::Sources::default();
    src.add(
        "not.sov",
        format!(
            "package p\npermit r when {}action == store\n",
            "not ".repeat(5_000)
        ),
    );
    g.bench_function("not_chain_20kb", |b| {
        b.iter(|| assert!(sovra::policy::compile(black_box(&src)).is_err()))
    });
    g.finish();
}

criterion_group!(benches, compile, hostile);
criterion_main!(benches);
