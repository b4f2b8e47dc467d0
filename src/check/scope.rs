//! Declarations and scope: packages, imports, named sets (resolved in
//! dependency order, cycles reported with every member), classifications
//! and residency profiles.

use super::*;

impl<'s> Checker<'s> {
    pub(super) fn declare(&mut self, files: &[syntax::File]) {
        for (fi, f) in files.iter().enumerate() {
            // Every package can be imported from, whether it declares sets or not.
            self.pkg_sets.entry(f.package.name.clone()).or_default();
            for item in &f.items {
                if let Item::Set { name, .. } = item {
                    let pkg = self.pkg_sets.entry(f.package.name.clone()).or_default();
                    if let Some(&first) = pkg.get(&name.name) {
                        let at = self
                            .set_decls
                            .get(first)
                            .map(|d| d.span)
                            .unwrap_or_default();
                        let loc = self.sources.path_location(at);
                        self.err(
                            Diagnostic::new(
                                CheckError::DuplicateSet {
                                    name: name.name.clone(),
                                    package: f.package.name.clone(),
                                },
                                name.span,
                            )
                            .also(at, "first declared here")
                            .label("declared again here")
                            .help(format!(
                                "the first declaration is at {loc}; rename or remove one"
                            )),
                        );
                        continue;
                    }
                    pkg.insert(name.name.clone(), self.set_decls.len());
                    self.set_decls.push(SetDecl {
                        qname: format!("{}.{}", f.package.name, name.name),
                        file: fi,
                        span: name.span,
                        state: SetState::Todo,
                    });
                }
            }
            let _ = fi;
        }
    }

    pub(super) fn imports(&mut self, files: &[syntax::File]) {
        for f in files {
            let fi = self.scopes.len();
            let mut scope: HashMap<String, usize> = self
                .pkg_sets
                .get(&f.package.name)
                .cloned()
                .unwrap_or_default();
            let mut conds: HashMap<String, usize> = self
                .pkg_conds
                .get(&f.package.name)
                .cloned()
                .unwrap_or_default();
            for u in &f.uses {
                let Some(pkg) = self.pkg_sets.get(&u.package.name).cloned() else {
                    let known: Vec<String> = {
                        let mut v: Vec<String> =
                            files.iter().map(|f| f.package.name.clone()).collect();
                        v.sort();
                        v.dedup();
                        v
                    };
                    let d = Diagnostic::new(
                        CheckError::NoPackage {
                            package: u.package.name.clone(),
                        },
                        u.package.span,
                    )
                    .label("unknown package")
                    .help(suggest(
                        &u.package.name,
                        known.iter().map(String::as_str),
                        "packages in this policy set",
                    ));
                    self.err(d);
                    // Reported here once, not again at every use.
                    for n in &u.names {
                        self.failed_imports.insert((fi, n.name.clone()));
                    }
                    continue;
                };
                let pkg_conds = self
                    .pkg_conds
                    .get(&u.package.name)
                    .cloned()
                    .unwrap_or_default();
                for n in &u.names {
                    match pkg.get(&n.name) {
                        Some(&i) => {
                            scope.insert(n.name.clone(), i);
                            self.imported.push((fi, n.clone(), i));
                        }
                        None if pkg_conds.contains_key(&n.name) => {
                            if let Some(&i) = pkg_conds.get(&n.name) {
                                conds.insert(n.name.clone(), i);
                            }
                        }
                        None => {
                            let names: Vec<&str> = pkg
                                .keys()
                                .chain(pkg_conds.keys())
                                .map(String::as_str)
                                .collect();
                            let d = Diagnostic::new(
                                CheckError::NoSetInPackage {
                                    package: u.package.name.clone(),
                                    name: n.name.clone(),
                                },
                                n.span,
                            )
                            .label("not declared there")
                            .help(suggest(
                                &n.name,
                                names.into_iter(),
                                "its sets",
                            ));
                            self.err(d);
                            self.failed_imports.insert((fi, n.name.clone()));
                        }
                    }
                }
            }
            self.scopes.push(scope);
            self.cond_scopes.push(conds);
        }
    }

