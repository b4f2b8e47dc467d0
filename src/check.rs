//! Checking: parsed files to a resolved, typed [`Program`].
//!
//! Input: [`Sources`] (every file of a policy set). Output: the decision IR,
//! or every diagnostic found (parse errors of all files; then unknown names,
//! wrong types, unknown classifications, profiles and values, invalid country
//! codes, duplicates, cycles and rules that can never apply). The checker
//! lowers as it resolves: each expression is typed and emitted into the IR
//! arena in one walk, so no name survives into the IR. Invariants: it never
//! stops at the first problem; a returned program has passed every check.

use crate::country::{Country, CountrySet};
use crate::diag::{Code, Diagnostic};
use crate::ir::*;
use crate::source::{Sources, Span};
use crate::syntax::{
    self, AddOp, CmpOp, Effect, Expr, Ident, IsWhat, Item, Lit, MessagePart as SynPart, Mode,
    SetExpr,
};
use std::collections::{BTreeSet, HashMap};

/// Region statuses the regions document may hold.
pub const STATUSES: [&str; 4] = ["active", "degraded", "draining", "offline"];
/// The sensitivity scale of classifications.
pub const SENSITIVITIES: [&str; 5] = ["low", "medium", "high", "critical", "variable"];

/// Checks a policy set and lowers it to the IR.
pub fn check(sources: &Sources) -> Result<Program, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for (i, f) in sources.files.iter().enumerate() {
        match syntax::parse(i as u32, &f.text) {
            Ok(file) => files.push(file),
            Err(mut e) => diags.append(&mut e),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut c = Checker::new(sources);
    c.run(&files);
    if c.diags.is_empty() {
        Ok(c.prog)
    } else {
        let mut seen = std::collections::HashSet::new();
        c.diags.retain(|d| seen.insert((d.span, d.message.clone())));
        Err(c.diags)
    }
}

/// The static type of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Bool,
    Num,
    Str(Kind),
    Country,
    Time,
    Duration,
    Region,
    Profile,
    ProfilePrimary,
    Set(Elem),
    List,
    Any,
    Grant,
}

/// What a string names, so literals compared with it can be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Class,
    Status,
    Mode,
    Sensitivity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    Countries,
    Strings,
    Empty,
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Bool => "a boolean",
        Ty::Num => "a number",
        Ty::Str(Kind::Class) => "a classification",
        Ty::Str(Kind::Status) => "a region status",
        Ty::Str(_) => "a string",
        Ty::Country => "a country",
        Ty::Time => "a time",
        Ty::Duration => "a duration",
        Ty::Region => "a region",
        Ty::Profile | Ty::ProfilePrimary => "a residency profile",
        Ty::Set(Elem::Countries) => "a set of countries",
        Ty::Set(_) => "a set of strings",
        Ty::List => "a list",
        Ty::Any => "a request value",
        Ty::Grant => "a grant",
    }
}

/// A resolved set with the span of each string member (to point at bad ones).
#[derive(Clone, Debug)]
enum SetVal {
    Countries(CountrySet),
    Strings(Vec<(String, Span)>),
    Empty,
}

enum SetState {
    Todo,
    Active,
    Done(Option<(SetVal, u32)>),
}

struct SetDecl {
    qname: String,
    file: usize,
    span: Span,
    state: SetState,
}

/// The longest text or phrase a condition keeps for the trace.
const CAP: usize = 400;

/// `s` cut to at most `n` characters (with `…` when cut).
fn cap_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or("")),
        None => s.to_string(),
    }
}

/// `s` cut to at most [`CAP`] characters (with `…` when cut).
fn cap(s: String) -> String {
    match s.char_indices().nth(CAP) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or("")),
        None => s,
    }
}

struct Checker<'s> {
    sources: &'s Sources,
    diags: Vec<Diagnostic>,
    prog: Program,
    syms: HashMap<String, Sym>,
    /// package → set name → index into `set_decls`.
    pkg_sets: HashMap<String, HashMap<String, usize>>,
    set_decls: Vec<SetDecl>,
    /// per file: visible set names (own package plus imports).
    scopes: Vec<HashMap<String, usize>>,
    classes: HashMap<String, Span>,
    profiles: HashMap<String, Span>,
    extras: HashMap<ExtraPath, u32>,
    /// Sets by name and content, so equal literals share one table entry.
    set_index: HashMap<String, u32>,
    grant_var: Option<String>,
}

impl<'s> Checker<'s> {
    fn new(sources: &'s Sources) -> Self {
        Checker {
            sources,
            diags: Vec::new(),
            prog: Program {
                format: crate::ir::FORMAT,
                files: sources.files.iter().map(|f| f.name.clone()).collect(),
                symbols: Vec::new(),
                sets: Vec::new(),
                classifications: Vec::new(),
                profiles: Vec::new(),
                nodes: Vec::new(),
                args: Vec::new(),
                atoms: Vec::new(),
                extras: Vec::new(),
                messages: Vec::new(),
                rules: Vec::new(),
                actions: Vec::new(),
                by_action: Vec::new(),
            },
            syms: HashMap::new(),
            pkg_sets: HashMap::new(),
            set_decls: Vec::new(),
            scopes: Vec::new(),
            classes: HashMap::new(),
            profiles: HashMap::new(),
            extras: HashMap::new(),
            set_index: HashMap::new(),
            grant_var: None,
        }
    }

    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn intern(&mut self, s: &str) -> Sym {
        if let Some(&i) = self.syms.get(s) {
            return i;
        }
        let i = self.prog.symbols.len() as Sym;
        self.prog.symbols.push(s.to_string());
        self.syms.insert(s.to_string(), i);
        i
    }

