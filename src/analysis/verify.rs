//! `sovra verify`: assertions about a policy set, proved over every
//! request (or refuted with a counterexample).
//!
//! ```text
//! assert no_eea_identity_in_us:
//!   never allow when action == store and resource.classification == identity
//!     and resource.home_country in EEA and target.country == US
//! ```
//!
//! `never allow when C`: no request satisfying C is allowed; `always allow
//! when C`: every one is. Each condition is compiled with the policies (in
//! a package of its own that imports every set they declare), so it is
//! type-checked like a rule; the search explores the policy's decision and
//! whether C holds together ([`super::Decider`]), so a counterexample is
//! found if one exists, on the partition docs/analysis.md states.

use super::{Decider, Space};
use crate::documents::{Grants, Regions};
use crate::eval::{Engine, TraceLevel};
use crate::source::Sources;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The package the assertions' conditions are compiled in.
pub const PACKAGE: &str = "sovra_assertions";

/// One assertion as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    /// Its name.
    pub name: String,
    /// `never` or `always`.
    pub kind: Kind,
    /// The condition's text.
    pub cond: String,
    /// Where it is written: `file:line`.
    pub at: String,
}

/// What an assertion claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No request satisfying the condition is allowed.
    Never,
    /// Every request satisfying it is allowed.
    Always,
}

/// Reads the assertions of one file (`name` for messages).
pub fn parse(name: &str, text: &str) -> Result<Vec<Assertion>, String> {
    let mut out: Vec<Assertion> = Vec::new();
    let mut current: Option<(String, usize, String)> = None;
    let flush = |cur: Option<(String, usize, String)>,
                 out: &mut Vec<Assertion>|
     -> Result<(), String> {
        let Some((head, line, body)) = cur else {
            return Ok(());
        };
        let at = format!("{name}:{line}");
        let words: Vec<&str> = body.split_whitespace().collect();
        let kind = match words.first().copied() {
            Some("never") => Kind::Never,
            Some("always") => Kind::Always,
            _ => {
                return Err(format!(
                    "{at}: assertion `{head}`: write `never allow when CONDITION` or `always allow when CONDITION` after the colon"
                ))
            }
        };
        if words.get(1) != Some(&"allow") || words.get(2) != Some(&"when") || words.len() < 4 {
            return Err(format!(
                "{at}: assertion `{head}`: write `{} allow when CONDITION`",
                if kind == Kind::Never {
                    "never"
                } else {
                    "always"
                }
            ));
        }
        let cond = body
            .split_once("when")
            .map_or("", |(_, c)| c)
            .trim()
            .to_string();
        out.push(Assertion {
            name: head,
            kind,
            cond,
            at,
        });
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("assert ") {
            flush(current.take(), &mut out)?;
            let Some((head, body)) = rest.split_once(':') else {
                return Err(format!(
                    "{name}:{}: write `assert NAME: never allow when CONDITION`",
                    i + 1
                ));
            };
            let head = head.trim();
            let ok = head
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!(
                    "{name}:{}: `{head}` is not an assertion name: letters, digits and `_`",
                    i + 1
                ));
            }
            if out.iter().any(|a| a.name == head) {
                return Err(format!(
                    "{name}:{}: assertion `{head}` is written twice",
                    i + 1
                ));
            }
            current = Some((head.to_string(), i + 1, body.to_string()));
        } else if let Some((_, _, body)) = &mut current {
            // Whole-line comments end nothing; the rest continues the condition.
            if !trimmed.starts_with("//") {
                body.push('\n');
                body.push_str(line);
            }
        } else if !trimmed.is_empty() && !trimmed.starts_with("//") {
            return Err(format!(
                "{name}:{}: expected `assert NAME: never allow when CONDITION`",
                i + 1
            ));
        }
    }
    flush(current, &mut out)?;
    Ok(out)
}

/// The outcome of one assertion.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Its name.
    pub name: String,
    /// What it claims.
    pub kind: Kind,
    /// Where it is written.
    pub at: String,
    /// Whether it holds for every request.
    pub holds: bool,
    /// How many classes of requests the search decided.
    pub classes: usize,
    /// A request that refutes it, when it does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Value>,
    /// The policy's decision on it, with its reasons (decided on the
    /// grants document; under `--any-grants` see `grants_assumed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Value>,
    /// Under `--any-grants`: the `exists grant` conditions the
    /// counterexample takes as true (the others: false).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants_assumed: Vec<String>,
}