    pub(super) fn resolve_set_decl(
        &mut self,
        i: usize,
        files: &[syntax::File],
    ) -> Option<(SetVal, u32)> {
        let decl = self.set_decls.get(i)?;
        match &decl.state {
            SetState::Done(v) => return v.clone(),
            SetState::Active => {
                let span = decl.span;
                let name = decl.qname.clone();
                // The members: the sets being resolved from this one on.
                let from = self.resolving.iter().position(|d| *d == i).unwrap_or(0);
                let mut d = Diagnostic::new(CheckError::Cycle { name }, span)
                    .label("part of a cycle")
                    .help("a set may use other sets, but never (through them) itself");
                for m in self.resolving.get(from + 1..).unwrap_or(&[]) {
                    if let Some(member) = self.set_decls.get(*m) {
                        d = d.also(member.span, format!("`{}` is part of it", member.qname));
                    }
                }
                self.err(d);
                return None;
            }
            SetState::Todo => {}
        }
        let (file, qname) = (decl.file, decl.qname.clone());
        if let Some(d) = self.set_decls.get_mut(i) {
            d.state = SetState::Active;
        }
        self.resolving.push(i);
        let expr = files.get(file).and_then(|f| {
            f.items.iter().find_map(|it| match it {
                Item::Set { name, value }
                    if format!("{}.{}", f.package.name, name.name) == qname =>
                {
                    Some(value)
                }
                _ => None,
            })
        });
        let v = expr.and_then(|e| self.set_expr(e, file, files));
        let out = v.map(|v| {
            let idx = self.add_set(qname, &v);
            (v, idx)
        });
        if let Some(d) = self.set_decls.get_mut(i) {
            d.state = SetState::Done(out.clone());
        }
        self.resolving.pop();
        out
    }

    pub(super) fn add_set(&mut self, name: String, v: &SetVal) -> u32 {
        let value = match v {
            SetVal::Countries(c) => SetValue::Countries(*c),
            SetVal::Empty => SetValue::Strings(Vec::new()),
            SetVal::Strings(items) => {
                let texts: BTreeSet<&str> = items.iter().map(|(s, _)| s.as_str()).collect();
                let texts: Vec<String> = texts.into_iter().map(str::to_string).collect();
                SetValue::Strings(texts.iter().map(|t| self.intern(t)).collect())
            }
        };
        // Equal inline sets (`[store, replicate]` in many rules) share one
        // entry, found by name and value (not by their text, which cost a
        // formatted copy of every set).
        let key = (name, value);
        if let Some(i) = self.set_index.get(&key) {
            return *i;
        }
        let i = self.prog.sets.len() as u32;
        self.prog.sets.push(SetDef {
            name: key.0.clone(),
            value: key.1.clone(),
        });
        self.set_index.insert(key, i);
        i
    }

    pub(super) fn set_expr(
        &mut self,
        e: &SetExpr,
        file: usize,
        files: &[syntax::File],
    ) -> Option<SetVal> {
        match e {
            SetExpr::Name(id) => {
                if let Some(&i) = self.scopes.get(file).and_then(|s| s.get(&id.name)) {
                    self.used.insert((file, i));
                    return self.resolve_set_decl(i, files).map(|(v, _)| v);
                }
                if let Some(c) = self.country_ident(id, false) {
                    return Some(SetVal::Countries([c].into_iter().collect()));
                }
                if self.failed_imports.contains(&(file, id.name.clone())) {
                    return None;
                }
                let names: Vec<String> = self
                    .scopes
                    .get(file)
                    .map(|s| s.keys().cloned().collect())
                    .unwrap_or_default();
                let hint = self.import_hint(&id.name).unwrap_or_else(|| {
                    suggest(&id.name, names.iter().map(String::as_str), "sets in scope")
                });
                self.err(
                    Diagnostic::new(
                        CheckError::UnknownSet {
                            name: id.name.clone(),
                        },
                        id.span,
                    )
                    .label("not declared or imported")
                    .help(hint),
                );
                None
            }
            SetExpr::List(items, _) => self.literal_list(items),
            SetExpr::Union(a, b) | SetExpr::Difference(a, b) => {
                let union = matches!(e, SetExpr::Union(..));
                let l = self.set_expr(a, file, files);
                let r = self.set_expr(b, file, files);
                let (l, r) = (l?, r?);
                self.combine(l, r, union, e.span())
            }
        }
    }

    pub(super) fn combine(
        &mut self,
        l: SetVal,
        r: SetVal,
        union: bool,
        span: Span,
    ) -> Option<SetVal> {
        Some(match (l, r) {
            (SetVal::Countries(a), SetVal::Countries(b)) => {
                SetVal::Countries(if union { a.union(&b) } else { a.difference(&b) })
            }
            (SetVal::Strings(mut a), SetVal::Strings(b)) => {
                if union {
                    a.extend(b);
                } else {
                    a.retain(|(x, _)| !b.iter().any(|(y, _)| y == x));
                }
                SetVal::Strings(a)
            }
            (x, SetVal::Empty) => x,
            (SetVal::Empty, x) => {
                if union {
                    x
                } else {
                    SetVal::Empty
                }
            }
            _ => {
                self.err(
                    Diagnostic::new(CheckError::MixedSets, span)
                        .label("mixed set")
                        .help("use `+` and `-` on sets of the same kind"),
                );
                return None;
            }
        })
    }

