//! `sovra diff`: the classes of requests two policy sets decide
//! differently, over the same documents.
//!
//! Complete (every request whose decision differs is in a listed class: the
//! search covers the whole space, see the module above, but where no rule
//! that differs between the two can apply: there both decide alike,
//! [`differing`]) and sound (each
//! class's example, decided by each policy set, gives the listed
//! decisions: it is the leaf's own request). Classes with the same change
//! and rules are merged where they differ in one field only, so a change
//! reads as "target_region is one of …" rather than one line a region.

use super::{Decider, Guard, Holds, Space};
use crate::eval::Engine;
use crate::ir::Program;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One class of requests whose decision changes.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// `allow` or `deny` under the old policies.
    pub from: &'static str,
    /// Under the new ones.
    pub to: &'static str,
    /// The old decision's first determining rule in rule order (forbids
    /// first; `default_deny` when none applies): the same for every request
    /// of the class. The example's own decision lists all of its rules.
    pub old_rules: Vec<String>,
    /// The new one's.
    pub new_rules: Vec<String>,
    /// The obligations before and after, when `--obligations` and they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obligations: Option<(Vec<String>, Vec<String>)>,
    /// The requests it holds: per request field, the values it may take
    /// (fields not named: any value); see docs/analysis.md.
    #[serde(rename = "where")]
    pub constraints: Value,
    /// The constraints in words.
    #[serde(skip)]
    pub words: String,
    /// One request of the class.
    pub example: Value,
}

/// What `sovra diff` answers.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The classes that change.
    pub changes: Vec<Change>,
    /// How many classes of requests the search decided.
    pub classes: usize,
    /// The instant every request was decided at.
    pub time: String,
    /// What the analysis did not cover (empty: nothing).
    pub caveats: Vec<String>,
}

fn rule_ids(p: &Program, rule: Option<u32>) -> Vec<String> {
    match rule.and_then(|r| p.rules.get(r as usize)) {
        Some(r) => vec![r.id.clone()],
        None => vec!["default_deny".into()],
    }
}

fn obligations(p: &Program, allow: bool, rule: Option<u32>) -> Vec<String> {
    if !allow {
        return Vec::new();
    }
    let set: BTreeSet<String> = rule
        .and_then(|r| p.rules.get(r as usize))
        .iter()
        .flat_map(|r| r.obligations.iter().map(|o| p.sym(*o).to_string()))
        .collect();
    set.into_iter().collect()
}

/// An alternative: per variable, the classes it may be in (`None`: any).
type Alt = Vec<Option<BTreeSet<usize>>>;

/// The change key: decisions, rules, obligations, and the relations
/// between related fields in one unnamed class.
type Key = (
    bool,
    bool,
    Vec<String>,
    Vec<String>,
    Option<(Vec<String>, Vec<String>)>,
    Vec<String>,
);

/// The rules of `old` and `new` that are not in both alike (the same id,
/// effect, obligations and condition, sets written out), as the search's
/// guard: the shared rules apply alike under both, so where the others
/// cannot make the decisions differ ([`Guard`]) the search need not look,
/// and a change of one rule among thousands costs what that rule reads.
/// `None` when the programs differ in what any rule may read beyond its
/// own text (classifications, profiles, declared fields, bounds on
/// grants): then every request is explored.
pub fn differing<'a>(old: &'a Engine, new: &'a Engine) -> Option<Guard<'a>> {
    let (op, np) = (old.program(), new.program());
    if context(op) != context(np) {
        return None;
    }
    let keys = |p: &Program| -> Vec<String> { p.rules.iter().map(|r| rule_key(p, r)).collect() };
    let (ok, nk) = (keys(op), keys(np));
    let (os, ns): (BTreeSet<&String>, BTreeSet<&String>) =
        (ok.iter().collect(), nk.iter().collect());
    let only = |p: &Program, keys: &[String], other: &BTreeSet<&String>| {
        let (mut forbids, mut permits) = (Vec::new(), Vec::new());
        for (i, (r, k)) in p.rules.iter().zip(keys).enumerate() {
            if !other.contains(k) {
                match r.effect {
                    crate::vocab::Effect::Forbid => forbids.push(i as u32),
                    crate::vocab::Effect::Permit => permits.push(i as u32),
                }
            }
        }
        [forbids, permits]
    };
    Some(Guard {
        old,
        new,
        old_rules: only(op, &ok, &ns),
        new_rules: only(np, &nk, &os),
    })
}

/// A rule as its logic: the same text in two programs decides alike.
fn rule_key(p: &Program, r: &crate::ir::RuleDef) -> String {
    let obligations: Vec<&str> = r.obligations.iter().map(|o| p.sym(*o)).collect();
    format!(
        "{} {} [{}] {}",
        r.id,
        r.effect.as_str(),
        obligations.join(" "),
        r.cond
            .map_or_else(|| "always".to_string(), |c| p.render_logic(c))
    )
}

