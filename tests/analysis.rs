//! `sovra diff` checked against brute force: for one-line semantic changes
//! of a small residency policy, every generated request whose decision
//! differs falls in a reported class (membership through the JSON
//! constraints), and every class's example reproduces its change;
//! equivalent rewrites report no change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "support/gen.rs"]
mod gen;

use serde_json::{json, Value};
use sovra::analysis::diff::{diff, holds, Report};
use sovra::analysis::Space;
use sovra::documents::{Grants, Regions, Request};
use sovra::eval::{Engine, TraceLevel};

const OLD: &str = include_str!("cases/analysis/old/rules.sov");
const REGIONS: &str = include_str!("cases/analysis/regions.json");
const GRANTS: &str = include_str!("cases/analysis/grants.json");
const TIME: &str = "2026-12-02T12:00:00Z";

fn engine(text: &str, name: &str) -> Engine {
    let dir = std::env::temp_dir().join(format!("sovra-analysis-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.sov"), text).unwrap();
    let sources = sovra::policy::load(std::slice::from_ref(&dir)).unwrap();
    let program = sovra::policy::compile(&sources)
        .unwrap_or_else(|d| panic!("{name}: {}", sovra::diag::render(&d, &sources)));
    let _ = std::fs::remove_dir_all(&dir);
    Engine::new(
        program,
        Regions::from_json(REGIONS).unwrap(),
        Grants::from_json(GRANTS).unwrap(),
    )
}

fn run(old: &Engine, new: &Engine, any_grants: bool) -> Report {
    let space = Space::new(&[old, new], TIME.parse().unwrap(), any_grants);
    diff(&space, old, new, false).unwrap()
}

/// A deterministic generator of requests, over the values the small
/// policy names and values it does not.
fn requests(n: usize) -> Vec<Value> {
    generate(
        n,
        &[Some("identity"), Some("analytical"), Some("secret"), None],
        &[Some("eea"), Some("global"), Some("mars"), None],
        &[
            Some("DE"),
            Some("NL"),
            Some("IE"),
            Some("US"),
            Some("JP"),
            Some("BR"),
            Some("CH"),
            None,
        ],
        &[
            Some("eu-central-1"),
            Some("eu-west-1"),
            Some("eu-nl-1"),
            Some("eu-nl-2"),
            Some("us-east-1"),
            Some("us-east-2"),
            Some("ch-1"),
            Some("nowhere-1"),
            None,
        ],
    )
}

/// A deterministic draw below `k` (xorshift from `seed`).
fn below(seed: u64) -> impl FnMut(usize) -> usize {
    let mut x = seed;
    move |k: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % k as u64) as usize
    }
}

fn generate(
    n: usize,
    classes: &[Option<&str>],
    profiles: &[Option<&str>],
    countries: &[Option<&str>],
    regions: &[Option<&str>],
) -> Vec<Value> {
    let mut next = below(0x5eed_2026_1202);
    let pick = |i: usize, xs: &[Option<&str>]| xs[i].map(|s| json!(s));
    let actions = [
        Some("store"),
        Some("replicate"),
        Some("access"),
        Some("delete"),
    ];
    let people = [Some("alice"), Some("bob"), None];
    let purposes = [Some("support"), Some("marketing"), None];
    (0..n)
        .map(|_| {
            let mut r = json!({ "action": actions[next(actions.len())].unwrap(), "time": TIME,
                                "principal": {}, "resource": {} });
            let set = |r: &mut Value, path: &[&str], v: Option<Value>| {
                if let Some(v) = v {
                    let mut at = &mut *r;
                    for k in &path[..path.len() - 1] {
                        at = &mut at[*k];
                    }
                    at[path[path.len() - 1]] = v;
                }
            };
            set(
                &mut r,
                &["principal", "id"],
                pick(next(people.len()), &people),
            );
            set(
                &mut r,
                &["principal", "country"],
                pick(next(countries.len()), countries),
            );
            set(
                &mut r,
                &["resource", "classification"],
                pick(next(classes.len()), classes),
            );
            set(
                &mut r,
                &["resource", "residency"],
                pick(next(profiles.len()), profiles),
            );
            set(
                &mut r,
                &["resource", "home_country"],
                pick(next(countries.len()), countries),
            );
            set(
                &mut r,
                &["source_region"],
                pick(next(regions.len()), regions),
            );
            set(
                &mut r,
                &["target_region"],
                pick(next(regions.len()), regions),
            );
            set(&mut r, &["purpose"], pick(next(purposes.len()), &purposes));
            r
        })
        .collect()
}

