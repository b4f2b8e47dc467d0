//! Warnings about what authors get wrong: conditions that fail open.
//!
//! A `!=` or `not in` on a value a request may lack is false without it, so
//! a forbid built on one does not apply to such a request. It is guarded
//! when the same condition tests the value with `is present`/`is missing`,
//! or when some forbid of the set tests it (or a record holding it, such as
//! `target is missing`): that forbid denies the request instead.

use super::*;

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
