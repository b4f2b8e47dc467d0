//! The decision IR: a compiled policy set as flat, indexed tables.
//!
//! Input: built by [`crate::check`] from checked syntax. Output: a
//! [`Program`] that [`crate::eval`] runs, that prints for a person
//! ([`Program::render`]) and that serialises (serde) and hashes
//! ([`Program::hash`]). Invariants:
//! - every name is resolved: nodes refer to sets, classifications, profiles and
//!   strings by index, never by name;
//! - expressions are an arena (`nodes`), children are [`NodeId`]s, and every
//!   child index is smaller than its parent's, so evaluation is a bounded walk;
//! - `by_action[i]` lists exactly the rules that can apply to action
//!   `actions[i]`; the last entry lists those that apply to any other action;
//! - the canonical form is the serde JSON of this struct; the policy hash is
//!   its sha256, so it is the same on every run and machine.

use crate::country::{Country, CountrySet};
use crate::vocab::{CmpOp, Effect, IsWhat};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

pub type NodeId = u32;
/// An interned string: an index into [`Program::symbols`].
pub type Sym = u32;

/// The version of the stored form of a [`Program`]; a program of another
/// version is refused when read (see [`Program::from_json`]).
pub const FORMAT: u32 = 1;

/// How deep an expression may nest: the checker refuses deeper policies, and
/// a stored program deeper than this is refused when read, so evaluating
/// (which recurses) never runs out of stack.
pub const MAX_DEPTH: usize = 256;

/// A compiled policy set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Program {
    /// The stored form's version ([`FORMAT`]); programs stored before it
    /// was recorded read as 0, the same layout.
    #[serde(default)]
    pub format: u32,
    pub files: Vec<String>,
    pub symbols: Vec<String>,
    pub sets: Vec<SetDef>,
    pub classifications: Vec<ClassDef>,
    pub profiles: Vec<ProfileDef>,
    pub nodes: Vec<Node>,
    /// Children of `And` and `Or` nodes.
    pub args: Vec<NodeId>,
    /// What the trace shows for each condition.
    pub atoms: Vec<Atom>,
    pub extras: Vec<ExtraPath>,
    pub messages: Vec<Vec<MessagePart>>,
    pub rules: Vec<RuleDef>,
    pub actions: Vec<Sym>,
    pub by_action: Vec<ActionRules>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SetDef {
    /// Qualified name (`geo.EEA`), or the written text for an inline set.
    pub name: String,
    pub value: SetValue,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum SetValue {
    Countries(CountrySet),
    /// Sorted by text, no duplicates.
    Strings(Vec<Sym>),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassDef {
    pub name: Sym,
    pub sensitivity: Sym,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    SingleCountry,
    Regional,
    Sovereign,
    Hybrid,
    ClientOwned,
    Unrestricted,
}

impl ModeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModeKind::SingleCountry => "single_country",
            ModeKind::Regional => "regional",
            ModeKind::Sovereign => "sovereign",
            ModeKind::Hybrid => "hybrid",
            ModeKind::ClientOwned => "client_owned",
            ModeKind::Unrestricted => "unrestricted",
        }
    }
    pub const ALL: [&'static str; 6] = [
        "single_country",
        "regional",
        "sovereign",
        "hybrid",
        "client_owned",
        "unrestricted",
    ];
}

/// A residency profile: where the primary copy may be, and where any copy may be.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProfileDef {
    pub name: Sym,
    pub mode: ModeKind,
    /// Countries allowed for the primary copy.
    pub primary: CountrySet,
    /// Countries allowed for any copy (a superset of `primary`).
    pub any: CountrySet,
    /// The profile's country, for single-country, sovereign and hybrid profiles.
    pub country: Option<Country>,
    /// Regions must be marked sovereign.
    pub sovereign: bool,
}

