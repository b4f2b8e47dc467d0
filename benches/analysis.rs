//! `sovra diff` on the bundled library against a one-rule change (one
//! country dropped from `ADEQUATE`), over the bundled catalog and no
//! grants, with the grants given and with any grants; `sovra verify` of
//! ten assertions on the bundled library; and `sovra diff` at 1,000 rules
//! (the scale bench's per-dataset policy) against a change of the one rule
//! every read goes through, and of one per-dataset rule.
//! Goals (issue 14): 1 s, 1 s, and 10 s at 1,000 rules.
//! Reproduce: `cargo bench --bench analysis`.

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
use sovra::analysis::{diff::diff, Space};
use sovra::documents::{bundled_regions, Grants};
use sovra::eval::Engine;

fn engine(edit: Option<(&str, &str)>) -> Engine {
    let mut sources = sovra::policy::bundled();
    if let Some((from, to)) = edit {
        for f in &mut sources.files {
            f.text = f.text.replace(from, to).into();
        }
    }
    let program = sovra::policy::compile(&sources).unwrap();
    Engine::new(program, bundled_regions(), Grants::default())
}

fn diffs(c: &mut Criterion) {
    let old = engine(None);
    let new = engine(Some((
        "set ADEQUATE = [AD, AR, BR, CA, CH,",
        "set ADEQUATE = [AD, AR, BR, CA,",
    )));
    let time = "2026-12-02T12:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("analysis/diff");
    g.sample_size(10);
    for (name, any) in [
        ("bundled library, one-rule change", false),
        ("the same, any grants", true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let space = Space::new(&[&old, &new], time, any);
                let report = diff(&space, &old, &new, false).unwrap();
                assert!(!report.changes.is_empty());
                report.classes
            })
        });
    }
    g.finish();
}

const MORE: &str = "
assert replicas_need_a_known_source:
  never allow when action == replicate and source is missing
assert reads_need_a_reader_country:
  never allow when action == access and principal.country is missing
assert nothing_goes_to_an_inactive_region:
  never allow when action in [store, replicate] and target.status != active
assert unclassified_reads_are_denied:
  never allow when action == access and resource.classification is missing
";

fn assertions(c: &mut Criterion) {
    // The six of policies/guarantees.sov and four more.
    let files = vec![("bench.assert".to_string(), MORE.to_string())];
    let sources = sovra::policy::bundled();
    let regions = bundled_regions();
    let time = "2026-12-02T12:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("analysis/verify");
    g.sample_size(10);
    g.bench_function("ten assertions on the bundled library, any grants", |b| {
        b.iter(|| {
            let out = sovra::analysis::verify::verify(
                &sources,
                &files,
                &regions,
                &Grants::default(),
                time,
                true,
            )
            .unwrap();
            assert!(out.len() == 10 && out.iter().all(|o| o.holds));
        })
    });
    g.finish();
}

fn at_scale(c: &mut Criterion) {
    let text = gen::scale_policy(&mut gen::Rng::new(100), 1000);
    let compile = |t: &str| {
        let mut src = sovra::source::Sources::default();
        src.add("scale.sov", t.to_string());
        Engine::new(
            sovra::policy::compile(&src).unwrap(),
            bundled_regions(),
            Grants::default(),
        )
    };
    let old = compile(&text);
    let time = "2026-12-02T12:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("analysis/scale");
    g.sample_size(10);
    for (name, from, to) in [
        (
            "diff at 1,000 rules, the read rule changed",
            "permit read when action == access",
            "permit read when action == access and principal.country is not missing",
        ),
        (
            "diff at 1,000 rules, one dataset's rule changed",
            "when action in [store, replicate] and resource.id == \"ds-7\" and target.country not in [",
            "when action in [store, replicate] and resource.id == \"ds-7\" and target.country not in [US, ",
        ),
    ] {
        let changed = text.replacen(from, to, 1);
        assert_ne!(changed, text);
        let new = compile(&changed);
        g.bench_function(name, |b| {
            b.iter(|| {
                let space = Space::new(&[&old, &new], time, false);
                let report = diff(&space, &old, &new, false).unwrap();
                assert!(!report.changes.is_empty());
                report.classes
            })
        });
    }
    g.finish();
}

criterion_group!(benches, diffs, assertions, at_scale);
criterion_main!(benches);
