//! Evaluation: a request, decided against a compiled policy and documents.
//!
//! Input: an [`Engine`] (a [`Program`] with its regions and grants, built
//! once) and a [`Request`]. Output: a [`Verdict`] (allow or deny and the
//! determining rules) or a full [`Decision`] document. Invariants:
//! - deny overrides allow; no permit means deny;
//! - only the rules indexed under the request's action are visited;
//! - evaluation is a bounded walk over the arena (no loops but the grants of
//!   one principal), so it always terminates;
//! - a missing value makes every comparison false (`!=` and `not in` too);
//! - the program never looks up a name: the request's action, classification
//!   and profile are resolved once at entry through hash indexes, regions by id
//!   and grants by principal likewise;
//! - with the [`NoTrace`] tracer and a warmed [`Scratch`], [`Engine::verdict`]
//!   allocates nothing (tests/alloc.rs counts).

use crate::country::Country;
use crate::documents::{Grant, Grants, Region, Regions, Request};
use crate::ir::*;
use crate::vocab::{CmpOp, Effect, IsWhat};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How much of the reasoning a decision carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceLevel {
    #[default]
    Off,
    /// Every rule considered and whether it applied.
    Summary,
    /// And each condition with its values, and each grant looked at.
    Full,
}

impl std::str::FromStr for TraceLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(TraceLevel::Off),
            "summary" => Ok(TraceLevel::Summary),
            "full" => Ok(TraceLevel::Full),
            o => Err(format!("`{o}` is not a trace level (off, summary or full)")),
        }
    }
}

/// A compiled policy with its documents, ready to decide. `Send + Sync`.
#[derive(Debug)]
pub struct Engine {
    program: Program,
    regions: Regions,
    grants: Grants,
    policy_hash: String,
    actions: FxHashMap<String, usize>,
    classes: FxHashMap<String, usize>,
    profiles: FxHashMap<String, usize>,
    /// Per action entry, per keyed group: value → index into its `values`.
    keys: Vec<Vec<FxHashMap<String, usize>>>,
    /// sha256 state after `regions hash \n grants hash \n`.
    input_prefix: sha2::Sha256,
    /// Per rule, `"rule":…,"effect":"…","message":` as JSON, and
    /// `,"location":…}`, written as they are by [`Engine::decide_json`].
    rule_json: Vec<(Box<str>, Box<str>)>,
    /// `],"policy_hash":"…","input_hash":` as JSON.
    hash_json: Box<str>,
}

/// Reusable buffers for [`Engine::verdict`].
#[derive(Debug, Default)]
pub struct Scratch {
    found: Found,
    /// A rule's message, rendered.
    message: String,
    /// The canonical request, hashed for `input_hash`.
    canonical: Vec<u8>,
    /// The last instant formatted for `evaluated_at`, and its text.
    last_time: Option<(DateTime<Utc>, String)>,
}

/// The rules found to apply, by effect.
#[derive(Debug, Default)]
struct Found {
    forbids: Vec<u32>,
    permits: Vec<u32>,
}

/// The outcome of a decision without its explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'s> {
    pub allow: bool,
    /// Indexes of the determining rules (forbids on deny, permits on allow;
    /// empty on a default deny).
    pub rules: &'s [u32],
}

/// One determining rule, as the contract's `reasons` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reason {
    pub rule: String,
    pub effect: String,
    pub message: String,
    pub location: String,
}

/// The decision document (contract.md, "Decision").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    pub decision: String,
    pub reasons: Vec<Reason>,
    pub obligations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
    pub policy_hash: String,
    pub input_hash: String,
    pub evaluated_at: String,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.decision == "allow"
    }
}

pub const DEFAULT_DENY: &str = "default_deny";

impl Engine {
    pub fn new(program: Program, regions: Regions, grants: Grants) -> Engine {
        let policy_hash = program.hash();
        let actions = program
            .actions
            .iter()
            .enumerate()
            .map(|(i, s)| (program.sym(*s).to_string(), i))
            .collect();
        let classes = program
            .classifications
            .iter()
            .enumerate()
            .map(|(i, c)| (program.sym(c.name).to_string(), i))
            .collect();
        let profiles = program
            .profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (program.sym(p.name).to_string(), i))
            .collect();
        let keys = program
            .by_action
            .iter()
            .map(|e| {
                e.keyed
                    .iter()
                    .map(|k| {
                        k.values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (v.value.clone(), i))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut input_prefix = <sha2::Sha256 as sha2::Digest>::new();
        for part in [
            regions.hash.as_bytes(),
            b"\n",
            grants.hash.as_bytes(),
            b"\n",
        ] {
            sha2::Digest::update(&mut input_prefix, part);
        }
        let q = |t: &str| serde_json::to_string(t).unwrap_or_default();
        let rule_json = program
            .rules
            .iter()
            .map(|r| {
                let head = format!(
                    "{{\"rule\":{},\"effect\":\"{}\",\"message\":",
                    q(&r.id),
                    effect_str(r.effect)
                );
                let tail = format!(",\"location\":{}}}", q(&r.location));
                (head.into_boxed_str(), tail.into_boxed_str())
            })
            .collect();
        let hash_json =
            format!("],\"policy_hash\":{},\"input_hash\":", q(&policy_hash)).into_boxed_str();
        Engine {
            rule_json,
            hash_json,
            input_prefix,
            keys,
            program,
            regions,
            grants,
            policy_hash,
            actions,
            classes,
            profiles,
        }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }
    pub fn regions(&self) -> &Regions {
        &self.regions
    }
    pub fn grants(&self) -> &Grants {
        &self.grants
    }
    pub fn policy_hash(&self) -> &str {
        &self.policy_hash
    }

    fn ctx<'a>(&'a self, req: &'a Request, now: DateTime<Utc>) -> Ctx<'a> {
        let res = &req.resource;
        Ctx {
            e: self,
            req,
            now,
            action: self.actions.get(req.action.as_str()).copied(),
            class: res
                .classification
                .as_deref()
                .and_then(|c| self.classes.get(c))
                .and_then(|i| self.program.classifications.get(*i)),
            profile: res
                .residency
                .as_deref()
                .and_then(|p| self.profiles.get(p))
                .copied(),
            source: req
                .source_region
                .as_deref()
                .and_then(|r| self.regions.get(r)),
            target: req
                .target_region
                .as_deref()
                .and_then(|r| self.regions.get(r)),
            grants: req
                .principal
                .id
                .as_deref()
                .map_or(&[], |p| self.grants.of_principal(p)),
            grant: None,
        }
    }

    fn now(req: &Request) -> DateTime<Utc> {
        req.time.map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    }

    /// Decides without explanation, reusing `scratch`: the hot path.
    pub fn verdict<'s>(&self, req: &Request, scratch: &'s mut Scratch) -> Verdict<'s> {
        let ctx = self.ctx(req, Self::now(req));
        run(&ctx, &mut NoTrace, &mut scratch.found)
    }

