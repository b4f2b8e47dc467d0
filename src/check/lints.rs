//! Warnings about what authors get wrong: conditions that fail open.
//!
//! A `!=` or `not in` on a value a request may lack is false without it, so
//! a forbid built on one does not apply to such a request. It is guarded
//! when the same condition tests the value with `is present`/`is missing`,
//! or when some forbid of the set tests it (or a record holding it, such as
//! `target is missing`): that forbid denies the request instead.

use super::*;
use crate::vocab::Effect;

impl Checker<'_> {
    /// Warns of `!=` and `not in` in a forbid on a value that may be
    /// missing: a missing value makes them false, so the forbid does not
    /// apply to a request without the value (it fails open). A path the
    /// condition also tests with `is present` or `is missing` is guarded.
    pub(super) fn fails_open(&mut self, cond: &Expr) {
        let mut guarded = self.guarded.clone();
        tested(cond, &mut guarded);
        let mut found = Vec::new();
        self.open_comparisons(cond, true, &guarded, &mut found);
        for (condition, path, span) in found {
            let help = format!(
                "write `{path} is missing or {condition}` to forbid a request without it too, or `{path} is present and {condition}` to say it may go through"
            );
            self.warn(
                Diagnostic::warning(CheckError::FailsOpen { condition, path }, span)
                    .label("false when the value is missing")
                    .help(help),
            );
        }
    }

    /// `(condition, path, span)` for each `!=`/`not in` on a path that may
    /// be missing, under an even number of `not`s (`positive`).
    fn open_comparisons(
        &self,
        e: &Expr,
        positive: bool,
        guarded: &[String],
        out: &mut Vec<(String, String, Span)>,
    ) {
        match e {
            Expr::And(items, _) | Expr::Or(items, _) => {
                for i in items {
                    self.open_comparisons(i, positive, guarded, out);
                }
            }
            Expr::Not(inner, _) => self.open_comparisons(inner, !positive, guarded, out),
            Expr::Cmp { op, lhs, rhs, span }
                if positive && matches!(op, CmpOp::Ne | CmpOp::NotIn) =>
            {
                for operand in [lhs, rhs] {
                    let Expr::Path(segs, _) = operand.as_ref() else {
                        continue;
                    };
                    let path: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
                    let text = path.join(".");
                    let covered = (1..=path.len())
                        .any(|n| guarded.contains(&path.get(..n).unwrap_or(&[]).join(".")));
                    if self.may_be_missing(&path) && !covered {
                        out.push((self.text(*span), text, *span));
                        break;
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether a path names a request or region value a request may lack
    /// (not `action`, `now`, a set, a word, or a grant's field).
    fn may_be_missing(&self, path: &[&str]) -> bool {
        let Some(root) = path.first() else {
            return false;
        };
        if self.grant_var.as_deref() == Some(*root) {
            return false;
        }
        matches!(
            *root,
            "principal"
                | "resource"
                | "purpose"
                | "source_region"
                | "target_region"
                | "source"
                | "target"
        )
    }
}

/// The paths the policy set's forbid rules test with `is present`, `is
/// missing` or `is declared`: a forbid elsewhere that denies a request
/// lacking the value (`target is missing`) guards every comparison on it.
pub(super) fn guards(files: &[syntax::File]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        for item in &f.items {
            if let Item::Rule(r) = item {
                if r.effect == syntax::Effect::Forbid {
                    if let Some(w) = &r.when {
                        tested_any(w, &mut out);
                    }
                }
            }
        }
    }
    out
}

fn tested_any(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::And(items, _) | Expr::Or(items, _) => items.iter().for_each(|i| tested_any(i, out)),
        Expr::Not(inner, _) => tested_any(inner, out),
        Expr::Is { expr, .. } => {
            if let Expr::Path(segs, _) = expr.as_ref() {
                out.push(
                    segs.iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                );
            }
        }
        _ => {}
    }
}

/// The paths a condition tests with `is present` or `is missing`.
fn tested(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::And(items, _) | Expr::Or(items, _) => items.iter().for_each(|i| tested(i, out)),
        Expr::Not(inner, _) => tested(inner, out),
        Expr::Is { expr, what, .. } if *what != IsWhat::Declared => {
            if let Expr::Path(segs, _) = expr.as_ref() {
                out.push(
                    segs.iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                );
            }
        }
        _ => {}
    }
}

impl Checker<'_> {
    /// Why a condition's top-level conjuncts cannot all hold, beyond
    /// `action` (which the index reports): one field equal to two values,
    /// equal to a value outside a set it must be in, or missing and
    /// compared.
    pub(super) fn contradiction(&self, cond: NodeId) -> Option<String> {
        let p = &self.prog;
        let text = |atom: u32| p.atoms.get(atom as usize).map_or("?", |a| a.text.as_str());
        let load = |n: NodeId| match self.node(n) {
            Some(Node::Load(f)) => Some(*f),
            _ => None,
        };
        let mut equal: Vec<(Field, Const, u32)> = Vec::new();
        let mut within: Vec<(Field, u32, u32)> = Vec::new();
        let mut missing: Vec<(Field, u32)> = Vec::new();
        let mut compared: Vec<(Field, u32)> = Vec::new();
        for c in index::conjuncts(p, cond) {
            match self.node(c) {
                Some(Node::Cmp {
                    op, lhs, rhs, atom, ..
                }) => {
                    for side in [*lhs, *rhs] {
                        if let Some(f) = load(side) {
                            compared.push((f, *atom));
                        }
                    }
                    let (Some(f), Some(k)) = (load(*lhs), self.konst(*rhs)) else {
                        continue;
                    };
                    if f == Field::Action {
                        continue;
                    }
                    match (op, k) {
                        (CmpOp::Eq, Const::Set(_)) => {}
                        (CmpOp::Eq, k) => equal.push((f, k.clone(), *atom)),
                        (CmpOp::In, Const::Set(s)) => within.push((f, *s, *atom)),
                        _ => {}
                    }
                }
                Some(Node::Is {
                    what: IsWhat::Missing,
                    negated: false,
                    expr,
                    atom,
                }) => {
                    if let Some(f) = load(*expr) {
                        missing.push((f, *atom));
                    }
                }
                _ => {}
            }
        }
        for (i, (f, k, a)) in equal.iter().enumerate() {
            if let Some((_, _, b)) = equal.iter().skip(i + 1).find(|(g, l, _)| g == f && l != k) {
                return Some(format!(
                    "`{}` and `{}` cannot both hold",
                    text(*a),
                    text(*b)
                ));
            }
            for (_, s, b) in within.iter().filter(|(g, _, _)| g == f) {
                let inside = match (k, p.sets.get(*s as usize).map(|s| &s.value)) {
                    (Const::Str(x), Some(SetValue::Strings(v))) => v.contains(x),
                    (Const::Country(c), Some(SetValue::Countries(cs))) => cs.contains(*c),
                    _ => true,
                };
                if !inside {
                    return Some(format!(
                        "`{}` and `{}` cannot both hold",
                        text(*a),
                        text(*b)
                    ));
                }
            }
        }
        for (f, a) in &missing {
            let covers = |g: &Field| {
                g == f || matches!((f, g), (Field::Region(w), Field::RegionField(v, _)) if w == v)
            };
            if let Some((_, b)) = compared.iter().find(|(g, _)| covers(g)) {
                return Some(format!(
                    "`{}` and `{}` cannot both hold: a comparison with a missing value is false",
                    text(*a),
                    text(*b)
                ));
            }
        }
        None
    }
}

