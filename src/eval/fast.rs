//! The decision path's rules, pre-digested: each rule's condition as the
//! list of its top-level conjuncts, the common shapes specialised into
//! tests that need no value of the walk (`resource.id == "ds-7"`, a
//! country `in` a set), the rest left to the walk.
//!
//! Only the path without a trace and without the analysis's probe uses it
//! ([`super::run`]); the trace walks every condition as written. An action
//! test a rule's place in the action index already guarantees (`action in
//! [store, replicate]` for a rule reached only for those two actions) is
//! dropped. Each specialised test gives what the walk gives on the same
//! request, a missing value included (every comparison with it false);
//! `tests/engine.rs` holds the two to the same decisions.

use super::walk::Ctx;
use crate::country::Country;
use crate::ir::{
    Const, Field, GrantField, Node, NodeId, Program, RegionField, SetValue, Sym, Which,
};
use crate::vocab::{CmpOp, IsWhat};

/// One conjunct of a rule's condition.
#[derive(Clone, Debug)]
pub(super) enum Test {
    /// A text field equal (`ne`: not equal) to a constant; false when the
    /// field has no value.
    Text {
        field: Text,
        value: Box<str>,
        ne: bool,
    },
    /// `[not] exists grant g [where C]`.
    Exists {
        cond: Option<NodeId>,
        not: bool,
    },
    /// A country field in (`out`: not in) a set of countries.
    Country {
        field: CountryField,
        /// The set's index in the program (a set of countries).
        set: u32,
        out: bool,
    },
    /// A country field equal (`ne`: not equal) to a country.
    CountryIs {
        field: CountryField,
        country: Country,
        ne: bool,
    },
    /// `resource.classification is [not] declared` (`residency`: the
    /// profile's), true when declared differs from `not`.
    Declared {
        residency: bool,
        not: bool,
    },
    /// `[not] (region satisfies profile)`: the profile the request names
    /// (`None`) or a constant one.
    Satisfies {
        region: Which,
        profile: Option<u32>,
        primary_only: bool,
        not: bool,
    },
    /// `resource.classification in S` (`out`: `not in`) for a set S of
    /// declared classifications, and `== C` (`!=`) as the set of C alone:
    /// bit `i` of `mask` for the request's declared classification `i`,
    /// found once.
    ClassIn {
        mask: u64,
        out: bool,
    },
    /// `F is present` (or `is missing`, or either under `not`) for a field
    /// the request or its regions give: true when whether F has a value
    /// is `present`.
    Has {
        field: Field,
        present: bool,
    },
    /// [`Test::Has`] for a country field, and for a region (which always
    /// has a country: it is present exactly when its country is), read
    /// without the walk's load.
    HasCountry {
        field: CountryField,
        present: bool,
    },
    /// A text field in (`out`: not in) a set of strings; false when the
    /// field has no value.
    TextIn {
        field: Text,
        /// The set's index in the program (a set of strings).
        set: u32,
        out: bool,
    },
    /// Two country fields equal (`ne`: not equal); false when either has
    /// no value.
    SameCountry {
        a: CountryField,
        b: CountryField,
        ne: bool,
    },
    /// `not C`, `C and …`, `C or …` of tests: as the walk combines them.
    Not(Box<Test>),
    All(Vec<Test>),
    Any(Vec<Test>),
    /// Any other condition: the walk decides it.
    Walk(NodeId),
}

/// The text fields a test reads directly: the request's, its regions',
/// and inside `exists grant` the grant's.
#[derive(Clone, Copy, Debug)]
pub(super) enum Text {
    ResourceId,
    PrincipalId,
    Purpose,
    Classification,
    SourceRegion,
    TargetRegion,
    Grant(GrantField),
    /// A text field of the source or target region: its `id`, `status`,
    /// `provider`, `location` or `partition`.
    Region(Which, RegionField),
    /// The mode of the request's residency profile
    /// (`resource.residency.mode`).
    ResidencyMode,
}

/// The country fields a test reads directly: the request's, its regions',
/// and inside `exists grant` the grant's destination.
#[derive(Clone, Copy, Debug)]
pub(super) enum CountryField {
    Principal,
    Home,
    Region(Which),
    Grant,
    /// The country of the request's residency profile
    /// (`resource.residency.country`).
    Residency,
}

impl Text {
    fn of(f: Field) -> Option<Text> {
        Some(match f {
            Field::ResourceId => Text::ResourceId,
            Field::PrincipalId => Text::PrincipalId,
            Field::Purpose => Text::Purpose,
            Field::Classification => Text::Classification,
            Field::SourceRegionId => Text::SourceRegion,
            Field::TargetRegionId => Text::TargetRegion,
            Field::Grant(
                g @ (GrantField::Id
                | GrantField::Principal
                | GrantField::Resource
                | GrantField::Purpose
                | GrantField::Mechanism
                | GrantField::RequestedBy
                | GrantField::ApprovedBy),
            ) => Text::Grant(g),
            Field::RegionField(
                w,
                rf @ (RegionField::Id
                | RegionField::Status
                | RegionField::Provider
                | RegionField::Location
                | RegionField::Partition),
            ) => Text::Region(w, rf),
            Field::ResidencyMode => Text::ResidencyMode,
            _ => return None,
        })
    }

