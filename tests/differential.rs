//! Differential tests: every generated case is decided natively and by
//! regorus on the exported Rego; the decision and the set of determining rule
//! ids must be identical.
//!
//! `SOVRA_DIFF_CASES` sets the number of cases per suite (default 10,000 over
//! the bundled library, a quarter of that over generated policies) and
//! `SOVRA_DIFF_SEED` the seed (default fixed, printed). A mismatch is printed
//! as a case file for `tests/cases/` that reproduces it.

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
use sovra::documents::{Grants, Regions, Request};
use sovra::eval::{Engine, Scratch};
use sovra::ir::Program;
use sovra::rego::{RegoEngine, RegoMode};
use sovra::source::Sources;

/// Printed even when the test harness captures output, so CI logs the seed.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn native(engine: &Engine, req: &Request, scratch: &mut Scratch) -> (bool, Vec<String>) {
    let v = engine.verdict(req, scratch);
    let mut rules: Vec<String> = v
        .rules
        .iter()
        .map(|r| engine.program().rules[*r as usize].id.clone())
        .collect();
    if !v.allow && rules.is_empty() {
        rules.push("default_deny".into());
    }
    rules.sort();
    (v.allow, rules)
}

/// Runs `cases` requests in batches over fresh documents; returns mismatches.
fn run(
    label: &str,
    sources: &Sources,
    program: &Program,
    rng: &mut gen::Rng,
    cases: u64,
    rvm_every: u64,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut done = 0;
    let mut batch = 0;
    while done < cases {
        batch += 1;
        let regions_doc = gen::regions(rng, 12);
        let grants_doc = gen::grants(rng, 6, 4);
        let regions = Regions::from_json(&regions_doc.to_string()).unwrap();
        let grants = Grants::from_json(&grants_doc.to_string()).unwrap();
        let engine = Engine::new(program.clone(), regions.clone(), grants.clone());
        let mut interp =
            RegoEngine::new(program, &regions, &grants, RegoMode::Interpreter).unwrap();
        let mut rvm = if batch % rvm_every == 0 {
            Some(RegoEngine::new(program, &regions, &grants, RegoMode::Rvm).unwrap())
        } else {
            None
        };
        let mut scratch = Scratch::default();
        for _ in 0..100.min(cases - done) {
            done += 1;
            let req_doc = gen::request(rng, 12);
            let req = Request::from_value(&req_doc).unwrap();
            let ours = native(&engine, &req, &mut scratch);
            let mut theirs = vec![("regorus", interp.decide(&req))];
            if let Some(vm) = rvm.as_mut() {
                theirs.push(("regorus-rvm", vm.decide(&req)));
            }
            for (name, t) in theirs {
                let t = t.map(|o| {
                    let mut r = o.rules;
                    r.sort();
                    (o.allow, r)
                });
                if t.as_ref().ok() != Some(&ours) {
                    failures.push(format!(
                        "{label} case {done}: sovra {:?}, {name} {:?}\n--- case file ---\n{}",
                        ours,
                        t,
                        serde_json::to_string_pretty(&json!({
                            "policies_inline": sources.files.iter().filter(|f| !f.name.starts_with("policies/"))
                                .map(|f| (f.name.clone(), Value::String(f.text.to_string()))).collect::<serde_json::Map<_, _>>(),
                            "regions": regions_doc, "grants": grants_doc,
                            "cases": [{ "name": format!("differential: {label} case {done}"), "request": req_doc,
                                        "decision": if ours.0 { "allow" } else { "deny" }, "rules": ours.1 }]
                        }))
                        .unwrap()
                    ));
                }
            }
            if failures.len() > 5 {
                return failures;
            }
        }
    }
    failures
}

#[test]
fn bundled_library_decides_as_regorus() {
    let seed = env_num("SOVRA_DIFF_SEED", 20261126);
    let cases = env_num("SOVRA_DIFF_CASES", 10_000);
    say(&format!(
        "differential (bundled library): seed {seed}, {cases} cases"
    ));
    let sources = sovra::policy::bundled();
    let program = sovra::policy::compile(&sources).unwrap();
    let mut rng = gen::Rng::new(seed);
    let failures = run("bundled", &sources, &program, &mut rng, cases, 4);
    assert!(
        failures.is_empty(),
        "seed {seed}:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn generated_policies_decide_as_regorus() {
    let seed = env_num("SOVRA_DIFF_SEED", 20261126) ^ 0xABCD;
    let cases = env_num("SOVRA_DIFF_CASES", 10_000) / 4;
    say(&format!(
        "differential (generated policies): seed {seed}, {cases} cases"
    ));
    let mut rng = gen::Rng::new(seed);
    let mut failures = Vec::new();
    let mut policies = 0;
    let per_policy = 250;
    let mut done = 0;
    while done < cases {
        let mut sources = sovra::policy::bundled();
        sources.add("gen.sov", gen::policy(&mut rng, 12));
        let Ok(program) = sovra::policy::compile(&sources) else {
            continue;
        };
        policies += 1;
        let n = per_policy.min(cases - done);
        failures.extend(run(
            &format!("policy {policies}"),
            &sources,
            &program,
            &mut rng,
            n,
            2,
        ));
        done += n;
        if failures.len() > 5 {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "seed {seed}:\n{}",
        failures.join("\n\n")
    );
    say(&format!(
        "differential: {policies} generated policies agreed"
    ));
}

#[test]
fn the_batch_writer_prints_exactly_the_decision_document() {
    let mut rng = gen::Rng::new(env_num("SOVRA_DIFF_SEED", 20261126) ^ 0x5EED);
    let mut sources = sovra::policy::bundled();
    sources.add("gen.sov", "package gen\n\nobligations [audit]\n\npermit tagged when resource.tenant == \"acme\" with obligations [audit, encrypt_at_rest]\npermit tagged_too when resource.tenant == \"acme\" with obligations [audit]\n");
    let program = sovra::policy::compile(&sources).unwrap();
    for _ in 0..20 {
        let regions = Regions::from_json(&gen::regions(&mut rng, 12).to_string()).unwrap();
        let grants = Grants::from_json(&gen::grants(&mut rng, 6, 4).to_string()).unwrap();
        let engine = Engine::new(program.clone(), regions, grants);
        let mut scratch = Scratch::default();
        for _ in 0..100 {
            let req = Request::from_value(&gen::request(&mut rng, 12)).unwrap();
            let mut fast = Vec::new();
            engine.decide_json(&req, &mut scratch, &mut fast);
            let slow = serde_json::to_string(&engine.decide(&req, sovra::TraceLevel::Off)).unwrap();
            assert_eq!(String::from_utf8(fast).unwrap(), slow);
            // And with a trace written as the walk goes, at each level.
            for level in [sovra::TraceLevel::Summary, sovra::TraceLevel::Full] {
                let mut fast = Vec::new();
                engine.decide_json_traced(&req, level, &mut scratch, &mut fast);
                let slow = serde_json::to_string(&engine.decide(&req, level)).unwrap();
                assert_eq!(String::from_utf8(fast).unwrap(), slow, "{level:?}");
            }
        }
    }
}