    fn push(&mut self, n: Node) -> NodeId {
        self.prog.nodes.push(n);
        (self.prog.nodes.len() - 1) as NodeId
    }

    fn node(&self, id: NodeId) -> Option<&Node> {
        self.prog.nodes.get(id as usize)
    }

    fn konst(&self, id: NodeId) -> Option<&Const> {
        match self.node(id) {
            Some(Node::Const(c)) => Some(c),
            _ => None,
        }
    }

    fn text(&self, span: Span) -> String {
        self.sources
            .text(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The text of a span as [`Checker::text`], reading at most about
    /// [`CAP`] characters of it.
    fn text_prefix(&self, span: Span) -> String {
        let end = span.end.min(span.start.saturating_add(4 * CAP as u32));
        let short = Span { end, ..span };
        let t = self.text(short);
        if end < span.end {
            cap(t + " …")
        } else {
            t
        }
    }

    fn run(&mut self, files: &[syntax::File]) {
        self.declare(files);
        self.imports(files);
        for i in 0..self.set_decls.len() {
            self.resolve_set_decl(i, files);
        }
        self.declare_classes_and_profiles(files);
        self.rules(files);
    }

    // ---- declarations ----------------------------------------------------------

    fn declare(&mut self, files: &[syntax::File]) {
        for (fi, f) in files.iter().enumerate() {
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
                                Code::Duplicate,
                                name.span,
                                format!(
                                    "set `{}` is declared twice in package `{}`",
                                    name.name, f.package.name
                                ),
                            )
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

    fn imports(&mut self, files: &[syntax::File]) {
        for f in files {
            let mut scope: HashMap<String, usize> = self
                .pkg_sets
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
                        Code::Import,
                        u.package.span,
                        format!("no package `{}` declares sets to import", u.package.name),
                    )
                    .label("unknown package")
                    .help(suggest(
                        &u.package.name,
                        known.iter().map(String::as_str),
                        "packages in this policy set",
                    ));
                    self.err(d);
                    continue;
                };
                for n in &u.names {
                    match pkg.get(&n.name) {
                        Some(&i) => {
                            scope.insert(n.name.clone(), i);
                        }
                        None => {
                            let names: Vec<&str> = pkg.keys().map(String::as_str).collect();
                            let d = Diagnostic::new(
                                Code::UnknownName,
                                n.span,
                                format!("package `{}` has no set `{}`", u.package.name, n.name),
                            )
                            .label("not declared there")
                            .help(suggest(
                                &n.name,
                                names.into_iter(),
                                "its sets",
                            ));
                            self.err(d);
                        }
                    }
                }
            }
            self.scopes.push(scope);
        }
    }

    fn resolve_set_decl(&mut self, i: usize, files: &[syntax::File]) -> Option<(SetVal, u32)> {
        let decl = self.set_decls.get(i)?;
        match &decl.state {
            SetState::Done(v) => return v.clone(),
            SetState::Active => {
                let span = decl.span;
                let name = decl.qname.clone();
                self.err(
                    Diagnostic::new(
                        Code::Cycle,
                        span,
                        format!("set `{name}` is defined in terms of itself"),
                    )
                    .label("part of a cycle")
                    .help("a set may use other sets, but never (through them) itself"),
                );
                return None;
            }
            SetState::Todo => {}
        }
        let (file, qname) = (decl.file, decl.qname.clone());
        if let Some(d) = self.set_decls.get_mut(i) {
            d.state = SetState::Active;
        }
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
        out
    }

    fn add_set(&mut self, name: String, v: &SetVal) -> u32 {
        let value = match v {
            SetVal::Countries(c) => SetValue::Countries(*c),
            SetVal::Empty => SetValue::Strings(Vec::new()),
            SetVal::Strings(items) => {
                let texts: BTreeSet<&str> = items.iter().map(|(s, _)| s.as_str()).collect();
                let texts: Vec<String> = texts.into_iter().map(str::to_string).collect();
                SetValue::Strings(texts.iter().map(|t| self.intern(t)).collect())
            }
        };
        // Equal inline sets (`[store, replicate]` in many rules) share one entry.
        let key = format!("{name}\u{0}{value:?}");
        if let Some(i) = self.set_index.get(&key) {
            return *i;
        }
        self.prog.sets.push(SetDef { name, value });
        let i = (self.prog.sets.len() - 1) as u32;
        self.set_index.insert(key, i);
        i
    }

    fn set_expr(&mut self, e: &SetExpr, file: usize, files: &[syntax::File]) -> Option<SetVal> {
        match e {
            SetExpr::Name(id) => {
                if let Some(&i) = self.scopes.get(file).and_then(|s| s.get(&id.name)) {
                    return self.resolve_set_decl(i, files).map(|(v, _)| v);
                }
                if let Some(c) = self.country_ident(id, false) {
                    return Some(SetVal::Countries([c].into_iter().collect()));
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
                        Code::UnknownName,
                        id.span,
                        format!("unknown set `{}`", id.name),
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

    fn combine(&mut self, l: SetVal, r: SetVal, union: bool, span: Span) -> Option<SetVal> {
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
                    Diagnostic::new(
                        Code::Type,
                        span,
                        "cannot combine a set of countries with a set of strings",
                    )
                    .label("mixed set")
                    .help("use `+` and `-` on sets of the same kind"),
                );
                return None;
            }
        })
    }

