//! Lowering: rules, their conditions and messages, typed and emitted into
//! the IR arena in one walk (constants folded on the way).

use super::*;

/// `package.name`.
fn qualified(package: &str, name: &str) -> String {
    let mut id = String::with_capacity(package.len() + 1 + name.len());
    id.push_str(package);
    id.push('.');
    id.push_str(name);
    id
}

impl<'s> Checker<'s> {
    pub(super) fn rules(&mut self, files: &[syntax::File]) {
        let count = files
            .iter()
            .flat_map(|f| &f.items)
            .filter(|i| matches!(i, Item::Rule(_)))
            .count();
        self.prog.rules.reserve(count);
        self.rule_spans.reserve(count);
        // Room for the rules' nodes and conditions made at once: grown a
        // push at a time, the tables were copied as they doubled.
        let (nodes, atoms) = files
            .iter()
            .flat_map(|f| &f.items)
            .filter_map(|i| match i {
                Item::Rule(r) => r.when.as_ref().map(lowered_size),
                _ => None,
            })
            .fold((0, 0), |(n, a), (x, y)| (n + x, a + y));
        // A comparison lowers to a few more nodes than its expressions
        // (a loaded field, a folded constant): a quarter more.
        let nodes = nodes + nodes / 4;
        self.prog.nodes.reserve(nodes);
        self.depths.reserve(nodes);
        self.prog.atoms.reserve(atoms);
        let mut seen: HashMap<String, Span> = HashMap::default();
        seen.reserve(count);
        for (fi, f) in files.iter().enumerate() {
            for item in &f.items {
                let Item::Rule(r) = item else { continue };
                let id = qualified(&f.package.name, &r.name.name);
                let twice = || CheckError::DuplicateRule { id: id.clone() };
                if self.first_of_name(&mut seen, &id, r.name.span, twice, "rule") {
                    self.rule(id, r, fi);
                }
            }
        }
        self.shadowed();
        index::build(&mut self.prog);
        self.assertions(files);
    }

    /// Whether `id` is declared here first (recorded in `seen`); if not,
    /// `twice` is reported, pointing at both.
    fn first_of_name(
        &mut self,
        seen: &mut HashMap<String, Span>,
        id: &str,
        span: Span,
        twice: impl FnOnce() -> CheckError,
        what: &str,
    ) -> bool {
        let Some(first) = seen.get(id).copied() else {
            seen.insert(id.to_string(), span);
            return true;
        };
        let loc = self.sources.path_location(first);
        self.err(
            Diagnostic::new(twice(), span)
                .also(first, "first declared here")
                .label("declared again here")
                .help(format!(
                    "the first is at {loc}; {what} names must be unique within a package"
                )),
        );
        false
    }

    /// Assertions: typed and lowered like a rule's condition, kept apart
    /// from the rules (they claim, they never decide).
    fn assertions(&mut self, files: &[syntax::File]) {
        let mut seen: HashMap<String, Span> = HashMap::default();
        for (fi, f) in files.iter().enumerate() {
            for item in &f.items {
                let Item::Assert(a) = item else { continue };
                let id = qualified(&f.package.name, &a.name.name);
                let twice = || CheckError::DuplicateAssertion { id: id.clone() };
                if !self.first_of_name(&mut seen, &id, a.name.span, twice, "assertion") {
                    continue;
                }
                let warned = self.warnings.len();
                let lowered = self.expr(&a.cond, fi);
                self.action_typos(&a.cond);
                // A warning here (a path outside the schema, an action no
                // rule names: a typo, most often) would make the assertion
                // prove nothing: it is an error.
                for mut w in self.warnings.split_off(warned) {
                    w.severity = crate::diag::Severity::Error;
                    w.help = Some(format!(
                        "{}; in an assertion this is an error, since it would make the assertion prove nothing",
                        w.help.as_deref().unwrap_or("check the spelling")
                    ));
                    self.diags.push(w);
                }
                let Some((cond, t)) = lowered else { continue };
                if self.expect_bool(t, a.cond.span()).is_none() {
                    continue;
                }
                let location = self.sources.location_near(a.span, &mut self.line_hint);
                self.prog.assertions.push(AssertionDef {
                    id,
                    always: a.always,
                    any_grants: a.any_grants,
                    cond,
                    location,
                });
            }
        }
    }

