//! `sovra verify`: assertions about a policy set, proved over every
//! request (or refuted with a counterexample).
//!
//! ```text
//! assert no_eea_identity_in_us: never allow
//!   when action == store and resource.classification == identity
//!    and resource.home_country in EEA and target.country == US
//! ```
//!
//! `never allow when C`: no request satisfying C is allowed; `always allow
//! when C`: every one is; `under any grants`: whatever grants exist.
//! Assertions sit in policy files (the checker types them like a rule's
//! condition and keeps them apart from the rules) or in files of their own,
//! compiled with the policies in a package ([`PACKAGE`]) that imports every
//! set they declare. The search explores the policy's decision and whether
//! C holds together ([`super::Decider`]), so a counterexample is found if
//! one exists, on the partition docs/analysis.md states.

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

/// What an assertion claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No request satisfying the condition is allowed.
    Never,
    /// Every request satisfying it is allowed.
    Always,
}

/// The outcome of one assertion.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Its name.
    pub name: String,
    /// What it claims.
    pub kind: Kind,
    /// Where it is written (`file:line:column`).
    pub at: String,
    /// Proved whatever grants exist (`under any grants`, or `--any-grants`).
    pub any_grants: bool,
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

/// The policy set's sources with each file of assertions added as a
/// package of its own ([`PACKAGE`]) that imports every set the policies
/// declare. The imports share the file's first line, so the author's lines
/// keep their numbers in every message.
fn with_assertions(
    policies: &Sources,
    program: &crate::ir::Program,
    files: &[(String, String)],
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
    let mut header = format!("package {PACKAGE}");
    for (pkg, names) in by_pkg {
        header.push_str(&format!(" use {pkg}.{{{}}}", names.join(", ")));
    }
    let mut out = policies.clone();
    for (name, text) in files {
        out.add(name.clone(), format!("{header} {text}"));
    }
    out
}

/// Proves or refutes every assertion of the policies, and those of
/// `files` (name, text: `assert` declarations, the sets the policies
/// declare in scope), over `regions` and `grants` at `time`;
/// `any_grants`: each whatever grants exist.
pub fn verify(
    policies: &Sources,
    files: &[(String, String)],
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
    let both = with_assertions(policies, &program, files);
    // The checker makes a warning in an assertion (a typo, most often) an
    // error: it would make the assertion prove nothing.
    let all = crate::policy::compile_all(&both);
    let checked = match all.program {
        Some(p) if all.errors.is_empty() => p,
        _ => {
            return Err(format!(
                "the assertions do not check:\n\n{}",
                crate::diag::render(&all.errors, &both)
            ))
        }
    };
    if let Some(r) = checked.rules.get(program.rules.len()) {
        return Err(format!(
            "{}: a file of assertions holds only `assert` declarations (and sets); `{}` is a rule: put it in a policy file",
            r.location, r.id
        ));
    }
    // The conditions, one permit each, in an engine of their own.
    let mut conds = checked;
    let list = std::mem::take(&mut conds.assertions);
    conds.rules = list
        .iter()
        .map(|a| crate::ir::RuleDef {
            id: a.id.clone(),
            effect: crate::vocab::Effect::Permit,
            cond: Some(a.cond),
            message: None,
            obligations: Vec::new(),
            location: a.location.clone(),
            actions: None,
            cites: None,
        })
        .collect();
    crate::check::index::build(&mut conds);
    let policy = Engine::new(program, regions.clone(), grants.clone());
    let conds = Engine::new(conds, regions.clone(), grants.clone());
    let (mut given, mut any): (Option<Space>, Option<Space>) = (None, None);
    let mut out = Vec::new();
    for (rule, a) in list.iter().enumerate() {
        let free = any_grants || a.any_grants;
        let slot = if free { &mut any } else { &mut given };
        let space = slot.get_or_insert_with(|| Space::new(&[&policy, &conds], time, free));
        let kind = if a.always { Kind::Always } else { Kind::Never };
        let mut found: Option<Vec<Option<usize>>> = None;
        let classes = space.explore_with(
            &[Decider::Policy(&policy), Decider::Rule(&conds, rule as u32)],
            &mut |sets, results| {
                let (Some((allow, _)), Some((holds, _))) = (results.first(), results.get(1)) else {
                    return;
                };
                let refuted = *holds
                    && match kind {
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
        let name =
            a.id.strip_prefix(PACKAGE)
                .and_then(|n| n.strip_prefix('.'))
                .unwrap_or(&a.id);
        out.push(Outcome {
            name: name.to_string(),
            kind,
            at: a.location.clone(),
            any_grants: free,
            holds: found.is_none(),
            classes,
            counterexample,
            decision,
            grants_assumed,
        });
    }
    Ok(out)
}