fn decide(e: &Engine, r: &Value) -> bool {
    e.decide(
        &Request::from_json(&r.to_string()).unwrap(),
        TraceLevel::Off,
    )
    .allowed()
}

/// Complete against brute force, and every example sound.
fn check(name: &str, old: &Engine, new: &Engine, report: &Report, sample: &[Value]) -> usize {
    for c in &report.changes {
        assert_eq!(
            decide(old, &c.example),
            c.from == "allow",
            "{name}: example {}",
            c.example
        );
        assert_eq!(
            decide(new, &c.example),
            c.to == "allow",
            "{name}: example {}",
            c.example
        );
        assert!(
            holds(&c.constraints, &c.example),
            "{name}: the example is outside its class: {}",
            c.example
        );
    }
    let mut differing = 0;
    for r in sample {
        if decide(old, r) != decide(new, r) {
            differing += 1;
            assert!(
                report.changes.iter().any(|c| holds(&c.constraints, r)),
                "{name}: {r} changes but is in no reported class: {:#?}",
                report
                    .changes
                    .iter()
                    .map(|c| &c.constraints)
                    .collect::<Vec<_>>()
            );
        }
    }
    differing
}

#[test]
fn one_line_changes_are_found_completely_and_their_examples_reproduce() {
    let old = engine(OLD, "old");
    let sample = requests(20_000);
    let mutations: [(&str, &str, &str); 6] = [
        (
            "a set member removed",
            "set EEA = [AT, BE, DE, FR, IE, NL]",
            "set EEA = [AT, BE, DE, FR, IE]",
        ),
        (
            "a comparison flipped",
            "principal.country != resource.home_country",
            "principal.country == resource.home_country",
        ),
        (
            "a condition dropped",
            "when action in [store, replicate] and target.status != active",
            "when target.status != active",
        ),
        ("an effect swapped", "permit read\n", "forbid read\n"),
        (
            "a grant condition dropped",
            "   and not exists grant g where g.to_country == principal.country\n",
            "",
        ),
        (
            "a permit widened",
            "permit store\n  when action in [store, replicate]\n",
            "permit store\n  when action in [store, replicate, delete]\n",
        ),
    ];
    for (name, from, to) in mutations {
        assert!(OLD.contains(from), "{name}: `{from}` is not in the policy");
        let new = engine(&OLD.replace(from, to), name);
        let report = run(&old, &new, false);
        assert!(!report.changes.is_empty(), "{name}: no change reported");
        let differing = check(name, &old, &new, &report, &sample);
        assert!(differing > 0, "{name}: the sample never hits the change");
    }
}

#[test]
fn equivalent_rewrites_report_no_change() {
    let old = engine(OLD, "old");
    let sample = requests(2_000);
    // The rules in another order; a redundant condition; the fmt output.
    let reordered = OLD.replace(
        "permit store\n  when action in [store, replicate]\n  because \"stored\"\n\npermit read\n  when action == access\n  because \"read\"\n",
        "permit read\n  when action == access\n  because \"read\"\n\npermit store\n  when action in [store, replicate]\n  because \"stored\"\n",
    );
    assert_ne!(reordered, OLD);
    let redundant = OLD.replace(
        "when action == access\n  because \"read\"",
        "when action == access and action != delete\n  because \"read\"",
    );
    assert_ne!(redundant, OLD);
    let formatted = sovra::format::format(OLD).unwrap();
    for (name, text) in [
        ("reordered", reordered),
        ("redundant", redundant),
        ("formatted", formatted),
    ] {
        let new = engine(&text, name);
        let report = run(&old, &new, false);
        assert!(report.changes.is_empty(), "{name}: {:#?}", report.changes);
        assert_eq!(check(name, &old, &new, &report, &sample), 0);
    }
}