/// What a rule may read beyond its own text, by content.
fn context(p: &Program) -> String {
    let mut classes: Vec<String> = p
        .classifications
        .iter()
        .map(|c| format!("{} {}", p.sym(c.name), p.sym(c.sensitivity)))
        .collect();
    classes.sort();
    let mut profiles: Vec<String> = p
        .profiles
        .iter()
        .map(|x| {
            format!(
                "{} {:?} {:?} {:?} {:?} {}",
                p.sym(x.name),
                x.mode,
                x.primary,
                x.any,
                x.country,
                x.sovereign
            )
        })
        .collect();
    profiles.sort();
    let mut bounds: Vec<String> = p
        .grant_bounds
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b.classification.map_or("", |c| p.sym(c)),
                b.seconds
            )
        })
        .collect();
    bounds.sort();
    format!(
        "{classes:?}\n{profiles:?}\n{bounds:?}\n{}",
        serde_json::to_string(&p.fields).unwrap_or_default()
    )
}

/// Diffs `old` against `new` (over the same documents).
pub fn diff(
    space: &Space,
    old: &Engine,
    new: &Engine,
    with_obligations: bool,
) -> Result<Report, String> {
    let mut groups: BTreeMap<Key, (Vec<Alt>, Vec<Option<usize>>)> = BTreeMap::new();
    let guard = differing(old, new);
    let mut deciders = Vec::with_capacity(3);
    if let Some(g) = &guard {
        deciders.push(Decider::Differ(g));
    }
    deciders.extend([Decider::Policy(old), Decider::Policy(new)]);
    let classes = space.explore_with(&deciders, &mut |assign, results| {
        let (Some((oa, or)), Some((na, nr))) = (results.first(), results.get(1)) else {
            return;
        };
        let (op, np) = (old.program(), new.program());
        let obl = (with_obligations && *oa && *na)
            .then(|| (obligations(op, *oa, *or), obligations(np, *na, *nr)))
            .filter(|(a, b)| a != b);
        if oa == na && obl.is_none() {
            return;
        }
        let key = (
            *oa,
            *na,
            rule_ids(op, *or),
            rule_ids(np, *nr),
            obl,
            relations(space, assign),
        );
        // A variable that may be in every class is unconstrained.
        let alt: Alt = assign
            .iter()
            .zip(&space.vars)
            .map(|(set, (_, all))| (set.len() < all.len()).then(|| set.iter().copied().collect()))
            .collect();
        let first: Vec<Option<usize>> = alt
            .iter()
            .map(|a| a.as_ref().and_then(|s| s.iter().next().copied()))
            .collect();
        let entry = groups.entry(key).or_insert_with(|| (Vec::new(), first));
        entry.0.push(alt);
    })?;
    let word = |allow: bool| if allow { "allow" } else { "deny" };
    let mut changes = Vec::new();
    let mut seen = BTreeSet::new();
    for ((from, to, old_rules, new_rules, obl, rel), (alts, example)) in groups {
        for alt in merge(alts) {
            let (constraints, words) = describe(space, &alt, &rel);
            // Two representatives of one class read the same: say it once.
            if !seen.insert((
                from,
                to,
                old_rules.clone(),
                new_rules.clone(),
                constraints.to_string(),
            )) {
                continue;
            }
            changes.push(Change {
                from: word(from),
                to: word(to),
                old_rules: old_rules.clone(),
                new_rules: new_rules.clone(),
                obligations: obl.clone(),
                constraints,
                words,
                example: space.example(&example_of(&alt, &example)),
            });
        }
    }
    Ok(Report {
        changes,
        classes,
        time: space
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        caveats: space.caveats.clone(),
    })
}

/// An example inside a merged alternative: the group's first leaf when it
/// is inside, else the alternative's first classes.
fn example_of(alt: &Alt, first: &[Option<usize>]) -> Vec<Option<usize>> {
    let inside = alt.iter().zip(first).all(|(a, f)| match (a, f) {
        (None, _) => true,
        (Some(set), Some(i)) => set.contains(i),
        (Some(_), None) => false,
    });
    if inside {
        return first.to_vec();
    }
    alt.iter()
        .map(|a| a.as_ref().and_then(|s| s.iter().next().copied()))
        .collect()
}

/// For each pair of related fields both fixed in one unnamed class:
/// whether the leaf has them equal.
fn relations(space: &Space, assign: &[Vec<usize>]) -> Vec<String> {
    let mut out = Vec::new();
    for (a, b) in &space.related {
        let class = |v: u32| {
            let i = match assign.get(v as usize).map(Vec::as_slice) {
                Some([one]) => *one,
                _ => return None,
            };
            let (path, classes) = space.vars.get(v as usize)?;
            classes.get(i).map(|c| (path, c))
        };
        if let (Some((pa, ca)), Some((pb, cb))) = (class(*a), class(*b)) {
            let unnamed = matches!(ca.holds, Holds::OneOf(_) | Holds::NoneOf(_));
            if unnamed && ca.holds == cb.holds {
                let rel = if ca.rep == cb.rep {
                    "equals"
                } else {
                    "differs from"
                };
                out.push(format!("{pa} {rel} {pb}"));
            }
        }
    }
    out
}