    /// Decides and builds the full decision document.
    pub fn decide(&self, req: &Request, level: TraceLevel) -> Decision {
        let now = Self::now(req);
        let ctx = self.ctx(req, now);
        let mut scratch = Scratch::default();
        let (allow, rules, trace) = match level {
            TraceLevel::Off => {
                let v = run(&ctx, &mut NoTrace, &mut scratch.found);
                (v.allow, v.rules.to_vec(), None)
            }
            _ => {
                let mut t = Recorder::new(&self.program, level == TraceLevel::Full);
                let v = run(&ctx, &mut t, &mut scratch.found);
                let (allow, rules) = (v.allow, v.rules.to_vec());
                (allow, rules, Some(t.finish(&ctx, level)))
            }
        };
        let p = &self.program;
        let mut reasons: Vec<Reason> = rules
            .iter()
            .filter_map(|r| p.rules.get(*r as usize))
            .map(|r| Reason {
                rule: r.id.clone(),
                effect: effect_str(r.effect).into(),
                message: ctx.message(r),
                location: r.location.clone(),
            })
            .collect();
        if !allow && reasons.is_empty() {
            reasons.push(Reason {
                rule: DEFAULT_DENY.into(),
                effect: "forbid".into(),
                message: format!(
                    "no permit rule applies to action `{}` for this request (no permit means deny)",
                    req.action
                ),
                location: "built-in".into(),
            });
        }
        let mut obligations: Vec<String> = Vec::new();
        if allow {
            for r in rules.iter().filter_map(|r| p.rules.get(*r as usize)) {
                for o in &r.obligations {
                    let o = p.sym(*o);
                    if !obligations.iter().any(|x| x == o) {
                        obligations.push(o.to_string());
                    }
                }
            }
        }
        Decision {
            decision: if allow { "allow" } else { "deny" }.into(),
            reasons,
            obligations,
            trace,
            policy_hash: self.policy_hash.clone(),
            input_hash: self.input_hash(req),
            evaluated_at: now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        }
    }

