//! Calls: `count(x)`, and named conditions (`condition recent(g) = …`),
//! declared per package, imported with `use`, and expanded where they are
//! used with their parameters bound to the caller's values.
//!
//! Invariants: a condition never expands inside itself (a cycle is an
//! error naming every member), so expansion terminates; its body is
//! resolved in the scope of the file that declares it, seeing only its own
//! parameters (never the caller's grant variable by accident); the
//! expansion is bounded in depth and size ([`MAX_EXPANDED_NODES`]).

use super::*;

/// The most IR nodes a policy set may expand to.
pub(super) const MAX_EXPANDED_NODES: usize = 1 << 18;

/// A declared named condition.
pub(super) struct CondDecl {
    pub(super) qname: String,
    pub(super) name: Ident,
    pub(super) params: Vec<Ident>,
    pub(super) body: Expr,
    pub(super) file: usize,
}

/// What a parameter of the condition being expanded stands for.
#[derive(Clone)]
pub(super) enum Binding {
    /// The caller's grant variable.
    Grant,
    /// A request path (`target`, `resource.home_country`): spliced in.
    Path(Vec<Ident>),
    /// Any other value, lowered in the caller's scope.
    Value(NodeId, Ty),
}

impl<'s> Checker<'s> {
    /// Records every `condition` declaration by package.
    pub(super) fn declare_conditions(&mut self, files: &[syntax::File]) {
        for (fi, f) in files.iter().enumerate() {
            for item in &f.items {
                let Item::Condition(c) = item else { continue };
                let pkg = self.pkg_conds.entry(f.package.name.clone()).or_default();
                let qname = format!("{}.{}", f.package.name, c.name.name);
                if let Some(&first) = pkg.get(&c.name.name) {
                    let at = self
                        .cond_decls
                        .get(first)
                        .map(|d| d.name.span)
                        .unwrap_or_default();
                    let loc = self.sources.path_location(at);
                    self.err(
                        Diagnostic::new(
                            CheckError::DuplicateCondition { name: qname },
                            c.name.span,
                        )
                        .also(at, "first declared here")
                        .label("declared again here")
                        .help(format!(
                            "the first declaration is at {loc}; rename or remove one"
                        )),
                    );
                    continue;
                }
                pkg.insert(c.name.name.clone(), self.cond_decls.len());
                self.cond_decls.push(CondDecl {
                    qname,
                    name: c.name.clone(),
                    params: c.params.clone(),
                    body: c.body.clone(),
                    file: fi,
                });
            }
        }
    }

    /// What a parameter name stands for inside the body being expanded.
    pub(super) fn binding(&self, name: &str) -> Option<Binding> {
        self.bindings.last()?.get(name).cloned()
    }

    pub(super) fn call(
        &mut self,
        name: &Ident,
        args: &[(Option<Ident>, Expr)],
        span: Span,
        file: usize,
    ) -> Option<(NodeId, Ty)> {
        if let Some(&i) = self.cond_scopes.get(file).and_then(|s| s.get(&name.name)) {
            return self.expand(i, name, args, span, file);
        }
        if name.name == "count" {
            let [(None, arg)] = args else {
                return self.wrong_arguments(name, span, "one list: `count(principal.roles)`");
            };
            let (n, t) = self.expr(arg, file)?;
            if !matches!(t, Ty::List | Ty::Any) {
                self.err(
                    Diagnostic::new(
                        CheckError::Incomparable {
                            left: "`count`",
                            right: ty_name(t),
                        },
                        arg.span(),
                    )
                    .label("not a list")
                    .help("`count` gives the length of a list: `count(principal.roles) >= 2`"),
                );
                return None;
            }
            return Some((self.push(Node::Count { expr: n }), Ty::Num));
        }
        let mut known: Vec<&str> = vec!["count"];
        if let Some(s) = self.cond_scopes.get(file) {
            known.extend(s.keys().map(String::as_str));
        }
        let mut help = suggest(
            &name.name,
            known.into_iter(),
            "conditions and functions here",
        );
        if ModeKind::ALL.contains(&name.name.as_str()) {
            help = format!(
                "a residency mode is written after `satisfies`: `target satisfies {}(…)`",
                name.name
            );
        } else if let Some(hint) = self.import_hint(&name.name) {
            help = hint;
        }
        self.err(
            Diagnostic::new(
                CheckError::UnknownFunction {
                    name: name.name.clone(),
                },
                name.span,
            )
            .label("not a declared condition")
            .help(help),
        );
        None
    }

