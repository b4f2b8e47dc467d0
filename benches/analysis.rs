//! `sovra diff` on the bundled library against a one-rule change (one
//! country dropped from `ADEQUATE`), over the bundled catalog and no
//! grants, with the grants given and with any grants. Goal (issue 14):
//! ≤ 1 s. Reproduce: `cargo bench --bench analysis`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

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

criterion_group!(benches, diffs);
criterion_main!(benches);