    pub(super) fn rule(&mut self, id: String, r: &syntax::RuleDecl, file: usize) {
        let before = self.diags.len();
        for (clause, span) in &r.repeated {
            self.err(
                Diagnostic::new(
                    CheckError::RepeatedClause {
                        clause,
                        id: id.clone(),
                    },
                    *span,
                )
                .label("given again here")
                .help(format!(
                    "a rule has one `{clause}`: merge the two, or remove one"
                )),
            );
        }
        let cond = r.when.as_ref().and_then(|w| {
            let (n, t) = self.expr(w, file)?;
            self.expect_bool(t, w.span())?;
            Some(n)
        });
        let message = r.because.as_ref().and_then(|m| self.message(m, file));
        if let Some(w) = &r.when {
            self.action_typos(w);
        }
        if r.effect == syntax::Effect::Forbid {
            if let Some(o) = r.obligations.first() {
                self.err(
                    Diagnostic::new(CheckError::ObligationOnForbid { id: id.clone() }, o.span)
                        .label("never reaches a caller")
                        .help("obligations belong on permits: a deny carries none; remove them or move them to the permit they go with"),
                );
            }
            if let Some(w) = &r.when {
                self.fails_open(w);
            }
        }
        self.check_declared_obligations(&r.obligations);
        let obligations = r.obligations.iter().map(|o| self.intern(&o.name)).collect();
        if self.diags.len() > before {
            return;
        }
        let actions = cond.and_then(|c| index::action_constraint(&self.prog, c));
        let contradiction = cond.and_then(|c| self.contradiction(c));
        let never = cond.is_some_and(|c| matches!(self.konst(c), Some(Const::Bool(false))))
            || actions.as_ref().is_some_and(|a| a.is_empty())
            || contradiction.is_some();
        if never {
            let why = if actions.as_ref().is_some_and(|a| a.is_empty()) {
                "its conditions ask for two different actions at once".to_string()
            } else if let Some(why) = contradiction {
                why
            } else {
                "its condition is always false".to_string()
            };
            let span = r.when.as_ref().map_or(r.name.span, Expr::span);
            self.err(
                Diagnostic::new(
                    CheckError::NeverApplies {
                        id: id.clone(),
                        why: why.to_string(),
                    },
                    span,
                )
                .label("never true")
                .help("fix the condition or remove the rule"),
            );
            return;
        }
        let location = self.sources.location_near(r.span, &mut self.line_hint);
        self.rule_spans.push(r.name.span);
        self.prog.rules.push(RuleDef {
            id,
            effect: r.effect,
            cond,
            message,
            obligations,
            location,
            actions,
            cites: r.cites.clone(),
        });
    }

    pub(super) fn expect_bool(&mut self, t: Ty, span: Span) -> Option<()> {
        if matches!(t, Ty::Bool | Ty::Any) {
            return Some(());
        }
        self.err(
            Diagnostic::new(CheckError::NotACondition { found: ty_name(t) }, span)
                .label("not a condition")
                .help("compare it with something: `==`, `!=`, `in`, `satisfies`, `is present`"),
        );
        None
    }

    pub(super) fn message(&mut self, m: &syntax::Message, file: usize) -> Option<u32> {
        let mut parts = Vec::new();
        // Every bad hole is reported, not only the first.
        let mut ok = true;
        for p in &m.parts {
            match p {
                SynPart::Text(t) => parts.push(MessagePart::Text(t.clone())),
                SynPart::Hole(segs, span) => {
                    if segs.iter().any(|s| s.name.is_empty()) {
                        // The braces too, so that an empty `{}` is underlined.
                        let braces = Span {
                            start: span.start.saturating_sub(1),
                            end: span.end + 1,
                            ..*span
                        };
                        self.err(
                            Diagnostic::new(CheckError::EmptyHole, braces)
                                .label("nothing to quote")
                                .help("quote a value with its path, such as `{target.country}`; write `\\{` for a brace"),
                        );
                        continue;
                    }
                    let Some((node, _)) = self.path(segs, *span, file) else {
                        ok = false;
                        continue;
                    };
                    if let Some(Const::Str(_)) = self.konst(node) {
                        let text = self.text(*span);
                        let roots = super::paths::request_fields("");
                        let help = super::suggest::closest(&text, roots.iter().copied()).map_or_else(
                            || "quote a value with its path, such as `{target.country}`; write `\\{` for a brace".to_string(),
                            |c| format!("did you mean `{{{c}}}`?"),
                        );
                        self.warn(
                            Diagnostic::warning(CheckError::HoleNamesNothing { text }, *span)
                                .label("a word, not a value")
                                .help(help),
                        );
                    }
                    parts.push(MessagePart::Value {
                        node,
                        text: self.text(*span),
                    });
                }
            }
        }
        if !ok {
            return None;
        }
        self.prog.messages.push(parts);
        Some((self.prog.messages.len() - 1) as u32)
    }