    /// sha256 of the documents' hashes and the request's canonical JSON, the
    /// request serialised straight into a copy of the hasher that has already
    /// taken the documents.
    pub fn input_hash(&self, req: &Request) -> String {
        let mut out = Vec::with_capacity(71);
        self.input_hash_into(req, &mut Vec::with_capacity(320), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`Engine::input_hash`] appended to `out`, the canonical request
    /// written into `canonical` (a reused buffer).
    fn input_hash_into(&self, req: &Request, canonical: &mut Vec<u8>, out: &mut Vec<u8>) {
        use sha2::Digest;
        canonical.clear();
        req.write_canonical(canonical);
        let mut h = self.input_prefix.clone();
        h.update(&*canonical);
        crate::ir::hex_digest_into(&h.finalize(), out);
    }

    /// Decides with the trace off and appends the decision document as
    /// compact JSON to `out`: the same bytes as serialising [`Engine::decide`]'s
    /// result, without building it (the batch path). Returns the verdict, for
    /// callers that count decisions by outcome and rule.
    pub fn decide_json<'s>(
        &self,
        req: &Request,
        scratch: &'s mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict<'s> {
        let now = Self::now(req);
        let ctx = self.ctx(req, now);
        let v = run(&ctx, &mut NoTrace, &mut scratch.found);
        let p = &self.program;
        use crate::json::string as s;
        out.extend_from_slice(br#"{"decision":""#);
        out.extend_from_slice(if v.allow { b"allow" } else { b"deny" });
        out.extend_from_slice(br#"","reasons":["#);
        let mut first = true;
        let message = &mut scratch.message;
        for &ri in v.rules {
            let (Some(r), Some((head, tail))) =
                (p.rules.get(ri as usize), self.rule_json.get(ri as usize))
            else {
                continue;
            };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(head.as_bytes());
            message.clear();
            ctx.message_into(r, message);
            s(out, message);
            out.extend_from_slice(tail.as_bytes());
        }
        if !v.allow && v.rules.is_empty() {
            out.extend_from_slice(br#"{"rule":"default_deny","effect":"forbid","message":"#);
            s(
                out,
                &format!(
                    "no permit rule applies to action `{}` for this request (no permit means deny)",
                    req.action
                ),
            );
            out.extend_from_slice(br#","location":"built-in"}"#);
        }
        out.extend_from_slice(br#"],"obligations":["#);
        if v.allow {
            let mut seen: Vec<u32> = Vec::new();
            for r in v.rules.iter().filter_map(|r| p.rules.get(*r as usize)) {
                for o in &r.obligations {
                    if !seen.iter().any(|x| p.sym(*x) == p.sym(*o)) {
                        if !seen.is_empty() {
                            out.push(b',');
                        }
                        seen.push(*o);
                        s(out, p.sym(*o));
                    }
                }
            }
        }
        out.extend_from_slice(self.hash_json.as_bytes());
        out.push(b'"');
        self.input_hash_into(req, &mut scratch.canonical, out);
        out.push(b'"');
        out.extend_from_slice(br#","evaluated_at":"#);
        match &scratch.last_time {
            Some((t, text)) if *t == now => s(out, text),
            _ => {
                let text = now.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                s(out, &text);
                scratch.last_time = Some((now, text));
            }
        }
        out.push(b'}');
        v
    }
}

fn effect_str(e: Effect) -> &'static str {
    match e {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
    }
}

fn run<'s, T: Tracer>(ctx: &Ctx<'_>, t: &mut T, scratch: &'s mut Found) -> Verdict<'s> {
    scratch.forbids.clear();
    scratch.permits.clear();
    let e = ctx.e;
    let slot = ctx.action.unwrap_or(e.program.actions.len());
    let entry = e.program.rules_for(ctx.action);
    // The entry of keyed group `gi` for this request's value of its field.
    let lookup = move |gi: usize| {
        let group = entry.keyed.get(gi)?;
        ctx.key(group.field, |text| {
            e.keys
                .get(slot)
                .and_then(|g| g.get(gi))
                .and_then(|m| m.get(text))
                .and_then(|i| group.values.get(*i))
        })
    };
    // The keyed groups this request reaches: one entry per group at most.
    let mut hits: [Option<&KeyedEntry>; 8] = [None; 8];
    let mut overflow = false;
    for gi in 0..entry.keyed.len() {
        let hit = lookup(gi);
        match hits.get_mut(gi) {
            Some(h) => *h = hit,
            None => overflow = true,
        }
    }
    let mut ev = Eval {
        ctx: ctx.clone(),
        t,
    };
    let keyed = |forbid: bool| {
        let found = hits.iter().flatten().flat_map(move |k| {
            if forbid {
                k.forbids.iter()
            } else {
                k.permits.iter()
            }
        });
        // More than eight keyed groups in one action: look the rest up as we go.
        let rest = (8..entry.keyed.len())
            .filter(move |_| overflow)
            .flat_map(move |gi| {
                lookup(gi).into_iter().flat_map(move |k| {
                    if forbid {
                        k.forbids.iter()
                    } else {
                        k.permits.iter()
                    }
                })
            });
        found.chain(rest)
    };
    for &r in entry.forbids.iter().chain(keyed(true)) {
        if ev.rule(r) {
            scratch.forbids.push(r);
        }
    }
    if scratch.forbids.is_empty() || T::ON {
        for &r in entry.permits.iter().chain(keyed(false)) {
            if ev.rule(r) {
                scratch.permits.push(r);
            }
        }
    }
    // Reasons come in rule order, whichever index found them.
    scratch.forbids.sort_unstable();
    scratch.permits.sort_unstable();
    if scratch.forbids.is_empty() {
        Verdict {
            allow: !scratch.permits.is_empty(),
            rules: &scratch.permits,
        }
    } else {
        Verdict {
            allow: false,
            rules: &scratch.forbids,
        }
    }
}

/// A value during evaluation. `Copy`, borrowed: making one never allocates.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Missing,
    Bool(bool),
    Num(f64),
    Str(&'a str),
    Country(Country),
    Time(DateTime<Utc>),
    Dur(i64),
    Set(u32),
    List(&'a [String]),
    Region(&'a Region),
    Profile(u32),
    Json(&'a Value),
}

#[derive(Clone)]
struct Ctx<'a> {
    e: &'a Engine,
    req: &'a Request,
    now: DateTime<Utc>,
    action: Option<usize>,
    class: Option<&'a ClassDef>,
    profile: Option<usize>,
    source: Option<&'a Region>,
    target: Option<&'a Region>,
    grants: &'a [u32],
    grant: Option<&'a Grant>,
}

/// Why a grant did not count (the first failed condition, in the order of
/// reference-pack.md), or that it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantCheck {
    Counted,
    Resource,
    Condition,
    Approval,
    NotYetValid,
    Expired,
    Revoked,
    Purpose,
}

impl GrantCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantCheck::Counted => "counted",
            GrantCheck::Resource => "resource",
            GrantCheck::Condition => "condition",
            GrantCheck::Approval => "approval",
            GrantCheck::NotYetValid => "not_yet_valid",
            GrantCheck::Expired => "expired",
            GrantCheck::Revoked => "revoked",
            GrantCheck::Purpose => "purpose",
        }
    }
}

/// Observes evaluation. The no-op [`NoTrace`] compiles away.
pub trait Tracer {
    const ON: bool;
    fn rule_start(&mut self, _rule: u32) {}
    fn rule_end(&mut self, _rule: u32, _applied: bool) {}
    fn atom(&mut self, _atom: u32, _result: bool, _l: Val<'_>, _r: Val<'_>) {}
    fn grant_start(&mut self, _grant: &Grant) {}
    fn grant_end(
        &mut self,
        _grant: &Grant,
        _check: GrantCheck,
        _now: DateTime<Utc>,
        _purpose: Option<&str>,
    ) {
    }
}

pub struct NoTrace;
impl Tracer for NoTrace {
    const ON: bool = false;
}

struct Eval<'a, 't, T: Tracer> {
    ctx: Ctx<'a>,
    t: &'t mut T,
}

impl<'a, T: Tracer> Eval<'a, '_, T> {
    fn rule(&mut self, r: u32) -> bool {
        let Some(rule) = self.ctx.e.program.rules.get(r as usize) else {
            return false;
        };
        self.t.rule_start(r);
        let applied = rule.cond.is_none_or(|c| self.bool(c));
        self.t.rule_end(r, applied);
        applied
    }

    fn node(&self, id: NodeId) -> Option<&'a Node> {
        self.ctx.e.program.nodes.get(id as usize)
    }

    fn bool(&mut self, id: NodeId) -> bool {
        let Some(n) = self.node(id) else { return false };
        match n {
            Node::And { start, len } => {
                let args = self.args(*start, *len);
                args.iter().all(|a| self.bool(*a))
            }
            Node::Or { start, len } => {
                let args = self.args(*start, *len);
                args.iter().any(|a| self.bool(*a))
            }
            Node::Not { expr, atom } => {
                let res = !self.bool(*expr);
                if let Some(a) = atom {
                    self.t.atom(*a, res, Val::Missing, Val::Missing);
                }
                res
            }
            Node::Cmp { op, lhs, rhs, atom } => {
                let l = self.val(*lhs);
                let r = self.val(*rhs);
                let res = compare(&self.ctx, *op, l, r);
                self.t.atom(*atom, res, l, r);
                res
            }
            Node::Is {
                what,
                negated,
                expr,
                atom,
            } => {
                let v = self.val(*expr);
                let base = match what {
                    IsWhat::Present => !matches!(v, Val::Missing | Val::Json(Value::Null)),
                    IsWhat::Missing => matches!(v, Val::Missing | Val::Json(Value::Null)),
                    IsWhat::Declared => match self.node(*expr) {
                        Some(Node::Load(Field::Classification)) => self.ctx.class.is_some(),
                        Some(Node::Load(Field::Residency)) => self.ctx.profile.is_some(),
                        _ => false,
                    },
                };
                let res = base != *negated;
                self.t.atom(*atom, res, v, Val::Missing);
                res
            }
            Node::Satisfies {
                region,
                profile,
                primary_only,
                atom,
            } => {
                let r = self.val(*region);
                let p = self.val(*profile);
                let res = match (r, p) {
                    (Val::Region(r), Val::Profile(p)) => self.satisfies(r, p, *primary_only),
                    _ => false,
                };
                self.t.atom(*atom, res, r, p);
                res
            }
            Node::Exists { cond, atom } => {
                let res = self.exists(*cond);
                self.t.atom(*atom, res, Val::Missing, Val::Missing);
                res
            }
            Node::Const(_) | Node::Load(_) | Node::Arith { .. } => {
                matches!(self.val(id), Val::Bool(true) | Val::Json(Value::Bool(true)))
            }
        }
    }

    fn args(&self, start: u32, len: u32) -> &'a [NodeId] {
        let s = start as usize;
        self.ctx
            .e
            .program
            .args
            .get(s..s + len as usize)
            .unwrap_or(&[])
    }

    fn satisfies(&self, r: &Region, p: u32, primary_only: bool) -> bool {
        let Some(p) = self.ctx.e.program.profiles.get(p as usize) else {
            return false;
        };
        match p.mode {
            ModeKind::ClientOwned => self.ctx.req.resource.client_regions.contains(&r.id),
            ModeKind::Unrestricted => true,
            _ => {
                let set = if primary_only { &p.primary } else { &p.any };
                set.contains(r.country) && (!p.sovereign || r.sovereign)
            }
        }
    }

    fn exists(&mut self, cond: Option<NodeId>) -> bool {
        let (e, req): (&'a Engine, &'a Request) = (self.ctx.e, self.ctx.req);
        let (grants, now) = (self.ctx.grants, self.ctx.now);
        let res = &req.resource;
        let purpose = req.purpose.as_deref();
        let mut found = false;
        for &gi in grants {
            let Some(g) = e.grants.get(gi) else { continue };
            self.t.grant_start(g);
            let check = self.grant_check(
                g,
                cond,
                now,
                res.id.as_deref(),
                res.classification.as_deref(),
                purpose,
            );
            self.t.grant_end(g, check, now, purpose);
            if check == GrantCheck::Counted {
                found = true;
                if !T::ON {
                    break;
                }
            }
        }
        found
    }

    fn grant_check(
        &mut self,
        g: &'a Grant,
        cond: Option<NodeId>,
        now: DateTime<Utc>,
        resource: Option<&str>,
        class: Option<&str>,
        purpose: Option<&str>,
    ) -> GrantCheck {
        let covers = (g.resource.is_some() && g.resource.as_deref() == resource)
            || class.is_some_and(|c| g.classifications.iter().any(|x| x == c));
        if !covers {
            return GrantCheck::Resource;
        }
        if let Some(c) = cond {
            let outer = self.ctx.grant.replace(g);
            let ok = self.bool(c);
            self.ctx.grant = outer;
            if !ok {
                return GrantCheck::Condition;
            }
        }
        match g.approved_by.as_deref() {
            Some(a) if !a.trim().is_empty() && !same_identity(a, &g.requested_by) => {}
            _ => return GrantCheck::Approval,
        }
        if g.valid_from.is_some_and(|f| now < f) {
            return GrantCheck::NotYetValid;
        }
        if now >= g.expires_at {
            return GrantCheck::Expired;
        }
        if g.revoked_at.is_some_and(|r| now >= r) {
            return GrantCheck::Revoked;
        }
        if let Some(gp) = g.purpose.as_deref() {
            if purpose != Some(gp) {
                return GrantCheck::Purpose;
            }
        }
        GrantCheck::Counted
    }

    fn val(&mut self, id: NodeId) -> Val<'a> {
        let Some(n) = self.node(id) else {
            return Val::Missing;
        };
        match n {
            Node::Const(c) => konst(&self.ctx.e.program, c),
            Node::Load(f) => self.ctx.load(*f),
            Node::Arith { op, lhs, rhs } => {
                let (l, r) = (self.val(*lhs), self.val(*rhs));
                arith(*op, l, r)
            }
            _ => Val::Bool(self.bool(id)),
        }
    }
}