/// A constant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Const {
    Bool(bool),
    Num(f64),
    Str(Sym),
    Country(Country),
    Time(DateTime<Utc>),
    /// Seconds.
    Duration(i64),
    Set(u32),
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Which {
    Source,
    Target,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum RegionField {
    Id,
    Country,
    Status,
    Sovereign,
    Provider,
    Location,
    Zones,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum GrantField {
    Id,
    Principal,
    Resource,
    Classifications,
    ToCountry,
    Purpose,
    Mechanism,
    RequestedBy,
    ApprovedBy,
    ValidFrom,
    ExpiresAt,
    RevokedAt,
}

/// A value read from the request, its regions or the grant in scope.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Field {
    Action,
    Now,
    Purpose,
    SourceRegionId,
    TargetRegionId,
    PrincipalId,
    PrincipalCountry,
    PrincipalRoles,
    ResourceId,
    Classification,
    Sensitivity,
    Residency,
    ResidencyMode,
    ResidencyCountry,
    HomeCountry,
    ClientRegions,
    /// The region record itself (for `satisfies` and `is present`).
    Region(Which),
    RegionField(Which, RegionField),
    Grant(GrantField),
    /// An extra field of the request or grant, by index into [`Program::extras`].
    Extra(u32),
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum ExtraRoot {
    Request,
    Principal,
    Resource,
    Grant,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct ExtraPath {
    pub root: ExtraRoot,
    pub path: Vec<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
}

/// One expression node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Node {
    Const(Const),
    Load(Field),
    /// Negation; `atom` is set when the operand is a single condition, so the
    /// trace can show the negated condition as one line.
    Not {
        expr: NodeId,
        atom: Option<u32>,
    },
    And {
        start: u32,
        len: u32,
    },
    Or {
        start: u32,
        len: u32,
    },
    Cmp {
        op: CmpOp,
        lhs: NodeId,
        rhs: NodeId,
        atom: u32,
    },
    Is {
        what: IsWhat,
        negated: bool,
        expr: NodeId,
        atom: u32,
    },
    /// `region satisfies profile` (`primary_only` for `profile.primary`).
    Satisfies {
        region: NodeId,
        profile: NodeId,
        primary_only: bool,
        atom: u32,
    },
    Arith {
        op: Arith,
        lhs: NodeId,
        rhs: NodeId,
    },
    /// `exists grant g where cond`: over the request principal's grants.
    Exists {
        cond: Option<NodeId>,
        atom: u32,
    },
}

/// A condition as the trace shows it: its text, where it is, and the text of
/// each operand that is not a constant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Atom {
    pub text: String,
    /// The condition in plain words, for readers who do not know the language.
    pub phrase: String,
    pub location: String,
    pub operands: [Option<String>; 2],
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum MessagePart {
    Text(String),
    Value { node: NodeId, text: String },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleDef {
    /// Qualified name: `package.rule`.
    pub id: String,
    pub effect: Effect,
    pub cond: Option<NodeId>,
    pub message: Option<u32>,
    pub obligations: Vec<Sym>,
    pub location: String,
    /// The actions this rule can apply to; `None` means any action.
    pub actions: Option<Vec<Sym>>,
    /// The law or clause it implements (`cites "…"`), for reports.
    #[serde(default)]
    pub cites: Option<String>,
}

/// The rules one action can reach.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ActionRules {
    /// Rules visited for every request with this action.
    pub forbids: Vec<u32>,
    pub permits: Vec<u32>,
    /// Rules that also require one request field to equal one of a few
    /// values (`resource.id == "ds-7"`), grouped by that field and value: a
    /// request visits only the group of its own value.
    pub keyed: Vec<KeyedRules>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyedRules {
    pub field: Field,
    /// Sorted by value.
    pub values: Vec<KeyedEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyedEntry {
    pub value: String,
    pub forbids: Vec<u32>,
    pub permits: Vec<u32>,
}

impl Program {
    pub fn sym(&self, s: Sym) -> &str {
        self.symbols.get(s as usize).map_or("", String::as_str)
    }

    /// The canonical form: compact JSON of the whole program.
    pub fn canonical(&self) -> Vec<u8> {
        #[cfg_attr(
            not(test),
            expect(
                clippy::expect_used,
                reason = "a Program is plain data with string keys and finite numbers: serialising it cannot fail, and hashing an empty string instead would hide it"
            )
        )]
        serde_json::to_vec(self).expect("a Program always serialises")
    }

    /// `sha256:<hex>` of the canonical form.
    pub fn hash(&self) -> String {
        sha256_hex(&self.canonical())
    }

    /// Reads a stored program (its canonical JSON) and validates it: a
    /// program from a log or a file is never run unchecked.
    pub fn from_json(bytes: &[u8]) -> Result<Program, String> {
        let p: Program = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// Checks what evaluation relies on: a format version it knows, every
    /// index in range, every child before its parent (so the expressions are
    /// a DAG and evaluation ends), and nesting at most [`MAX_DEPTH`].
    pub fn validate(&self) -> Result<(), String> {
        if self.format > FORMAT {
            return Err(format!(
                "the program is of format {}, this build reads format {FORMAT}",
                self.format
            ));
        }
        let bad = |what: String| Err(format!("the program is malformed: {what}"));
        let sym = |s: Sym| (s as usize) < self.symbols.len();
        let n = self.nodes.len();
        let mut depth = vec![0usize; n];
        for (i, node) in self.nodes.iter().enumerate() {
            let mut children: Vec<NodeId> = Vec::new();
            let mut atom = None;
            match node {
                Node::Const(c) => match c {
                    Const::Str(s) if !sym(*s) => return bad(format!("node {i}: symbol {s}")),
                    Const::Set(x) if *x as usize >= self.sets.len() => {
                        return bad(format!("node {i}: set {x}"))
                    }
                    _ => {}
                },
                Node::Load(f) => {
                    if let Field::Extra(x) = f {
                        if *x as usize >= self.extras.len() {
                            return bad(format!("node {i}: extra field {x}"));
                        }
                    }
                }
                Node::Not { expr, atom: a } => {
                    children.push(*expr);
                    atom = *a;
                }
                Node::And { start, len } | Node::Or { start, len } => {
                    let range = (*start as usize)..(*start as usize).saturating_add(*len as usize);
                    match self.args.get(range) {
                        Some(args) => children.extend_from_slice(args),
                        None => return bad(format!("node {i}: arguments {start}+{len}")),
                    }
                }
                Node::Cmp {
                    lhs, rhs, atom: a, ..
                } => {
                    children.extend([*lhs, *rhs]);
                    atom = Some(*a);
                }
                Node::Is { expr, atom: a, .. } => {
                    children.push(*expr);
                    atom = Some(*a);
                }
                Node::Satisfies {
                    region,
                    profile,
                    atom: a,
                    ..
                } => {
                    children.extend([*region, *profile]);
                    atom = Some(*a);
                }
                Node::Arith { lhs, rhs, .. } => children.extend([*lhs, *rhs]),
                Node::Exists { cond, atom: a } => {
                    children.extend(*cond);
                    atom = Some(*a);
                }
            }
            if atom.is_some_and(|a| a as usize >= self.atoms.len()) {
                return bad(format!("node {i}: condition {}", atom.unwrap_or(0)));
            }
            let mut d = 0;
            for c in children {
                match depth.get(c as usize) {
                    Some(cd) if (c as usize) < i => d = d.max(*cd),
                    _ => return bad(format!("node {i}: child {c} does not come before it")),
                }
            }
            if d + 1 > MAX_DEPTH {
                return bad(format!("node {i}: nested deeper than {MAX_DEPTH}"));
            }
            if let Some(slot) = depth.get_mut(i) {
                *slot = d + 1;
            }
        }
        for (i, set) in self.sets.iter().enumerate() {
            if let SetValue::Strings(v) = &set.value {
                if !v.iter().all(|s| sym(*s)) {
                    return bad(format!("set {i}: a symbol out of range"));
                }
            }
        }
        for (i, c) in self.classifications.iter().enumerate() {
            if !sym(c.name) || !sym(c.sensitivity) {
                return bad(format!("classification {i}: a symbol out of range"));
            }
        }
        for (i, p) in self.profiles.iter().enumerate() {
            if !sym(p.name) {
                return bad(format!("profile {i}: a symbol out of range"));
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            for part in m {
                if let MessagePart::Value { node, .. } = part {
                    if *node as usize >= n {
                        return bad(format!("message {i}: node {node}"));
                    }
                }
            }
        }
        for r in &self.rules {
            if r.cond.is_some_and(|c| c as usize >= n)
                || r.message.is_some_and(|m| m as usize >= self.messages.len())
                || !r.obligations.iter().all(|s| sym(*s))
                || !r.actions.iter().flatten().all(|s| sym(*s))
            {
                return bad(format!("rule `{}`: an index out of range", r.id));
            }
        }
        if !self.actions.iter().all(|s| sym(*s)) {
            return bad("an action symbol out of range".into());
        }
        if self.by_action.len() != self.actions.len() + 1 {
            return bad("the action index does not match the actions".into());
        }
        let rule = |r: &u32| (*r as usize) < self.rules.len();
        for a in &self.by_action {
            let keyed = a.keyed.iter().flat_map(|k| &k.values);
            let ok = a.forbids.iter().chain(&a.permits).all(rule)
                && keyed
                    .clone()
                    .all(|e| e.forbids.iter().chain(&e.permits).all(rule));
            if !ok {
                return bad("the action index names a rule out of range".into());
            }
        }
        Ok(())
    }

    /// The index entry for an action symbol (`None`: an action no rule names).
    pub fn rules_for(&self, action: Option<usize>) -> &ActionRules {
        static EMPTY: ActionRules = ActionRules {
            forbids: Vec::new(),
            permits: Vec::new(),
            keyed: Vec::new(),
        };
        let i = action.unwrap_or(self.actions.len());
        self.by_action.get(i).unwrap_or(&EMPTY)
    }

    /// The IR as text for a person (`sovra compile --emit ir`).
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "policy {}", self.hash());
        let _ = writeln!(o, "files: {}", self.files.join(", "));
        let _ = writeln!(o, "symbols: {}", self.symbols.len());
        o.push_str("\nsets:\n");
        for (i, s) in self.sets.iter().enumerate() {
            let _ = writeln!(o, "  #{i} {} = {}", s.name, self.render_set(&s.value));
        }
        o.push_str("\nclassifications:\n");
        for c in &self.classifications {
            let _ = writeln!(
                o,
                "  {} sensitivity {}",
                self.sym(c.name),
                self.sym(c.sensitivity)
            );
        }
        o.push_str("\nprofiles:\n");
        for p in &self.profiles {
            let _ = write!(o, "  {} = {}", self.sym(p.name), p.mode.as_str());
            if let Some(c) = p.country {
                let _ = write!(o, " country {c}");
            }
            if !matches!(p.mode, ModeKind::ClientOwned | ModeKind::Unrestricted) {
                let _ = write!(o, " primary {}", self.render_countries(&p.primary));
                if p.any != p.primary {
                    let _ = write!(o, " any {}", self.render_countries(&p.any));
                }
            }
            if p.sovereign {
                o.push_str(" sovereign-regions-only");
            }
            o.push('\n');
        }
        o.push_str("\nindex:\n");
        for (i, e) in self.by_action.iter().enumerate() {
            let name = self
                .actions
                .get(i)
                .map_or("(any other action)", |s| self.sym(*s));
            let _ = writeln!(o, "  {name}: forbid {:?} permit {:?}", e.forbids, e.permits);
            for k in &e.keyed {
                let _ = writeln!(
                    o,
                    "    by {} ({} values):",
                    self.field_name(k.field),
                    k.values.len()
                );
                for v in k.values.iter().take(8) {
                    let _ = writeln!(
                        o,
                        "      {:?}: forbid {:?} permit {:?}",
                        v.value, v.forbids, v.permits
                    );
                }
                if k.values.len() > 8 {
                    let _ = writeln!(o, "      …");
                }
            }
        }
        o.push_str("\nrules:\n");
        for (i, r) in self.rules.iter().enumerate() {
            let eff = match r.effect {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            };
            let _ = writeln!(o, "  r{i} {eff} {}  ({})", r.id, r.location);
            if let Some(c) = r.cond {
                let _ = writeln!(o, "    when {}", self.render_node(c));
            }
            if !r.obligations.is_empty() {
                let obs: Vec<&str> = r.obligations.iter().map(|s| self.sym(*s)).collect();
                let _ = writeln!(o, "    obligations [{}]", obs.join(", "));
            }
            if let Some(m) = r.message.and_then(|m| self.messages.get(m as usize)) {
                let text: String = m
                    .iter()
                    .map(|p| match p {
                        MessagePart::Text(t) => t.clone(),
                        MessagePart::Value { text, .. } => format!("{{{text}}}"),
                    })
                    .collect();
                let _ = writeln!(o, "    because {text:?}");
            }
            if let Some(c) = &r.cites {
                let _ = writeln!(o, "    cites {c:?}");
            }
        }
        o
    }

    fn render_countries(&self, s: &CountrySet) -> String {
        if *s == CountrySet::all() {
            return "[all]".into();
        }
        let v: Vec<String> = s.iter().map(|c| c.to_string()).collect();
        format!("[{}]", v.join(" "))
    }

    fn render_set(&self, s: &SetValue) -> String {
        match s {
            SetValue::Countries(c) => format!("countries {}", self.render_countries(c)),
            SetValue::Strings(v) => {
                let v: Vec<&str> = v.iter().map(|s| self.sym(*s)).collect();
                format!("strings [{}]", v.join(" "))
            }
        }
    }

    /// One expression as prefix text.
    pub fn render_node(&self, id: NodeId) -> String {
        let Some(n) = self.nodes.get(id as usize) else {
            return "?".into();
        };
        let list = |start: u32, len: u32| -> Vec<String> {
            let s = start as usize;
            self.args
                .get(s..s + len as usize)
                .unwrap_or(&[])
                .iter()
                .map(|a| self.render_node(*a))
                .collect()
        };
        match n {
            Node::Const(c) => match c {
                Const::Bool(b) => b.to_string(),
                Const::Num(x) => x.to_string(),
                Const::Str(s) => format!("{:?}", self.sym(*s)),
                Const::Country(c) => c.to_string(),
                Const::Time(t) => t.to_rfc3339(),
                Const::Duration(d) => format!("{d}s"),
                Const::Set(i) => format!("set#{i}"),
            },
            Node::Load(f) => format!("load({})", self.field_name(*f)),
            Node::Not { expr, .. } => format!("not({})", self.render_node(*expr)),
            Node::And { start, len } => format!("and({})", list(*start, *len).join(", ")),
            Node::Or { start, len } => format!("or({})", list(*start, *len).join(", ")),
            Node::Cmp { op, lhs, rhs, .. } => {
                format!(
                    "{}({}, {})",
                    op.as_str(),
                    self.render_node(*lhs),
                    self.render_node(*rhs)
                )
            }
            Node::Is {
                what,
                negated,
                expr,
                ..
            } => {
                let w = what.as_str();
                format!(
                    "is{}-{w}({})",
                    if *negated { "-not" } else { "" },
                    self.render_node(*expr)
                )
            }
            Node::Satisfies {
                region,
                profile,
                primary_only,
                ..
            } => format!(
                "satisfies{}({}, {})",
                if *primary_only { "-primary" } else { "" },
                self.render_node(*region),
                self.render_node(*profile)
            ),
            Node::Arith { op, lhs, rhs } => format!(
                "{}({}, {})",
                if *op == Arith::Add { "add" } else { "sub" },
                self.render_node(*lhs),
                self.render_node(*rhs)
            ),
            Node::Exists { cond, .. } => match cond {
                Some(c) => format!("exists-grant({})", self.render_node(*c)),
                None => "exists-grant".into(),
            },
        }
    }

    pub fn field_name(&self, f: Field) -> String {
        let region = |w: Which| {
            if w == Which::Source {
                "source"
            } else {
                "target"
            }
        };
        match f {
            Field::Action => "action".into(),
            Field::Now => "now".into(),
            Field::Purpose => "purpose".into(),
            Field::SourceRegionId => "source_region".into(),
            Field::TargetRegionId => "target_region".into(),
            Field::PrincipalId => "principal.id".into(),
            Field::PrincipalCountry => "principal.country".into(),
            Field::PrincipalRoles => "principal.roles".into(),
            Field::ResourceId => "resource.id".into(),
            Field::Classification => "resource.classification".into(),
            Field::Sensitivity => "resource.classification.sensitivity".into(),
            Field::Residency => "resource.residency".into(),
            Field::ResidencyMode => "resource.residency.mode".into(),
            Field::ResidencyCountry => "resource.residency.country".into(),
            Field::HomeCountry => "resource.home_country".into(),
            Field::ClientRegions => "resource.client_regions".into(),
            Field::Region(w) => region(w).into(),
            Field::RegionField(w, rf) => {
                format!("{}.{}", region(w), format!("{rf:?}").to_lowercase())
            }
            Field::Grant(g) => format!("grant.{g:?}"),
            Field::Extra(i) => self.extras.get(i as usize).map_or("?".into(), |e| {
                let root = match e.root {
                    ExtraRoot::Request => "request",
                    ExtraRoot::Principal => "principal",
                    ExtraRoot::Resource => "resource",
                    ExtraRoot::Grant => "grant",
                };
                format!("{root}.{}", e.path.join("."))
            }),
        }
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_digest(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of a finished digest.
pub fn hex_digest(digest: &[u8]) -> String {
    let mut out = Vec::with_capacity(7 + 2 * digest.len());
    hex_digest_into(digest, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`hex_digest`] appended to `out`.
pub fn hex_digest_into(digest: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"sha256:");
    for b in digest {
        for nibble in [b >> 4, b & 15] {
            out.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
        }
    }
}