    /// A list literal whose members are all literals.
    pub(super) fn literal_list(&mut self, items: &[Expr]) -> Option<SetVal> {
        let mut countries = CountrySet::EMPTY;
        let mut strings = Vec::new();
        let mut ok = true;
        for it in items {
            match it {
                Expr::Path(segs, span) if segs.len() == 1 => {
                    let id = segs.first()?;
                    if let Some(c) = self.country_ident(id, true) {
                        countries.insert(c);
                    } else if is_symbol(&id.name) {
                        strings.push((id.name.clone(), *span));
                    } else if looks_like_country(&id.name) {
                        ok = false; // reported by country_ident
                    } else {
                        ok = false;
                        self.err(
                            Diagnostic::new(CheckError::NotAListValue { name: id.name.clone() }, id.span)
                                .label("not a literal")
                                .help("list members are country codes (`DE`), lower-case words (`store`) or quoted strings"),
                        );
                    }
                }
                Expr::Lit(Lit::Str(s), span) => strings.push((s.clone(), *span)),
                // A subdivision is compared as its code.
                Expr::Lit(Lit::Subdivision(s), span) => match Country::parse_subdivision(s) {
                    Ok(_) => strings.push((s.clone(), *span)),
                    Err(why) => {
                        ok = false;
                        self.err(
                            Diagnostic::new(
                                CheckError::InvalidSubdivision { text: s.clone() },
                                *span,
                            )
                            .label("not a subdivision code")
                            .help(why),
                        );
                    }
                },
                other => {
                    ok = false;
                    self.err(
                        Diagnostic::new(CheckError::NotALiteral, other.span())
                            .label("not a literal")
                            .help("list members are country codes (`DE`), lower-case words (`store`) or quoted strings"),
                    );
                }
            }
        }
        if !ok {
            return None;
        }
        match (countries.is_empty(), strings.is_empty()) {
            (true, true) => Some(SetVal::Empty),
            (false, true) => Some(SetVal::Countries(countries)),
            (true, false) => Some(SetVal::Strings(strings)),
            (false, false) => {
                let span = items.first().map(Expr::span).unwrap_or_default();
                let span = items.last().map_or(span, |l| span.to(l.span()));
                self.err(
                    Diagnostic::new(CheckError::MixedList, span)
                        .label("mixed list")
                        .help("a list holds either country codes or strings; quote nothing in a list of countries"),
                );
                None
            }
        }
    }

    /// A two-letter upper-case name as a country (reporting unassigned codes).
    pub(super) fn country_ident(&mut self, id: &Ident, report: bool) -> Option<Country> {
        if !looks_like_country(&id.name) {
            return None;
        }
        match Country::parse(&id.name).filter(|c| c.is_assigned()) {
            Some(c) => Some(c),
            None => {
                if report {
                    self.bad_country(&id.name, id.span);
                }
                None
            }
        }
    }

    pub(super) fn bad_country(&mut self, text: &str, span: Span) {
        let help = match text {
            "EU" => "`EU` is not a country: import the set (`use geo.{EU}`) or list its members",
            _ => Country::hint(text),
        };
        self.err(
            Diagnostic::new(
                CheckError::InvalidCountry {
                    text: text.to_string(),
                },
                span,
            )
            .label("not a country code")
            .help(help),
        );
    }

    pub(super) fn import_hint(&self, name: &str) -> Option<String> {
        let mut pkgs: Vec<&String> = self
            .pkg_sets
            .iter()
            .filter(|(_, s)| s.contains_key(name))
            .map(|(p, _)| p)
            .collect();
        pkgs.sort();
        pkgs.first().map(|p| {
            format!("package `{p}` declares `{name}`: add `use {p}.{{{name}}}` to this file")
        })
    }