/// Whether two identities name the same person for separation of duties:
/// equal after trimming white space and folding case (`Alice` and `alice `
/// are one person), compared without allocating.
fn same_identity(a: &str, b: &str) -> bool {
    fn fold(s: &str) -> impl Iterator<Item = char> + '_ {
        s.trim().chars().flat_map(char::to_lowercase)
    }
    fold(a).eq(fold(b))
}

fn konst<'a>(p: &'a Program, c: &Const) -> Val<'a> {
    match c {
        Const::Bool(b) => Val::Bool(*b),
        Const::Num(x) => Val::Num(*x),
        Const::Str(s) => Val::Str(p.sym(*s)),
        Const::Country(c) => Val::Country(*c),
        Const::Time(t) => Val::Time(*t),
        Const::Duration(d) => Val::Dur(*d),
        Const::Set(i) => Val::Set(*i),
    }
}

fn arith<'a>(op: Arith, l: Val<'a>, r: Val<'a>) -> Val<'a> {
    let sign = if op == Arith::Add { 1 } else { -1 };
    let l = match l {
        Val::Json(Value::String(s)) => json_time(s).map_or(Val::Missing, Val::Time),
        other => other,
    };
    match (l, r) {
        (Val::Time(t), Val::Dur(d)) => TimeDelta::try_seconds(d.saturating_mul(sign))
            .and_then(|d| t.checked_add_signed(d))
            .map_or(Val::Missing, Val::Time),
        (Val::Dur(a), Val::Dur(b)) => Val::Dur(a.saturating_add(b.saturating_mul(sign))),
        (Val::Num(a), Val::Num(b)) => Val::Num(a + b * sign as f64),
        _ => Val::Missing,
    }
}