    pub(super) fn atom(
        &mut self,
        span: Span,
        operands: [Option<&Expr>; 2],
        nodes: [NodeId; 2],
        phrase: String,
    ) -> u32 {
        let text = self.text_prefix(span);
        let location = self.sources.location_near(span, &mut self.line_hint);
        let mut ops = [None, None];
        for (k, (e, n)) in operands.iter().zip(nodes).enumerate() {
            if let (Some(e), false) = (e, self.konst(n).is_some()) {
                if let Some(slot) = ops.get_mut(k) {
                    *slot = Some(self.text(e.span()));
                }
            }
        }
        let phrase = if phrase.is_empty() {
            text.clone()
        } else {
            phrase
        };
        self.prog.atoms.push(Atom {
            text,
            phrase,
            location,
            operands: ops,
        });
        (self.prog.atoms.len() - 1) as u32
    }

    pub(super) fn expr(&mut self, e: &Expr, file: usize) -> Option<(NodeId, Ty)> {
        match e {
            Expr::Unexpected(what, span) => {
                self.err(
                    Diagnostic::new(CheckError::Internal { what }, *span)
                    .label("here")
                    .help("this is a bug in Sovra, not in the policy: please report it with this file; the policy set does not compile until it is fixed"),
                );
                None
            }
            Expr::And(items, _) | Expr::Or(items, _) => {
                let is_and = matches!(e, Expr::And(..));
                let mut kids = Vec::with_capacity(items.len());
                let mut ok = true;
                for it in items {
                    match self.expr(it, file) {
                        Some((n, t)) if self.expect_bool(t, it.span()).is_some() => kids.push(n),
                        _ => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                // Fold constants: `false and x` is false, `true or x` is true.
                let absorbing = !is_and;
                if kids
                    .iter()
                    .any(|k| self.konst(*k) == Some(&Const::Bool(absorbing)))
                {
                    return Some((self.push(Node::Const(Const::Bool(absorbing))), Ty::Bool));
                }
                kids.retain(|k| self.konst(*k) != Some(&Const::Bool(!absorbing)));
                if kids.is_empty() {
                    return Some((self.push(Node::Const(Const::Bool(!absorbing))), Ty::Bool));
                }
                if kids.len() == 1 {
                    return kids.first().map(|k| (*k, Ty::Bool));
                }
                let start = self.prog.args.len() as u32;
                let len = kids.len() as u32;
                self.prog.args.extend(kids);
                let n = if is_and {
                    Node::And { start, len }
                } else {
                    Node::Or { start, len }
                };
                Some((self.push(n), Ty::Bool))
            }
            Expr::Not(inner, _) => {
                let (n, t) = self.expr(inner, file)?;
                self.expect_bool(t, inner.span())?;
                if let Some(Const::Bool(b)) = self.konst(n) {
                    let b = !*b;
                    return Some((self.push(Node::Const(Const::Bool(b))), Ty::Bool));
                }
                let child = match self.node(n) {
                    Some(
                        Node::Cmp { atom, .. }
                        | Node::Is { atom, .. }
                        | Node::Satisfies { atom, .. }
                        | Node::InCountry { atom, .. }
                        | Node::Named { atom, .. }
                        | Node::Exists { atom, .. }
                        | Node::Not {
                            atom: Some(atom), ..
                        },
                    ) => self
                        .prog
                        .atoms
                        .get(*atom as usize)
                        .map(|a| a.phrase.clone()),
                    _ => None,
                };
                let child = child.unwrap_or_else(|| self.phrase_of(inner));
                let phrase = match child.strip_prefix("a valid grant exists") {
                    Some(rest) => format!("no valid grant exists{rest}"),
                    None => format!("not ({child})"),
                };
                // Every negation is one line of the trace, with its own result;
                // its text and phrase are capped, so a chain of `not`s does
                // not copy the text beneath each level again.
                let atom = self.atom(e.span(), [None, None], [n, n], cap(phrase));
                if let Some(a) = self.prog.atoms.get_mut(atom as usize) {
                    a.text = cap(std::mem::take(&mut a.text));
                }
                let atom = Some(atom);
                Some((self.push(Node::Not { expr: n, atom }), Ty::Bool))
            }
            Expr::Exists { var, cond, span } => {
                if self.grant_var.is_some() {
                    self.err(
                        Diagnostic::new(CheckError::NestedExists, *span)
                            .label("nested")
                            .help("state every condition on the grant in one `where` clause"),
                    );
                    return None;
                }
                self.grant_var = Some(var.name.clone());
                let c = match cond {
                    Some(c) => {
                        let r = self
                            .expr(c, file)
                            .and_then(|(n, t)| self.expect_bool(t, c.span()).map(|_| n));
                        if r.is_none() {
                            self.grant_var = None;
                            return None;
                        }
                        r
                    }
                    None => None,
                };
                let phrase = match cond {
                    Some(c) => format!("a valid grant exists where {}", self.phrase_of(c)),
                    None => "a valid grant exists".to_string(),
                };
                self.grant_var = None;
                let atom = self.atom(*span, [None, None], [0, 0], phrase);
                Some((self.push(Node::Exists { cond: c, atom }), Ty::Bool))
            }
            Expr::Is {
                expr,
                negated,
                what,
                span,
            } => {
                let (n, t) = self.expr(expr, file)?;
                if *what == IsWhat::Declared && !matches!(t, Ty::Str(Kind::Class) | Ty::Profile) {
                    self.err(
                        Diagnostic::new(CheckError::NotDeclarable { found: ty_name(t) }, expr.span())
                            .label("neither a classification nor a profile")
                            .help("write `resource.classification is declared` or `resource.residency is declared`"),
                    );
                    return None;
                }
                let phrase = self.phrase_of(e);
                let atom = self.atom(*span, [Some(expr), None], [n, n], phrase);
                Some((
                    self.push(Node::Is {
                        what: *what,
                        negated: *negated,
                        expr: n,
                        atom,
                    }),
                    Ty::Bool,
                ))
            }
            Expr::Cmp { op, lhs, rhs, span } => self.compare(*op, lhs, rhs, *span, file),
            Expr::Call { name, args, span } => self.call(name, args, *span, file),
            Expr::Arith { op, lhs, rhs, span } => self.arith(*op, lhs, rhs, *span, file),
            Expr::Path(segs, span) => self.path(segs, *span, file),
            Expr::Lit(l, span) => {
                let (c, t) = match l {
                    Lit::Bool(b) => (Const::Bool(*b), Ty::Bool),
                    Lit::Number(x) if !x.is_finite() => {
                        self.err(
                            Diagnostic::new(
                                CheckError::NumberTooLarge {
                                    text: cap_chars(&self.text(*span), 16),
                                },
                                *span,
                            )
                            .label("not a finite number")
                            .help(format!(
                                "numbers are 64-bit floating point: at most about {:e}",
                                f64::MAX
                            )),
                        );
                        return None;
                    }
                    Lit::Number(x) => (Const::Num(*x), Ty::Num),
                    Lit::Str(s) => (Const::Str(self.intern(s)), Ty::Str(Kind::Plain)),
                    Lit::Time(t) => (Const::Time(*t), Ty::Time),
                    Lit::Subdivision(text) => {
                        if let Err(why) = Country::parse_subdivision(text) {
                            self.err(
                                Diagnostic::new(
                                    CheckError::InvalidSubdivision { text: text.clone() },
                                    *span,
                                )
                                .label("not a subdivision code")
                                .help(why),
                            );
                            return None;
                        }
                        (Const::Str(self.intern(text)), Ty::Subdivision)
                    }
                    Lit::Duration(d) => (Const::Duration(*d), Ty::Duration),
                    Lit::InvalidTime(s) => {
                        self.err(
                            Diagnostic::new(
                                CheckError::InvalidTime {
                                    text: s.to_string(),
                                },
                                *span,
                            )
                            .label("not a real instant")
                            .help("write an RFC 3339 time such as `2026-01-01T00:00:00Z`"),
                        );
                        return None;
                    }
                };
                Some((self.push(Node::Const(c)), t))
            }
            Expr::List(items, span) => {
                let v = self.literal_list(items)?;
                let t = match v {
                    SetVal::Countries(_) => Elem::Countries,
                    SetVal::Strings(_) => Elem::Strings,
                    SetVal::Empty => Elem::Empty,
                };
                let idx = self.add_set(self.text(*span), &v);
                Some((self.push(Node::Const(Const::Set(idx))), Ty::Set(t)))
            }
        }
    }

    pub(super) fn arith(
        &mut self,
        op: AddOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        file: usize,
    ) -> Option<(NodeId, Ty)> {
        let l = self.expr(lhs, file);
        let r = self.expr(rhs, file);
        let ((ln, lt), (rn, rt)) = (l?, r?);
        let add = op == AddOp::Add;
        match (lt, rt) {
            (Ty::Set(_), Ty::Set(_)) => {
                let a = self.set_of_node(ln)?;
                let b = self.set_of_node(rn)?;
                let v = self.combine(a, b, add, span)?;
                let t = match v {
                    SetVal::Countries(_) => Elem::Countries,
                    SetVal::Strings(_) => Elem::Strings,
                    SetVal::Empty => Elem::Empty,
                };
                let idx = self.add_set(self.text(span), &v);
                Some((self.push(Node::Const(Const::Set(idx))), Ty::Set(t)))
            }
            // The time between two instants: `now - g.valid_from`.
            (Ty::Time, Ty::Time) | (Ty::Time, Ty::Any) | (Ty::Any, Ty::Time) if !add => Some((
                self.push(Node::Arith {
                    op: Arith::Sub,
                    lhs: ln,
                    rhs: rn,
                }),
                Ty::Duration,
            )),
            (Ty::Time | Ty::Any, Ty::Duration) => {
                let op = if add { Arith::Add } else { Arith::Sub };
                Some((
                    self.push(Node::Arith {
                        op,
                        lhs: ln,
                        rhs: rn,
                    }),
                    Ty::Time,
                ))
            }
            (Ty::Duration, Ty::Duration) | (Ty::Num, Ty::Num) => {
                let op = if add { Arith::Add } else { Arith::Sub };
                Some((
                    self.push(Node::Arith {
                        op,
                        lhs: ln,
                        rhs: rn,
                    }),
                    lt,
                ))
            }
            _ => {
                let sym = if add { "+" } else { "-" };
                self.err(
                    Diagnostic::new(CheckError::Arithmetic { op: sym, left: ty_name(lt), right: ty_name(rt) }, span)
                        .label("mismatched operands")
                        .help("`+` and `-` join sets, move a time by a duration (`now - 90d`), give the time between two times (`now - g.valid_from`), or add numbers or durations"),
                );
                None
            }
        }
    }

    /// The value of a constant set node, with spans for its string members.
    pub(super) fn set_of_node(&self, n: NodeId) -> Option<SetVal> {
        let Some(Const::Set(i)) = self.konst(n) else {
            return None;
        };
        Some(match &self.prog.sets.get(*i as usize)?.value {
            SetValue::Countries(c) => SetVal::Countries(*c),
            SetValue::Strings(v) if v.is_empty() => SetVal::Empty,
            SetValue::Strings(v) => SetVal::Strings(
                v.iter()
                    .map(|s| (self.prog.sym(*s).to_string(), Span::default()))
                    .collect(),
            ),
        })
    }

    pub(super) fn as_country(&mut self, n: NodeId, e: &Expr) -> Option<NodeId> {
        let Some(Const::Str(s)) = self.konst(n) else {
            self.err(
                Diagnostic::new(CheckError::CountryWithString, e.span())
                    .label("a string")
                    .help("compare countries with countries: `principal.country == DE`"),
            );
            return None;
        };
        let text = self.prog.sym(*s).to_string();
        match Country::parse(&text).filter(|c| c.is_assigned()) {
            Some(c) => Some(self.push(Node::Const(Const::Country(c)))),
            None => {
                self.bad_country(&text, e.span());
                None
            }
        }
    }
}

/// About how many nodes and conditions `e` lowers to: a node an
/// expression (a list one, as the set it becomes), a condition each
/// comparison, test, negation, `exists` and call. Named conditions add
/// more when expanded; this only sizes the tables beforehand.
fn lowered_size(e: &Expr) -> (usize, usize) {
    let sum = |items: &mut dyn Iterator<Item = &Expr>| {
        items
            .map(lowered_size)
            .fold((0, 0), |(n, a), (x, y)| (n + x, a + y))
    };
    let (n, a) = match e {
        Expr::And(items, _) | Expr::Or(items, _) => sum(&mut items.iter()),
        Expr::Not(i, _) => lowered_size(i),
        Expr::Exists { cond, .. } => cond.as_deref().map_or((0, 0), lowered_size),
        Expr::Cmp { lhs, rhs, .. } | Expr::Arith { lhs, rhs, .. } => {
            sum(&mut [&**lhs, &**rhs].into_iter())
        }
        Expr::Is { expr, .. } => lowered_size(expr),
        Expr::Call { args, .. } => sum(&mut args.iter().map(|(_, e)| e)),
        Expr::Path(..) | Expr::Lit(..) | Expr::List(..) | Expr::Unexpected(..) => (0, 0),
    };
    let condition = matches!(
        e,
        Expr::Not(..)
            | Expr::Exists { .. }
            | Expr::Cmp { .. }
            | Expr::Is { .. }
            | Expr::Call { .. }
    );
    (n + 1, a + usize::from(condition))
}