impl Checker<'_> {
    /// Warns of permits a forbid without conditions beyond `action` always
    /// overrides.
    pub(super) fn shadowed(&mut self) {
        let p = &self.prog;
        let unconditional = |r: &RuleDef| {
            r.cond.is_none_or(|c| {
                index::conjuncts(p, c).iter().all(|n| {
                    matches!(self.node(*n), Some(Node::Cmp { lhs, .. })
                        if matches!(self.node(*lhs), Some(Node::Load(Field::Action))))
                })
            })
        };
        let covers = |f: &RuleDef, r: &RuleDef| match (&f.actions, &r.actions) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(fa), Some(ra)) => ra.iter().all(|a| fa.contains(a)),
        };
        // The unconditional forbids, found once: scanning every rule for
        // each permit was quadratic (10,000 rules took seconds to compile).
        let forbids: Vec<(usize, &RuleDef)> = p
            .rules
            .iter()
            .enumerate()
            .filter(|(_, f)| f.effect == Effect::Forbid && unconditional(f))
            .collect();
        let mut found = Vec::new();
        for (pi, permit) in p.rules.iter().enumerate() {
            if permit.effect != Effect::Permit {
                continue;
            }
            let forbid = forbids.iter().find(|(_, f)| covers(f, permit));
            if let Some(&(fi, f)) = forbid {
                found.push((pi, fi, permit.id.clone(), f.id.clone()));
            }
        }
        for (pi, fi, permit, forbid) in found {
            let at = self.rule_spans.get(pi).copied().unwrap_or_default();
            let mut d = Diagnostic::warning(
                CheckError::ShadowedPermit {
                    permit,
                    forbid: forbid.clone(),
                },
                at,
            )
            .label("never takes effect")
            .help(format!(
                "forbid `{forbid}` denies every request this permit could allow: narrow the forbid with a condition, or remove one of them"
            ));
            if let Some(f) = self.rule_spans.get(fi) {
                d = d.also(*f, "overridden by this forbid");
            }
            self.warn(d);
        }
    }
}

