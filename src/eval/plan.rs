//! Each action's rules for the path without a trace, laid out flat, once
//! for each kind of classification a request can carry: each declared
//! classification, one that is not declared, none.
//!
//! The classification is found once per request ([`super::Ctx`]), so a
//! test of it alone (`resource.classification in [identity, …]`, `is
//! declared`, `== "x"`) has one answer for every request of a kind. Here
//! that answer is taken when the engine is built: a rule one of whose
//! tests is false for the kind is left out, a test that is true is dropped,
//! and the rules a group keyed on the classification holds for the kind
//! are merged in (no lookup). What is left, the rules' remaining tests,
//! lies in one array in rule order. A decision runs one plan's steps, then
//! the keyed groups it could not take in (`resource.id == "ds-7"`).
//!
//! Only [`super::run`]'s path without a trace and without the analysis's
//! probe uses plans; the trace visits every rule as written. Each plan
//! gives the decisions the rules' own tests give (`tests/engine.rs`).

use super::fast::{Keys, Test, Text};
use crate::ir::{Field, Program};

/// One rule of a plan: its index and its tests left, `tests[start..end]`
/// of its plan.
#[derive(Clone, Copy, Debug)]
pub(super) struct Step {
    pub(super) rule: u32,
    start: u32,
    end: u32,
}

/// The rules one action visits for one kind of classification.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) forbids: Vec<Step>,
    pub(super) permits: Vec<Step>,
    /// The action's keyed groups looked up for each request: those not
    /// merged in (every group, when the plans are not split by kind).
    pub(super) groups: Vec<usize>,
    tests: Vec<Test>,
}

impl Plan {
    /// Step `s`'s tests (empty: the rule applies).
    #[inline]
    pub(super) fn tests(&self, s: &Step) -> &[Test] {
        self.tests
            .get(s.start as usize..s.end as usize)
            .unwrap_or_default()
    }
}

/// Every action's plans, by action slot and kind.
#[derive(Debug, Default)]
pub(super) struct Plans {
    plans: Vec<Plan>,
    /// Plans per action: the classifications and two (not declared, none),
    /// or one when the program's rules are too many to copy for each kind.
    kinds: usize,
}

/// When the actions' own rules, a step and its tests each, copied once for
/// every kind would pass this many, plans are not split by kind: one plan
/// for each action, its rules' tests as written. (The rules of groups
/// keyed on the classification are not counted: each value's rules go to
/// one kind's plan.)
const BUDGET: usize = 1 << 16;

/// The kind of classification a plan is for.
#[derive(Clone, Copy)]
enum Kind<'p> {
    /// Declared classification `i`, named `name`.
    Declared(usize, &'p str),
    /// Given but not declared.
    Other,
    /// Not given.
    Missing,
    /// Any: nothing folded.
    Any,
}

/// A test's answer for every request of a kind, or the test left to ask.
enum Folded {
    Known(bool),
    Ask(Test),
}

impl Plans {
    pub(super) fn new(
        p: &Program,
        fast: &[Vec<Test>],
        keys: &[Vec<Keys>],
        classes: &super::fast::Names,
    ) -> Plans {
        let own_tests: usize = p
            .by_action
            .iter()
            .flat_map(|e| e.forbids.iter().chain(&e.permits))
            .map(|r| fast.get(*r as usize).map_or(0, Vec::len) + 1)
            .sum();
        let split = own_tests.saturating_mul(p.classifications.len() + 2) <= BUDGET;
        let kinds: Vec<Kind<'_>> = if split {
            // The name a request's text must have to be found as class `i`
            // (the first of equal names: `classes` finds that one).
            let declared = (0..p.classifications.len()).filter_map(|i| {
                let name = p.sym(p.classifications.get(i)?.name);
                Some(match classes.get(name) {
                    Some(j) if j == i => Kind::Declared(i, name),
                    // A later duplicate: no request is found as it.
                    _ => Kind::Other,
                })
            });
            declared.chain([Kind::Other, Kind::Missing]).collect()
        } else {
            vec![Kind::Any]
        };
        let mut plans = Vec::with_capacity(p.by_action.len() * kinds.len());
        for (slot, entry) in p.by_action.iter().enumerate() {
            let keys = keys.get(slot).map_or(&[][..], Vec::as_slice);
            for kind in &kinds {
                plans.push(plan(fast, entry, keys, *kind));
            }
        }
        Plans {
            plans,
            kinds: kinds.len(),
        }
    }

    /// The plan for action slot `slot` and a request whose classification
    /// is declared class `class`, or is `given` but not declared, or not.
    #[inline]
    pub(super) fn get(&self, slot: usize, class: Option<usize>, given: bool) -> Option<&Plan> {
        let kind = if self.kinds == 1 {
            0
        } else {
            match class {
                Some(i) => i,
                None if given => self.kinds - 2,
                None => self.kinds - 1,
            }
        };
        self.plans.get(slot * self.kinds + kind)
    }
}