    fn wrong_arguments(&mut self, name: &Ident, span: Span, want: &str) -> Option<(NodeId, Ty)> {
        self.err(
            Diagnostic::new(
                CheckError::WrongArguments {
                    name: name.name.clone(),
                },
                span,
            )
            .label("these arguments")
            .help(format!("`{}` takes {want}", name.name)),
        );
        None
    }

    /// A named condition expanded at a call: its body lowered with its
    /// parameters bound, shown in the trace by name.
    fn expand(
        &mut self,
        i: usize,
        name: &Ident,
        args: &[(Option<Ident>, Expr)],
        span: Span,
        file: usize,
    ) -> Option<(NodeId, Ty)> {
        let decl = self.cond_decls.get(i)?;
        let (params, body, decl_file, qname) = (
            decl.params.clone(),
            decl.body.clone(),
            decl.file,
            decl.qname.clone(),
        );
        if args.len() != params.len() || args.iter().any(|(l, _)| l.is_some()) {
            let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            let want = match names.len() {
                0 => "no arguments: write it without parentheses".to_string(),
                n => format!("{n} argument(s): ({})", names.join(", ")),
            };
            return self.wrong_arguments(name, span, &want);
        }
        if let Some(from) = self.expanding.iter().position(|d| *d == i) {
            let mut d = Diagnostic::new(CheckError::ConditionCycle { name: qname }, name.span)
                .label("used within itself")
                .help("a condition may use other conditions, but never (through them) itself: evaluation must end");
            for m in self.expanding.get(from..).unwrap_or(&[]) {
                if let Some(member) = self.cond_decls.get(*m) {
                    d = d.also(
                        member.name.span,
                        format!("`{}` is part of it", member.qname),
                    );
                }
            }
            self.err(d);
            return None;
        }
        if self.prog.nodes.len() > MAX_EXPANDED_NODES || self.expanding.len() >= 32 {
            // Reported once: every later use would be past it too.
            if std::mem::replace(&mut self.expansion_failed, true) {
                return None;
            }
            self.err(
                Diagnostic::new(
                    CheckError::ExpansionLimit {
                        name: qname.clone(),
                    },
                    span,
                )
                .label("expanded too far")
                .help("named conditions expand where they are used: use fewer levels, or fewer uses of a large condition"),
            );
            return None;
        }
        // Bind each parameter in the caller's scope.
        let mut frame = HashMap::default();
        for (p, (_, arg)) in params.iter().zip(args) {
            let b = self.bind(arg, file)?;
            frame.insert(p.name.clone(), b);
        }
        self.expanding.push(i);
        self.bindings.push(frame);
        // The body sees its parameters, never the caller's grant variable;
        // an `exists` inside it is still nested if the call is.
        let outer = self.grant_var.take();
        if outer.is_some() {
            self.grant_var = Some(String::new());
        }
        let lowered = self.expr(&body, decl_file);
        let phrase = self.phrase_of(&body);
        self.grant_var = outer;
        self.bindings.pop();
        self.expanding.pop();
        let (n, t) = lowered?;
        self.expect_bool(t, body.span())?;
        if let Some(Const::Bool(_)) = self.konst(n) {
            return Some((n, t));
        }
        let phrase = cap(format!("{}: {phrase}", name.name));
        let atom = self.atom(span, [None, None], [n, n], phrase);
        let named = self.push(Node::Named { expr: n, atom });
        // Each level of expansion nests: stay within what an engine runs.
        if self.depth(named) + 8 > MAX_DEPTH {
            if !std::mem::replace(&mut self.expansion_failed, true) {
                self.err(
                    Diagnostic::new(CheckError::ExpansionLimit { name: qname }, span)
                        .label("nested too deep once expanded")
                        .help(format!("named conditions expand where they are used, and a rule may nest at most {MAX_DEPTH} levels: use fewer levels of conditions within conditions")),
                );
            }
            return None;
        }
        Some((named, Ty::Bool))
    }