fn json_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl<'a> Ctx<'a> {
    /// Calls `f` with the text of a key field of the request (`None` when the
    /// field is missing or not text).
    fn key<R>(&self, field: Field, f: impl FnOnce(&str) -> Option<R>) -> Option<R> {
        match self.load(field) {
            Val::Str(s) => f(s),
            Val::Json(Value::String(s)) => f(s),
            Val::Country(c) => {
                let letters = c.letters();
                std::str::from_utf8(&letters).ok().and_then(f)
            }
            Val::Profile(i) => {
                let p = &self.e.program;
                p.profiles.get(i as usize).and_then(|x| f(p.sym(x.name)))
            }
            _ => None,
        }
    }

    fn region(&self, w: Which) -> Option<&'a Region> {
        match w {
            Which::Source => self.source,
            Which::Target => self.target,
        }
    }

    fn load(&self, f: Field) -> Val<'a> {
        let req = self.req;
        let p = &self.e.program;
        let s = |o: &'a Option<String>| o.as_deref().map_or(Val::Missing, Val::Str);
        let c = |o: Option<Country>| o.map_or(Val::Missing, Val::Country);
        match f {
            Field::Action => Val::Str(&req.action),
            Field::Now => Val::Time(self.now),
            Field::Purpose => s(&req.purpose),
            Field::SourceRegionId => s(&req.source_region),
            Field::TargetRegionId => s(&req.target_region),
            Field::PrincipalId => s(&req.principal.id),
            Field::PrincipalCountry => c(req.principal.country),
            Field::PrincipalRoles => Val::List(&req.principal.roles),
            Field::ResourceId => s(&req.resource.id),
            Field::Classification => s(&req.resource.classification),
            Field::Sensitivity => self
                .class
                .map_or(Val::Missing, |k| Val::Str(p.sym(k.sensitivity))),
            Field::Residency => match self.profile {
                Some(i) => Val::Profile(i as u32),
                None => s(&req.resource.residency),
            },
            Field::ResidencyMode => self
                .profile
                .and_then(|i| p.profiles.get(i))
                .map_or(Val::Missing, |x| Val::Str(x.mode.as_str())),
            Field::ResidencyCountry => c(self
                .profile
                .and_then(|i| p.profiles.get(i))
                .and_then(|x| x.country)),
            Field::HomeCountry => c(req.resource.home_country),
            Field::ClientRegions => Val::List(&req.resource.client_regions),
            Field::Region(w) => self.region(w).map_or(Val::Missing, Val::Region),
            Field::RegionField(w, rf) => {
                let Some(r) = self.region(w) else {
                    return Val::Missing;
                };
                match rf {
                    RegionField::Id => Val::Str(&r.id),
                    RegionField::Country => Val::Country(r.country),
                    RegionField::Status => Val::Str(r.status.as_str()),
                    RegionField::Sovereign => Val::Bool(r.sovereign),
                    RegionField::Provider => s(&r.provider),
                    RegionField::Location => s(&r.location),
                    RegionField::Zones => Val::List(&r.zones),
                }
            }
            Field::Grant(gf) => {
                let Some(g) = self.grant else {
                    return Val::Missing;
                };
                let t = |o: Option<DateTime<Utc>>| o.map_or(Val::Missing, Val::Time);
                let sa = |o: &'a Option<std::sync::Arc<str>>| {
                    o.as_deref().map_or(Val::Missing, Val::Str)
                };
                match gf {
                    GrantField::Id => Val::Str(&g.id),
                    GrantField::Principal => Val::Str(&g.principal),
                    GrantField::Resource => sa(&g.resource),
                    GrantField::Classifications => Val::List(&g.classifications),
                    GrantField::ToCountry => Val::Country(g.to_country),
                    GrantField::Purpose => sa(&g.purpose),
                    GrantField::Mechanism => sa(&g.mechanism),
                    GrantField::RequestedBy => Val::Str(&g.requested_by),
                    GrantField::ApprovedBy => sa(&g.approved_by),
                    GrantField::ValidFrom => t(g.valid_from),
                    GrantField::ExpiresAt => Val::Time(g.expires_at),
                    GrantField::RevokedAt => t(g.revoked_at),
                }
            }
            Field::Extra(i) => {
                let Some(x) = p.extras.get(i as usize) else {
                    return Val::Missing;
                };
                let map: &Map<String, Value> = match x.root {
                    ExtraRoot::Request => &req.extra,
                    ExtraRoot::Principal => &req.principal.extra,
                    ExtraRoot::Resource => &req.resource.extra,
                    ExtraRoot::Grant => match self.grant {
                        Some(g) => &g.extra,
                        None => return Val::Missing,
                    },
                };
                let mut it = x.path.iter();
                let Some(first) = it.next() else {
                    return Val::Missing;
                };
                let mut v = map.get(first);
                for k in it {
                    v = v.and_then(|v| v.get(k.as_str()));
                }
                match v {
                    None | Some(Value::Null) => Val::Missing,
                    Some(v) => Val::Json(v),
                }
            }
        }
    }

    /// A rule's `because` message with its values filled in.
    fn message(&self, r: &RuleDef) -> String {
        let mut out = String::new();
        self.message_into(r, &mut out);
        out
    }

    /// Appends a rule's `because` message, with its values filled in, to `out`.
    fn message_into(&self, r: &RuleDef, out: &mut String) {
        let p = &self.e.program;
        let Some(parts) = r.message.and_then(|m| p.messages.get(m as usize)) else {
            let verb = if r.effect == Effect::Forbid {
                "forbidden"
            } else {
                "permitted"
            };
            out.push_str(verb);
            out.push_str(" by rule `");
            out.push_str(&r.id);
            out.push('`');
            return;
        };
        let mut nt = NoTrace;
        let mut ev = Eval {
            ctx: self.clone(),
            t: &mut nt,
        };
        for part in parts {
            match part {
                MessagePart::Text(t) => out.push_str(t),
                MessagePart::Value { node, .. } => match ev.val(*node) {
                    Val::Str(s) => out.push_str(s),
                    Val::Country(c) => {
                        let [a, b] = c.letters();
                        out.push(char::from(a));
                        out.push(char::from(b));
                    }
                    Val::Missing => out.push_str("(missing)"),
                    v => out.push_str(&render_text(p, v)),
                },
            }
        }
    }
}