/// Action entry `entry`'s plan for `kind`.
fn plan(fast: &[Vec<Test>], entry: &crate::ir::ActionRules, keys: &[Keys], kind: Kind<'_>) -> Plan {
    let mut forbids: Vec<u32> = entry.forbids.clone();
    let mut permits: Vec<u32> = entry.permits.clone();
    let mut groups = Vec::new();
    for (gi, group) in entry.keyed.iter().enumerate() {
        let by_class = keys.get(gi).and_then(|k| k.by_class.as_ref());
        match (kind, by_class) {
            // A group keyed on the classification, by declared class: the
            // kind's entry, or none.
            (Kind::Declared(i, _), Some(by)) => {
                if let Some(v) = by
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|v| group.values.get(v))
                {
                    forbids.extend(&v.forbids);
                    permits.extend(&v.permits);
                }
            }
            (Kind::Other | Kind::Missing, Some(_)) => {}
            _ => groups.push(gi),
        }
    }
    // Stable: a rule found twice is visited twice, as the index has it.
    forbids.sort();
    permits.sort();
    let mut out = Plan {
        groups,
        ..Plan::default()
    };
    for (rules, forbid) in [(forbids, true), (permits, false)] {
        for r in rules {
            let start = out.tests.len();
            let mut holds = true;
            for t in fast.get(r as usize).map_or(&[][..], Vec::as_slice) {
                match fold(t, kind) {
                    Folded::Known(true) => {}
                    Folded::Known(false) => holds = false,
                    Folded::Ask(t) => out.tests.push(t),
                }
            }
            if !holds {
                out.tests.truncate(start);
                continue;
            }
            let step = Step {
                rule: r,
                start: start as u32,
                end: out.tests.len() as u32,
            };
            if forbid {
                out.forbids.push(step);
            } else {
                out.permits.push(step);
            }
        }
    }
    out
}

/// Test `t` for every request of `kind`: known when it reads only the
/// classification, as [`super::walk::Eval`]'s `quick` answers it.
fn fold(t: &Test, kind: Kind<'_>) -> Folded {
    let known = match (t, kind) {
        (_, Kind::Any) => None,
        (
            Test::Declared {
                residency: false,
                not,
            },
            _,
        ) => Some(matches!(kind, Kind::Declared(..)) != *not),
        (Test::ClassIn { mask, out }, Kind::Declared(i, _)) => {
            Some((mask.checked_shr(i as u32).unwrap_or(0) & 1 == 1) != *out)
        }
        (Test::ClassIn { out, .. }, Kind::Other) => Some(*out),
        (Test::ClassIn { .. }, Kind::Missing) => Some(false),
        (
            Test::Text {
                field: Text::Classification,
                value,
                ne,
            },
            Kind::Declared(_, name),
        ) => Some(crate::json::same(name.as_bytes(), value.as_bytes()) != *ne),
        (
            Test::Text {
                field: Text::Classification,
                ..
            },
            Kind::Missing,
        ) => Some(false),
        (
            Test::Has {
                field: Field::Classification,
                present,
            },
            Kind::Declared(..) | Kind::Other,
        ) => Some(*present),
        (
            Test::Has {
                field: Field::Classification,
                present,
            },
            Kind::Missing,
        ) => Some(!*present),
        _ => None,
    };
    if let Some(b) = known {
        return Folded::Known(b);
    }
    match t {
        Test::Not(inner) => match fold(inner, kind) {
            Folded::Known(b) => Folded::Known(!b),
            Folded::Ask(t) => Folded::Ask(Test::Not(Box::new(t))),
        },
        Test::All(ts) => fold_list(ts, kind, false, Test::All),
        Test::Any(ts) => fold_list(ts, kind, true, Test::Any),
        t => Folded::Ask(t.clone()),
    }
}

/// `and` (`decisive` false) or `or` (true) of tests `ts` for `kind`: one
/// known to be `decisive` decides it; one known otherwise is dropped.
fn fold_list(ts: &[Test], kind: Kind<'_>, decisive: bool, make: fn(Vec<Test>) -> Test) -> Folded {
    let mut left = Vec::new();
    for t in ts {
        match fold(t, kind) {
            Folded::Known(b) if b == decisive => return Folded::Known(decisive),
            Folded::Known(_) => {}
            Folded::Ask(t) => left.push(t),
        }
    }
    if left.is_empty() {
        Folded::Known(!decisive)
    } else {
        Folded::Ask(make(left))
    }
}
