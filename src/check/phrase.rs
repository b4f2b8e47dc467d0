//! Plain words: each condition as a sentence for the trace and the
//! explanation (`the target region's country is in EEA`).

use super::*;
use crate::ir::schema;

impl<'s> Checker<'s> {
    pub(super) fn cmp_phrase(&self, op: CmpOp, lhs: &Expr, rhs: &Expr) -> String {
        let verb = match op {
            CmpOp::Eq => "is",
            CmpOp::Ne => "is not",
            CmpOp::Lt => "is less than",
            CmpOp::Le => "is at most",
            CmpOp::Gt => "is more than",
            CmpOp::Ge => "is at least",
            CmpOp::In => "is in",
            CmpOp::NotIn => "is not in",
            CmpOp::Satisfies => "satisfies",
            CmpOp::AnyIn => "has a member in",
            CmpOp::AllIn => "has every member in",
            CmpOp::NoneIn => "has no member in",
            CmpOp::StartsWith => "starts with",
            CmpOp::EndsWith => "ends with",
            CmpOp::Matches => "matches",
        };
        // Made at its length (growing the left side's words reallocated).
        [&*self.words(lhs), " ", verb, " ", &self.words(rhs)].concat()
    }

    /// Plain words for a condition.
    pub(super) fn phrase_of(&self, e: &Expr) -> String {
        match e {
            Expr::Cmp { op, lhs, rhs, .. } => self.cmp_phrase(*op, lhs, rhs),
            Expr::And(items, _) => items
                .iter()
                .map(|i| self.phrase_of(i))
                .collect::<Vec<_>>()
                .join(" and "),
            Expr::Or(items, _) => {
                format!(
                    "({})",
                    items
                        .iter()
                        .map(|i| self.phrase_of(i))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            }
            Expr::Not(i, _) => format!("not ({})", self.phrase_of(i)),
            Expr::Exists { cond: Some(c), .. } => {
                format!("a valid grant exists where {}", self.phrase_of(c))
            }
            Expr::Exists { cond: None, .. } => "a valid grant exists".to_string(),
            Expr::Is {
                expr,
                negated,
                what,
                ..
            } => {
                let w = what.as_str();
                format!(
                    "{} is {}{w}",
                    self.words(expr),
                    if *negated { "not " } else { "" }
                )
            }
            other => self.words(other),
        }
    }

    /// Plain words for an expression operand.
    pub(super) fn words(&self, e: &Expr) -> String {
        // `now - t`: the time since `t` (a duration subtracted stays as written).
        if let Expr::Arith {
            op: AddOp::Sub,
            lhs,
            rhs,
            ..
        } = e
        {
            let now = matches!(&**lhs, Expr::Path(s, _) if s.len() == 1 && s.first().is_some_and(|x| x.name == "now"));
            if now && matches!(&**rhs, Expr::Path(..)) {
                return format!("the time since {}", self.words(rhs));
            }
        }
        let Expr::Path(segs, span) = e else {
            return self.text(e.span());
        };
        let names: smallvec::SmallVec<[&str; 4]> = segs.iter().map(|s| s.name.as_str()).collect();
        if let Some(first) = names.first() {
            let bound = matches!(self.binding(first), Some(calls::Binding::Grant));
            if bound || self.grant_var.as_deref() == Some(*first) {
                let field = names.get(1..).unwrap_or(&[]).join(".");
                let f = match schema::grant(&field) {
                    Some(s) => s.words.to_string(),
                    None => field.replace('_', " "),
                };
                return ["the grant's ", &f].concat();
            }
        }
        if let Some(s) = schema::request_at(names.iter().copied()) {
            return s.words.to_string();
        }
        let w = match names.as_slice() {
            ["source"] => "the source region",
            ["target"] => "the target region",
            [r @ ("source" | "target"), f] => {
                let words =
                    schema::region(f).map_or_else(|| f.replace('_', " "), |s| s.words.into());
                return ["the ", r, " region's ", &words].concat();
            }
            // An extra field: `the resource's home region`, and a
            // subdivision's `.country` as `the country of …`.
            [root @ ("principal" | "resource" | "request"), rest @ ..] if !rest.is_empty() => {
                let (field, country) = match rest {
                    [field @ .., "country"] if !field.is_empty() => (field, true),
                    _ => (rest, false),
                };
                let words = field.join(" ").replace('_', " ");
                let the = if country {
                    "the country of the "
                } else {
                    "the "
                };
                return [the, root, "'s ", &words].concat();
            }
            _ => return self.text(*span),
        };
        w.to_string()
    }
}
