//! Policy analysis over every possible request: `sovra diff` (what a
//! change allows that was denied, and the reverse).
//!
//! Input: one or more engines (programs over the same documents) and an
//! instant. Output: the classes of requests on which they decide
//! differently, each with its constraints and a concrete example.
//!
//! How: each request field the policies can read ([`Var`]) is cut into a
//! finite partition induced by what the programs and documents compare it
//! with ([`Space`]): every value they name is its own class, the values
//! they do not name fall into classes of values no comparison tells apart
//! (countries by their membership in every set; regions by every attribute
//! a policy can read), plus "missing". The search starts with every field
//! unfixed and runs the real evaluator on a request with the fixed ones
//! ([`Engine::probe`]); when the walk reads an unfixed field, it splits on
//! it, one branch per class. A walk that reads only fixed fields decides
//! every request that agrees on them, so a leaf's constraints (the fixed
//! fields' classes; the rest: anything) describe exactly the requests it
//! decides. The cost follows the policies' structure (a forbid whose first
//! condition fails reads nothing more), not the product of the domains.
//!
//! Invariants (docs/analysis.md): the partition is exact for equality, set
//! membership, region attributes and profiles; where two request fields
//! are compared with each other, each unnamed class carries two
//! representatives, so "equal" and "different" are both explored; what the
//! analysis does not cover (string patterns, lists, fields outside the
//! schema, time) is fixed and named in its output ([`Space::caveats`]).

use crate::country::Country;
use crate::documents::Request;
use crate::eval::{Engine, Probe, Splitter, Var, VARS};
use crate::ir::*;
use crate::vocab::CmpOp;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Searches stop past this many leaves (the tool says so rather than run
/// for ever on a space it cannot cover).
pub const MAX_LEAVES: usize = 2_000_000;

/// One class of a variable's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Class {
    /// The value the search puts in the request (`None`: missing).
    pub value: Option<String>,
    /// The values the class holds, as a constraint.
    pub holds: Holds,
    /// For an unnamed class with two representatives: which one (0 or 1);
    /// the class is the same.
    pub rep: u8,
    /// Its index among the variable's classes with the same `holds`.
    pub group: usize,
}

/// The values of one class.
#[derive(Clone, Debug, PartialEq)]
pub enum Holds {
    /// The field is absent.
    Missing,
    /// Exactly this value.
    Is(String),
    /// Any of these values (an unnamed class of countries or regions).
    OneOf(Vec<String>),
    /// Any value but these (an unnamed text, an unknown region).
    NoneOf(Vec<String>),
    /// `exists grant` true or false (`--any-grants`).
    Grant(bool),
}

/// What the search calls at each leaf: the assignment, and each engine's
/// decision (allow, and the first rule that applies).
pub type Leaf<'a> = dyn FnMut(&[Vec<usize>], &[(bool, Option<u32>)]) + 'a;

/// The finite space the search explores.
pub struct Space {
    /// Per variable bit: its path and classes.
    pub vars: Vec<(String, Vec<Class>)>,
    /// The `exists grant` conditions under `--any-grants`, by their text
    /// (white space folded): the same condition in two programs is one
    /// variable.
    pub exists: Option<Vec<String>>,
    /// Pairs of variables compared with each other.
    pub related: Vec<(u32, u32)>,
    /// What the analysis does not cover, in words (empty: everything).
    pub caveats: Vec<String>,
    /// The instant every request is decided at.
    pub time: DateTime<Utc>,
    /// The most classes a search may decide ([`MAX_LEAVES`] unless set).
    pub limit: usize,
}

/// What a program compares each variable with.
#[derive(Default)]
struct Named {
    strings: BTreeMap<u32, BTreeSet<String>>,
    countries: BTreeSet<Country>,
    country_sets: Vec<Vec<Country>>,
    related: BTreeSet<(u32, u32)>,
    region_fields: Vec<RegionField>,
    patterns: BTreeSet<u32>,
    unread: BTreeSet<&'static str>,
}

