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

mod decision;
mod declared;
mod fast;
mod plan;
pub use declared::Misfit;
mod trace;
mod trace_json;
mod walk;

pub use decision::{
    ConditionTrace, Decision, Detail, GrantCheck, GrantTrace, Outcome, Reason, RegionSeen,
    RuleTrace, Trace, Values, DEFAULT_DENY,
};
pub use trace::{NoTrace, Tracer, TRACED_GRANTS};
pub use walk::{render_json, Val};

use crate::documents::{Grants, Regions, Request};
use crate::ir::*;
use crate::vocab::Effect;
use chrono::{DateTime, SecondsFormat, Utc};
use trace::Recorder;
pub use walk::render_duration;
pub use walk::same_identity;
use walk::{Ctx, Eval, ReasonJson};
pub use walk::{Probe, Splitter, Var, VARS};

/// How much of the reasoning a decision carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceLevel {
    /// No trace.
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
    actions: fast::Names,
    classes: fast::Names,
    profiles: fast::Names,
    /// Per action entry, per keyed group: value → index into its `values`.
    keys: Vec<Vec<fast::Keys>>,
    /// Each rule's conjuncts for the path without a trace (src/eval/fast.rs).
    fast: Vec<Vec<fast::Test>>,
    /// Each action's rules for that path, by kind of classification
    /// (src/eval/plan.rs).
    plans: plan::Plans,
    /// The conditions of `exists grant`, likewise, by node.
    grant_conds: Vec<(crate::ir::NodeId, Vec<fast::Test>)>,
    /// Bit `i`: grant `i` passes the checks that read the grant and the
    /// program alone (approved by someone other than its requester, no
    /// longer than the program's `grant_bound`s allow), for that path.
    grants_fit: Vec<u64>,
    /// Whether any node reads the source region, the target region (else
    /// the path without a trace does not look it up).
    reads_regions: [bool; 2],
    /// sha256 state after `regions hash \n grants hash \n`.
    input_prefix: sha2::Sha256,
    /// Per rule, its reason as JSON ([`ReasonJson`]), written as it is by
    /// [`Engine::decide_json`].
    rule_json: Vec<ReasonJson>,
    /// `,"policy_hash":"…","input_hash":` as JSON.
    hash_json: Box<str>,
    /// Why the program given was refused (it does not validate): the engine
    /// then runs an empty program, so every request is denied, saying why.
    defect: Option<String>,
    /// A region attribute or grant field whose type is not the declared
    /// one: every request is denied, saying which.
    unfit: Option<String>,
    /// The state store's version its documents were read at, when they
    /// came from one (decision records name it).
    state_version: Option<i64>,
    /// The texts traces repeat, shared; built when first traced.
    trace_texts: std::sync::OnceLock<trace::Texts>,
    /// The same as JSON, for traces written as text; built when first
    /// written.
    trace_json: std::sync::OnceLock<trace_json::JsonTexts>,
}

/// Reusable buffers for [`Engine::verdict`].
#[derive(Debug, Default)]
pub struct Scratch {
    found: Found,
    /// The request's compact form, hashed for `input_hash`.
    compact: Vec<u8>,
    /// The last instant formatted for `evaluated_at`, and its text.
    last_time: Option<(DateTime<Utc>, String)>,
    /// A trace being written as JSON.
    trace: trace_json::Bufs,
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
    /// Whether it allows.
    pub allow: bool,
    /// Indexes of the determining rules (forbids on deny, permits on allow;
    /// empty on a default deny).
    pub rules: &'s [u32],
}