    /// The field's text in `ctx` (the request, its regions and, inside
    /// `exists grant`, the grant), `None` when it has none, as the walk
    /// loads it.
    #[inline]
    pub(super) fn get<'a>(self, ctx: &Ctx<'a>) -> Option<&'a str> {
        let req = ctx.req;
        match self {
            Text::ResourceId => req.resource.id.as_deref(),
            Text::PrincipalId => req.principal.id.as_deref(),
            Text::Purpose => req.purpose.as_deref(),
            Text::Classification => req.resource.classification.as_deref(),
            Text::SourceRegion => req.source_region.as_deref(),
            Text::TargetRegion => req.target_region.as_deref(),
            Text::Grant(f) => super::walk::grant_text(ctx.grant?, f),
            Text::Region(w, f) => super::walk::region_text(ctx.region(w)?, f),
            Text::ResidencyMode => Some(ctx.residency()?.mode.as_str()),
        }
    }
}

impl CountryField {
    fn of(f: Field) -> Option<CountryField> {
        Some(match f {
            Field::PrincipalCountry => CountryField::Principal,
            Field::HomeCountry => CountryField::Home,
            Field::RegionField(w, RegionField::Country) => CountryField::Region(w),
            Field::Grant(GrantField::ToCountry) => CountryField::Grant,
            Field::ResidencyCountry => CountryField::Residency,
            _ => return None,
        })
    }
}

/// Each rule's conjuncts, by rule index.
pub(super) fn compile(p: &Program) -> Vec<Vec<Test>> {
    p.rules
        .iter()
        .map(|r| {
            let Some(cond) = r.cond else {
                return Vec::new();
            };
            conjuncts(p, cond)
                .into_iter()
                .filter(|c| !implied_action(p, r.actions.as_deref(), *c))
                .map(|c| test(p, c))
                .collect()
        })
        .collect()
}

/// The conditions of `exists grant g where C`, by the node of C, sorted:
/// each as its conjuncts.
pub(super) fn grant_conditions(p: &Program) -> Vec<(NodeId, Vec<Test>)> {
    let mut out: Vec<(NodeId, Vec<Test>)> = p
        .nodes
        .iter()
        .filter_map(|n| match n {
            Node::Exists { cond: Some(c), .. } => Some(*c),
            _ => None,
        })
        .map(|c| (c, conjuncts(p, c).into_iter().map(|x| test(p, x)).collect()))
        .collect();
    out.sort_by_key(|(c, _)| *c);
    out.dedup_by_key(|(c, _)| *c);
    out
}

/// The top-level conjuncts of node `c` (itself when it is no `and`).
fn conjuncts(p: &Program, c: NodeId) -> Vec<NodeId> {
    match p.nodes.get(c as usize) {
        Some(Node::And { start, len }) => {
            let s = *start as usize;
            p.args
                .get(s..s + *len as usize)
                .map_or_else(|| vec![c], <[NodeId]>::to_vec)
        }
        _ => vec![c],
    }
}

/// Whether conjunct `c` tests the action and holds for every action the
/// rule is indexed under (so a rule reached through the index needs it
/// not).
fn implied_action(p: &Program, actions: Option<&[Sym]>, c: NodeId) -> bool {
    let Some(actions) = actions else {
        return false;
    };
    let Some(Node::Cmp { op, lhs, rhs, .. }) = p.nodes.get(c as usize) else {
        return false;
    };
    if !matches!(p.nodes.get(*lhs as usize), Some(Node::Load(Field::Action))) {
        return false;
    }
    let holds = |a: &Sym| match (op, p.nodes.get(*rhs as usize)) {
        (CmpOp::Eq, Some(Node::Const(Const::Str(s)))) => p.sym(*s) == p.sym(*a),
        (CmpOp::In, Some(Node::Const(Const::Set(i)))) => match p.sets.get(*i as usize) {
            Some(set) => match &set.value {
                SetValue::Strings(v) => v.iter().any(|s| p.sym(*s) == p.sym(*a)),
                SetValue::Countries(_) => false,
            },
            None => false,
        },
        _ => false,
    };
    !actions.is_empty() && actions.iter().all(holds)
}

