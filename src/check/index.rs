//! The action/key index: an IR→IR pass over a checked program.
//!
//! Input: a [`Program`] whose rules carry their conditions and the actions
//! they are restricted to. Output: the same program with `actions` (sorted)
//! and `by_action` filled: per action, the unkeyed forbids and permits, and
//! the keyed groups (a request field → the rules that require each of a few
//! constant values of it). Invariant: a rule is indexed under every action
//! it can apply to, and under a key value only when one of its top-level
//! conjuncts requires that value, so skipping the rest changes no decision.

use crate::ir::*;
use crate::vocab::{CmpOp, Effect};
use std::collections::BTreeSet;

fn node(p: &Program, id: NodeId) -> Option<&Node> {
    p.nodes.get(id as usize)
}

fn konst(p: &Program, id: NodeId) -> Option<&Const> {
    match node(p, id) {
        Some(Node::Const(c)) => Some(c),
        _ => None,
    }
}

/// The top-level conjuncts of a condition (the condition itself when it is
/// not an `and`).
pub(super) fn conjuncts(p: &Program, cond: NodeId) -> Vec<NodeId> {
    match node(p, cond) {
        Some(Node::And { start, len }) => {
            let s = *start as usize;
            p.args.get(s..s + *len as usize).unwrap_or(&[]).to_vec()
        }
        _ => vec![cond],
    }
}

/// The actions a condition restricts its rule to (from its top-level
/// conjuncts on `action`), or `None` when it applies to any action.
/// The conditions (by atom) of a rule's condition that the index checks
/// before the rule is considered: its top-level conjuncts on `action`, and
/// the one it is keyed on. When the rule is considered they hold, so test
/// coverage does not ask to see them false.
pub fn guaranteed_atoms(p: &Program, cond: NodeId) -> Vec<u32> {
    let atom_of = |n: NodeId| match node(p, n) {
        Some(Node::Cmp { atom, .. }) => Some(*atom),
        _ => None,
    };
    let mut out: Vec<u32> = conjuncts(p, cond)
        .into_iter()
        .filter(|c| {
            matches!(node(p, *c), Some(Node::Cmp { lhs, .. })
                if matches!(node(p, *lhs), Some(Node::Load(Field::Action))))
        })
        .filter_map(atom_of)
        .collect();
    out.extend(keyed_conjunct(p, cond).and_then(|(c, _, _)| atom_of(c)));
    out
}

pub(super) fn action_constraint(p: &Program, cond: NodeId) -> Option<Vec<Sym>> {
    let conjuncts = conjuncts(p, cond);
    let mut acc: Option<BTreeSet<Sym>> = None;
    for c in conjuncts {
        let Some(Node::Cmp { op, lhs, rhs, .. }) = node(p, c) else {
            continue;
        };
        if !matches!(node(p, *lhs), Some(Node::Load(Field::Action))) {
            continue;
        }
        let set: BTreeSet<Sym> = match (op, konst(p, *rhs)) {
            (CmpOp::Eq, Some(Const::Str(s))) => [*s].into_iter().collect(),
            (CmpOp::In, Some(Const::Set(i))) => match p.sets.get(*i as usize).map(|s| &s.value) {
                Some(SetValue::Strings(v)) => v.iter().copied().collect(),
                _ => continue,
            },
            _ => continue,
        };
        acc = Some(match acc {
            None => set,
            Some(a) => a.intersection(&set).copied().collect(),
        });
    }
    acc.map(|s| s.into_iter().collect())
}

/// The most selective key of a rule: a top-level condition that a request
/// field equals one of a few constant values.
fn rule_key(p: &Program, cond: NodeId) -> Option<(Field, Vec<String>)> {
    keyed_conjunct(p, cond).map(|(_, f, v)| (f, v))
}