/// Merges alternatives that differ in one variable's classes only.
fn merge(mut alts: Vec<Alt>) -> Vec<Alt> {
    let width = alts.first().map_or(0, Vec::len);
    loop {
        let mut changed = false;
        for j in 0..width {
            let mut by_rest: HashMap<Vec<Option<Vec<usize>>>, usize> = HashMap::new();
            let mut out: Vec<Alt> = Vec::new();
            for alt in alts.drain(..) {
                let rest: Vec<Option<Vec<usize>>> = alt
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        if i == j {
                            Some(vec![usize::MAX])
                        } else {
                            a.as_ref().map(|s| s.iter().copied().collect())
                        }
                    })
                    .collect();
                let here = alt.get(j).cloned().flatten();
                match (by_rest.get(&rest), here) {
                    (Some(&k), Some(set)) => {
                        if let Some(Some(mine)) = out.get_mut(k).and_then(|a| a.get_mut(j)) {
                            mine.extend(set);
                            changed = true;
                        }
                    }
                    _ => {
                        if alt.get(j).is_some_and(Option::is_some) {
                            by_rest.insert(rest, out.len());
                        }
                        out.push(alt);
                    }
                }
            }
            alts = out;
        }
        if !changed {
            return alts;
        }
    }
}

/// The constraints of an alternative, as JSON and in words.
fn describe(space: &Space, alt: &Alt, relations: &[String]) -> (Value, String) {
    let mut o = Map::new();
    let mut words = Vec::new();
    for (v, classes) in alt.iter().enumerate() {
        let (Some(set), Some((path, all))) = (classes, space.vars.get(v)) else {
            continue;
        };
        // Merged back to every class: unconstrained.
        if set.len() == all.len() {
            continue;
        }
        let mut one_of = BTreeSet::new();
        let mut none_of: Option<Vec<String>> = None;
        let mut missing = false;
        let mut grant = None;
        for c in set.iter().filter_map(|i| all.get(*i)) {
            match &c.holds {
                Holds::Missing => missing = true,
                Holds::Is(s) => {
                    one_of.insert(s.clone());
                }
                Holds::OneOf(list) => one_of.extend(list.iter().cloned()),
                Holds::NoneOf(list) => none_of = Some(list.clone()),
                Holds::Grant(b) => grant = Some(*b),
            }
        }
        let mut c = Map::new();
        let mut w = Vec::new();
        if let Some(b) = grant {
            c.insert("holds".into(), json!(b));
            words.push(format!("{path} is {b}"));
            o.insert(path.clone(), Value::Object(c));
            continue;
        }
        if !one_of.is_empty() {
            let list: Vec<&String> = one_of.iter().collect();
            w.push(match list.as_slice() {
                [one] => format!("is {one}"),
                many if many.len() <= 6 => format!(
                    "is one of {}",
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                many => format!(
                    "is one of {} (+{} more)",
                    many.iter()
                        .take(5)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    many.len() - 5
                ),
            });
            c.insert("one_of".into(), json!(list));
        }
        if let Some(list) = none_of {
            w.push(if list.is_empty() {
                "is any value".to_string()
            } else if list.len() <= 6 {
                format!("is any value but {}", list.join(", "))
            } else {
                format!("is any value but the {} the policies name", list.len())
            });
            c.insert("none_of".into(), json!(list));
        }
        if missing {
            w.push("is missing".into());
            c.insert("missing".into(), json!(true));
        }
        words.push(format!("{path} {}", w.join(" or ")));
        o.insert(path.clone(), Value::Object(c));
    }
    if !relations.is_empty() {
        o.insert("relations".into(), json!(relations));
        words.extend(relations.iter().cloned());
    }
    let words = if words.is_empty() {
        "every request".to_string()
    } else {
        words.join("; ")
    };
    (Value::Object(o), words)
}

/// Whether a request (as JSON) satisfies a change's constraints: what the
/// tests check completeness with (relations included).
pub fn holds(constraints: &Value, request: &Value) -> bool {
    let Some(o) = constraints.as_object() else {
        return false;
    };
    let value_at = |path: &str| -> Option<String> {
        let mut v = request;
        for k in path.split('.') {
            v = v.get(k)?;
        }
        v.as_str().map(str::to_string)
    };
    for (path, c) in o {
        if path == "relations" {
            for rel in c.as_array().into_iter().flatten().filter_map(Value::as_str) {
                let (a, rest, equal) = match rel.split_once(" equals ") {
                    Some((a, b)) => (a, b, true),
                    None => match rel.split_once(" differs from ") {
                        Some((a, b)) => (a, b, false),
                        None => return false,
                    },
                };
                if (value_at(a) == value_at(rest)) != equal {
                    return false;
                }
            }
            continue;
        }
        if c.get("holds").is_some() {
            // A grant condition: not a request field.
            continue;
        }
        let v = value_at(path);
        let ok = match &v {
            None => c.get("missing").is_some_and(|m| m == true),
            Some(s) => {
                let listed = |k: &str| {
                    c.get(k)
                        .and_then(Value::as_array)
                        .map(|a| a.iter().any(|x| x == s.as_str()))
                };
                listed("one_of") == Some(true) || listed("none_of") == Some(false)
            }
        };
        if !ok {
            return false;
        }
    }
    true
}
