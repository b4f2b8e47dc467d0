//! Typing of comparisons: which operand types compare, which literal
//! values a classification, status, mode or sensitivity may take.

use super::*;

impl<'s> Checker<'s> {
    pub(super) fn compare(
        &mut self,
        op: CmpOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        file: usize,
    ) -> Option<(NodeId, Ty)> {
        if op == CmpOp::Satisfies {
            if let Some(done) = self.satisfies_rhs(lhs, rhs, span, file) {
                return done;
            }
        }
        if let (CmpOp::In | CmpOp::NotIn, Expr::List(items, _)) = (op, rhs) {
            if items.iter().any(is_computed) {
                return self.computed_in(op, lhs, rhs, items, span, file);
            }
        }
        let l = self.expr(lhs, file);
        let r = self.expr(rhs, file);
        let ((mut ln, lt), (mut rn, rt)) = (l?, r?);
        let mismatch = |c: &mut Self, why: &str| {
            c.err(
                Diagnostic::new(
                    CheckError::Incomparable {
                        left: ty_name(lt),
                        right: ty_name(rt),
                    },
                    span,
                )
                .label(format!("{} `{}` {}", ty_name(lt), op.as_str(), ty_name(rt)))
                .help(why.to_string()),
            );
        };
        match op {
            CmpOp::Satisfies => {
                if lt != Ty::Region || !matches!(rt, Ty::Profile | Ty::ProfilePrimary) {
                    mismatch(self, "write `target satisfies resource.residency` (or `source`, or `.primary` for the primary copy)");
                    return None;
                }
                let primary_only = rt == Ty::ProfilePrimary;
                let phrase = self.cmp_phrase(op, lhs, rhs);
                let atom = self.atom(span, [Some(lhs), Some(rhs)], [ln, rn], phrase);
                return Some((
                    self.push(Node::Satisfies {
                        region: ln,
                        profile: rn,
                        primary_only,
                        atom,
                    }),
                    Ty::Bool,
                ));
            }
            CmpOp::In | CmpOp::NotIn => {
                let ok = match (lt, rt) {
                    (Ty::Country, Ty::Set(Elem::Countries | Elem::Empty)) => true,
                    (
                        Ty::Subdivision,
                        Ty::Set(Elem::Strings | Elem::Empty) | Ty::List | Ty::Any,
                    ) => true,
                    (Ty::Str(k), Ty::Set(Elem::Strings | Elem::Empty)) => {
                        self.check_kind_set(k, rn, rhs, file);
                        true
                    }
                    (Ty::Profile, Ty::Set(Elem::Strings | Elem::Empty)) => true,
                    (Ty::Any, Ty::Set(_)) => true,
                    (Ty::Str(_) | Ty::Country | Ty::Any, Ty::List | Ty::Any) => true,
                    _ => false,
                };
                if !ok {
                    let help = match (lt, rt) {
                        (Ty::List, _) => "a list is tested member by member: write `any in`, `all in` or `none in` (`principal.roles any in [dpo, admin]`)",
                        (Ty::Subdivision, Ty::Set(Elem::Countries)) => "compare the subdivision's country with countries: `resource.home_region.country in EEA`",
                        _ => "`in` tests a value against a set of the same kind: a country in a set of countries, a string in a set of strings",
                    };
                    mismatch(self, help);
                    return None;
                }
            }
            CmpOp::Eq | CmpOp::Ne => {
                // A quoted country code compared with a country is a country.
                if lt == Ty::Country && rt == Ty::Str(Kind::Plain) {
                    rn = self.as_country(rn, rhs)?;
                } else if rt == Ty::Country && lt == Ty::Str(Kind::Plain) {
                    ln = self.as_country(ln, lhs)?;
                } else {
                    let ok = match (lt, rt) {
                        (Ty::Str(a), Ty::Str(b)) => {
                            self.check_kind_const(a, rn, rhs);
                            self.check_kind_const(b, ln, lhs);
                            true
                        }
                        (Ty::Profile, Ty::Str(_)) => {
                            self.check_profile_const(rn, rhs);
                            true
                        }
                        (Ty::Str(_), Ty::Profile) => {
                            self.check_profile_const(ln, lhs);
                            true
                        }
                        (Ty::Any, t) | (t, Ty::Any) => !matches!(
                            t,
                            Ty::Region | Ty::Set(_) | Ty::Profile | Ty::ProfilePrimary | Ty::Grant
                        ),
                        (Ty::Subdivision, Ty::Str(Kind::Plain))
                        | (Ty::Str(Kind::Plain), Ty::Subdivision) => true,
                        (a, b) => {
                            a == b
                                && matches!(
                                    a,
                                    Ty::Bool
                                        | Ty::Num
                                        | Ty::Country
                                        | Ty::Time
                                        | Ty::Duration
                                        | Ty::Subdivision
                                )
                        }
                    };
                    if !ok {
                        mismatch(self, "compare values of the same kind: countries with countries (`DE`), times with times, strings with strings");
                        return None;
                    }
                }
            }
            CmpOp::AnyIn | CmpOp::AllIn | CmpOp::NoneIn => {
                let ok = matches!(lt, Ty::List | Ty::Any)
                    && matches!(rt, Ty::Set(_) | Ty::List | Ty::Any);
                if !ok {
                    mismatch(self, "`any in`, `all in` and `none in` test the members of a list (`principal.roles any in [dpo, admin]`); for one value write `in`");
                    return None;
                }
            }
            CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Matches => {
                let text = |t: Ty| matches!(t, Ty::Str(_) | Ty::Any);
                if !(text(lt) && text(rt)) {
                    mismatch(self, "`starts_with`, `ends_with` and `matches` compare strings: `resource.id starts_with \"eu-\"`");
                    return None;
                }
                if op == CmpOp::Matches && !matches!(self.konst(rn), Some(Const::Str(_))) {
                    self.err(
                        Diagnostic::new(CheckError::PatternNotLiteral, rhs.span())
                            .label("not a quoted pattern")
                            .help("write the glob as a quoted string: `principal.id matches \"*@example.com\"` (`*` any run of characters, `?` one, `\\*` a star)"),
                    );
                    return None;
                }
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                let ordered = |t: Ty| matches!(t, Ty::Num | Ty::Time | Ty::Duration | Ty::Any);
                if !(ordered(lt) && ordered(rt) && (lt == rt || lt == Ty::Any || rt == Ty::Any)) {
                    mismatch(self, "`<`, `<=`, `>` and `>=` order numbers, times and durations of the same kind");
                    return None;
                }
            }
        }
        if let Some(b) = self.fold_cmp(op, ln, rn) {
            return Some((self.push(Node::Const(Const::Bool(b))), Ty::Bool));
        }
        let phrase = self.cmp_phrase(op, lhs, rhs);
        let atom = self.atom(span, [Some(lhs), Some(rhs)], [ln, rn], phrase);
        Some((
            self.push(Node::Cmp {
                op,
                lhs: ln,
                rhs: rn,
                atom,
            }),
            Ty::Bool,
        ))
    }

