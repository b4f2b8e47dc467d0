//! Policy tests: case files that state what a policy set must decide.
//!
//! Input: a suite (JSON, read into typed structs that reject unknown keys):
//! documents, a frozen clock, a base request, and cases that patch it and
//! state the decision, the determining rules, the obligations, a message, or
//! the input error expected. Output: for each case, pass, or a failure that
//! says what was expected and what was decided, with the decision's full
//! trace. `sovra test` prints them; the repository's own case files and the
//! bundled library's tests run through the same code.
//!
//! ```json
//! { "regions": "regions.json", "grants": "grants.json",
//!   "now": "2026-03-01T12:00:00Z",
//!   "base": { "action": "store", "resource": { "classification": "identity" } },
//!   "cases": [
//!     { "name": "…", "set": { "target_region": "us-east-1" }, "unset": ["purpose"],
//!       "decision": "deny", "rules": ["gdpr.transfer_outside_eea"],
//!       "obligations": [], "message": "substring of a reason" },
//!     { "name": "…", "set": { "time": "yesterday" }, "error": "time" } ] }
//! ```

use crate::documents::{bundled_regions, DocError, Grants, Regions, Request};
use crate::eval::{Decision, Engine, Outcome, TraceLevel};
use crate::ir::Program;
use crate::source::Sources;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A case file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Policy files or folders for this suite alone, relative to the file
    /// (absent: the policy set the suite is run against).
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// Policy files given inline (`{"extra.sov": "package …"}`), added to
    /// those.
    #[serde(default)]
    pub policies_inline: Option<BTreeMap<String, String>>,
    /// The regions document: a path relative to the file, or the document
    /// inline (absent: the bundled catalog).
    #[serde(default)]
    pub regions: Option<Value>,
    /// The grants document, likewise (absent: no grants).
    #[serde(default)]
    pub grants: Option<Value>,
    /// The instant requests without a `time` are decided at (RFC 3339).
    #[serde(default)]
    pub now: Option<String>,
    /// The request each case patches.
    #[serde(default)]
    pub base: Option<Value>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case: a request and what it must give.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What it checks, in words.
    pub name: String,
    /// A whole request instead of the suite's base.
    #[serde(default)]
    pub request: Option<Value>,
    /// Fields set on the base, by dotted path (`resource.home_country`).
    #[serde(default)]
    pub set: Map<String, Value>,
    /// Fields removed from the base, by dotted path.
    #[serde(default)]
    pub unset: Vec<String>,
    /// The decision expected.
    #[serde(default)]
    pub decision: Option<Outcome>,
    /// The determining rules expected, exactly (as a set).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// The obligations expected, exactly (as a set).
    #[serde(default)]
    pub obligations: Option<Vec<String>>,
    /// Text one of the reasons' messages must contain.
    #[serde(default)]
    pub message: Option<String>,
    /// The request must be refused as input, with an error that contains
    /// this (a field's path, or words of the message).
    #[serde(default)]
    pub error: Option<String>,
}

/// A suite that cannot be run: where and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct SuiteError {
    /// The case file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// What one case gave.
#[derive(Debug)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Why it failed (`None`: it passed).
    pub failure: Option<String>,
    /// The decision made, with a full trace (absent for an input error).
    pub decision: Option<Decision>,
}

/// A suite read and made ready: the engine and the cases' requests.
pub struct Prepared {
    /// The engine over the suite's policy set and documents.
    pub engine: Engine,
    /// Each case with its request (or the input error it gave).
    pub cases: Vec<(Case, Result<Request<'static>, DocError>)>,
}

impl Suite {
    /// Reads a suite (`file` names it in errors).
    pub fn from_json(text: &str, file: &str) -> Result<Suite, SuiteError> {
        serde_json::from_str(text).map_err(|e| SuiteError {
            file: file.to_string(),
            message: format!("not a test suite: {e}"),
        })
    }