    /// A list literal whose members are all literals.
    fn literal_list(&mut self, items: &[Expr]) -> Option<SetVal> {
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
                            Diagnostic::new(Code::UnknownName, id.span, format!("`{}` is not a value a list can hold", id.name))
                                .label("not a literal")
                                .help("list members are country codes (`DE`), lower-case words (`store`) or quoted strings"),
                        );
                    }
                }
                Expr::Lit(Lit::Str(s), span) => strings.push((s.clone(), *span)),
                other => {
                    ok = false;
                    self.err(
                        Diagnostic::new(Code::Type, other.span(), "list members must be literals")
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
                    Diagnostic::new(Code::Type, span, "a list mixes country codes and strings")
                        .label("mixed list")
                        .help("a list holds either country codes or strings; quote nothing in a list of countries"),
                );
                None
            }
        }
    }

    /// A two-letter upper-case name as a country (reporting unassigned codes).
    fn country_ident(&mut self, id: &Ident, report: bool) -> Option<Country> {
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

    fn bad_country(&mut self, text: &str, span: Span) {
        let help = match text {
            "EU" => "`EU` is not a country: import the set (`use geo.{EU}`) or list its members",
            _ => Country::hint(text),
        };
        self.err(
            Diagnostic::new(
                Code::InvalidCountry,
                span,
                format!("`{text}` is not an ISO 3166-1 country code"),
            )
            .label("not a country code")
            .help(help),
        );
    }

    fn import_hint(&self, name: &str) -> Option<String> {
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

    fn declare_classes_and_profiles(&mut self, files: &[syntax::File]) {
        for f in files {
            for item in &f.items {
                if let Item::Classification { name, sensitivity } = item {
                    if let Some(first) = self.classes.get(&name.name).copied() {
                        let loc = self.sources.path_location(first);
                        self.err(
                            Diagnostic::new(Code::Duplicate, name.span, format!("classification `{}` is declared twice", name.name))
                                .label("declared again here")
                                .help(format!("the first declaration is at {loc}; classifications are global, declare each once")),
                        );
                        continue;
                    }
                    if !SENSITIVITIES.contains(&sensitivity.name.as_str()) {
                        self.err(
                            Diagnostic::new(
                                Code::UnknownValue,
                                sensitivity.span,
                                format!("unknown sensitivity `{}`", sensitivity.name),
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
                            Diagnostic::new(Code::Duplicate, name.span, format!("profile `{}` is declared twice", name.name))
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

    fn countries_of(
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
                    Diagnostic::new(
                        Code::Type,
                        e.span(),
                        "a residency profile needs a set of countries",
                    )
                    .label("a set of strings")
                    .help("list country codes (`[DE, FR]`) or name a set of countries (`EEA`)"),
                );
                None
            }
        }
    }

    fn profile(
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

    // ---- rules -----------------------------------------------------------------

    fn rules(&mut self, files: &[syntax::File]) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for (fi, f) in files.iter().enumerate() {
            for item in &f.items {
                let Item::Rule(r) = item else { continue };
                let id = format!("{}.{}", f.package.name, r.name.name);
                if let Some(first) = seen.get(&id).copied() {
                    let loc = self.sources.path_location(first);
                    self.err(
                        Diagnostic::new(
                            Code::Duplicate,
                            r.name.span,
                            format!("rule `{id}` is declared twice"),
                        )
                        .label("declared again here")
                        .help(format!(
                            "the first is at {loc}; rule names must be unique within a package"
                        )),
                    );
                    continue;
                }
                seen.insert(id.clone(), r.name.span);
                self.rule(id, r, fi);
            }
        }
        self.build_index();
    }

    fn rule(&mut self, id: String, r: &syntax::RuleDecl, file: usize) {
        let before = self.diags.len();
        let cond = r.when.as_ref().and_then(|w| {
            let (n, t) = self.expr(w, file)?;
            self.expect_bool(t, w.span())?;
            Some(n)
        });
        let message = r.because.as_ref().and_then(|m| self.message(m, file));
        let obligations = r.obligations.iter().map(|o| self.intern(&o.name)).collect();
        if self.diags.len() > before {
            return;
        }
        let actions = cond.and_then(|c| self.action_constraint(c));
        let never = cond.is_some_and(|c| matches!(self.konst(c), Some(Const::Bool(false))))
            || actions.as_ref().is_some_and(|a| a.is_empty());
        if never {
            let why = if actions.as_ref().is_some_and(|a| a.is_empty()) {
                "its conditions ask for two different actions at once"
            } else {
                "its condition is always false"
            };
            let span = r.when.as_ref().map_or(r.name.span, Expr::span);
            self.err(
                Diagnostic::new(
                    Code::NeverApplies,
                    span,
                    format!("rule `{id}` can never apply: {why}"),
                )
                .label("never true")
                .help("fix the condition or remove the rule"),
            );
            return;
        }
        let location = self.sources.location(r.span);
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

    fn expect_bool(&mut self, t: Ty, span: Span) -> Option<()> {
        if matches!(t, Ty::Bool | Ty::Any) {
            return Some(());
        }
        self.err(
            Diagnostic::new(
                Code::Type,
                span,
                format!(
                    "a condition must be true or false, but this is {}",
                    ty_name(t)
                ),
            )
            .label("not a condition")
            .help("compare it with something: `==`, `!=`, `in`, `satisfies`, `is present`"),
        );
        None
    }

    fn message(&mut self, m: &syntax::Message, file: usize) -> Option<u32> {
        let mut parts = Vec::new();
        for p in &m.parts {
            match p {
                SynPart::Text(t) => parts.push(MessagePart::Text(t.clone())),
                SynPart::Hole(segs, span) => {
                    if segs.iter().any(|s| s.name.is_empty()) {
                        self.err(
                            Diagnostic::new(Code::UnknownName, *span, "an empty `{}` in a message")
                                .label("nothing to quote")
                                .help("quote a value with its path, such as `{target.country}`; write `\\{` for a brace"),
                        );
                        continue;
                    }
                    let (node, _) = self.path(segs, *span, file)?;
                    parts.push(MessagePart::Value {
                        node,
                        text: self.text(*span),
                    });
                }
            }
        }
        self.prog.messages.push(parts);
        Some((self.prog.messages.len() - 1) as u32)
    }

    /// The top-level conjuncts of a condition (the condition itself when it is
    /// not an `and`).
    fn conjuncts(&self, cond: NodeId) -> Vec<NodeId> {
        match self.node(cond) {
            Some(Node::And { start, len }) => {
                let s = *start as usize;
                self.prog
                    .args
                    .get(s..s + *len as usize)
                    .unwrap_or(&[])
                    .to_vec()
            }
            _ => vec![cond],
        }
    }

    /// The actions a condition restricts its rule to (from its top-level
    /// conjuncts on `action`), or `None` when it applies to any action.
    fn action_constraint(&self, cond: NodeId) -> Option<Vec<Sym>> {
        let conjuncts = self.conjuncts(cond);
        let mut acc: Option<BTreeSet<Sym>> = None;
        for c in conjuncts {
            let Some(Node::Cmp { op, lhs, rhs, .. }) = self.node(c) else {
                continue;
            };
            if !matches!(self.node(*lhs), Some(Node::Load(Field::Action))) {
                continue;
            }
            let set: BTreeSet<Sym> = match (op, self.konst(*rhs)) {
                (CmpOp::Eq, Some(Const::Str(s))) => [*s].into_iter().collect(),
                (CmpOp::In, Some(Const::Set(i))) => {
                    match self.prog.sets.get(*i as usize).map(|s| &s.value) {
                        Some(SetValue::Strings(v)) => v.iter().copied().collect(),
                        _ => continue,
                    }
                }
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
    fn rule_key(&self, cond: NodeId) -> Option<(Field, Vec<String>)> {
        let conjuncts = self.conjuncts(cond);
        let rank = |f: &Field| -> Option<u8> {
            Some(match f {
                Field::ResourceId => 0,
                Field::PrincipalId => 1,
                Field::Extra(i) => {
                    let x = self.prog.extras.get(*i as usize)?;
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
        let mut best: Option<(u8, Field, Vec<String>)> = None;
        for c in conjuncts {
            let Some(Node::Cmp { op, lhs, rhs, .. }) = self.node(c) else {
                continue;
            };
            let (load, konst) = match (
                self.node(*lhs),
                self.konst(*rhs),
                self.node(*rhs),
                self.konst(*lhs),
            ) {
                (Some(Node::Load(f)), Some(k), _, _) => (*f, k),
                (_, _, Some(Node::Load(f)), Some(k)) if *op == CmpOp::Eq => (*f, k),
                _ => continue,
            };
            let Some(r) = rank(&load) else { continue };
            let values: Vec<String> = match (op, konst) {
                (CmpOp::Eq, Const::Str(s)) => vec![self.prog.sym(*s).to_string()],
                (CmpOp::Eq, Const::Country(c)) => vec![c.to_string()],
                (CmpOp::In, Const::Set(i)) => {
                    match self.prog.sets.get(*i as usize).map(|s| &s.value) {
                        Some(SetValue::Strings(v)) if !v.is_empty() && v.len() <= 64 => {
                            v.iter().map(|s| self.prog.sym(*s).to_string()).collect()
                        }
                        Some(SetValue::Countries(cs)) if !cs.is_empty() && cs.len() <= 64 => {
                            cs.iter().map(|c| c.to_string()).collect()
                        }
                        _ => continue,
                    }
                }
                _ => continue,
            };
            if best.as_ref().is_none_or(|(br, _, _)| r < *br) {
                best = Some((r, load, values));
            }
        }
        best.map(|(_, f, v)| (f, v))
    }

    fn build_index(&mut self) {
        let mut actions: BTreeSet<Sym> = BTreeSet::new();
        for r in &self.prog.rules {
            actions.extend(r.actions.iter().flatten().copied());
        }
        let mut actions: Vec<Sym> = actions.into_iter().collect();
        actions.sort_by(|a, b| self.prog.sym(*a).cmp(self.prog.sym(*b)));
        let keys: Vec<Option<(Field, Vec<String>)>> = self
            .prog
            .rules
            .iter()
            .map(|r| r.cond.and_then(|c| self.rule_key(c)))
            .collect();
        let mut by_action = vec![ActionRules::default(); actions.len() + 1];
        for (i, r) in self.prog.rules.iter().enumerate() {
            let key = keys.get(i).cloned().flatten();
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
                let Some((field, values)) = &key else {
                    if forbid {
                        entry.forbids.push(i as u32)
                    } else {
                        entry.permits.push(i as u32)
                    }
                    continue;
                };
                let group = match entry.keyed.iter().position(|k| k.field == *field) {
                    Some(g) => g,
                    None => {
                        entry.keyed.push(KeyedRules {
                            field: *field,
                            values: Vec::new(),
                        });
                        entry.keyed.len() - 1
                    }
                };
                let Some(group) = entry.keyed.get_mut(group) else {
                    continue;
                };
                for v in values {
                    let slot = match group.values.binary_search_by(|e| e.value.as_str().cmp(v)) {
                        Ok(x) => x,
                        Err(x) => {
                            group.values.insert(
                                x,
                                KeyedEntry {
                                    value: v.clone(),
                                    forbids: Vec::new(),
                                    permits: Vec::new(),
                                },
                            );
                            x
                        }
                    };
                    if let Some(e) = group.values.get_mut(slot) {
                        if forbid {
                            e.forbids.push(i as u32)
                        } else {
                            e.permits.push(i as u32)
                        }
                    }
                }
            }
        }
        self.prog.actions = actions;
        self.prog.by_action = by_action;
    }

    // ---- expressions -------------------------------------------------------------

    fn cmp_phrase(&self, op: CmpOp, lhs: &Expr, rhs: &Expr) -> String {
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
        };
        format!("{} {verb} {}", self.words(lhs), self.words(rhs))
    }

    /// Plain words for a condition.
    fn phrase_of(&self, e: &Expr) -> String {
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
    fn words(&self, e: &Expr) -> String {
        let Expr::Path(segs, span) = e else {
            return self.text(e.span());
        };
        let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
        if let (Some(g), Some(first)) = (self.grant_var.as_deref(), names.first()) {
            if g == *first {
                let field = names.get(1..).unwrap_or(&[]).join(".");
                let f = match field.as_str() {
                    "to_country" => "destination country".to_string(),
                    "approved_by" => "approver".to_string(),
                    "requested_by" => "requester".to_string(),
                    other => other.replace('_', " "),
                };
                return format!("the grant's {f}");
            }
        }
        let w = match names.as_slice() {
            ["action"] => "the action",
            ["now"] => "the time of the request",
            ["purpose"] => "the request's purpose",
            ["source_region"] => "the source region id",
            ["target_region"] => "the target region id",
            ["principal", "id"] => "the principal",
            ["principal", "country"] => "the principal's country",
            ["principal", "roles"] => "the principal's roles",
            ["resource", "id"] => "the resource",
            ["resource", "classification"] => "the resource's classification",
            ["resource", "classification", "sensitivity"] => {
                "the sensitivity of the resource's classification"
            }
            ["resource", "residency"] => "the resource's residency profile",
            ["resource", "residency", "primary"] => {
                "the primary-copy rule of the resource's residency profile"
            }
            ["resource", "residency", "mode"] => "the mode of the resource's residency profile",
            ["resource", "residency", "country"] => {
                "the country of the resource's residency profile"
            }
            ["resource", "home_country"] => "the home country of the resource's data subjects",
            ["resource", "client_regions"] => "the regions the client chose",
            ["source"] => "the source region",
            ["target"] => "the target region",
            [r @ ("source" | "target"), f] => {
                return format!("the {r} region's {}", f.replace('_', " "))
            }
            _ => return self.text(*span),
        };
        w.to_string()
    }

    fn atom(
        &mut self,
        span: Span,
        operands: [Option<&Expr>; 2],
        nodes: [NodeId; 2],
        phrase: String,
    ) -> u32 {
        let text = self.text_prefix(span);
        let location = self.sources.location(span);
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

    fn expr(&mut self, e: &Expr, file: usize) -> Option<(NodeId, Ty)> {
        match e {
            Expr::And(items, _) | Expr::Or(items, _) => {
                let is_and = matches!(e, Expr::And(..));
                let mut kids = Vec::new();
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
                        Diagnostic::new(
                            Code::Type,
                            *span,
                            "`exists grant` cannot be nested in another",
                        )
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
                        Diagnostic::new(Code::Type, expr.span(), format!("`is declared` asks about a classification or a residency profile, not {}", ty_name(t)))
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
            Expr::Arith { op, lhs, rhs, span } => self.arith(*op, lhs, rhs, *span, file),
            Expr::Path(segs, span) => self.path(segs, *span, file),
            Expr::Lit(l, span) => {
                let (c, t) = match l {
                    Lit::Bool(b) => (Const::Bool(*b), Ty::Bool),
                    Lit::Number(x) if !x.is_finite() => {
                        self.err(
                            Diagnostic::new(
                                Code::Number,
                                *span,
                                format!(
                                    "the number `{}` is too large to compute with",
                                    cap_chars(&self.text(*span), 16)
                                ),
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
                    Lit::Duration(d) => (Const::Duration(*d), Ty::Duration),
                    Lit::InvalidTime(s) => {
                        self.err(
                            Diagnostic::new(
                                Code::Type,
                                *span,
                                format!("`{s}` is not a valid time"),
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

    fn arith(
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
                    Diagnostic::new(Code::Type, span, format!("cannot apply `{sym}` to {} and {}", ty_name(lt), ty_name(rt)))
                        .label("mismatched operands")
                        .help("`+` and `-` join sets, move a time by a duration (`now - 90d`), or add numbers or durations"),
                );
                None
            }
        }
    }

    /// The value of a constant set node, with spans for its string members.
    fn set_of_node(&self, n: NodeId) -> Option<SetVal> {
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

    fn compare(
        &mut self,
        op: CmpOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        file: usize,
    ) -> Option<(NodeId, Ty)> {
        let l = self.expr(lhs, file);
        let r = self.expr(rhs, file);
        let ((mut ln, lt), (mut rn, rt)) = (l?, r?);
        let mismatch = |c: &mut Self, why: &str| {
            c.err(
                Diagnostic::new(
                    Code::Type,
                    span,
                    format!("cannot compare {} with {}", ty_name(lt), ty_name(rt)),
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
                    mismatch(self, "`in` tests a value against a set of the same kind: a country in a set of countries, a string in a set of strings");
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
                        (a, b) => {
                            a == b
                                && matches!(
                                    a,
                                    Ty::Bool | Ty::Num | Ty::Country | Ty::Time | Ty::Duration
                                )
                        }
                    };
                    if !ok {
                        mismatch(self, "compare values of the same kind: countries with countries (`DE`), times with times, strings with strings");
                        return None;
                    }
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

    /// Compares two constants at compile time where that is simple.
    fn fold_cmp(&self, op: CmpOp, l: NodeId, r: NodeId) -> Option<bool> {
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

    fn as_country(&mut self, n: NodeId, e: &Expr) -> Option<NodeId> {
        let Some(Const::Str(s)) = self.konst(n) else {
            self.err(
                Diagnostic::new(
                    Code::Type,
                    e.span(),
                    "cannot compare a country with a string",
                )
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

    fn allowed(&self, k: Kind) -> Option<(Code, Vec<String>, &'static str)> {
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

    fn check_value(&mut self, k: Kind, value: &str, span: Span) {
        let Some((code, allowed, what)) = self.allowed(k) else {
            return;
        };
        if allowed.iter().any(|a| a == value) {
            return;
        }
        let d = Diagnostic::new(code, span, format!("unknown {what} `{value}`"))
            .label(format!("not a declared {what}"))
            .help(suggest(
                value,
                allowed.iter().map(String::as_str),
                &format!("{what}s"),
            ));
        self.err(d);
    }

    fn check_kind_const(&mut self, k: Kind, n: NodeId, e: &Expr) {
        if let Some(Const::Str(s)) = self.konst(n) {
            let v = self.prog.sym(*s).to_string();
            self.check_value(k, &v, e.span());
        }
    }

    fn check_kind_set(&mut self, k: Kind, n: NodeId, e: &Expr, file: usize) {
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
    fn set_members_with_spans(&self, e: &Expr, file: usize) -> Option<Vec<(String, Span)>> {
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

    fn check_profile_const(&mut self, n: NodeId, e: &Expr) {
        if let Some(Const::Str(s)) = self.konst(n) {
            let v = self.prog.sym(*s).to_string();
            if !self.profiles.contains_key(&v) {
                let mut names: Vec<String> = self.profiles.keys().cloned().collect();
                names.sort();
                let d = Diagnostic::new(
                    Code::UnknownProfile,
                    e.span(),
                    format!("unknown residency profile `{v}`"),
                )
                .label("not a declared profile")
                .help(suggest(&v, names.iter().map(String::as_str), "profiles"));
                self.err(d);
            }
        }
    }

    fn extra(&mut self, root: ExtraRoot, path: &[Ident]) -> NodeId {
        let key = ExtraPath {
            root,
            path: path.iter().map(|s| s.name.clone()).collect(),
        };
        let i = match self.extras.get(&key) {
            Some(i) => *i,
            None => {
                let i = self.prog.extras.len() as u32;
                self.prog.extras.push(key.clone());
                self.extras.insert(key, i);
                i
            }
        };
        self.push(Node::Load(Field::Extra(i)))
    }

    fn load(&mut self, f: Field, t: Ty) -> Option<(NodeId, Ty)> {
        Some((self.push(Node::Load(f)), t))
    }

    fn unknown_field(&mut self, root: &str, seg: &Ident, fields: &[&str]) -> Option<(NodeId, Ty)> {
        self.err(
            Diagnostic::new(
                Code::UnknownName,
                seg.span,
                format!("`{root}` has no field `{}`", seg.name),
            )
            .label("unknown field")
            .help(suggest(
                &seg.name,
                fields.iter().copied(),
                &format!("fields of `{root}`"),
            )),
        );
        None
    }

    fn path(&mut self, segs: &[Ident], span: Span, file: usize) -> Option<(NodeId, Ty)> {
        let first = segs.first()?;
        let rest = segs.get(1..).unwrap_or(&[]);
        let root = first.name.as_str();
        if self.grant_var.as_deref() == Some(root) {
            return self.grant_path(root, rest, span);
        }
        match root {
            "action" | "now" | "purpose" | "source_region" | "target_region" if rest.is_empty() => {
                let (f, t) = match root {
                    "action" => (Field::Action, Ty::Str(Kind::Plain)),
                    "now" => (Field::Now, Ty::Time),
                    "purpose" => (Field::Purpose, Ty::Str(Kind::Plain)),
                    "source_region" => (Field::SourceRegionId, Ty::Str(Kind::Plain)),
                    _ => (Field::TargetRegionId, Ty::Str(Kind::Plain)),
                };
                self.load(f, t)
            }
            "source" | "target" => {
                let w = if root == "source" {
                    Which::Source
                } else {
                    Which::Target
                };
                let Some(field) = rest.first() else {
                    return self.load(Field::Region(w), Ty::Region);
                };
                let fields = [
                    "id",
                    "country",
                    "status",
                    "sovereign",
                    "provider",
                    "location",
                    "zones",
                ];
                let (rf, t) = match field.name.as_str() {
                    "id" => (RegionField::Id, Ty::Str(Kind::Plain)),
                    "country" => (RegionField::Country, Ty::Country),
                    "status" => (RegionField::Status, Ty::Str(Kind::Status)),
                    "sovereign" => (RegionField::Sovereign, Ty::Bool),
                    "provider" => (RegionField::Provider, Ty::Str(Kind::Plain)),
                    "location" => (RegionField::Location, Ty::Str(Kind::Plain)),
                    "zones" => (RegionField::Zones, Ty::List),
                    _ => return self.unknown_field(root, field, &fields),
                };
                if let Some(extra) = rest.get(1) {
                    return self.unknown_field(&format!("{root}.{}", field.name), extra, &[]);
                }
                self.load(Field::RegionField(w, rf), t)
            }
            "principal" => {
                let Some(field) = rest.first() else {
                    return self.whole(first, &["id", "country", "roles"]);
                };
                let simple = rest.len() == 1;
                match field.name.as_str() {
                    "id" if simple => self.load(Field::PrincipalId, Ty::Str(Kind::Plain)),
                    "country" if simple => self.load(Field::PrincipalCountry, Ty::Country),
                    "roles" if simple => self.load(Field::PrincipalRoles, Ty::List),
                    _ => Some((self.extra(ExtraRoot::Principal, rest), Ty::Any)),
                }
            }
            "resource" => {
                let fields = [
                    "id",
                    "classification",
                    "residency",
                    "home_country",
                    "client_regions",
                ];
                let Some(field) = rest.first() else {
                    return self.whole(first, &fields);
                };
                let sub = rest.get(1);
                if rest.len() > 2 {
                    return self.unknown_field(
                        &format!("resource.{}", field.name),
                        rest.get(2)?,
                        &[],
                    );
                }
                match (field.name.as_str(), sub.map(|s| s.name.as_str())) {
                    ("id", None) => self.load(Field::ResourceId, Ty::Str(Kind::Plain)),
                    ("classification", None) => {
                        self.load(Field::Classification, Ty::Str(Kind::Class))
                    }
                    ("classification", Some("sensitivity")) => {
                        self.load(Field::Sensitivity, Ty::Str(Kind::Sensitivity))
                    }
                    ("residency", None) => self.load(Field::Residency, Ty::Profile),
                    ("residency", Some("primary")) => {
                        self.load(Field::Residency, Ty::ProfilePrimary)
                    }
                    ("residency", Some("mode")) => {
                        self.load(Field::ResidencyMode, Ty::Str(Kind::Mode))
                    }
                    ("residency", Some("country")) => {
                        self.load(Field::ResidencyCountry, Ty::Country)
                    }
                    ("home_country", None) => self.load(Field::HomeCountry, Ty::Country),
                    ("client_regions", None) => self.load(Field::ClientRegions, Ty::List),
                    ("classification", Some(_)) => {
                        self.unknown_field("resource.classification", sub?, &["sensitivity"])
                    }
                    ("residency", Some(_)) => self.unknown_field(
                        "resource.residency",
                        sub?,
                        &["primary", "mode", "country"],
                    ),
                    (name, Some(_)) if fields.contains(&name) => {
                        self.unknown_field(&format!("resource.{name}"), sub?, &[])
                    }
                    _ => Some((self.extra(ExtraRoot::Resource, rest), Ty::Any)),
                }
            }
            "request" => {
                if rest.is_empty() {
                    return self.whole(first, &["<any field of the request>"]);
                }
                Some((self.extra(ExtraRoot::Request, rest), Ty::Any))
            }
            _ => self.name(segs, span, file),
        }
    }

    fn whole(&mut self, id: &Ident, fields: &[&str]) -> Option<(NodeId, Ty)> {
        self.err(
            Diagnostic::new(
                Code::Type,
                id.span,
                format!("`{}` is a record; use one of its fields", id.name),
            )
            .label("a whole record")
            .help(format!("its fields: {}", fields.join(", "))),
        );
        None
    }

    fn grant_path(&mut self, var: &str, rest: &[Ident], span: Span) -> Option<(NodeId, Ty)> {
        const FIELDS: [&str; 12] = crate::documents::GRANT_FIELDS;
        let Some(field) = rest.first() else {
            self.err(
                Diagnostic::new(
                    Code::Type,
                    span,
                    format!("`{var}` is a grant; use one of its fields"),
                )
                .label("a whole grant")
                .help(format!("its fields: {}", FIELDS.join(", "))),
            );
            return None;
        };
        let _ = Ty::Grant;
        let (g, t) = match (field.name.as_str(), rest.len()) {
            ("id", 1) => (GrantField::Id, Ty::Str(Kind::Plain)),
            ("principal", 1) => (GrantField::Principal, Ty::Str(Kind::Plain)),
            ("resource", 1) => (GrantField::Resource, Ty::Str(Kind::Plain)),
            ("classifications", 1) => (GrantField::Classifications, Ty::List),
            ("to_country", 1) => (GrantField::ToCountry, Ty::Country),
            ("purpose", 1) => (GrantField::Purpose, Ty::Str(Kind::Plain)),
            ("mechanism", 1) => (GrantField::Mechanism, Ty::Str(Kind::Plain)),
            ("requested_by", 1) => (GrantField::RequestedBy, Ty::Str(Kind::Plain)),
            ("approved_by", 1) => (GrantField::ApprovedBy, Ty::Str(Kind::Plain)),
            ("valid_from", 1) => (GrantField::ValidFrom, Ty::Time),
            ("expires_at", 1) => (GrantField::ExpiresAt, Ty::Time),
            ("revoked_at", 1) => (GrantField::RevokedAt, Ty::Time),
            _ => return Some((self.extra(ExtraRoot::Grant, rest), Ty::Any)),
        };
        self.load(Field::Grant(g), t)
    }

    /// A name that is not a request path: a set, a country code or a word.
    fn name(&mut self, segs: &[Ident], span: Span, file: usize) -> Option<(NodeId, Ty)> {
        let first = segs.first()?;
        if segs.len() == 1 {
            if let Some(&i) = self.scopes.get(file).and_then(|s| s.get(&first.name)) {
                return self.set_ref(i);
            }
            if looks_like_country(&first.name) {
                let c = self.country_ident(first, true)?;
                return Some((self.push(Node::Const(Const::Country(c))), Ty::Country));
            }
            if is_symbol(&first.name) {
                let s = self.intern(&first.name);
                return Some((self.push(Node::Const(Const::Str(s))), Ty::Str(Kind::Plain)));
            }
        } else {
            // A qualified set name: `geo.EEA`.
            let (last, pkg) = segs.split_last()?;
            let pkg: Vec<&str> = pkg.iter().map(|s| s.name.as_str()).collect();
            let found = self
                .pkg_sets
                .get(&pkg.join("."))
                .and_then(|p| p.get(&last.name))
                .copied();
            if let Some(i) = found {
                return self.set_ref(i);
            }
        }
        let mut roots = vec![
            "action",
            "now",
            "purpose",
            "principal",
            "resource",
            "source",
            "target",
            "source_region",
            "target_region",
            "request",
        ];
        let scope_names: Vec<String> = self
            .scopes
            .get(file)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        roots.extend(scope_names.iter().map(String::as_str));
        if let Some(g) = &self.grant_var {
            let g = g.clone();
            let help = self.import_hint(&first.name).unwrap_or_else(|| {
                suggest(
                    &first.name,
                    roots.iter().copied().chain([g.as_str()]),
                    "names in scope",
                )
            });
            self.err(
                Diagnostic::new(
                    Code::UnknownName,
                    first.span,
                    format!("unknown name `{}`", first.name),
                )
                .label("not declared")
                .help(help),
            );
            return None;
        }
        let help = self
            .import_hint(&first.name)
            .unwrap_or_else(|| suggest(&first.name, roots.into_iter(), "names in scope"));
        let what = if segs.len() > 1 {
            "unknown name"
        } else {
            "unknown set or name"
        };
        self.err(
            Diagnostic::new(
                Code::UnknownName,
                if segs.len() > 1 { first.span } else { span },
                format!("{what} `{}`", first.name),
            )
            .label("not declared")
            .help(help),
        );
        None
    }

    fn set_ref(&mut self, decl: usize) -> Option<(NodeId, Ty)> {
        let (v, idx) = match self.set_decls.get(decl).map(|d| &d.state) {
            Some(SetState::Done(Some((v, i)))) => (v.clone(), *i),
            _ => return None,
        };
        let t = match v {
            SetVal::Countries(_) => Elem::Countries,
            SetVal::Strings(_) => Elem::Strings,
            SetVal::Empty => Elem::Empty,
        };
        Some((self.push(Node::Const(Const::Set(idx))), Ty::Set(t)))
    }
}

fn looks_like_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_symbol(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

/// "did you mean" from a list of candidates (edit distance ≤ 2), else the list.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>, what: &str) -> String {
    let mut all: Vec<&str> = candidates.collect();
    all.sort();
    all.dedup();
    let best = all
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(word.len() / 4) && *d < c.len())
        .min();
    if let Some((_, c)) = best {
        return format!("did you mean `{c}`?");
    }
    if all.is_empty() {
        return format!("there are no {what}");
    }
    let shown: Vec<String> = all.iter().take(12).map(|c| format!("`{c}`")).collect();
    let more = if all.len() > 12 { ", …" } else { "" };
    format!("{what}: {}{more}", shown.join(", "))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
