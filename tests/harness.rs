//! The data-driven case harness: every suite under `tests/cases/` and the
//! bundled library's own tests (`policies/tests/*.test.json`) run through
//! the library's test runner (`sovra::testing`, what `sovra test` uses), and
//! the engine's own consistency besides: every trace level gives the same
//! decision, and the hot path agrees.
//!
//! A suite (docs/authors.md, "Testing policies"):
//! ```json
//! { "policies": ["dir-or-file", …] (absent: the bundled library),
//!   "policies_inline": { "extra.sov": "package …" } (added to those),
//!   "regions": "regions.json" (relative to the file, or inline; absent: the bundled catalog),
//!   "grants": "grants.json" (likewise; absent: none),
//!   "now": "2026-03-01T12:00:00Z" (for requests without a time),
//!   "base": { …a request… },
//!   "cases": [ { "name": "…", "set": { "resource.home_country": "RU" },
//!                "unset": ["purpose"], "decision": "deny",
//!                "rules": ["russia.identity_outside_russia"] } ] }
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use serde_json::Value;
use sovra::eval::{Scratch, TraceLevel};
use sovra::testing::Suite;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            files(&e, out);
        } else if e.extension().is_some_and(|x| x == "json") {
            out.push(e);
        }
    }
}

#[test]
fn every_case_file_decides_as_stated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut groups = Vec::new();
    files(&root.join("tests/cases"), &mut groups);
    groups.extend(sovra::testing::discover(&[
        root.join("policies"),
        root.join("docs/examples/company"),
    ]));
    assert!(groups.len() > 5);
    let program = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for file in &groups {
        let text = std::fs::read_to_string(file).unwrap();
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Documents that suites name sit beside them; a suite has `cases`.
        if value.get("cases").is_none() {
            continue;
        }
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let suite = Suite::from_json(&text, &rel).unwrap_or_else(|e| panic!("{e}"));
        let prepared = suite
            .prepare(file.parent().unwrap(), &rel, &program)
            .unwrap_or_else(|e| panic!("{e}"));
        for (case, req) in &prepared.cases {
            count += 1;
            let name = format!("{rel}: {}", case.name);
            let result = sovra::testing::check(&prepared.engine, case, req);
            if let Some(why) = result.failure {
                failures.push(format!("{name}: {why}"));
                continue;
            }
            let Ok(request) = req else { continue };
            let Some(want) = result.decision.map(|d| d.decision) else {
                continue;
            };
            // Every trace level gives the same decision, and the hot path agrees.
            for level in [TraceLevel::Off, TraceLevel::Summary] {
                let d = prepared.engine.decide(request, level);
                if d.decision != want {
                    failures.push(format!("{name}: {level:?} decided {}", d.decision));
                }
            }
            let mut scratch = Scratch::default();
            let v = prepared.engine.verdict(request, &mut scratch);
            if v.allow != (want == sovra::eval::Outcome::Allow) {
                failures.push(format!("{name}: verdict() disagrees with decide()"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count > 150, "only {count} cases");
    eprintln!("{count} cases in {} files passed", groups.len());
}