/// The conjunct a rule is keyed on, with its field and values.
fn keyed_conjunct(p: &Program, cond: NodeId) -> Option<(NodeId, Field, Vec<String>)> {
    let conjuncts = conjuncts(p, cond);
    let rank = |f: &Field| -> Option<u8> {
        Some(match f {
            Field::ResourceId => 0,
            Field::PrincipalId => 1,
            Field::Extra(i) => {
                let x = p.extras.get(*i as usize)?;
                if x.root == ExtraRoot::Grant {
                    return None;
                }
                2
            }
            Field::SourceRegionId | Field::TargetRegionId => 3,
            Field::Purpose => 4,
            Field::Classification => 5,
            Field::Residency => 6,
            Field::HomeCountry => 7,
            Field::PrincipalCountry => 8,
            _ => return None,
        })
    };
    let mut best: Option<(u8, NodeId, Field, Vec<String>)> = None;
    for c in conjuncts {
        let Some(Node::Cmp { op, lhs, rhs, .. }) = node(p, c) else {
            continue;
        };
        let (load, konst) = match (node(p, *lhs), konst(p, *rhs), node(p, *rhs), konst(p, *lhs)) {
            (Some(Node::Load(f)), Some(k), _, _) => (*f, k),
            (_, _, Some(Node::Load(f)), Some(k)) if *op == CmpOp::Eq => (*f, k),
            _ => continue,
        };
        let Some(r) = rank(&load) else { continue };
        let values: Vec<String> = match (op, konst) {
            (CmpOp::Eq, Const::Str(s)) => vec![p.sym(*s).to_string()],
            (CmpOp::Eq, Const::Country(c)) => vec![c.to_string()],
            (CmpOp::In, Const::Set(i)) => match p.sets.get(*i as usize).map(|s| &s.value) {
                Some(SetValue::Strings(v)) if !v.is_empty() && v.len() <= 64 => {
                    v.iter().map(|s| p.sym(*s).to_string()).collect()
                }
                Some(SetValue::Countries(cs)) if !cs.is_empty() && cs.len() <= 64 => {
                    cs.iter().map(|c| c.to_string()).collect()
                }
                _ => continue,
            },
            _ => continue,
        };
        if best.as_ref().is_none_or(|(br, _, _, _)| r < *br) {
            best = Some((r, c, load, values));
        }
    }
    best.map(|(_, c, f, v)| (c, f, v))
}

pub(crate) fn build(p: &mut Program) {
    let mut actions: BTreeSet<Sym> = BTreeSet::new();
    for r in &p.rules {
        actions.extend(r.actions.iter().flatten().copied());
    }
    let mut actions: Vec<Sym> = actions.into_iter().collect();
    actions.sort_by(|a, b| p.sym(*a).cmp(p.sym(*b)));
    let keys: Vec<Option<(Field, Vec<String>)>> = p
        .rules
        .iter()
        .map(|r| r.cond.and_then(|c| rule_key(p, c)))
        .collect();
    let mut by_action = vec![ActionRules::default(); actions.len() + 1];
    // Each value's entry, found by hash; sorted by value once at the end.
    type Entries<'k> = rustc_hash::FxHashMap<&'k str, KeyedEntry>;
    let mut keyed: Vec<Vec<(Field, Entries)>> = vec![Vec::new(); by_action.len()];
    for (i, r) in p.rules.iter().enumerate() {
        let key = keys.get(i).and_then(Option::as_ref);
        for (ai, entry) in by_action.iter_mut().enumerate() {
            let applies = match (&r.actions, actions.get(ai)) {
                (None, _) => true,
                (Some(list), Some(a)) => list.contains(a),
                (Some(_), None) => false,
            };
            if !applies {
                continue;
            }
            let forbid = r.effect == Effect::Forbid;
            let Some((field, values)) = key else {
                if forbid {
                    entry.forbids.push(i as u32)
                } else {
                    entry.permits.push(i as u32)
                }
                continue;
            };
            // Values gathered in a sorted map, laid out as a sorted list at
            // the end: inserting each into the sorted list moved the list's
            // tail every time (quadratic: 100,000 keyed rules spent most of
            // their compile moving it).
            let Some(groups) = keyed.get_mut(ai) else {
                continue;
            };
            let group = match groups.iter().position(|(f, _)| f == field) {
                Some(g) => g,
                None => {
                    groups.push((*field, Entries::default()));
                    groups.len() - 1
                }
            };
            let Some((_, entries)) = groups.get_mut(group) else {
                continue;
            };
            for v in values {
                let e = entries.entry(v.as_str()).or_insert_with(|| KeyedEntry {
                    value: v.clone(),
                    forbids: Vec::new(),
                    permits: Vec::new(),
                });
                if forbid {
                    e.forbids.push(i as u32)
                } else {
                    e.permits.push(i as u32)
                }
            }
        }
    }
    for (entry, groups) in by_action.iter_mut().zip(keyed) {
        entry.keyed = groups
            .into_iter()
            .map(|(field, entries)| {
                let mut values: Vec<KeyedEntry> = entries.into_values().collect();
                values.sort_unstable_by(|a, b| a.value.cmp(&b.value));
                KeyedRules { field, values }
            })
            .collect();
    }
    p.actions = actions;
    p.by_action = by_action;
}