    pub(super) fn declare_classes_and_profiles(&mut self, files: &[syntax::File]) {
        for f in files {
            for item in &f.items {
                if let Item::Classification { name, sensitivity } = item {
                    if let Some(first) = self.classes.get(&name.name).copied() {
                        let loc = self.sources.path_location(first);
                        self.err(
                            Diagnostic::new(CheckError::DuplicateClassification { name: name.name.clone() }, name.span)
                                .also(first, "first declared here")
                                .label("declared again here")
                                .help(format!("the first declaration is at {loc}; classifications are global, declare each once")),
                        );
                        continue;
                    }
                    if !SENSITIVITIES.contains(&sensitivity.name.as_str()) {
                        self.err(
                            Diagnostic::new(
                                CheckError::UnknownSensitivity {
                                    name: sensitivity.name.clone(),
                                },
                                sensitivity.span,
                            )
                            .label("not on the scale")
                            .help(format!(
                                "sensitivity is one of: {}",
                                SENSITIVITIES.join(", ")
                            )),
                        );
                    }
                    self.classes.insert(name.name.clone(), name.span);
                    let n = self.intern(&name.name);
                    let s = self.intern(&sensitivity.name);
                    self.prog.classifications.push(ClassDef {
                        name: n,
                        sensitivity: s,
                    });
                }
            }
        }
        for (fi, f) in files.iter().enumerate() {
            for item in &f.items {
                if let Item::Profile { name, mode, .. } = item {
                    if let Some(first) = self.profiles.get(&name.name).copied() {
                        let loc = self.sources.path_location(first);
                        self.err(
                            Diagnostic::new(CheckError::DuplicateProfile { name: name.name.clone() }, name.span)
                                .also(first, "first declared here")
                                .label("declared again here")
                                .help(format!("the first declaration is at {loc}; profiles are global, declare each once")),
                        );
                        continue;
                    }
                    self.profiles.insert(name.name.clone(), name.span);
                    if let Some(p) = self.profile(name, mode, fi, files) {
                        self.prog.profiles.push(p);
                    }
                }
            }
        }
    }

    pub(super) fn countries_of(
        &mut self,
        e: &SetExpr,
        file: usize,
        files: &[syntax::File],
    ) -> Option<CountrySet> {
        match self.set_expr(e, file, files)? {
            SetVal::Countries(c) => Some(c),
            SetVal::Empty => Some(CountrySet::EMPTY),
            SetVal::Strings(_) => {
                self.err(
                    Diagnostic::new(CheckError::ProfileNeedsCountries, e.span())
                        .label("a set of strings")
                        .help("list country codes (`[DE, FR]`) or name a set of countries (`EEA`)"),
                );
                None
            }
        }
    }

    pub(super) fn profile(
        &mut self,
        name: &Ident,
        mode: &Mode,
        file: usize,
        files: &[syntax::File],
    ) -> Option<ProfileDef> {
        let n = self.intern(&name.name);
        let one = |c: Country| -> CountrySet { [c].into_iter().collect() };
        let p = |mode, primary, any, country, sovereign| ProfileDef {
            name: n,
            mode,
            primary,
            any,
            country,
            sovereign,
            inline: false,
        };
        Some(match mode {
            Mode::SingleCountry(c) | Mode::Sovereign(c) => {
                let Some(k) = self.country_ident(c, true) else {
                    if !looks_like_country(&c.name) {
                        self.bad_country(&c.name, c.span);
                    }
                    return None;
                };
                let kind = if matches!(mode, Mode::Sovereign(_)) {
                    ModeKind::Sovereign
                } else {
                    ModeKind::SingleCountry
                };
                p(kind, one(k), one(k), Some(k), kind == ModeKind::Sovereign)
            }
            Mode::Regional(z) => {
                let z = self.countries_of(z, file, files)?;
                p(ModeKind::Regional, z, z, None, false)
            }
            Mode::Hybrid { primary, secondary } => {
                let a = self.countries_of(primary, file, files);
                let b = self.countries_of(secondary, file, files);
                let (a, b) = (a?, b?);
                let country = if a.len() == 1 { a.iter().next() } else { None };
                p(ModeKind::Hybrid, a, a.union(&b), country, false)
            }
            Mode::ClientOwned => p(
                ModeKind::ClientOwned,
                CountrySet::EMPTY,
                CountrySet::EMPTY,
                None,
                false,
            ),
            Mode::Unrestricted => p(
                ModeKind::Unrestricted,
                CountrySet::all(),
                CountrySet::all(),
                None,
                false,
            ),
        })
    }

    /// Warns of sets no rule or set uses, and imports a file never uses.
    pub(super) fn unused(&mut self) {
        let used_anywhere: HashSet<usize> = self.used.iter().map(|(_, d)| *d).collect();
        let mut found = Vec::new();
        for (i, d) in self.set_decls.iter().enumerate() {
            if !used_anywhere.contains(&i) {
                let name = d.qname.clone();
                found.push(
                    Diagnostic::warning(CheckError::UnusedSet { name }, d.span)
                        .label("never used")
                        .help("use it in a rule or another set, or remove it"),
                );
            }
        }
        for (file, name, decl) in &self.imported {
            if !self.used.contains(&(*file, *decl)) {
                found.push(
                    Diagnostic::warning(
                        CheckError::UnusedImport {
                            name: name.name.clone(),
                        },
                        name.span,
                    )
                    .label("never used here")
                    .help("remove it from the `use` line"),
                );
            }
        }
        for d in found {
            self.warn(d);
        }
    }
}
