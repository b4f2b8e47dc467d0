//! Plain words: each condition as a sentence for the trace and the
//! explanation (`the target region's country is in EEA`).
//!
//! Each phrase is written into one reused buffer and copied out at its
//! length: made of parts (`words` of each operand, joined), it cost three
//! or four allocations a comparison, a tenth of checking 10,000 rules.

use super::*;
use crate::ir::schema;

impl<'s> Checker<'s> {
    pub(super) fn cmp_phrase(&self, op: CmpOp, lhs: &Expr, rhs: &Expr) -> String {
        self.phrase_with(|out| self.cmp_phrase_to(op, lhs, rhs, out))
    }

    /// Plain words for a condition.
    pub(super) fn phrase_of(&self, e: &Expr) -> String {
        self.phrase_with(|out| self.phrase_to(e, out))
    }

    /// What `write` writes, made in the checker's scratch buffer and
    /// copied out at its length.
    fn phrase_with(&self, write: impl FnOnce(&mut String)) -> String {
        let mut buf = self.scratch.take();
        buf.clear();
        write(&mut buf);
        let out = buf.as_str().to_owned();
        self.scratch.set(buf);
        out
    }

    fn cmp_phrase_to(&self, op: CmpOp, lhs: &Expr, rhs: &Expr, out: &mut String) {
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
        self.words_to(lhs, out);
        out.push(' ');
        out.push_str(verb);
        out.push(' ');
        self.words_to(rhs, out);
    }

    fn phrase_to(&self, e: &Expr, out: &mut String) {
        let joined = |items: &[Expr], sep: &str, out: &mut String| {
            for (k, i) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(sep);
                }
                self.phrase_to(i, out);
            }
        };
        match e {
            Expr::Cmp { op, lhs, rhs, .. } => self.cmp_phrase_to(*op, lhs, rhs, out),
            Expr::And(items, _) => joined(items, " and ", out),
            Expr::Or(items, _) => {
                out.push('(');
                joined(items, " or ", out);
                out.push(')');
            }
            Expr::Not(i, _) => {
                out.push_str("not (");
                self.phrase_to(i, out);
                out.push(')');
            }
            Expr::Exists { cond, .. } => {
                out.push_str("a valid grant exists");
                if let Some(c) = cond {
                    out.push_str(" where ");
                    self.phrase_to(c, out);
                }
            }
            Expr::Is {
                expr,
                negated,
                what,
                ..
            } => {
                self.words_to(expr, out);
                out.push_str(if *negated { " is not " } else { " is " });
                out.push_str(what.as_str());
            }
            other => self.words_to(other, out),
        }
    }

    /// Plain words for an expression operand.
    fn words_to(&self, e: &Expr, out: &mut String) {
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
                out.push_str("the time since ");
                return self.words_to(rhs, out);
            }
        }
        let Expr::Path(segs, span) = e else {
            return self.text_to(e.span(), out);
        };
        let names: smallvec::SmallVec<[&str; 4]> = segs.iter().map(|s| s.name.as_str()).collect();
        // Names after the first, each with `sep` before it but the first.
        let rest_to = |sep: char, under: bool, rest: &[&str], out: &mut String| {
            for (k, n) in rest.iter().enumerate() {
                if k > 0 {
                    out.push(sep);
                }
                if under {
                    out.extend(n.chars().map(|c| if c == '_' { ' ' } else { c }));
                } else {
                    out.push_str(n);
                }
            }
        };
        if let Some(first) = names.first() {
            let bound = matches!(self.binding(first), Some(calls::Binding::Grant));
            if bound || self.grant_var.as_deref() == Some(*first) {
                out.push_str("the grant's ");
                let rest = names.get(1..).unwrap_or(&[]);
                // A grant's fields are one name each (no dots).
                match rest
                    .first()
                    .filter(|_| rest.len() == 1)
                    .and_then(|one| schema::grant(one))
                {
                    Some(s) => out.push_str(s.words),
                    // The field's name joined by `.`, its `_`s as spaces.
                    None => rest_to('.', true, rest, out),
                }
                return;
            }
        }
        if let Some(s) = schema::request_at(names.iter().copied()) {
            return out.push_str(s.words);
        }
        match names.as_slice() {
            ["source"] => out.push_str("the source region"),
            ["target"] => out.push_str("the target region"),
            [r @ ("source" | "target"), f] => {
                out.push_str("the ");
                out.push_str(r);
                out.push_str(" region's ");
                match schema::region(f) {
                    Some(s) => out.push_str(s.words),
                    None => rest_to(' ', true, &[f], out),
                }
            }
            // An extra field: `the resource's home region`, and a
            // subdivision's `.country` as `the country of …`.
            [root @ ("principal" | "resource" | "request"), rest @ ..] if !rest.is_empty() => {
                let (field, country) = match rest {
                    [field @ .., "country"] if !field.is_empty() => (field, true),
                    _ => (rest, false),
                };
                out.push_str(if country {
                    "the country of the "
                } else {
                    "the "
                });
                out.push_str(root);
                out.push_str("'s ");
                rest_to(' ', true, field, out);
            }
            _ => self.text_to(*span, out),
        }
    }
}