    /// The engine and requests for this suite, its file in `dir`, run
    /// against `program` unless the suite names its own policies.
    pub fn prepare(
        &self,
        dir: &Path,
        file: &str,
        program: &Program,
    ) -> Result<Prepared, SuiteError> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| e.to_string());
        self.prepare_with(dir, file, program, &read)
    }

    /// [`Suite::prepare`], the documents it names read by `read` (the
    /// bundled library's tests read theirs from the binary).
    pub fn prepare_with(
        &self,
        dir: &Path,
        file: &str,
        program: &Program,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Prepared, SuiteError> {
        let fail = |message: String| SuiteError {
            file: file.to_string(),
            message,
        };
        let program = match (&self.policies, &self.policies_inline) {
            (None, None) => program.clone(),
            (paths, inline) => {
                let mut sources = match paths {
                    None => Sources::default(),
                    Some(ps) => {
                        let paths: Vec<PathBuf> = ps.iter().map(|p| dir.join(p)).collect();
                        crate::policy::load(&paths).map_err(|e| fail(e.to_string()))?
                    }
                };
                for (name, text) in inline.iter().flatten() {
                    sources.add(name.clone(), text.clone());
                }
                sources.files.sort_by(|a, b| a.name.cmp(&b.name));
                crate::policy::compile(&sources).map_err(|d| {
                    fail(format!(
                        "its policies do not compile:\n{}",
                        crate::diag::render(&d, &sources)
                    ))
                })?
            }
        };
        let doc = |v: &Option<Value>, what: &str| -> Result<Option<String>, SuiteError> {
            match v {
                None => Ok(None),
                Some(Value::String(f)) => read(f)
                    .map(Some)
                    .map_err(|e| fail(format!("{what} `{f}`: {e}"))),
                Some(other) => Ok(Some(other.to_string())),
            }
        };
        let regions = match doc(&self.regions, "regions")? {
            None => bundled_regions(),
            Some(t) => Regions::from_json(&t).map_err(|e| fail(format!("regions: {e}")))?,
        };
        let grants = match doc(&self.grants, "grants")? {
            None => Grants::default(),
            Some(t) => Grants::from_json(&t).map_err(|e| fail(format!("grants: {e}")))?,
        };
        if let Some(now) = &self.now {
            crate::documents::parse_time(now).map_err(|e| fail(format!("now: {e}")))?;
        }
        let engine = Engine::new(program, regions, grants);
        let base = self.base.clone().unwrap_or(Value::Object(Map::new()));
        let cases = self
            .cases
            .iter()
            .map(|c| {
                let mut req = c.request.clone().unwrap_or_else(|| base.clone());
                for (k, v) in &c.set {
                    set_path(&mut req, k, v.clone());
                }
                for k in &c.unset {
                    unset_path(&mut req, k);
                }
                if let (Some(now), Some(o)) = (&self.now, req.as_object_mut()) {
                    o.entry("time")
                        .or_insert_with(|| Value::String(now.clone()));
                }
                (c.clone(), Request::from_value(&req))
            })
            .collect();
        Ok(Prepared { engine, cases })
    }
}

impl Prepared {
    /// Runs every case.
    pub fn run(&self) -> Vec<CaseResult> {
        self.cases
            .iter()
            .map(|(case, req)| check(&self.engine, case, req))
            .collect()
    }
}