/// Conjunct `c` as a test.
fn test(p: &Program, c: NodeId) -> Test {
    let node = |id: NodeId| p.nodes.get(id as usize);
    let (inner, not) = match node(c) {
        Some(Node::Not { expr, .. }) => (*expr, true),
        _ => (c, false),
    };
    match node(inner) {
        Some(Node::Is {
            what: IsWhat::Declared,
            negated,
            expr,
            ..
        }) => {
            let residency = match node(*expr) {
                Some(Node::Load(Field::Classification)) => false,
                Some(Node::Load(Field::Residency)) => true,
                _ => return Test::Walk(c),
            };
            return Test::Declared {
                residency,
                not: *negated != not,
            };
        }
        Some(Node::Is {
            what: what @ (IsWhat::Present | IsWhat::Missing),
            negated,
            expr,
            ..
        }) => {
            let Some(Node::Load(field)) = node(*expr) else {
                return Test::Walk(c);
            };
            // `is present` holds when it has a value, unless negated.
            let present = ((*what == IsWhat::Present) != *negated) != not;
            let country = match field {
                Field::Region(w) => Some(CountryField::Region(*w)),
                f => CountryField::of(*f),
            };
            return match country {
                Some(field) => Test::HasCountry { field, present },
                None => Test::Has {
                    field: *field,
                    present,
                },
            };
        }
        Some(Node::Exists { cond, .. }) => {
            return Test::Exists { cond: *cond, not };
        }
        Some(Node::Satisfies {
            region,
            profile,
            primary_only,
            ..
        }) => {
            let Some(Node::Load(Field::Region(w))) = node(*region) else {
                return Test::Walk(c);
            };
            let profile = match node(*profile) {
                Some(Node::Load(Field::Residency)) => None,
                Some(Node::Const(Const::Profile(i))) => Some(*i),
                _ => return Test::Walk(c),
            };
            return Test::Satisfies {
                region: *w,
                profile,
                primary_only: *primary_only,
                not,
            };
        }
        _ => {}
    }
    // A combination pays only when some part is a test of its own.
    let walked = |t: &Test| matches!(t, Test::Walk(_));
    if not {
        let t = test(p, inner);
        return if walked(&t) {
            Test::Walk(c)
        } else {
            Test::Not(Box::new(t))
        };
    }
    let args = |start: &u32, len: &u32| {
        let s = *start as usize;
        p.args
            .get(s..s + *len as usize)
            .map(|a| a.iter().map(|x| test(p, *x)).collect::<Vec<_>>())
            .filter(|ts| !ts.iter().all(walked))
    };
    let Some(Node::Cmp { op, lhs, rhs, .. }) = node(c) else {
        return match node(c) {
            Some(Node::And { start, len }) => args(start, len).map_or(Test::Walk(c), Test::All),
            Some(Node::Or { start, len }) => args(start, len).map_or(Test::Walk(c), Test::Any),
            _ => Test::Walk(c),
        };
    };
    // Two country fields, as `principal.country != source.country` or,
    // inside `exists grant`, `g.to_country == target.country`.
    if matches!(op, CmpOp::Eq | CmpOp::Ne) {
        if let (Some(Node::Load(l)), Some(Node::Load(r))) = (node(*lhs), node(*rhs)) {
            if let (Some(a), Some(b)) = (CountryField::of(*l), CountryField::of(*r)) {
                return Test::SameCountry {
                    a,
                    b,
                    ne: *op == CmpOp::Ne,
                };
            }
        }
    }
    let (Some(Node::Load(f)), Some(Node::Const(k))) = (node(*lhs), node(*rhs)) else {
        return Test::Walk(c);
    };
    match (op, k) {
        (CmpOp::Eq | CmpOp::Ne, Const::Str(s)) => {
            let ne = *op == CmpOp::Ne;
            // A declared classification: its bit, the request's found once
            // per request (past 64 classifications, the text compared).
            let class = (*f == Field::Classification)
                .then(|| class_index(p, *s))
                .flatten()
                .filter(|c| *c < 64);
            match (class, Text::of(*f)) {
                (Some(class), _) => Test::ClassIn {
                    mask: 1 << class,
                    out: ne,
                },
                (None, Some(field)) => Test::Text {
                    field,
                    value: p.sym(*s).into(),
                    ne,
                },
                (None, None) => Test::Walk(c),
            }
        }
        (CmpOp::Eq | CmpOp::Ne, Const::Country(k)) => match CountryField::of(*f) {
            Some(field) => Test::CountryIs {
                field,
                country: *k,
                ne: *op == CmpOp::Ne,
            },
            None => Test::Walk(c),
        },
        (CmpOp::In | CmpOp::NotIn, Const::Set(i)) if *f == Field::Classification => {
            match class_mask(p, *i) {
                Some(mask) => Test::ClassIn {
                    mask,
                    out: *op == CmpOp::NotIn,
                },
                None => Test::Walk(c),
            }
        }
        (CmpOp::In | CmpOp::NotIn, Const::Set(i)) => {
            let out = *op == CmpOp::NotIn;
            let set = *i;
            let test = match p.sets.get(set as usize).map(|s| &s.value) {
                Some(SetValue::Countries(_)) => {
                    CountryField::of(*f).map(|field| Test::Country { field, set, out })
                }
                Some(SetValue::Strings(_)) => {
                    Text::of(*f).map(|field| Test::TextIn { field, set, out })
                }
                None => None,
            };
            test.unwrap_or(Test::Walk(c))
        }
        _ => Test::Walk(c),
    }
}