    /// `x in [resource.home_country, CN]`: a list that holds request values
    /// is `x == a or x == b` (`not in`: `x != a and x != b`), shown in the
    /// trace as the one comparison written.
    fn computed_in(
        &mut self,
        op: CmpOp,
        lhs: &Expr,
        rhs: &Expr,
        items: &[Expr],
        span: Span,
        file: usize,
    ) -> Option<(NodeId, Ty)> {
        let each = if op == CmpOp::In {
            CmpOp::Eq
        } else {
            CmpOp::Ne
        };
        let parts: Vec<Expr> = items
            .iter()
            .map(|item| Expr::Cmp {
                op: each,
                lhs: Box::new(lhs.clone()),
                rhs: Box::new(item.clone()),
                span,
            })
            .collect();
        let all = if op == CmpOp::In {
            Expr::Or(parts, span)
        } else {
            Expr::And(parts, span)
        };
        let (n, t) = self.expr(&all, file)?;
        if self.konst(n).is_some() {
            return Some((n, t));
        }
        let phrase = self.cmp_phrase(op, lhs, rhs);
        let atom = self.atom(span, [None, None], [n, n], phrase);
        Some((self.push(Node::Named { expr: n, atom }), Ty::Bool))
    }

    /// Compares two constants at compile time where that is simple.
    pub(super) fn fold_cmp(&self, op: CmpOp, l: NodeId, r: NodeId) -> Option<bool> {
        let (a, b) = (self.konst(l)?, self.konst(r)?);
        let eq = match (a, b) {
            (Const::Str(x), Const::Str(y)) => Some(x == y),
            (Const::Country(x), Const::Country(y)) => Some(x == y),
            (Const::Bool(x), Const::Bool(y)) => Some(x == y),
            _ => None,
        };
        match op {
            CmpOp::Eq => eq,
            CmpOp::Ne => eq.map(|e| !e),
            CmpOp::In | CmpOp::NotIn => {
                let Const::Set(i) = b else { return None };
                let set = &self.prog.sets.get(*i as usize)?.value;
                let found = match (a, set) {
                    (Const::Country(c), SetValue::Countries(s)) => s.contains(*c),
                    (Const::Str(x), SetValue::Strings(v)) => v.contains(x),
                    (_, SetValue::Strings(v)) if v.is_empty() => false,
                    _ => return None,
                };
                Some(if op == CmpOp::In { found } else { !found })
            }
            _ => None,
        }
    }