    /// What an argument stands for in the body: the caller's grant, a
    /// request path to splice, or a value.
    fn bind(&mut self, arg: &Expr, file: usize) -> Option<Binding> {
        if let Expr::Path(segs, _) = arg {
            let root = segs.first().map(|s| s.name.as_str()).unwrap_or("");
            // A parameter of an enclosing expansion: what it stands for.
            if let Some(b) = self.binding(root) {
                return Some(match b {
                    Binding::Path(mut prefix) => {
                        prefix.extend(segs.iter().skip(1).cloned());
                        Binding::Path(prefix)
                    }
                    Binding::Grant if segs.len() == 1 => Binding::Grant,
                    _ => {
                        let (n, t) = self.expr(arg, file)?;
                        Binding::Value(n, t)
                    }
                });
            }
            if segs.len() == 1 && self.grant_var.as_deref() == Some(root) {
                return Some(Binding::Grant);
            }
            if REQUEST_ROOTS.contains(&root) {
                return Some(Binding::Path(segs.to_vec()));
            }
        }
        let (n, t) = self.expr(arg, file)?;
        Some(Binding::Value(n, t))
    }
}

/// The first words of request paths, which an argument passes through as a path.
const REQUEST_ROOTS: [&str; 10] = [
    "action",
    "now",
    "purpose",
    "principal",
    "resource",
    "request",
    "source",
    "target",
    "source_region",
    "target_region",
];

impl<'s> Checker<'s> {
    /// The right side of `satisfies` when it names a declared profile
    /// (`de-only`) or writes a mode (`sovereign(resource.home_country)`,
    /// `regional(EEA + ADEQUATE)`); `None` for any other form, which the
    /// comparison types as before (`resource.residency`).
    pub(super) fn satisfies_rhs(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        file: usize,
    ) -> Option<Option<(NodeId, Ty)>> {
        let profile = match rhs {
            Expr::Path(segs, _)
                if segs.len() == 1 && self.binding(&segs.first()?.name).is_none() =>
            {
                let name = &segs.first()?.name;
                if !self.profiles.contains_key(name) {
                    return None;
                }
                let sym = self.intern(name);
                let i = self
                    .prog
                    .profiles
                    .iter()
                    .position(|p| p.name == sym && !p.inline);
                // A profile that failed to check was reported where it is declared.
                Ok(i? as u32)
            }
            Expr::Call { name, args, .. } if ModeKind::ALL.contains(&name.name.as_str()) => {
                match self.mode_in_rule(name, args, span, file) {
                    Some(p) => p,
                    None => return Some(None),
                }
            }
            _ => return None,
        };
        let Some((region, rt)) = self.expr(lhs, file) else {
            return Some(None);
        };
        if rt != Ty::Region {
            self.err(
                Diagnostic::new(
                    CheckError::Incomparable {
                        left: ty_name(rt),
                        right: "a residency profile",
                    },
                    lhs.span(),
                )
                .label("not a region")
                .help("`satisfies` asks it of a region: `target satisfies de-only`"),
            );
            return Some(None);
        }
        let phrase = self.cmp_phrase(CmpOp::Satisfies, lhs, rhs);
        Some(Some(match profile {
            Ok(i) => {
                let p = self.push(Node::Const(Const::Profile(i)));
                let atom = self.atom(span, [Some(lhs), None], [region, p], phrase);
                let n = self.push(Node::Satisfies {
                    region,
                    profile: p,
                    primary_only: false,
                    atom,
                });
                (n, Ty::Bool)
            }
            Err((country, sovereign, arg)) => {
                let atom = self.atom(span, [Some(lhs), Some(arg)], [region, country], phrase);
                let n = self.push(Node::InCountry {
                    region,
                    country,
                    sovereign,
                    atom,
                });
                (n, Ty::Bool)
            }
        }))
    }