#[test]
fn whatever_grants_exist_a_grant_condition_is_free() {
    let old = engine(OLD, "old");
    let new = engine(
        &OLD.replace(
            "   and not exists grant g where g.to_country == principal.country\n",
            "",
        ),
        "no-grants",
    );
    // With the grants document: alice has a grant to the US, so dropping
    // the condition changes her reads too only where she has none.
    let given = run(&old, &new, false);
    // With any grants: the old policy allows a cross-border read when some
    // grant exists; the new one never does: the change is stated with the
    // grant condition true.
    let any = run(&old, &new, true);
    assert!(!any.changes.is_empty());
    assert!(
        any.changes
            .iter()
            .all(|c| c.from == "allow" && c.to == "deny"),
        "{:#?}",
        any.changes
    );
    assert!(
        any.changes.iter().all(|c| c
            .constraints
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("(exists grant"))),
        "{:#?}",
        any.changes
    );
    assert!(!given.changes.is_empty());
}

/// The bundled library, its files rewritten by `edit` (file, from, to).
fn bundled(edits: &[(&str, &str, &str)], name: &str) -> Engine {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let dir = std::env::temp_dir().join(format!("sovra-bundled-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(&root).unwrap().flatten() {
        let path = f.path();
        if path.extension().is_some_and(|e| e == "sov") {
            let file = path.file_name().unwrap().to_str().unwrap().to_string();
            let mut text = std::fs::read_to_string(&path).unwrap();
            for (which, from, to) in edits {
                if *which == file {
                    assert!(text.contains(from), "{name}: `{from}` is not in {file}");
                    text = text.replace(from, to);
                }
            }
            std::fs::write(dir.join(&file), text).unwrap();
        }
    }
    let sources = sovra::policy::load(std::slice::from_ref(&dir)).unwrap();
    let program = sovra::policy::compile(&sources)
        .unwrap_or_else(|d| panic!("{name}: {}", sovra::diag::render(&d, &sources)));
    let _ = std::fs::remove_dir_all(&dir);
    Engine::new(
        program,
        sovra::documents::bundled_regions(),
        Grants::from_json(GRANTS).unwrap(),
    )
}

/// 20,000 requests over the bundled library's vocabulary and values it
/// does not name.
fn bundled_sample() -> Vec<Value> {
    generate(
        20_000,
        &[
            Some("identity"),
            Some("transactional"),
            Some("operational"),
            Some("content"),
            Some("analytical"),
            Some("secret"),
            None,
        ],
        &[
            Some("eea"),
            Some("eu"),
            Some("de-only"),
            Some("us-only"),
            Some("fr-sovereign"),
            Some("de-primary-eea"),
            Some("client"),
            Some("global"),
            Some("mars"),
            None,
        ],
        &[
            Some("DE"),
            Some("FR"),
            Some("AT"),
            Some("CH"),
            Some("GB"),
            Some("US"),
            Some("RU"),
            Some("BR"),
            Some("JP"),
            Some("AE"),
            None,
        ],
        &[
            Some("eu-central-1"),
            Some("eu-west-3"),
            Some("eu-central-2"),
            Some("europe-west6"),
            Some("eu-west-2"),
            Some("us-east-1"),
            Some("sa-east-1"),
            Some("ap-northeast-1"),
            Some("me-central-1"),
            Some("nowhere-1"),
            None,
        ],
    )
}

#[test]
fn one_line_changes_of_the_bundled_library_are_found_completely() {
    let old = bundled(&[], "old");
    let sample = bundled_sample();
    let mutations: [(&str, &str, &str, &str); 4] = [
        (
            "a set member removed",
            "geo.sov",
            "set ADEQUATE = [AD, AR, BR, CA, CH,",
            "set ADEQUATE = [AD, AR, BR, CA,",
        ),
        (
            "a comparison flipped",
            "access.sov",
            "   and principal.country != source.country",
            "   and principal.country == source.country",
        ),
        (
            "a condition dropped",
            "classes.sov",
            "   and resource.classification in PERSONAL\n   and resource.home_country is missing\n",
            "   and resource.classification in PERSONAL\n",
        ),
        (
            "an effect swapped",
            "access.sov",
            "permit read\n",
            "forbid read\n",
        ),
    ];
    for (name, file, from, to) in mutations {
        let new = bundled(&[(file, from, to)], name);
        let space = Space::new(&[&old, &new], TIME.parse().unwrap(), false);
        let report = diff(&space, &old, &new, false).unwrap();
        assert!(!report.changes.is_empty(), "{name}: no change reported");
        assert!(
            check(name, &old, &new, &report, &sample) > 0,
            "{name}: the sample never hits it"
        );
    }
}

fn verify_bundled(
    sources: &sovra::source::Sources,
    files: &[(&str, &str)],
    any_grants: bool,
) -> Result<Vec<sovra::analysis::verify::Outcome>, String> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    sovra::analysis::verify::verify(
        sources,
        &files,
        &sovra::documents::bundled_regions(),
        &Grants::default(),
        TIME.parse().unwrap(),
        any_grants,
    )
}