    pub(super) fn allowed(&self, k: Kind) -> Option<(Code, Vec<String>, &'static str)> {
        match k {
            Kind::Class => {
                let mut v: Vec<String> = self.classes.keys().cloned().collect();
                v.sort();
                Some((Code::UnknownClassification, v, "classification"))
            }
            Kind::Status => Some((
                Code::UnknownValue,
                STATUSES.iter().map(|s| s.to_string()).collect(),
                "region status",
            )),
            Kind::Mode => Some((
                Code::UnknownValue,
                ModeKind::ALL.iter().map(|s| s.to_string()).collect(),
                "residency mode",
            )),
            Kind::Sensitivity => Some((
                Code::UnknownValue,
                SENSITIVITIES.iter().map(|s| s.to_string()).collect(),
                "sensitivity",
            )),
            Kind::Plain => None,
        }
    }

    pub(super) fn check_value(&mut self, k: Kind, value: &str, span: Span) {
        let Some((code, allowed, what)) = self.allowed(k) else {
            return;
        };
        if allowed.iter().any(|a| a == value) {
            return;
        }
        let problem = match code {
            Code::UnknownClassification => CheckError::UnknownClassification {
                value: value.to_string(),
            },
            _ => CheckError::UnknownValue {
                what,
                value: value.to_string(),
            },
        };
        let d = Diagnostic::new(problem, span)
            .label(format!("not a declared {what}"))
            .help(suggest(
                value,
                allowed.iter().map(String::as_str),
                &format!("{what}s"),
            ));
        self.err(d);
    }

    pub(super) fn check_kind_const(&mut self, k: Kind, n: NodeId, e: &Expr) {
        if let Some(Const::Str(s)) = self.konst(n) {
            let v = self.prog.sym(*s).to_string();
            self.check_value(k, &v, e.span());
        }
    }

    pub(super) fn check_kind_set(&mut self, k: Kind, n: NodeId, e: &Expr, file: usize) {
        if k == Kind::Plain {
            return;
        }
        // Point at the member in its declaration when the set is named.
        let members: Vec<(String, Span)> = match self.set_members_with_spans(e, file) {
            Some(m) => m,
            None => match self.set_of_node(n) {
                Some(SetVal::Strings(v)) => v.into_iter().map(|(s, _)| (s, e.span())).collect(),
                _ => Vec::new(),
            },
        };
        for (m, sp) in members {
            self.check_value(k, &m, sp);
        }
    }

    /// The members of a list literal, or of the set a name resolves to in
    /// `file`'s scope (its own package and its imports; a qualified name
    /// through its package), each with the span to point at.
    pub(super) fn set_members_with_spans(
        &self,
        e: &Expr,
        file: usize,
    ) -> Option<Vec<(String, Span)>> {
        let segs = match e {
            Expr::Path(segs, _) => segs,
            Expr::List(items, _) => {
                return Some(
                    items
                        .iter()
                        .filter_map(|i| match i {
                            Expr::Path(s, sp) if s.len() == 1 => {
                                s.first().map(|x| (x.name.clone(), *sp))
                            }
                            Expr::Lit(Lit::Str(s), sp) => Some((s.clone(), *sp)),
                            _ => None,
                        })
                        .collect(),
                )
            }
            _ => return None,
        };
        let decl = match segs.split_last()? {
            (name, []) => self.scopes.get(file)?.get(&name.name)?,
            (name, pkg) => {
                let pkg: Vec<&str> = pkg.iter().map(|s| s.name.as_str()).collect();
                self.pkg_sets.get(&pkg.join("."))?.get(&name.name)?
            }
        };
        match &self.set_decls.get(*decl)?.state {
            SetState::Done(Some((SetVal::Strings(v), _))) => Some(v.clone()),
            _ => None,
        }
    }

    pub(super) fn check_profile_const(&mut self, n: NodeId, e: &Expr) {
        if let Some(Const::Str(s)) = self.konst(n) {
            let v = self.prog.sym(*s).to_string();
            if !self.profiles.contains_key(&v) {
                let mut names: Vec<String> = self.profiles.keys().cloned().collect();
                names.sort();
                let d = Diagnostic::new(CheckError::UnknownProfile { name: v.clone() }, e.span())
                    .label("not a declared profile")
                    .help(suggest(&v, names.iter().map(String::as_str), "profiles"));
                self.err(d);
            }
        }
    }
}

/// A list member that is computed from the request (`resource.home_country`),
/// not a literal or a name.
fn is_computed(e: &Expr) -> bool {
    match e {
        Expr::Path(segs, _) => segs.len() > 1,
        Expr::Lit(..) => false,
        _ => true,
    }
}