/// Normalises a JSON operand to a typed value where the other side says how.
fn coerce<'a>(v: Val<'a>, like: Val<'_>) -> Val<'a> {
    let Val::Json(j) = v else { return v };
    match (j, like) {
        (Value::String(s), Val::Time(_)) => json_time(s).map_or(Val::Missing, Val::Time),
        (Value::String(s), Val::Country(_)) => Country::parse(s).map_or(Val::Str(s), Val::Country),
        (Value::String(s), _) => Val::Str(s),
        (Value::Number(n), _) => n.as_f64().map_or(Val::Missing, Val::Num),
        (Value::Bool(b), _) => Val::Bool(*b),
        (Value::Null, _) => Val::Missing,
        _ => v,
    }
}

fn text_of<'a>(p: &'a Program, v: Val<'a>) -> Option<TextVal<'a>> {
    match v {
        Val::Str(s) => Some(TextVal::S(s)),
        Val::Country(c) => Some(TextVal::C(c)),
        Val::Profile(i) => p
            .profiles
            .get(i as usize)
            .map(|x| TextVal::S(p.sym(x.name))),
        _ => None,
    }
}

enum TextVal<'a> {
    S(&'a str),
    C(Country),
}

impl TextVal<'_> {
    fn eq(&self, o: &TextVal<'_>) -> bool {
        match (self, o) {
            (TextVal::S(a), TextVal::S(b)) => a == b,
            (TextVal::C(a), TextVal::C(b)) => a == b,
            (TextVal::S(a), TextVal::C(c)) | (TextVal::C(c), TextVal::S(a)) => {
                a.as_bytes() == c.letters()
            }
        }
    }
    fn is(&self, s: &str) -> bool {
        match self {
            TextVal::S(a) => *a == s,
            TextVal::C(c) => s.as_bytes() == c.letters(),
        }
    }
}