#[test]
fn the_bundled_guarantees_hold_whatever_grants_exist() {
    // policies/guarantees.sov: each `under any grants`, so proved for every
    // grants document without --any-grants.
    let outcomes = verify_bundled(&sovra::policy::bundled(), &[], false).unwrap();
    assert_eq!(outcomes.len(), 6);
    for o in &outcomes {
        assert!(
            o.holds && o.any_grants,
            "{} fails: {:?} {:?}",
            o.name,
            o.counterexample,
            o.decision
        );
        assert!(o.at.starts_with("policies/guarantees.sov:"), "{}", o.at);
    }
    // Dropping the Russian rule breaks S5, and only S5; the counterexample
    // is a real one: the policy allows it, and it is what S5 forbids.
    let mut broken = sovra::policy::bundled();
    for f in &mut broken.files {
        if f.name.ends_with("russia.sov") {
            f.text = "package russia\n".into();
        }
    }
    let outcomes = verify_bundled(&broken, &[], false).unwrap();
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.holds).collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].name, "guarantees.s5_russia_localisation");
    let c = failed[0].counterexample.clone().unwrap();
    assert_eq!(c["action"], "store");
    assert_eq!(c["resource"]["classification"], "identity");
    assert_eq!(c["resource"]["home_country"], "RU");
    let text = c.to_string();
    let req = Request::from_json(&text).unwrap();
    let e = Engine::new(
        sovra::policy::compile(&broken).unwrap(),
        sovra::documents::bundled_regions(),
        Grants::default(),
    );
    assert!(e.decide(&req, TraceLevel::Off).allowed(), "{c}");
    let target = c["target_region"].as_str().unwrap();
    let region = sovra::documents::bundled_regions()
        .regions
        .into_iter()
        .find(|r| r.id == target)
        .unwrap();
    assert_ne!(region.country.to_string(), "RU", "{c}");
}