/// One case against an engine.
pub fn check(engine: &Engine, case: &Case, req: &Result<Request, DocError>) -> CaseResult {
    let name = case.name.clone();
    // A declared field of another type is an input error too, as the
    // command line and the server answer it.
    let req = match req {
        Ok(r) => engine
            .check_request(r)
            .map(|()| r)
            .map_err(|m| m.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let req = match (req, &case.error) {
        (Ok(r), _) => r,
        (Err(text), want) => {
            let failure = match want {
                Some(want) => (!text.contains(want.as_str()))
                    .then(|| format!("expected an input error with `{want}`, got: {text}")),
                None => Some(format!("the request is not valid: {text}")),
            };
            return CaseResult {
                name,
                failure,
                decision: None,
            };
        }
    };
    let d = engine.decide(req, TraceLevel::Full);
    let mut wrong = Vec::new();
    if let Some(want) = &case.error {
        wrong.push(format!(
            "expected an input error with `{want}`, got a decision: {}",
            d.decision
        ));
    }
    if let Some(want) = case.decision {
        if d.decision != want {
            wrong.push(format!("expected {want}, decided {}", d.decision));
        }
    }
    let set = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    if let Some(want) = &case.rules {
        let got = d.rule_ids();
        if set(want) != set(&got) {
            wrong.push(format!("expected rules {:?}, got {got:?}", set(want)));
        }
    }
    if let Some(want) = &case.obligations {
        if set(want) != set(&d.obligations) {
            wrong.push(format!(
                "expected obligations {:?}, got {:?}",
                set(want),
                d.obligations
            ));
        }
    }
    if let Some(want) = &case.message {
        if !d.reasons.iter().any(|r| r.message.contains(want.as_str())) {
            wrong.push(format!("no reason's message contains `{want}`"));
        }
    }
    CaseResult {
        name,
        failure: (!wrong.is_empty()).then(|| wrong.join("; ")),
        decision: Some(d),
    }
}

/// How much of a policy set a run of tests exercised.
#[derive(Debug, Default, serde::Serialize)]
pub struct Coverage {
    /// Each rule, in the program's order.
    pub rules: Vec<RuleCoverage>,
    /// Each condition of each rule, as the traces showed them (but those
    /// the index checks before a rule is considered: always true there).
    pub conditions: Vec<ConditionCoverage>,
    /// (rule, condition location) the index guarantees.
    #[serde(skip)]
    guaranteed: std::collections::HashSet<(std::sync::Arc<str>, std::sync::Arc<str>)>,
}

/// How often a rule was considered and applied.
#[derive(Debug, serde::Serialize)]
pub struct RuleCoverage {
    /// Its id.
    pub rule: String,
    /// `file:line:column`.
    pub location: String,
    /// Decisions that evaluated it.
    pub considered: u64,
    /// Decisions in which it applied.
    pub applied: u64,
}

/// Whether a condition was seen true and false.
#[derive(Debug, serde::Serialize)]
pub struct ConditionCoverage {
    /// The rule it belongs to.
    pub rule: String,
    /// The condition as written.
    pub condition: String,
    /// `file:line:column`.
    pub location: String,
    /// Times it held.
    pub r#true: u64,
    /// Times it did not.
    pub r#false: u64,
}

impl Coverage {
    /// Empty coverage of a program's rules.
    pub fn new(program: &Program) -> Coverage {
        Coverage {
            rules: program
                .rules
                .iter()
                .map(|r| RuleCoverage {
                    rule: r.id.clone(),
                    location: r.location.clone(),
                    considered: 0,
                    applied: 0,
                })
                .collect(),
            conditions: Vec::new(),
            guaranteed: program
                .rules
                .iter()
                .flat_map(|r| {
                    r.cond
                        .map(|c| crate::check::index::guaranteed_atoms(program, c))
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|a| program.atoms.get(a as usize))
                        .map(|a| (r.id.as_str().into(), a.location.as_str().into()))
                })
                .collect(),
        }
    }

    /// Adds what a decision's full trace shows.
    pub fn add(&mut self, d: &Decision) {
        let Some(t) = &d.trace else { return };
        for r in &t.rules {
            if let Some(c) = self.rules.iter_mut().find(|c| *c.rule == *r.rule) {
                c.considered += 1;
                c.applied += u64::from(r.applied);
            }
            let conds = r.conditions.iter().flatten();
            let in_grants = r.grants.iter().flat_map(|g| &g.conditions);
            for c in conds.chain(in_grants) {
                if self
                    .guaranteed
                    .contains(&(r.rule.clone(), c.location.clone()))
                {
                    continue;
                }
                let slot = match self
                    .conditions
                    .iter()
                    .position(|x| *x.rule == *r.rule && *x.location == *c.location)
                {
                    Some(i) => i,
                    None => {
                        self.conditions.push(ConditionCoverage {
                            rule: r.rule.to_string(),
                            condition: c.condition.to_string(),
                            location: c.location.to_string(),
                            r#true: 0,
                            r#false: 0,
                        });
                        self.conditions.len() - 1
                    }
                };
                if let Some(x) = self.conditions.get_mut(slot) {
                    if c.result {
                        x.r#true += 1;
                    } else {
                        x.r#false += 1;
                    }
                }
            }
        }
    }

    /// The share of rules that applied at least once, in percent.
    pub fn applied_percent(&self) -> f64 {
        if self.rules.is_empty() {
            return 100.0;
        }
        let applied = self.rules.iter().filter(|r| r.applied > 0).count();
        100.0 * applied as f64 / self.rules.len() as f64
    }

    /// The report for a person: rules never applied and conditions never
    /// seen false first, then every rule.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let applied = self.rules.iter().filter(|r| r.applied > 0).count();
        let _ = writeln!(
            o,
            "coverage: {applied} of {} rules applied at least once ({:.1}%)",
            self.rules.len(),
            self.applied_percent()
        );
        let never: Vec<&RuleCoverage> = self.rules.iter().filter(|r| r.applied == 0).collect();
        if !never.is_empty() {
            let _ = writeln!(o, "\nrules never applied:");
            for r in never {
                let _ = writeln!(
                    o,
                    "  {} ({}): considered {} time{}",
                    r.rule,
                    r.location,
                    r.considered,
                    if r.considered == 1 { "" } else { "s" }
                );
            }
        }
        let one_sided: Vec<&ConditionCoverage> = self
            .conditions
            .iter()
            .filter(|c| c.r#true == 0 || c.r#false == 0)
            .collect();
        if !one_sided.is_empty() {
            let _ = writeln!(o, "\nconditions not seen both true and false:");
            for c in one_sided {
                let seen = if c.r#false == 0 {
                    "never false"
                } else {
                    "never true"
                };
                let _ = writeln!(
                    o,
                    "  {} at {} ({}): {seen}",
                    c.condition, c.location, c.rule
                );
            }
        }
        let _ = writeln!(o, "\nrules (considered, applied):");
        for r in &self.rules {
            let _ = writeln!(o, "  {} {} {}", r.rule, r.considered, r.applied);
        }
        o
    }
}