    /// A residency mode written in a rule: an inline profile when its
    /// arguments are constants (`Ok(index)`), or, for `single_country` and
    /// `sovereign` of a request value, the country node to compare with
    /// (`Err((node, sovereign, argument))`).
    #[allow(
        clippy::type_complexity,
        reason = "one private call site; the two shapes are spelled out in the doc"
    )]
    fn mode_in_rule<'e>(
        &mut self,
        name: &Ident,
        args: &'e [(Option<Ident>, Expr)],
        span: Span,
        file: usize,
    ) -> Option<Result<u32, (NodeId, bool, &'e Expr)>> {
        let text = self.text(span);
        let label = |i: usize| {
            args.get(i)
                .and_then(|(l, _)| l.as_ref())
                .map(|l| l.name.as_str())
        };
        let kind = match name.name.as_str() {
            "single_country" => ModeKind::SingleCountry,
            "sovereign" => ModeKind::Sovereign,
            "regional" => ModeKind::Regional,
            "hybrid" => ModeKind::Hybrid,
            "client_owned" => ModeKind::ClientOwned,
            _ => ModeKind::Unrestricted,
        };
        let shape_ok = match kind {
            ModeKind::Hybrid => {
                args.len() == 2 && label(0) == Some("primary") && label(1) == Some("secondary")
            }
            ModeKind::ClientOwned | ModeKind::Unrestricted => args.is_empty(),
            _ => args.len() == 1 && label(0).is_none(),
        };
        if !shape_ok {
            let want = match kind {
                ModeKind::Hybrid => "`primary: …, secondary: …`",
                ModeKind::ClientOwned | ModeKind::Unrestricted => "no arguments",
                ModeKind::Regional => "one set of countries",
                _ => "one country",
            };
            self.wrong_arguments(name, span, want);
            return None;
        }
        let mut sets = Vec::new();
        let mut country = None;
        for (_, arg) in args {
            let (n, t) = self.expr(arg, file)?;
            match (kind, t, self.konst(n)) {
                (_, Ty::Country, Some(Const::Country(c))) => {
                    sets.push([*c].into_iter().collect::<CountrySet>());
                    country = Some(*c);
                }
                (ModeKind::Regional | ModeKind::Hybrid, Ty::Set(_), _) => match self.set_of_node(n)
                {
                    Some(SetVal::Countries(c)) => sets.push(c),
                    Some(SetVal::Empty) => sets.push(CountrySet::EMPTY),
                    _ => {
                        self.err(
                            Diagnostic::new(CheckError::ProfileNeedsCountries, arg.span())
                                .label("a set of strings")
                                .help("list country codes (`[DE, FR]`) or name a set of countries (`EEA`)"),
                        );
                        return None;
                    }
                },
                (ModeKind::SingleCountry | ModeKind::Sovereign, Ty::Country | Ty::Any, None) => {
                    return Some(Err((n, kind == ModeKind::Sovereign, arg)));
                }
                _ => {
                    self.wrong_arguments(
                        name,
                        arg.span(),
                        "countries and sets of countries written in the policy, or (for `single_country` and `sovereign`) a country from the request",
                    );
                    return None;
                }
            }
        }
        let primary = sets.first().copied().unwrap_or(CountrySet::EMPTY);
        let any = sets.iter().fold(CountrySet::EMPTY, |a, s| a.union(s));
        let def = ProfileDef {
            name: self.intern(&text),
            mode: kind,
            primary,
            any,
            country: if matches!(kind, ModeKind::Regional) {
                None
            } else {
                country
            },
            sovereign: kind == ModeKind::Sovereign,
            inline: true,
        };
        if let Some(i) = self.prog.profiles.iter().position(|p| *p == def) {
            return Some(Ok(i as u32));
        }
        self.prog.profiles.push(def);
        Some(Ok((self.prog.profiles.len() - 1) as u32))
    }
}