#[test]
fn a_false_assertion_gets_a_counterexample_and_a_bad_one_an_error() {
    let text = include_str!("cases/analysis/false.assert");
    // On the grants given (none): the counterexample is allowed as it is.
    let outcomes =
        verify_bundled(&sovra::policy::bundled(), &[("false.assert", text)], false).unwrap();
    let o = outcomes
        .iter()
        .find(|o| o.name == "nothing_stored_in_the_us")
        .unwrap();
    assert!(!o.holds);
    assert_eq!(o.at, "false.assert:3:1");
    let c = o.counterexample.clone().unwrap();
    assert_eq!(c["action"], "store");
    assert_eq!(o.decision.as_ref().unwrap()["decision"], "allow", "{c}");
    // Malformed assertions and typos are errors that say where and what to write.
    let bad = |t: &str| verify_bundled(&sovra::policy::bundled(), &[("x.assert", t)], false);
    let e = bad("// a comment\nassert a: sometimes allow when action == store").unwrap_err();
    assert!(
        e.contains("x.assert:2") && e.contains("`never allow` or `always allow`"),
        "{e}"
    );
    let e = bad("permit x when action == store").unwrap_err();
    assert!(e.contains("x.assert") && e.contains("only `assert`"), "{e}");
    let e = bad("assert typo: never allow when resource.clasification == identity").unwrap_err();
    assert!(
        e.contains("resource.classification") && e.contains("prove nothing"),
        "{e}"
    );
    let e = bad(
        "assert a: never allow when action == store\nassert a: never allow when action == access",
    )
    .unwrap_err();
    assert!(
        e.contains("assertion `sovra_assertions.a` is declared twice"),
        "{e}"
    );
}

/// One-line semantic changes of the bundled library, generated: every
/// member of a bracketed list removed, every `==` and `!=` flipped, every
/// `and` line dropped, every rule's effect swapped (those that still
/// compile).
fn mutations() -> Vec<(String, String, String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|f| f.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sov"))
        // Assertions claim, they never decide: changing one changes no decision.
        .filter(|p| !p.ends_with("guarantees.sov"))
        .collect();
    files.sort();
    for path in files {
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut variants: Vec<(String, String)> = Vec::new();
            // A list's members: between brackets on the line, or a line
            // of a list that spans lines (`  AT, BE, BG,`).
            let bracket = match (line.find('['), line.rfind(']')) {
                (Some(a), Some(b)) if a < b => Some((a + 1, b)),
                _ => None,
            };
            let bare = line.trim_end().ends_with(',')
                && line
                    .split(',')
                    .all(|m| m.trim().chars().all(|c| c.is_ascii_uppercase()));
            let span = bracket.or_else(|| bare.then(|| (0, line.trim_end().len() - 1)));
            if let Some((a, b)) = span {
                let members: Vec<&str> = line[a..b].split(',').map(str::trim).collect();
                for (k, m) in members.iter().enumerate() {
                    if (members.len() < 2 && bracket.is_some()) || m.is_empty() {
                        continue;
                    }
                    let rest: Vec<&str> = members
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != k)
                        .map(|(_, x)| *x)
                        .collect();
                    let indent = if bracket.is_some() { "" } else { "  " };
                    let new = format!("{}{indent}{}{}", &line[..a], rest.join(", "), &line[b..]);
                    variants.push((format!("{m} removed"), new));
                }
                // A member added: a country or an action (those that do
                // not fit the list do not compile and are skipped).
                if bracket.is_some() {
                    for extra in ["US", "CN", "delete"] {
                        if !members.contains(&extra) {
                            let new = format!("{}{extra}, {}", &line[..a], &line[a..]);
                            variants.push((format!("{extra} added"), new));
                        }
                    }
                }
            }
            for (from, to) in [
                (" == ", " != "),
                (" != ", " == "),
                (" not in ", " in "),
                (" is missing", " is present"),
                (" is present", " is missing"),
                (" is not declared", " is declared"),
                (" == store", " == replicate"),
                (" == access", " == store"),
                (" == RU", " == BY"),
                (" != RU", " != BY"),
                (" == US", " == CA"),
                (" <= ", " < "),
                (" satisfies ", " not satisfies "),
            ] {
                if line.contains(from) {
                    variants.push((
                        format!("`{}` made `{}`", from.trim(), to.trim()),
                        line.replacen(from, to, 1),
                    ));
                }
            }
            if line.contains(" in ") && !line.contains(" not in ") && !line.contains(" in [store") {
                variants.push((
                    "`in` made `not in`".into(),
                    line.replacen(" in ", " not in ", 1),
                ));
            }
            if let Some(cond) = line.trim_start().strip_prefix("and ") {
                let indent = &line[..line.len() - line.trim_start().len()];
                variants.push(("a condition dropped".into(), String::new()));
                variants.push((
                    "a condition negated".into(),
                    format!("{indent}and not ({cond})"),
                ));
                variants.push(("`and` made `or`".into(), format!("{indent}or {cond}")));
            }
            for (from, to) in [("forbid ", "permit "), ("permit ", "forbid ")] {
                if let Some(rest) = line.strip_prefix(from) {
                    variants.push(("the effect swapped".into(), format!("{to}{rest}")));
                }
            }
            for (what, new) in variants {
                let mut lines: Vec<&str> = text.lines().collect();
                lines[i] = &new;
                let changed = lines.join("\n") + "\n";
                out.push((
                    format!("{file}:{}: {what}", i + 1),
                    file.clone(),
                    line.to_string(),
                    changed,
                ));
            }
        }
    }
    out
}