fn equal(ctx: &Ctx<'_>, l: Val<'_>, r: Val<'_>) -> Option<bool> {
    let p = &ctx.e.program;
    let (l, r) = (coerce(l, r), coerce(r, l));
    Some(match (l, r) {
        (Val::Missing, _) | (_, Val::Missing) => return None,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Num(a), Val::Num(b)) => a == b,
        (Val::Time(a), Val::Time(b)) => a == b,
        (Val::Dur(a), Val::Dur(b)) => a == b,
        (a, b) => text_of(p, a)?.eq(&text_of(p, b)?),
    })
}

fn order(l: Val<'_>, r: Val<'_>) -> Option<std::cmp::Ordering> {
    match (coerce(l, r), coerce(r, l)) {
        (Val::Num(a), Val::Num(b)) => a.partial_cmp(&b),
        (Val::Time(a), Val::Time(b)) => Some(a.cmp(&b)),
        (Val::Dur(a), Val::Dur(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

fn member(ctx: &Ctx<'_>, l: Val<'_>, r: Val<'_>) -> Option<bool> {
    let p = &ctx.e.program;
    let l = coerce(l, Val::Missing);
    if matches!(l, Val::Missing) {
        return None;
    }
    match r {
        Val::Set(i) => match &p.sets.get(i as usize)?.value {
            SetValue::Countries(s) => match l {
                Val::Country(c) => Some(s.contains(c)),
                Val::Str(x) => Some(Country::parse(x).is_some_and(|c| s.contains(c))),
                _ => None,
            },
            SetValue::Strings(v) => {
                let t = text_of(p, l)?;
                Some(match t {
                    TextVal::S(x) => v.binary_search_by(|s| p.sym(*s).cmp(x)).is_ok(),
                    TextVal::C(_) => v.iter().any(|s| t.is(p.sym(*s))),
                })
            }
        },
        Val::List(items) => {
            let t = text_of(p, l)?;
            Some(items.iter().any(|s| t.is(s)))
        }
        Val::Json(Value::Array(items)) => Some(
            items
                .iter()
                .any(|j| equal(ctx, l, Val::Json(j)) == Some(true)),
        ),
        _ => None,
    }
}

fn compare(ctx: &Ctx<'_>, op: CmpOp, l: Val<'_>, r: Val<'_>) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => equal(ctx, l, r) == Some(true),
        CmpOp::Ne => equal(ctx, l, r) == Some(false),
        CmpOp::Lt => order(l, r) == Some(Less),
        CmpOp::Le => matches!(order(l, r), Some(Less | Equal)),
        CmpOp::Gt => order(l, r) == Some(Greater),
        CmpOp::Ge => matches!(order(l, r), Some(Greater | Equal)),
        CmpOp::In => member(ctx, l, r) == Some(true),
        CmpOp::NotIn => member(ctx, l, r) == Some(false),
        CmpOp::Satisfies => false,
    }
}

fn render_text(p: &Program, v: Val<'_>) -> String {
    match render_json(p, v) {
        Value::String(s) => s,
        Value::Null => "(missing)".into(),
        other => other.to_string(),
    }
}

fn render_duration(d: i64) -> String {
    for (unit, secs) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if d != 0 && d % secs == 0 {
            return format!("{}{unit}", d / secs);
        }
    }
    format!("{d}s")
}

/// A value as the trace shows it.
pub fn render_json(p: &Program, v: Val<'_>) -> Value {
    match v {
        Val::Missing => Value::Null,
        Val::Bool(b) => json!(b),
        Val::Num(x) => json!(x),
        Val::Str(s) => json!(s),
        Val::Country(c) => json!(c.to_string()),
        Val::Time(t) => json!(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Val::Dur(d) => json!(render_duration(d)),
        Val::Set(i) => json!(p.sets.get(i as usize).map_or("?", |s| s.name.as_str())),
        Val::List(l) => json!(l),
        Val::Region(r) => json!(r.id),
        Val::Profile(i) => json!(p.profiles.get(i as usize).map_or("?", |x| p.sym(x.name))),
        Val::Json(j) => j.clone(),
    }
}

// ---- the trace recorder ----------------------------------------------------------------

struct RuleRec {
    rule: u32,
    applied: bool,
    conditions: Vec<Value>,
    grants: Vec<Value>,
    /// Grants looked at beyond [`TRACED_GRANTS`]: counted, not shown.
    grants_omitted: u64,
}

/// The most grants a full trace shows for one rule: a principal with a
/// million grants gives a trace of bounded size (the rest are counted).
pub const TRACED_GRANTS: usize = 100;

struct Recorder<'p> {
    p: &'p Program,
    full: bool,
    rules: Vec<RuleRec>,
    grant: Option<Vec<Value>>,
    /// The grant being looked at is beyond the cap: record nothing of it.
    omitting: bool,
}

impl<'p> Recorder<'p> {
    fn new(p: &'p Program, full: bool) -> Self {
        Recorder {
            p,
            full,
            rules: Vec::new(),
            grant: None,
            omitting: false,
        }
    }

    fn finish(self, ctx: &Ctx<'_>, level: TraceLevel) -> Value {
        let p = self.p;
        let region = |r: Option<&Region>| {
            r.map_or(Value::Null, |r| {
                serde_json::to_value(r).unwrap_or(Value::Null)
            })
        };
        let considered = self.rules.len();
        let rules: Vec<Value> = self
            .rules
            .into_iter()
            .filter_map(|r| {
                let def = p.rules.get(r.rule as usize)?;
                let mut o = Map::new();
                o.insert("rule".into(), json!(def.id));
                o.insert("effect".into(), json!(effect_str(def.effect)));
                o.insert("applied".into(), json!(r.applied));
                o.insert("location".into(), json!(def.location));
                if level == TraceLevel::Full {
                    o.insert("conditions".into(), Value::Array(r.conditions));
                    if !r.grants.is_empty() {
                        o.insert("grants".into(), Value::Array(r.grants));
                    }
                    if r.grants_omitted > 0 {
                        o.insert("grants_omitted".into(), json!(r.grants_omitted));
                    }
                }
                Some(Value::Object(o))
            })
            .collect();
        json!({
            "level": if level == TraceLevel::Full { "full" } else { "summary" },
            "action": ctx.req.action,
            "at": ctx.now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "source": region(ctx.source),
            "target": region(ctx.target),
            "rules_considered": considered,
            "rules_skipped": p.rules.len() - considered,
            "rules": rules,
        })
    }
}

fn grant_why(g: &Grant, check: GrantCheck, now: DateTime<Utc>, purpose: Option<&str>) -> String {
    let t = |x: DateTime<Utc>| x.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    match check {
        GrantCheck::Counted => {
            "valid: approved, within its validity window, not revoked, purpose matches".into()
        }
        GrantCheck::Resource => "it covers neither this resource id nor its classification".into(),
        GrantCheck::Condition => "the rule's conditions on the grant do not hold".into(),
        GrantCheck::Approval => match g.approved_by.as_deref().filter(|a| !a.trim().is_empty()) {
            None => "it was never approved (approved_by is empty)".into(),
            Some(a) => format!(
                "it was approved by its own requester `{a}` (no one approves their own request)"
            ),
        },
        GrantCheck::NotYetValid => format!(
            "it is not valid yet: valid_from {} is after {}",
            g.valid_from.map(t).unwrap_or_default(),
            t(now)
        ),
        GrantCheck::Expired => format!(
            "it expired: expires_at {} is not after {}",
            t(g.expires_at),
            t(now)
        ),
        GrantCheck::Revoked => format!(
            "it was revoked at {}, not after {}",
            g.revoked_at.map(t).unwrap_or_default(),
            t(now)
        ),
        GrantCheck::Purpose => format!(
            "its purpose `{}` is not the request's purpose {}",
            g.purpose.as_deref().unwrap_or(""),
            purpose.map_or("(missing)".into(), |p| format!("`{p}`"))
        ),
    }
}

impl Tracer for Recorder<'_> {
    const ON: bool = true;

    fn rule_start(&mut self, rule: u32) {
        self.rules.push(RuleRec {
            rule,
            applied: false,
            conditions: Vec::new(),
            grants: Vec::new(),
            grants_omitted: 0,
        });
    }

    fn rule_end(&mut self, rule: u32, applied: bool) {
        if let Some(r) = self.rules.last_mut().filter(|r| r.rule == rule) {
            r.applied = applied;
        }
    }

    fn atom(&mut self, atom: u32, result: bool, l: Val<'_>, r: Val<'_>) {
        if !self.full || self.omitting {
            return;
        }
        let Some(a) = self.p.atoms.get(atom as usize) else {
            return;
        };
        let mut values = Map::new();
        let mut missing = Vec::new();
        for (text, v) in a.operands.iter().zip([l, r]) {
            if let Some(text) = text {
                let j = render_json(self.p, v);
                if j.is_null() {
                    missing.push(json!(text));
                }
                values.insert(text.clone(), j);
            }
        }
        let mut o = Map::new();
        o.insert("condition".into(), json!(a.text));
        o.insert("phrase".into(), json!(a.phrase));
        o.insert("result".into(), json!(result));
        if !values.is_empty() {
            o.insert("values".into(), Value::Object(values));
        }
        if !missing.is_empty() {
            o.insert("missing".into(), Value::Array(missing));
        }
        o.insert("location".into(), json!(a.location));
        let target = match self.grant.as_mut() {
            Some(g) => g,
            None => match self.rules.last_mut() {
                Some(r) => &mut r.conditions,
                None => return,
            },
        };
        target.push(Value::Object(o));
    }

    fn grant_start(&mut self, _g: &Grant) {
        self.omitting = self
            .rules
            .last()
            .is_some_and(|r| r.grants.len() >= TRACED_GRANTS);
        self.grant = (!self.omitting).then(Vec::new);
    }

    fn grant_end(
        &mut self,
        g: &Grant,
        check: GrantCheck,
        now: DateTime<Utc>,
        purpose: Option<&str>,
    ) {
        let conditions = self.grant.take().unwrap_or_default();
        if self.omitting {
            self.omitting = false;
            if let Some(r) = self.rules.last_mut() {
                r.grants_omitted += 1;
            }
            return;
        }
        if !self.full {
            return;
        }
        let mut o = Map::new();
        o.insert("grant".into(), json!(g.id));
        o.insert("counted".into(), json!(check == GrantCheck::Counted));
        if check != GrantCheck::Counted {
            o.insert("failed".into(), json!(check.as_str()));
        }
        o.insert("why".into(), json!(grant_why(g, check, now, purpose)));
        if !conditions.is_empty() {
            o.insert("conditions".into(), Value::Array(conditions));
        }
        if let Some(r) = self.rules.last_mut() {
            r.grants.push(Value::Object(o));
        }
    }
}