/// The policy set's sources with the assertions' conditions added, as
/// one permit each in [`PACKAGE`], importing every set the policies declare.
fn with_assertions(
    policies: &Sources,
    program: &crate::ir::Program,
    list: &[Assertion],
) -> Sources {
    let mut by_pkg: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for s in &program.sets {
        let Some((pkg, name)) = s.name.rsplit_once('.') else {
            continue;
        };
        let plain = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        };
        if plain(pkg) && plain(name) && seen.insert(name) {
            by_pkg.entry(pkg).or_default().push(name);
        }
    }
    let mut text = format!("package {PACKAGE}\n");
    for (pkg, names) in by_pkg {
        text.push_str(&format!("use {pkg}.{{{}}}\n", names.join(", ")));
    }
    for a in list {
        text.push_str(&format!("\npermit {}\n  when {}\n", a.name, a.cond));
    }
    let mut out = policies.clone();
    out.add("assertions (sovra verify)", text);
    out
}

/// Proves or refutes each assertion about the policies, over `regions`
/// and `grants`, at `time`.
pub fn verify(
    policies: &Sources,
    list: &[Assertion],
    regions: &Regions,
    grants: &Grants,
    time: DateTime<Utc>,
    any_grants: bool,
) -> Result<Vec<Outcome>, String> {
    let program = crate::policy::compile(policies).map_err(|d| {
        format!(
            "the policies do not compile:\n\n{}",
            crate::diag::render(&d, policies)
        )
    })?;
    let both = with_assertions(policies, &program, list);
    // A warning in an assertion (a path outside the schema, most often a
    // typo) would make it prove nothing: it is an error here.
    let all = crate::policy::compile_all(&both);
    let mine = (both.files.len() - 1) as u32;
    // The imports are Sovra's, not the author's: an unused one says nothing.
    let header = both
        .files
        .last()
        .and_then(|f| f.text.find("\npermit "))
        .unwrap_or(0) as u32;
    let mut wrong = all.errors.clone();
    wrong.extend(
        all.warnings
            .iter()
            .filter(|w| w.span.file == mine && w.span.start > header)
            .cloned(),
    );
    let checked = match all.program {
        Some(p) if wrong.is_empty() => p,
        _ => {
            return Err(format!(
                "the assertions do not check:\n\n{}",
                crate::diag::render(&wrong, &both)
            ))
        }
    };
    let policy = Engine::new(program, regions.clone(), grants.clone());
    let conds = Engine::new(checked, regions.clone(), grants.clone());
    let space = Space::new(&[&policy, &conds], time, any_grants);
    let mut out = Vec::new();
    for a in list {
        let id = format!("{PACKAGE}.{}", a.name);
        let Some(rule) = conds.program().rules.iter().position(|r| r.id == id) else {
            return Err(format!("{}: assertion `{}` was not compiled", a.at, a.name));
        };
        let mut found: Option<Vec<Option<usize>>> = None;
        let classes = space.explore_with(
            &[Decider::Policy(&policy), Decider::Rule(&conds, rule as u32)],
            &mut |sets, results| {
                let (Some((allow, _)), Some((holds, _))) = (results.first(), results.get(1)) else {
                    return;
                };
                let refuted = *holds
                    && match a.kind {
                        Kind::Never => *allow,
                        Kind::Always => !*allow,
                    };
                if refuted && found.is_none() {
                    found = Some(sets.iter().map(|s| s.first().copied()).collect());
                }
            },
        )?;
        let (counterexample, decision) = match &found {
            None => (None, None),
            Some(assign) => {
                let example = space.example(assign);
                let d = policy.decide(&space.request(assign), TraceLevel::Off);
                (Some(example), serde_json::to_value(&d).ok())
            }
        };
        let grants_assumed = found
            .iter()
            .flat_map(|assign| {
                assign
                    .iter()
                    .zip(&space.vars)
                    .skip(crate::eval::VARS as usize)
                    .filter(|(a, _)| **a == Some(1))
                    .map(|(_, (text, _))| text.clone())
            })
            .collect();
        out.push(Outcome {
            name: a.name.clone(),
            kind: a.kind,
            at: a.at.clone(),
            holds: found.is_none(),
            classes,
            counterexample,
            decision,
            grants_assumed,
        });
    }
    Ok(out)
}