#[cfg(test)]
mod tests {
    use crate::source::Sources;

    #[test]
    fn rules_are_indexed_by_action_and_by_their_most_selective_key() {
        let mut s = Sources::default();
        s.add(
            "t.sov",
            r#"package t
permit any_store when action == store because "a"
forbid one_dataset when action in [store, access] and resource.id == "ds-1" because "b"
permit everywhere when purpose == "support" because "c"
"#,
        );
        let p = crate::check::check(&s).expect("compiles");
        let names: Vec<&str> = p.actions.iter().map(|a| p.sym(*a)).collect();
        assert_eq!(names, ["access", "store"], "sorted");
        let store = &p.by_action[1];
        assert_eq!(store.permits, [0], "unkeyed");
        assert_eq!(store.forbids, Vec::<u32>::new());
        let ids: Vec<(&str, &[u32])> = store
            .keyed
            .iter()
            .flat_map(|k| k.values.iter().map(|v| (v.value.as_str(), &v.forbids[..])))
            .collect();
        assert!(ids.contains(&("ds-1", &[1][..])), "{ids:?}");
        // `access` has the keyed forbid but not the store-only permit.
        let access = &p.by_action[0];
        assert!(access.permits.is_empty());
        // A rule for any action is in every entry, and in the one for
        // actions no rule names (the last).
        for entry in &p.by_action {
            let keyed_permits: Vec<u32> = entry
                .keyed
                .iter()
                .flat_map(|k| k.values.iter().flat_map(|v| v.permits.iter().copied()))
                .collect();
            assert!(keyed_permits.contains(&2), "{entry:?}");
        }
        assert_eq!(p.by_action.len(), 3);
    }

    /// A keyed group's values are in the order of their text, whatever the
    /// order of the rules (the IR and its hash depend on it).
    #[test]
    fn keyed_values_are_sorted() {
        let mut s = Sources::default();
        let mut text = String::from("package t\n");
        for i in [7, 3, 12, 0, 25, 3, 9, 1, 30, 18] {
            text.push_str(&format!(
                "forbid f{i}_{} when resource.id == \"ds-{i}\"\n",
                text.len()
            ));
        }
        s.add("t.sov", text);
        let p = crate::check::check(&s).expect("compiles");
        for entry in &p.by_action {
            for k in &entry.keyed {
                let values: Vec<&str> = k.values.iter().map(|v| v.value.as_str()).collect();
                let mut sorted = values.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(values, sorted);
                assert_eq!(values.len(), 9, "{values:?}");
            }
        }
    }
}