#[test]
fn generated_one_line_changes_of_the_bundled_library_are_found_completely() {
    let old = bundled(&[], "old");
    let sample = bundled_sample();
    let requests: Vec<Request> = sample
        .iter()
        .map(|r| Request::from_json(&r.to_string()).unwrap().into_owned())
        .collect();
    let mut scratch = sovra::eval::Scratch::default();
    let before: Vec<bool> = requests
        .iter()
        .map(|r| old.verdict(r, &mut scratch).allow)
        .collect();
    let (mut checked, mut changing, mut skipped) = (0, 0, 0);
    // Every one with SOVRA_ALL_MUTATIONS=1 (in a release build: `cargo
    // test --release --test analysis generated`); a fixed sixth of them
    // otherwise, each within 20,000 classes, so that CI stays quick.
    let all = std::env::var_os("SOVRA_ALL_MUTATIONS").is_some();
    let every = if all { 1 } else { 6 };
    for (name, file, _, changed) in mutations().into_iter().step_by(every) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut sources = sovra::source::Sources::default();
        for f in std::fs::read_dir(&root).unwrap().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "sov") {
                let n = p.file_name().unwrap().to_str().unwrap().to_string();
                let text = if n == file {
                    changed.clone()
                } else {
                    std::fs::read_to_string(&p).unwrap()
                };
                sources.add(n, text);
            }
        }
        // A change that no longer compiles is not a policy to diff.
        let Ok(program) = sovra::policy::compile(&sources) else {
            continue;
        };
        let new = Engine::new(
            program,
            sovra::documents::bundled_regions(),
            Grants::from_json(GRANTS).unwrap(),
        );
        let started = std::time::Instant::now();
        let mut space = Space::new(&[&old, &new], TIME.parse().unwrap(), false);
        // In CI, a change whose classes run past 20,000 (a comparison
        // flipped in a rule every store reads: a million classes, a
        // minute in release) is left to the full run.
        if !all {
            space.limit = 20_000;
        }
        let Ok(report) = diff(&space, &old, &new, false) else {
            skipped += 1;
            continue;
        };
        if all {
            eprintln!(
                "{name}: {} changes, {} classes, {:?}",
                report.changes.len(),
                report.classes,
                started.elapsed()
            );
        }
        for c in &report.changes {
            assert_eq!(
                decide(&old, &c.example),
                c.from == "allow",
                "{name}: example {}",
                c.example
            );
            assert_eq!(
                decide(&new, &c.example),
                c.to == "allow",
                "{name}: example {}",
                c.example
            );
        }
        for ((r, req), was) in sample.iter().zip(&requests).zip(&before) {
            if new.verdict(req, &mut scratch).allow != *was {
                assert!(
                    report.changes.iter().any(|c| holds(&c.constraints, r)),
                    "{name}: {r} changes but is in no reported class"
                );
            }
        }
        checked += 1;
        changing += usize::from(!report.changes.is_empty());
    }
    eprintln!(
        "{checked} mutations compiled and checked, {changing} change a decision, {skipped} over the limit"
    );
    assert!(
        all || skipped * 4 < checked,
        "{skipped} of {checked} over the limit"
    );
    assert!(
        checked >= if all { 200 } else { 30 },
        "only {checked} mutations compiled"
    );
    assert!(
        changing >= checked / 2,
        "{changing} of {checked} mutations change something"
    );
}