/// Every `*.test.json` under `paths` (files given as such are taken too),
/// sorted.
pub fn discover(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out);
            } else if e.to_string_lossy().ends_with(".test.json") {
                out.push(e);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else if p.to_string_lossy().ends_with(".test.json") {
            out.push(p.clone());
        }
    }
    out
}

/// Sets a dotted path in a JSON value, creating objects on the way.
pub fn set_path(v: &mut Value, path: &str, new: Value) {
    let mut cur = v;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if parts.peek().is_none() {
            obj.insert(p.to_string(), new);
            return;
        }
        cur = obj
            .entry(p.to_string())
            .or_insert(Value::Object(Map::new()));
    }
}

/// Removes a dotted path from a JSON value (nothing when it is absent).
pub fn unset_path(v: &mut Value, path: &str) {
    let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
    let mut cur = v;
    for p in parent.split('.').filter(|p| !p.is_empty()) {
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_set_and_unset_by_dots() {
        let mut v = serde_json::json!({"a": {"b": 1}, "c": 2});
        set_path(&mut v, "a.d.e", serde_json::json!("x"));
        set_path(&mut v, "c.f", serde_json::json!(3));
        assert_eq!(
            v,
            serde_json::json!({"a": {"b": 1, "d": {"e": "x"}}, "c": {"f": 3}})
        );
        unset_path(&mut v, "a.b");
        unset_path(&mut v, "nowhere.at.all");
        unset_path(&mut v, "c");
        assert_eq!(v, serde_json::json!({"a": {"d": {"e": "x"}}}));
    }

    #[test]
    fn a_misspelt_key_is_an_error_not_a_skipped_check() {
        let e = Suite::from_json(r#"{"cases":[{"name":"x","rule":["a"]}]}"#, "t.test.json")
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `rule`"), "{e}");
    }
}