/// Set `i` as a mask of declared classifications, when it is a set of
/// names each of which is one (and there are at most 64).
fn class_mask(p: &Program, i: u32) -> Option<u64> {
    let Some(SetValue::Strings(names)) = p.sets.get(i as usize).map(|s| &s.value) else {
        return None;
    };
    if p.classifications.len() > 64 {
        return None;
    }
    names
        .iter()
        .try_fold(0u64, |mask, n| Some(mask | 1 << class_index(p, *n)?))
}

/// The index of the declared classification named `name`, if one is.
fn class_index(p: &Program, name: Sym) -> Option<usize> {
    p.classifications
        .iter()
        .position(|c| p.sym(c.name) == p.sym(name))
}

/// Names to indices: a short list compared in place (no hashing) when
/// there are few, as for actions, classifications and profiles; a hash
/// map otherwise. Kept hand-written: the request's names are looked up on
/// every decision, and hashing three short strings cost more than the
/// rest of a simple decision (benches/verdict.rs). (Keeping the short list
/// by length, to compare a name only with those as long, cost more
/// instructions than it saved: callgrind, 1,505 against 1,553 a verdict.)
#[derive(Debug, Default)]
pub(super) struct Names {
    few: Vec<(Box<str>, usize)>,
    many: Option<crate::names::Index<Box<str>>>,
}

/// Past this many names, a hash map.
const FEW: usize = 12;

impl Names {
    pub(super) fn new(names: impl Iterator<Item = (String, usize)>) -> Names {
        let all: Vec<(Box<str>, usize)> = names.map(|(n, i)| (n.into_boxed_str(), i)).collect();
        if all.len() <= FEW {
            Names {
                few: all,
                many: None,
            }
        } else {
            // The first of equal names wins, as in the short list.
            let mut many = crate::names::Index::with_capacity(all.len());
            for (n, i) in all {
                many.insert_new(n, i as u32);
            }
            Names {
                few: Vec::new(),
                many: Some(many),
            }
        }
    }

    #[inline]
    pub(super) fn get(&self, name: &str) -> Option<usize> {
        match &self.many {
            Some(m) => m.get(name).map(|i| i as usize),
            None => {
                // A plain loop: as `Iterator::find` the scan was a call in
                // some builds.
                for (n, i) in &self.few {
                    if crate::json::same(n.as_bytes(), name.as_bytes()) {
                        return Some(*i);
                    }
                }
                None
            }
        }
    }
}

/// One keyed group's values to their entries. A group keyed on the
/// classification whose every value is a declared classification is also
/// indexed by classification (`by_class`): the request's was found once,
/// and a classification that is not declared equals none of the values.
#[derive(Debug, Default)]
pub(super) struct Keys {
    pub(super) names: Names,
    pub(super) by_class: Option<Vec<Option<usize>>>,
}

impl Keys {
    pub(super) fn new(p: &Program, group: &crate::ir::KeyedRules, classes: &Names) -> Keys {
        let names = Names::new(
            group
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| (v.value.clone(), i)),
        );
        let by_class = (group.field == Field::Classification)
            .then(|| {
                let mut by = vec![None; p.classifications.len()];
                for (i, v) in group.values.iter().enumerate() {
                    let slot = by.get_mut(classes.get(&v.value)?)?;
                    // The first of equal values, as `names` has it.
                    slot.get_or_insert(i);
                }
                Some(by)
            })
            .flatten();
        Keys { names, by_class }
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    /// A name is found, the first of equal names winning, in the short
    /// list and in the hash map alike.
    #[test]
    fn names_first_wins() {
        let few = ["store", "access", "replicate", "", "a", "b", "store"];
        let many: Vec<String> = (0..40)
            .map(|i| format!("n{i}"))
            .chain(["n3".into()])
            .collect();
        for list in [few.iter().map(|s| s.to_string()).collect::<Vec<_>>(), many] {
            let names = Names::new(list.iter().cloned().zip(0..));
            for (i, n) in list.iter().enumerate() {
                let first = list.iter().position(|x| x == n);
                assert_eq!(names.get(n), first, "{n} at {i}");
            }
            for absent in ["stor", "storee", "c", "x".repeat(40).as_str(), "n99"] {
                assert_eq!(names.get(absent), None, "{absent}");
            }
        }
    }
}