fn var_of(p: &Program, id: NodeId) -> Option<Var> {
    match p.nodes.get(id as usize)? {
        Node::Load(f) => Var::of(*f),
        _ => None,
    }
}

fn collect(p: &Program, n: &mut Named) {
    for node in &p.nodes {
        match node {
            Node::Load(f) => match f {
                Field::RegionField(_, rf) if !n.region_fields.contains(rf) => {
                    n.region_fields.push(*rf);
                }
                Field::PrincipalRoles => {
                    n.unread.insert("principal.roles");
                }
                Field::ClientRegions => {
                    n.unread.insert("resource.client_regions");
                }
                Field::Extra(_) => {
                    n.unread.insert("fields outside the schema");
                }
                _ => {}
            },
            Node::Cmp { op, lhs, rhs, .. } => {
                for (a, b) in [(*lhs, *rhs), (*rhs, *lhs)] {
                    let Some(v) = var_of(p, a) else { continue };
                    if matches!(op, CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Matches) {
                        n.patterns.insert(v as u32);
                    }
                    match p.nodes.get(b as usize) {
                        Some(Node::Const(c)) => add_const(p, c, v as u32, n),
                        Some(Node::Load(_)) => {
                            if let Some(w) = var_of(p, b) {
                                relate(n, v, w);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Node::Const(Const::Country(k)) => {
                n.countries.insert(*k);
            }
            _ => {}
        }
    }
    for s in &p.sets {
        if let SetValue::Countries(cs) = &s.value {
            n.country_sets.push(
                all_countries()
                    .into_iter()
                    .filter(|c| cs.contains(*c))
                    .collect(),
            );
        }
    }
    for prof in &p.profiles {
        if let Some(c) = prof.country {
            n.countries.insert(c);
        }
        for set in [&prof.any, &prof.primary] {
            n.country_sets.push(
                all_countries()
                    .into_iter()
                    .filter(|c| set.contains(*c))
                    .collect(),
            );
        }
    }
    let names = n.strings.entry(Var::Classification as u32).or_default();
    names.extend(p.classifications.iter().map(|c| p.sym(c.name).to_string()));
    let names = n.strings.entry(Var::Residency as u32).or_default();
    names.extend(p.profiles.iter().map(|c| p.sym(c.name).to_string()));
    let names = n.strings.entry(Var::Action as u32).or_default();
    names.extend(p.actions.iter().map(|a| p.sym(*a).to_string()));
}

/// Two variables compared with each other that can fall in one unnamed
/// class (two countries of the request, two regions, two texts): their
/// unnamed classes get two representatives, so "equal" and "different"
/// are both explored. (A region's country is always named, so a region
/// and a country need none.)
fn relate(n: &mut Named, v: Var, w: Var) {
    let kind = |x: Var| match x {
        Var::PrincipalCountry | Var::HomeCountry => 0,
        Var::Source | Var::Target => 1,
        _ => 2,
    };
    if v != w && kind(v) == kind(w) {
        n.related.insert((v.min(w) as u32, v.max(w) as u32));
    }
}

fn add_const(p: &Program, c: &Const, v: u32, n: &mut Named) {
    match c {
        Const::Str(s) => {
            n.strings
                .entry(v)
                .or_default()
                .insert(p.sym(*s).to_string());
        }
        Const::Country(k) => {
            n.countries.insert(*k);
        }
        Const::Set(i) => match p.sets.get(*i as usize).map(|s| &s.value) {
            Some(SetValue::Strings(list)) => {
                let e = n.strings.entry(v).or_default();
                e.extend(list.iter().map(|s| p.sym(*s).to_string()));
            }
            Some(SetValue::Countries(cs)) => {
                n.country_sets.push(
                    all_countries()
                        .into_iter()
                        .filter(|c| cs.contains(*c))
                        .collect(),
                );
            }
            _ => {}
        },
        Const::Profile(i) => {
            if let Some(prof) = p.profiles.get(*i as usize) {
                n.strings
                    .entry(v)
                    .or_default()
                    .insert(p.sym(prof.name).to_string());
            }
        }
        _ => {}
    }
}

/// A condition's text with its white space folded to single spaces.
fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the search decides at each leaf.
#[derive(Clone, Copy)]
pub enum Decider<'a> {
    /// A policy set's decision (allow, the first rule that applies).
    Policy(&'a Engine),
    /// Whether one rule's condition holds (`Some(rule)` when it does).
    Rule(&'a Engine, u32),
    /// A guard for two policy sets: where the rules they do not share
    /// cannot make their decisions differ, the search goes no further (no
    /// leaf is reported); elsewhere it gives no result and the deciders
    /// after it are decided.
    Differ(&'a Guard<'a>),
}

/// The rules two policy sets do not share, by set and effect
/// ([`diff::differing`]). With `P`/`F` "a permit/forbid of these applies"
/// and the shared rules the same on both sides, the two decide alike
/// where `F_old` and `F_new` both hold, or neither does and `P_old ==
/// P_new`.
pub struct Guard<'a> {
    /// The old policy set.
    pub old: &'a Engine,
    /// The new one.
    pub new: &'a Engine,
    /// Its rules not in the new one: forbids, then permits.
    pub old_rules: [Vec<u32>; 2],
    /// The new one's not in the old one: forbids, then permits.
    pub new_rules: [Vec<u32>; 2],
}

/// What a decider needs before it can decide: the variable to split on
/// and, when a condition divides its classes, the classes where it holds.
type Need = (usize, Option<(u32, Vec<usize>)>);

/// Every assigned ISO 3166-1 country, in code order.
fn all_countries() -> Vec<Country> {
    let mut out = Vec::new();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            let code = [a, b];
            if let Some(c) = std::str::from_utf8(&code).ok().and_then(Country::parse) {
                if c.is_assigned() {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// Text classes: each named value, one unnamed class (two representatives
/// when related), missing (`with_missing`).
fn text_classes(named: &BTreeSet<String>, two: bool, with_missing: bool) -> Vec<Class> {
    let mut out: Vec<Class> = named
        .iter()
        .enumerate()
        .map(|(i, s)| Class {
            value: Some(s.clone()),
            holds: Holds::Is(s.clone()),
            rep: 0,
            group: i,
        })
        .collect();
    let others = named.iter().cloned().collect::<Vec<_>>();
    for rep in 0..if two { 2 } else { 1 } {
        out.push(Class {
            value: Some(format!("(other-{})", rep + 1)),
            holds: Holds::NoneOf(others.clone()),
            rep,
            group: named.len(),
        });
    }
    if with_missing {
        out.push(Class {
            value: None,
            holds: Holds::Missing,
            rep: 0,
            group: named.len() + 1,
        });
    }
    out
}

impl Space {
    /// The space for `engines` (programs over the same documents), decided
    /// at `time`; `any_grants`: each `exists grant` condition is free.
    pub fn new(engines: &[&Engine], time: DateTime<Utc>, any_grants: bool) -> Space {
        let mut n = Named::default();
        for e in engines {
            collect(e.program(), &mut n);
        }
        let Some(first) = engines.first() else {
            return Space {
                vars: Vec::new(),
                exists: None,
                related: Vec::new(),
                caveats: Vec::new(),
                time,
                limit: MAX_LEAVES,
            };
        };
        // The documents' own values are named too: grants are chosen and
        // checked by them, regions carry countries.
        if !any_grants {
            for g in first.grants().iter() {
                let mut add = |v: Var, s: &str| {
                    n.strings.entry(v as u32).or_default().insert(s.to_string());
                };
                add(Var::PrincipalId, &g.principal);
                if let Some(r) = &g.resource {
                    add(Var::ResourceId, r);
                }
                if let Some(p) = &g.purpose {
                    add(Var::Purpose, p);
                }
                for c in g.classifications.iter() {
                    add(Var::Classification, c);
                }
                n.countries.insert(g.to_country);
            }
        }
        let regions = &first.regions().regions;
        n.countries.extend(regions.iter().map(|r| r.country));
        let related: Vec<(u32, u32)> = n.related.iter().copied().collect();
        let is_related = |v: Var| {
            related
                .iter()
                .any(|(a, b)| *a == v as u32 || *b == v as u32)
        };
        let mut vars = Vec::new();
        for v in Var::ALL {
            let two = is_related(v);
            let empty = BTreeSet::new();
            let named = n.strings.get(&(v as u32)).unwrap_or(&empty);
            let classes = match v {
                Var::PrincipalCountry | Var::HomeCountry => country_classes(&n, two),
                Var::Source | Var::Target => region_classes(first, &n, named, two),
                Var::Action => text_classes(named, two, false),
                _ => text_classes(named, two, true),
            };
            vars.push((v.path().to_string(), classes));
        }
        let mut caveats: Vec<String> = n
            .unread
            .iter()
            .map(|f| {
                format!(
                    "{f}: read by the policies but not explored (the analysis takes it as absent)"
                )
            })
            .collect();
        for v in &n.patterns {
            if let Some((path, _)) = vars.get(*v as usize) {
                caveats.push(format!("{path}: compared with patterns (starts_with, ends_with, matches); the analysis explores the values the policies name and one other, not every text a pattern tells apart"));
            }
        }
        let exists = any_grants.then(|| {
            let mut texts = BTreeSet::new();
            for e in engines {
                let p = e.program();
                for node in &p.nodes {
                    if let Node::Exists { atom, .. } = node {
                        if let Some(a) = p.atoms.get(*atom as usize) {
                            texts.insert(fold(&a.text));
                        }
                    }
                }
            }
            texts.into_iter().collect::<Vec<String>>()
        });
        for text in exists.iter().flatten() {
            vars.push((
                format!("({text})"),
                [false, true]
                    .into_iter()
                    .map(|b| Class {
                        value: Some(b.to_string()),
                        holds: Holds::Grant(b),
                        rep: 0,
                        group: usize::from(b),
                    })
                    .collect(),
            ));
        }
        Space {
            vars,
            exists,
            related,
            caveats,
            time,
            limit: MAX_LEAVES,
        }
    }

    /// The request a (partial) assignment stands for: fixed fields set to
    /// their class's representative; the rest absent.
    pub fn request(&self, assign: &[Option<usize>]) -> Request<'static> {
        let mut r = Request {
            action: Cow::default(),
            time: Some(self.time.fixed_offset()),
            ..Request::default()
        };
        for (bit, a) in assign.iter().enumerate().take(VARS as usize) {
            if let Some(c) = a {
                self.set(&mut r, bit, *c);
            }
        }
        r
    }

    /// Sets variable `bit` of `r` to class `class`'s representative.
    fn set(&self, r: &mut Request<'_>, bit: usize, class: usize) {
        let value: Option<Cow<'static, str>> = self
            .vars
            .get(bit)
            .and_then(|(_, c)| c.get(class))
            .and_then(|c| c.value.clone())
            .map(Cow::from);
        let country = || value.as_deref().and_then(Country::parse);
        match Var::ALL.get(bit) {
            Some(Var::Action) => r.action = value.clone().unwrap_or_default(),
            Some(Var::Purpose) => r.purpose = value.clone(),
            Some(Var::PrincipalId) => r.principal.id = value.clone(),
            Some(Var::PrincipalCountry) => r.principal.country = country(),
            Some(Var::ResourceId) => r.resource.id = value.clone(),
            Some(Var::Classification) => r.resource.classification = value.clone(),
            Some(Var::Residency) => r.resource.residency = value.clone(),
            Some(Var::HomeCountry) => r.resource.home_country = country(),
            Some(Var::Source) => r.source_region = value.clone(),
            Some(Var::Target) => r.target_region = value.clone(),
            None => {}
        }
    }

    /// The request as JSON (the example a class shows; `sovra eval` reads it).
    pub fn example(&self, assign: &[Option<usize>]) -> Value {
        let r = self.request(assign);
        let mut o = Map::new();
        o.insert("action".into(), json!(r.action));
        o.insert(
            "time".into(),
            json!(self.time.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        let mut principal = Map::new();
        if let Some(id) = &r.principal.id {
            principal.insert("id".into(), json!(id));
        }
        if let Some(c) = r.principal.country {
            principal.insert("country".into(), json!(c.to_string()));
        }
        o.insert("principal".into(), Value::Object(principal));
        let mut resource = Map::new();
        for (k, v) in [
            ("id", &r.resource.id),
            ("classification", &r.resource.classification),
            ("residency", &r.resource.residency),
        ] {
            if let Some(v) = v {
                resource.insert(k.into(), json!(v));
            }
        }
        if let Some(c) = r.resource.home_country {
            resource.insert("home_country".into(), json!(c.to_string()));
        }
        o.insert("resource".into(), Value::Object(resource));
        for (k, v) in [
            ("source_region", &r.source_region),
            ("target_region", &r.target_region),
            ("purpose", &r.purpose),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), json!(v));
            }
        }
        Value::Object(o)
    }

    /// Explores every class of requests, calling `leaf` with the classes
    /// each variable may be in (all of them: any value) and each engine's
    /// decision (allow, and the first rule that applies: the same for
    /// every request of the class). `Err` past [`Space::limit`].
    pub fn explore(&self, engines: &[&Engine], leaf: &mut Leaf<'_>) -> Result<usize, String> {
        let deciders: Vec<Decider<'_>> = engines.iter().map(|e| Decider::Policy(e)).collect();
        self.explore_with(&deciders, leaf)
    }

    /// [`Space::explore`] with any deciders: a policy's decision, or
    /// whether one rule's condition holds (reported as `(holds, rule)`).
    pub fn explore_with(
        &self,
        deciders: &[Decider<'_>],
        leaf: &mut Leaf<'_>,
    ) -> Result<usize, String> {
        let mut sets: Vec<Vec<usize>> = self
            .vars
            .iter()
            .map(|(_, c)| (0..c.len()).collect())
            .collect();
        let mut count = 0;
        self.walk(deciders, &mut sets, leaf, &mut count)?;
        Ok(count)
    }

    /// The `exists grant` atoms of `e`'s program, each with its variable
    /// (the same condition written twice is one variable).
    fn exists_atoms(&self, e: &Engine) -> Option<Vec<(u32, u32)>> {
        let texts = self.exists.as_ref()?;
        let p = e.program();
        Some(
            p.nodes
                .iter()
                .filter_map(|n| match n {
                    Node::Exists { atom, .. } => {
                        let text = fold(&p.atoms.get(*atom as usize)?.text);
                        let i = texts.iter().position(|t| *t == text)?;
                        Some((*atom, i as u32))
                    }
                    _ => None,
                })
                .collect(),
        )
    }

    fn walk(
        &self,
        engines: &[Decider<'_>],
        sets: &mut Vec<Vec<usize>>,
        leaf: &mut Leaf<'_>,
        count: &mut usize,
    ) -> Result<(), String> {
        let fixed: Vec<Option<usize>> = sets
            .iter()
            .map(|s| match s.as_slice() {
                [one] => Some(*one),
                _ => None,
            })
            .collect();
        let unknown = fixed
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_none())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        let mut grants_true = 0u64;
        for (i, a) in fixed.iter().enumerate().skip(VARS as usize) {
            if *a == Some(1) {
                grants_true |= 1 << i;
            }
        }
        let req = self.request(&fixed);
        let with = |v: u32, c: usize| {
            let mut r = req.clone();
            self.set(&mut r, v as usize, c);
            r
        };
        let mut results = Vec::with_capacity(engines.len());
        for d in engines {
            let on = |e: &Engine, rule: Option<u32>| {
                let probe = Probe {
                    unknown,
                    exists: self.exists_atoms(e),
                    grants_true,
                    split: Some(Splitter {
                        sets: sets.as_slice(),
                        with: &with,
                    }),
                    ..Probe::default()
                };
                let decided = match rule {
                    None => e.probe(&req, &probe),
                    Some(r) => e
                        .probe_rule(&req, &probe, r)
                        .map(|holds| (holds, holds.then_some(r))),
                };
                decided.ok_or_else(|| -> Need {
                    let need = probe
                        .first
                        .get()
                        .unwrap_or_else(|| probe.needed.get().trailing_zeros())
                        as usize;
                    (need, probe.divided.borrow().clone())
                })
            };
            let decided = match d {
                Decider::Policy(e) => on(e, None),
                Decider::Rule(e, r) => on(e, Some(*r)),
                Decider::Differ(g) => {
                    // Whether any of `rules` applies: a rule known to
                    // apply decides it, whatever the others need.
                    let any = |e: &Engine, rules: &[u32]| -> Result<bool, Need> {
                        let mut need = None;
                        for r in rules {
                            match on(e, Some(*r)) {
                                Ok((true, _)) => return Ok(true),
                                Ok(_) => {}
                                Err(n) => {
                                    need.get_or_insert(n);
                                }
                            }
                        }
                        need.map_or(Ok(false), Err)
                    };
                    let fo = any(g.old, &g.old_rules[0]);
                    let fnew = any(g.new, &g.new_rules[0]);
                    let po = any(g.old, &g.old_rules[1]);
                    let pn = any(g.new, &g.new_rules[1]);
                    let alike = match (&fo, &fnew, &po, &pn) {
                        (Ok(true), Ok(true), _, _) => true,
                        (Ok(a), Ok(b), _, _) if a != b => continue,
                        (Ok(false), Ok(false), Ok(a), Ok(b)) if a != b => continue,
                        (Ok(false), Ok(false), Ok(_), Ok(_)) => true,
                        _ => false,
                    };
                    if alike {
                        *count += 1;
                        return self.within_bound(*count);
                    }
                    match [fo, fnew, po, pn].into_iter().find_map(Result::err) {
                        Some(need) => Err(need),
                        None => continue,
                    }
                }
            };
            let (need, divided) = match decided {
                Ok(r) => {
                    results.push(r);
                    continue;
                }
                Err(need) => need,
            };
            let all = sets.get(need).cloned().unwrap_or_default();
            let mut options: Vec<Vec<usize>> = match divided {
                // A condition divides the classes: two branches.
                Some((v, holds)) if v as usize == need => {
                    let rest = all.iter().copied().filter(|c| !holds.contains(c)).collect();
                    vec![holds, rest]
                }
                // A value read directly: one branch a class.
                _ => all.iter().map(|c| vec![*c]).collect(),
            };
            options.retain(|x| !x.is_empty());
            let saved = sets.get(need).cloned().unwrap_or_default();
            for option in options {
                if let Some(slot) = sets.get_mut(need) {
                    *slot = option;
                }
                self.walk(engines, sets, leaf, count)?;
            }
            if let Some(slot) = sets.get_mut(need) {
                *slot = saved;
            }
            return Ok(());
        }
        *count += 1;
        self.within_bound(*count)?;
        leaf(sets, &results);
        Ok(())
    }

    /// An error once the search passes [`Space::limit`] classes.
    fn within_bound(&self, count: usize) -> Result<(), String> {
        if count > self.limit {
            return Err(format!(
                "the analysis passed {} classes of requests: the policies and documents name too many values to explore",
                self.limit
            ));
        }
        Ok(())
    }
}

fn country_classes(n: &Named, two: bool) -> Vec<Class> {
    let mut out: Vec<Class> = n
        .countries
        .iter()
        .enumerate()
        .map(|(i, c)| Class {
            value: Some(c.to_string()),
            holds: Holds::Is(c.to_string()),
            rep: 0,
            group: i,
        })
        .collect();
    // The rest, by membership in every country set.
    let mut by_sig: BTreeMap<Vec<bool>, Vec<Country>> = BTreeMap::new();
    for c in all_countries() {
        if n.countries.contains(&c) {
            continue;
        }
        let sig = n.country_sets.iter().map(|s| s.contains(&c)).collect();
        by_sig.entry(sig).or_default().push(c);
    }
    for (g, members) in by_sig.values().enumerate() {
        let names: Vec<String> = members.iter().map(ToString::to_string).collect();
        for (rep, c) in members.iter().take(if two { 2 } else { 1 }).enumerate() {
            out.push(Class {
                value: Some(c.to_string()),
                holds: Holds::OneOf(names.clone()),
                rep: rep as u8,
                group: n.countries.len() + g,
            });
        }
    }
    let g = out.len();
    out.push(Class {
        value: None,
        holds: Holds::Missing,
        rep: 0,
        group: g,
    });
    out
}

fn region_classes(e: &Engine, n: &Named, named: &BTreeSet<String>, two: bool) -> Vec<Class> {
    // Regions no comparison tells apart: the same value of every attribute
    // a policy can read (its id only where a policy names it).
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut singles = Vec::new();
    for r in &e.regions().regions {
        if named.contains(&r.id) {
            singles.push(r.id.clone());
            continue;
        }
        let mut key = vec![
            r.country.to_string(),
            r.status.as_str().to_string(),
            r.sovereign.to_string(),
        ];
        for rf in &n.region_fields {
            key.push(match rf {
                RegionField::Provider => format!("{:?}", r.provider),
                RegionField::Location => format!("{:?}", r.location),
                RegionField::Zones => format!("{:?}", r.zones),
                RegionField::Partition => format!("{:?}", r.partition),
                _ => String::new(),
            });
        }
        if !n.unread.is_empty() || !r.attributes.is_empty() {
            key.push(Value::Object(r.attributes.clone()).to_string());
        }
        groups
            .entry(key.join("\u{1f}"))
            .or_default()
            .push(r.id.clone());
    }
    let mut out: Vec<Class> = singles
        .iter()
        .enumerate()
        .map(|(i, id)| Class {
            value: Some(id.clone()),
            holds: Holds::Is(id.clone()),
            rep: 0,
            group: i,
        })
        .collect();
    for (g, ids) in groups.values().enumerate() {
        for (rep, id) in ids.iter().take(if two { 2 } else { 1 }).enumerate() {
            out.push(Class {
                value: Some(id.clone()),
                holds: if ids.len() == 1 {
                    Holds::Is(id.clone())
                } else {
                    Holds::OneOf(ids.clone())
                },
                rep: rep as u8,
                group: singles.len() + g,
            });
        }
    }
    let all: Vec<String> = e.regions().regions.iter().map(|r| r.id.clone()).collect();
    let g = out.len();
    for rep in 0..if two { 2 } else { 1 } {
        out.push(Class {
            value: Some(format!("(unknown-region-{})", rep + 1)),
            holds: Holds::NoneOf(all.clone()),
            rep,
            group: g,
        });
    }
    out.push(Class {
        value: None,
        holds: Holds::Missing,
        rep: 0,
        group: g + 1,
    });
    out
}

pub mod diff;
pub mod matrix;
pub mod verify;