/// The actions the contract names (contract.md, "Request").
const CONTRACT_ACTIONS: [&str; 3] = ["store", "replicate", "access"];

impl Checker<'_> {
    /// Warns of an action compared with `action` that is one or two edits
    /// from one of the contract's (`acess`). Other actions a policy names
    /// (`delete`) are its own vocabulary, and are not questioned.
    pub(super) fn action_typos(&mut self, e: &Expr) {
        let mut words: Vec<&Ident> = Vec::new();
        actions_compared(e, &mut words);
        let mut found = Vec::new();
        for w in words {
            // Declared actions are checked against the declaration instead.
            if self.check_declared_action(w) || CONTRACT_ACTIONS.contains(&w.name.as_str()) {
                continue;
            }
            if let Some(close) = super::suggest::closest(&w.name, CONTRACT_ACTIONS.into_iter()) {
                found.push(
                    Diagnostic::warning(
                        CheckError::SuspiciousAction {
                            action: w.name.clone(),
                            suggestion: close.to_string(),
                        },
                        w.span,
                    )
                    .label("not an action of the contract")
                    .help(format!(
                        "did you mean `{close}`? A rule about an action no request names never applies"
                    )),
                );
            }
        }
        for d in found {
            self.warn(d);
        }
    }
}

/// The words compared with `action` (`action == acess`, `action in [a, b]`).
fn actions_compared<'e>(e: &'e Expr, out: &mut Vec<&'e Ident>) {
    match e {
        Expr::And(items, _) | Expr::Or(items, _) => {
            items.iter().for_each(|i| actions_compared(i, out))
        }
        Expr::Not(inner, _) => actions_compared(inner, out),
        Expr::Cmp { lhs, rhs, .. } => {
            let is_action = |x: &Expr| {
                matches!(x, Expr::Path(s, _)
                    if s.len() == 1 && s.first().is_some_and(|f| f.name == "action"))
            };
            for (a, b) in [(lhs, rhs), (rhs, lhs)] {
                if !is_action(a) {
                    continue;
                }
                match b.as_ref() {
                    Expr::Path(s, _) if s.len() == 1 => out.extend(s.first()),
                    Expr::List(items, _) => {
                        for i in items {
                            if let Expr::Path(s, _) = i {
                                if s.len() == 1 {
                                    out.extend(s.first());
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