/// Requests for the scale policy: datasets, services, countries and
/// regions it names and others (`resource.tenant` is outside the schema,
/// which the analysis takes as absent: left out here too).
fn scale_sample(n: usize) -> Vec<Value> {
    let mut next = below(0x5ca1_e000_2026);
    let actions = ["store", "replicate", "access", "delete"];
    let classes = ["identity", "operational", "analytical", "secret"];
    let profiles = ["eea", "de-only", "global", "mars"];
    let countries = ["DE", "FR", "US", "CN", "RU", "JP", "BR"];
    let regions = [
        "eu-central-1",
        "eu-west-3",
        "us-east-1",
        "cn-north-1",
        "ap-northeast-1",
        "sa-east-1",
        "nowhere-1",
    ];
    (0..n)
        .map(|_| {
            let mut r = json!({
                "action": actions[next(actions.len())], "time": TIME,
                "principal": { "id": format!("svc-{}", next(60)), "country": countries[next(countries.len())] },
                "resource": { "id": format!("ds-{}", next(60)), "classification": classes[next(classes.len())],
                              "residency": profiles[next(profiles.len())] },
                "source_region": regions[next(regions.len())],
                "target_region": regions[next(regions.len())],
            });
            if next(5) == 0 {
                r["principal"].as_object_mut().unwrap().remove("country");
            }
            r
        })
        .collect()
}

#[test]
fn a_change_among_hundreds_of_rules_is_found_completely() {
    let text = gen::scale_policy(&mut gen::Rng::new(100), 200);
    let compile = |t: &str| {
        let mut src = sovra::source::Sources::default();
        src.add("scale.sov", t.to_string());
        Engine::new(
            sovra::policy::compile(&src).unwrap(),
            sovra::documents::bundled_regions(),
            Grants::default(),
        )
    };
    let old = compile(&text);
    let sample = scale_sample(20_000);
    for (name, from, to, guarded) in [
        (
            "the read rule",
            "permit read when action == access",
            "permit read when action == access and principal.country is not missing",
            true,
        ),
        (
            "one dataset's rule",
            "resource.id == \"ds-7\" and target.country not in [",
            "resource.id == \"ds-7\" and target.country not in [US, CN, ",
            true,
        ),
        (
            "a profile every rule may read",
            "profile de-only = single_country(DE)",
            "profile de-only = single_country(FR)",
            false,
        ),
    ] {
        let changed = text.replacen(from, to, 1);
        assert_ne!(changed, text, "{name}");
        let new = compile(&changed);
        // The search looks only where the rules not shared can matter,
        // unless what every rule may read changed.
        assert_eq!(
            sovra::analysis::diff::differing(&old, &new).is_some(),
            guarded,
            "{name}"
        );
        let report = run(&old, &new, false);
        assert!(!report.changes.is_empty(), "{name}: no change reported");
        assert!(
            check(name, &old, &new, &report, &sample) > 0,
            "{name}: the sample never hits it"
        );
    }
}