impl Engine {
    /// An engine for `program` over the documents. The program is
    /// validated first (every index in range, children before parents): the
    /// walk relies on it. A program that does not validate is not run; the
    /// engine denies every request with the reason.
    pub fn new(program: Program, regions: Regions, grants: Grants) -> Engine {
        let policy_hash = program.hash();
        let (program, defect) = match program.validate() {
            Ok(()) => (program, None),
            Err(why) => (Program::default(), Some(why)),
        };
        let unfit = declared::check_documents(&program, &regions, &grants);
        let actions = fast::Names::new(
            program
                .actions
                .iter()
                .enumerate()
                .map(|(i, s)| (program.sym(*s).to_string(), i)),
        );
        let classes = fast::Names::new(
            program
                .classifications
                .iter()
                .enumerate()
                .map(|(i, c)| (program.sym(c.name).to_string(), i)),
        );
        // Profiles written in rules are never a request's residency.
        let profiles = fast::Names::new(
            program
                .profiles
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.inline)
                .map(|(i, p)| (program.sym(p.name).to_string(), i)),
        );
        let keys: Vec<Vec<fast::Keys>> = program
            .by_action
            .iter()
            .map(|e| {
                e.keyed
                    .iter()
                    .map(|k| fast::Keys::new(&program, k, &classes))
                    .collect()
            })
            .collect();
        let input_prefix = input_prefix(&regions.hash, &grants.hash);
        let q = |t: &str| serde_json::to_string(t).unwrap_or_default();
        let rule_json = program
            .rules
            .iter()
            .map(|r| ReasonJson::new(&program, r))
            .collect();
        let hash_json =
            format!(",\"policy_hash\":{},\"input_hash\":", q(&policy_hash)).into_boxed_str();
        let reads_regions = [Which::Source, Which::Target].map(|w| reads_region(&program, w));
        let fast = fast::compile(&program);
        let plans = plan::Plans::new(&program, &fast, &keys, &classes);
        let grant_conds = fast::grant_conditions(&program);
        let grants_fit = grants_fit(&program, &grants);
        Engine {
            reads_regions,
            fast,
            plans,
            grant_conds,
            grants_fit,
            defect,
            unfit,
            state_version: None,
            trace_texts: std::sync::OnceLock::new(),
            trace_json: std::sync::OnceLock::new(),
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

    /// Whether grant `i` is in the engine's `grants_fit`.
    #[inline]
    fn grant_fits(&self, i: u32) -> bool {
        self.grants_fit
            .get(i as usize / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// The pre-digested tests of the `exists grant` condition `cond`.
    #[inline]
    fn grant_tests(&self, cond: crate::ir::NodeId) -> Option<&[fast::Test]> {
        let i = self
            .grant_conds
            .binary_search_by_key(&cond, |(n, _)| *n)
            .ok()?;
        self.grant_conds.get(i).map(|(_, tests)| tests.as_slice())
    }

    /// The engine, noting that its documents are a state store's at
    /// `version` (decision log records name it, so an auditor knows which
    /// state a decision was made on).
    pub fn with_state_version(mut self, version: i64) -> Engine {
        self.state_version = Some(version);
        self
    }

    /// The state store's version its documents were read at, if any.
    pub fn state_version(&self) -> Option<i64> {
        self.state_version
    }

    /// The compiled program it runs.
    pub fn program(&self) -> &Program {
        &self.program
    }
    /// Its regions document.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }
    /// Its grants document.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }
    /// `sha256:…` of the program's logic (its debug info aside).
    pub fn policy_hash(&self) -> &str {
        &self.policy_hash
    }

    /// The request's names resolved. A region no rule reads is looked up
    /// only when `all` (a trace shows the regions).
    fn ctx<'a>(&'a self, req: &'a Request, now: DateTime<Utc>, all: bool) -> Ctx<'a> {
        let res = &req.resource;
        let region = |id: Option<&'a str>, read: bool| {
            (all || read)
                .then(|| id.and_then(|r| self.regions.get(r)))
                .flatten()
        };
        Ctx {
            e: self,
            req,
            now,
            action: self.actions.get(&req.action),
            class: res
                .classification
                .as_deref()
                .and_then(|c| self.classes.get(c)),
            profile: res.residency.as_deref().and_then(|p| self.profiles.get(p)),
            source: region(req.source_region.as_deref(), self.reads_regions[0]),
            target: region(req.target_region.as_deref(), self.reads_regions[1]),
            grants: std::cell::OnceCell::new(),
            grant: None,
            probe: None,
        }
    }

    /// Decides `req` under analysis: `Some((allow, rule))` when the walk
    /// read only fixed variables (so every request that agrees with `req`
    /// on them is decided the same, by the same first rule), `None` when it
    /// read one in `probe.unknown` (recorded in `probe.needed`, the first
    /// in `probe.first`). Every rule is considered (their conditions carry
    /// their actions and keys), forbids first, in rule order; the first
    /// that applies decides (`rule`: it, or `None` for the default deny).
    pub fn probe(&self, req: &Request, probe: &Probe<'_>) -> Option<(bool, Option<u32>)> {
        probe.needed.set(0);
        probe.first.set(None);
        *probe.divided.borrow_mut() = None;
        let mut ctx = self.ctx(req, Self::now(req), true);
        ctx.probe = Some(probe);
        if self.unfit.is_some() {
            return Some((false, None));
        }
        let mut ev = Eval {
            ctx,
            t: &mut NoTrace,
        };
        let rules = &self.program.rules;
        for effect in [Effect::Forbid, Effect::Permit] {
            for (i, r) in rules.iter().enumerate() {
                if r.effect != effect {
                    continue;
                }
                let applies = ev.rule(i as u32);
                if probe.needed.get() != 0 {
                    return None;
                }
                if applies {
                    return Some((effect == Effect::Permit, Some(i as u32)));
                }
            }
        }
        Some((false, None))
    }

    /// Whether rule `rule`'s condition holds for `req` under analysis
    /// (`None`: it read an unfixed variable; see [`Engine::probe`]).
    pub fn probe_rule(&self, req: &Request, probe: &Probe<'_>, rule: u32) -> Option<bool> {
        probe.needed.set(0);
        probe.first.set(None);
        *probe.divided.borrow_mut() = None;
        let mut ctx = self.ctx(req, Self::now(req), true);
        ctx.probe = Some(probe);
        let holds = Eval {
            ctx,
            t: &mut NoTrace,
        }
        .rule(rule);
        (probe.needed.get() == 0).then_some(holds)
    }

    fn now(req: &Request) -> DateTime<Utc> {
        req.time.map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    }

    /// Decides without explanation, reusing `scratch`: the hot path.
    pub fn verdict<'s>(&self, req: &Request, scratch: &'s mut Scratch) -> Verdict<'s> {
        let ctx = self.ctx(req, Self::now(req), false);
        run(&ctx, &mut NoTrace, &mut scratch.found)
    }

