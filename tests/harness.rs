//! The data-driven case harness: every `tests/cases/**/*.json` file is a group
//! of cases (policies, documents, a base request; each case patches the request
//! and states the expected decision and determining rules).
//!
//! A group file:
//! ```json
//! { "policies": ["dir-or-file", …] (absent: the bundled library),
//!   "policies_inline": { "extra.sov": "package …" } (added to those),
//!   "regions": "regions.json" (relative to the group file, or the document
//!              itself inline; absent: the bundled catalog),
//!   "grants": "grants.json" (likewise; absent: none),
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

use serde::Deserialize;
use serde_json::{Map, Value};
use sovra::documents::{bundled_regions, Grants, Regions, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A group file, read strictly: a misspelt key (`"rule"` for `"rules"`) is an
/// error, never a check silently skipped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    policies: Option<Vec<String>>,
    policies_inline: Option<BTreeMap<String, String>>,
    /// A file name relative to the group file, or the document inline.
    regions: Option<Value>,
    grants: Option<Value>,
    base: Option<Value>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The whole request, instead of the group's base.
    request: Option<Value>,
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    unset: Vec<String>,
    decision: String,
    rules: Option<Vec<String>>,
    obligations: Option<Vec<String>>,
    #[serde(default)]
    message_contains: Vec<String>,
}

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

fn set_path(v: &mut Value, path: &str, new: Value) {
    let mut cur = v;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().unwrap();
        if i + 1 == parts.len() {
            obj.insert((*p).to_string(), new);
            return;
        }
        cur = obj
            .entry((*p).to_string())
            .or_insert(Value::Object(Map::new()));
    }
}

fn unset_path(v: &mut Value, path: &str) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for p in &parts[..parts.len() - 1] {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(*parts.last().unwrap());
    }
}

fn engine_for(group: &Group, dir: &Path) -> Engine {
    let mut sources = match &group.policies {
        None => sovra::policy::bundled(),
        Some(ps) => {
            let paths: Vec<PathBuf> = ps.iter().map(|p| dir.join(p)).collect();
            sovra::policy::load(&paths).unwrap()
        }
    };
    // Extra policy files given inline (`{"name.sov": "text"}`), as the
    // differential tests print them.
    if let Some(files) = &group.policies_inline {
        for (name, text) in files {
            sources.add(name.clone(), text.clone());
        }
        sources.files.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let program = sovra::policy::compile(&sources)
        .unwrap_or_else(|d| panic!("{}", sovra::diag::render(&d, &sources)));
    // A document is a file name (relative to the group file) or inline JSON.
    let doc = |v: &Option<Value>| -> Option<String> {
        match v.as_ref()? {
            Value::String(f) => Some(std::fs::read_to_string(dir.join(f)).unwrap()),
            other => Some(other.to_string()),
        }
    };
    let regions =
        doc(&group.regions).map_or_else(bundled_regions, |t| Regions::from_json(&t).unwrap());
    let grants =
        doc(&group.grants).map_or_else(Grants::default, |t| Grants::from_json(&t).unwrap());
    Engine::new(program, regions, grants)
}

#[test]
fn every_case_file_decides_as_stated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut groups = Vec::new();
    files(&root, &mut groups);
    assert!(!groups.is_empty());
    let mut failures = Vec::new();
    let mut count = 0;
    for file in &groups {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Documents that groups name sit beside them; a group has `cases`.
        if value.get("cases").is_none() {
            continue;
        }
        let group: Group =
            serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let dir = file.parent().unwrap();
        let engine = engine_for(&group, dir);
        let base = group.base.clone().unwrap_or(Value::Object(Map::new()));
        for case in &group.cases {
            count += 1;
            let name = format!(
                "{}: {}",
                file.strip_prefix(&root).unwrap().display(),
                case.name
            );
            let mut req = case.request.clone().unwrap_or_else(|| base.clone());
            for (k, v) in &case.set {
                set_path(&mut req, k, v.clone());
            }
            for k in &case.unset {
                unset_path(&mut req, k);
            }
            let request = match Request::from_value(&req) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{name}: request does not parse: {e}"));
                    continue;
                }
            };
            let want = case.decision.as_str();
            // Every trace level gives the same decision, and the hot path agrees.
            for level in [TraceLevel::Off, TraceLevel::Summary, TraceLevel::Full] {
                let d = engine.decide(&request, level);
                if d.decision != want {
                    failures.push(format!(
                        "{name}: expected {want}, got {} ({:?}) at {level:?}",
                        d.decision, d.reasons
                    ));
                    break;
                }
                if let Some(rules) = &case.rules {
                    let mut got: Vec<&str> = d.reasons.iter().map(|r| r.rule.as_str()).collect();
                    let mut exp: Vec<&str> = rules.iter().map(String::as_str).collect();
                    got.sort();
                    exp.sort();
                    if got != exp {
                        failures.push(format!("{name}: expected rules {exp:?}, got {got:?}"));
                        break;
                    }
                }
                if let Some(exp) = &case.obligations {
                    if &d.obligations != exp {
                        failures.push(format!(
                            "{name}: expected obligations {exp:?}, got {:?}",
                            d.obligations
                        ));
                        break;
                    }
                }
                for f in &case.message_contains {
                    if !d.reasons.iter().any(|r| r.message.contains(f.as_str())) {
                        failures.push(format!(
                            "{name}: no reason message contains {f:?}: {:?}",
                            d.reasons
                        ));
                    }
                }
            }
            let mut scratch = Scratch::default();
            let v = engine.verdict(&request, &mut scratch);
            if v.allow != (want == "allow") {
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
    eprintln!("{count} cases in {} files passed", groups.len());
}