    /// Decides and builds the full decision document.
    pub fn decide(&self, req: &Request, level: TraceLevel) -> Decision {
        let ctx = self.ctx(req, Self::now(req), level != TraceLevel::Off);
        let mut found = Found::default();
        if level == TraceLevel::Off {
            let v = run(&ctx, &mut NoTrace, &mut found);
            return self.build_in(&ctx, v.allow, v.rules, None);
        }
        let texts = self
            .trace_texts
            .get_or_init(|| trace::Texts::new(&self.program, &self.regions));
        let mut t = Recorder::new(&self.program, texts, level == TraceLevel::Full);
        let v = run(&ctx, &mut t, &mut found);
        let trace = t.finish(&ctx, level);
        self.build_in(&ctx, v.allow, v.rules, Some(trace))
    }

    /// sha256 of the documents' hashes and the request's compact form
    /// ([`Request::write_compact`]), the request written into a copy of the
    /// hasher that has already taken the documents.
    pub fn input_hash(&self, req: &Request) -> String {
        let mut out = Vec::with_capacity(71);
        self.input_hash_into(req, &mut Vec::with_capacity(320), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`Engine::input_hash`] appended to `out` (`sha256:` and 64 hex
    /// digits), the request's compact form written into `compact` (a reused
    /// buffer).
    pub fn input_hash_into(&self, req: &Request, compact: &mut Vec<u8>, out: &mut Vec<u8>) {
        use sha2::Digest;
        compact.clear();
        req.write_compact(compact);
        let mut h = self.input_prefix.clone();
        h.update(&*compact);
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
        self.decide_json_traced(req, TraceLevel::Off, scratch, out)
    }

    /// [`Engine::decide_json`] with a trace at `level`: the same bytes as
    /// serialising [`Engine::decide`]`(req, level)`'s result, the trace
    /// written as the walk goes rather than built (what the server and
    /// `sovra eval --requests` answer with when asked to explain).
    pub fn decide_json_traced<'s>(
        &self,
        req: &Request,
        level: TraceLevel,
        scratch: &'s mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict<'s> {
        let now = Self::now(req);
        let ctx = self.ctx(req, now, level != TraceLevel::Off);
        let mut writer = None;
        let v = if level == TraceLevel::Off {
            run(&ctx, &mut NoTrace, &mut scratch.found)
        } else {
            let texts = self
                .trace_json
                .get_or_init(|| trace_json::JsonTexts::new(&self.program, &self.regions));
            let w = writer.insert(trace_json::Writer::new(
                &self.program,
                texts,
                level == TraceLevel::Full,
                &mut scratch.trace,
            ));
            run(&ctx, w, &mut scratch.found)
        };
        let p = &self.program;
        use crate::json::string as s;
        out.extend_from_slice(br#"{"decision":""#);
        out.extend_from_slice(if v.allow { b"allow" } else { b"deny" });
        out.extend_from_slice(br#"","reasons":["#);
        let mut first = true;
        for &ri in v.rules {
            let Some(reason) = self.rule_json.get(ri as usize) else {
                continue;
            };
            if !first {
                out.push(b',');
            }
            first = false;
            ctx.reason_json(reason, out);
        }
        if !v.allow && v.rules.is_empty() {
            out.extend_from_slice(br#"{"rule":"default_deny","effect":"forbid","message":"#);
            s(out, &self.default_deny_message(req));
            out.extend_from_slice(br#","location":"built-in"}"#);
        }
        out.extend_from_slice(br#"],"obligations":["#);
        if v.allow {
            // Kept inline: a permit names a few obligations (no allocation
            // on the batch path; tests/alloc.rs).
            let mut seen: smallvec::SmallVec<[u32; 8]> = smallvec::SmallVec::new();
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
        out.push(b']');
        let at = match &mut scratch.last_time {
            Some((t, text)) if *t == now => text,
            last => {
                let text = now.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                &last.insert((now, text)).1
            }
        };
        if let Some(w) = writer {
            out.push(b',');
            w.finish(
                out,
                &req.action,
                at,
                (&self.regions, [ctx.source, ctx.target]),
            );
        }
        out.extend_from_slice(self.hash_json.as_bytes());
        out.push(b'"');
        self.input_hash_into(req, &mut scratch.compact, out);
        out.push(b'"');
        out.extend_from_slice(br#","evaluated_at":"#);
        s(out, at);
        out.push(b'}');
        v
    }
}

/// Whether any node of `p` reads region `w`: a field of it, or a field
/// outside the schema read from it.
fn reads_region(p: &Program, w: Which) -> bool {
    let root = match w {
        Which::Source => ExtraRoot::Source,
        Which::Target => ExtraRoot::Target,
    };
    p.extras.iter().any(|x| x.root == root)
        || p.nodes.iter().any(
            |n| matches!(n, Node::Load(Field::Region(x) | Field::RegionField(x, _)) if *x == w),
        )
}

/// [`Engine`]'s `grants_fit`: for each grant, whether its approval and the
/// program's bounds admit it, as the walk's grant check decides them.
fn grants_fit(p: &Program, grants: &Grants) -> Vec<u64> {
    let mut bits = vec![0u64; grants.len().div_ceil(64)];
    for (i, g) in grants.iter().enumerate() {
        let approved = grants.approved(i as u32) || g.approval().is_ok();
        let fits = approved && !walk::too_long(p, g);
        if let Some(word) = bits.get_mut(i / 64).filter(|_| fits) {
            *word |= 1 << (i % 64);
        }
    }
    bits
}

/// The input hash's first bytes, hashed once per engine: the regions' and
/// the grants' hashes, each with a newline, then what the request's form
/// is, in spaces up to a multiple of 64 bytes, so that the request begins
/// sha256's next block (taken whole, not copied behind the documents').
fn input_prefix(regions: &str, grants: &str) -> sha2::Sha256 {
    use sha2::Digest;
    let mut head = format!("{regions}\n{grants}\nrequest, compact form 1\n").into_bytes();
    head.resize(head.len().next_multiple_of(64), b' ');
    let mut h = sha2::Sha256::new();
    h.update(&head);
    h
}

fn run<'s, T: Tracer>(ctx: &Ctx<'_>, t: &mut T, scratch: &'s mut Found) -> Verdict<'s> {
    scratch.forbids.clear();
    scratch.permits.clear();
    let e = ctx.e;
    // A document or request that does not fit the declarations is denied
    // (the default deny's message says why).
    if e.unfit.is_some() || (!e.program.fields.is_empty() && !e.request_fits(ctx.req)) {
        return Verdict {
            allow: false,
            rules: &scratch.forbids,
        };
    }
    let slot = ctx.action.unwrap_or(e.program.actions.len());
    let entry = e.program.rules_for(ctx.action);
    // The entry of keyed group `gi` for this request's value of its field.
    let lookup = move |gi: usize| -> Option<&KeyedEntry> {
        let group = entry.keyed.get(gi)?;
        let keys = e.keys.get(slot).and_then(|g| g.get(gi))?;
        let i = match &keys.by_class {
            Some(by) if ctx.probe.is_none() => by.get(ctx.class?).copied().flatten(),
            _ => ctx.key(group.field, |text| keys.names.get(text)),
        };
        group.values.get(i?)
    };
    fn pick(k: &KeyedEntry, forbid: bool) -> &[u32] {
        if forbid {
            &k.forbids
        } else {
            &k.permits
        }
    }
    let mut ev = Eval {
        ctx: ctx.clone(),
        t,
    };
    // Without a trace or a probe: the plan for the request's action and
    // kind of classification (src/eval/plan.rs), then the keyed groups it
    // left to look up (plain loops: this is the hot path).
    let given = ctx.req.resource.classification.is_some();
    if let Some(plan) = e
        .plans
        .get(slot, ctx.class, given)
        .filter(|_| !T::ON && ctx.probe.is_none())
    {
        let mut hits: [Option<&KeyedEntry>; 8] = [None; 8];
        for (h, gi) in hits.iter_mut().zip(&plan.groups) {
            *h = lookup(*gi);
        }
        let mut visit = |forbid: bool, into: &mut Vec<u32>| {
            let steps = if forbid { &plan.forbids } else { &plan.permits };
            for s in steps {
                let tests = plan.tests(s);
                if tests.is_empty() || ev.quick(tests) {
                    into.push(s.rule);
                }
            }
            for k in hits.iter().take(plan.groups.len()).flatten() {
                for &r in pick(k, forbid) {
                    if ev.quick_rule(r) {
                        into.push(r);
                    }
                }
            }
            // More than eight groups to look up: the rest.
            for gi in plan.groups.iter().skip(8) {
                for &r in lookup(*gi).map_or(&[][..], |k| pick(k, forbid)) {
                    if ev.quick_rule(r) {
                        into.push(r);
                    }
                }
            }
        };
        visit(true, &mut scratch.forbids);
        if scratch.forbids.is_empty() {
            visit(false, &mut scratch.permits);
        }
        // A group's rules come after the plan's: reasons in rule order.
        if !plan.groups.is_empty() {
            scratch.forbids.sort_unstable();
            scratch.permits.sort_unstable();
        }
        return found(scratch);
    }
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
    // The rules of one effect: the action's own, then those of the keyed
    // groups this request reaches, each walked.
    let mut visit = |forbid: bool, into: &mut Vec<u32>| {
        let own = if forbid {
            &entry.forbids
        } else {
            &entry.permits
        };
        for &r in own {
            if ev.rule(r) {
                into.push(r);
            }
        }
        for k in hits.iter().take(entry.keyed.len()).flatten() {
            for &r in pick(k, forbid) {
                if ev.rule(r) {
                    into.push(r);
                }
            }
        }
        // More than eight keyed groups in one action: look the rest up.
        if overflow {
            for gi in 8..entry.keyed.len() {
                if let Some(k) = lookup(gi) {
                    for &r in pick(k, forbid) {
                        if ev.rule(r) {
                            into.push(r);
                        }
                    }
                }
            }
        }
    };
    visit(true, &mut scratch.forbids);
    if scratch.forbids.is_empty() || T::ON {
        visit(false, &mut scratch.permits);
    }
    // Reasons come in rule order, whichever index found them.
    scratch.forbids.sort_unstable();
    scratch.permits.sort_unstable();
    found(scratch)
}

/// The verdict of the rules found: a forbid denies, else a permit allows.
fn found(scratch: &mut Found) -> Verdict<'_> {
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
