//! Tracing: what the walk reports, and the recorder that turns it into a
//! [`Trace`].
//!
//! Input: the walk's events (a rule started and ended, a comparison with its
//! operands, a grant looked at and the first check it failed). Output: a
//! [`Trace`]. Invariant: with [`NoTrace`] every hook is an empty inline
//! function and `Tracer::ON` is `false`, so the hot path compiles without
//! them; a full trace shows at most [`TRACED_GRANTS`] grants a rule.

use super::decision::{
    ConditionTrace, Detail, GrantCheck, GrantTrace, RegionSeen, RuleTrace, Values,
};
use super::walk::{render_json, Ctx, Val};
use super::{Trace, TraceLevel};
use crate::documents::{Grant, Region, Regions};
use crate::ir::Program;
use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;
use std::sync::Arc;

/// Observes evaluation. The no-op [`NoTrace`] compiles away.
pub trait Tracer {
    /// Whether the hooks do anything (the walk skips short cuts when on).
    const ON: bool;
    /// A rule's evaluation begins.
    fn rule_start(&mut self, _rule: u32) {}
    /// A rule's evaluation ended: whether it applied.
    fn rule_end(&mut self, _rule: u32, _applied: bool) {}
    /// A comparison (atom) was evaluated with these operands.
    fn atom(&mut self, _atom: u32, _result: bool, _l: &Val<'_>, _r: &Val<'_>) {}
    /// A grant is about to be checked.
    fn grant_start(&mut self, _grant: &Grant) {}
    /// A grant was checked: counted (`Ok`) or the first check it failed.
    fn grant_end(
        &mut self,
        _grant: &Grant,
        _check: Result<(), GrantCheck>,
        _now: DateTime<Utc>,
        _purpose: Option<&str>,
    ) {
    }
}

/// The tracer that records nothing: the hot path.
pub struct NoTrace;
impl Tracer for NoTrace {
    const ON: bool = false;
}

/// The most grants a full trace shows for one rule: a principal with a
/// million grants gives a trace of bounded size (the rest are counted).
pub const TRACED_GRANTS: usize = 100;

/// The program's texts a trace repeats (rule ids and places, each
/// condition's text, phrase, place and operands), shared: a trace line
/// takes a reference count, not a copy of the text. Built the first time
/// an engine traces.
#[derive(Debug)]
pub(super) struct Texts {
    /// Per rule: its id and place.
    rules: Vec<(Arc<str>, Arc<str>)>,
    atoms: Vec<AtomTexts>,
    /// Each region of the engine's document as a trace shows it, in the
    /// document's order.
    regions: Vec<Arc<RegionSeen>>,
}

#[derive(Debug)]
struct AtomTexts {
    text: Arc<str>,
    phrase: Arc<str>,
    location: Arc<str>,
    operands: [Option<Arc<str>>; 2],
}

impl Texts {
    pub(super) fn new(p: &Program, regions: &Regions) -> Texts {
        let a = |s: &str| Arc::<str>::from(s);
        Texts {
            rules: p.rules.iter().map(|r| (a(&r.id), a(&r.location))).collect(),
            atoms: p
                .atoms
                .iter()
                .map(|x| AtomTexts {
                    text: a(&x.text),
                    phrase: a(&x.phrase),
                    location: a(&x.location),
                    operands: x.operands.clone().map(|o| o.map(Arc::from)),
                })
                .collect(),
            regions: regions
                .regions
                .iter()
                .map(|r| Arc::new(RegionSeen::from(r)))
                .collect(),
        }
    }

    /// `r` as a trace shows it: shared when it is one of `doc`'s regions.
    fn region(&self, doc: &Regions, r: &Region) -> Arc<RegionSeen> {
        match doc.position(r).and_then(|i| self.regions.get(i)) {
            Some(seen) => seen.clone(),
            None => Arc::new(RegionSeen::from(r)),
        }
    }
}

/// Records a [`Trace`].
pub(super) struct Recorder<'p> {
    p: &'p Program,
    texts: &'p Texts,
    full: bool,
    rules: Vec<RuleTrace>,
    /// The conditions of the grant being looked at.
    grant: Option<Vec<ConditionTrace>>,
    /// The grant being looked at is beyond the cap: record nothing of it.
    omitting: bool,
}

impl<'p> Recorder<'p> {
    pub(super) fn new(p: &'p Program, texts: &'p Texts, full: bool) -> Self {
        Recorder {
            p,
            texts,
            full,
            rules: Vec::with_capacity(p.rules.len().min(32)),
            grant: None,
            omitting: false,
        }
    }

    pub(super) fn finish(self, ctx: &Ctx<'_>, level: TraceLevel) -> Trace {
        let considered = self.rules.len();
        Trace {
            level: if level == TraceLevel::Full {
                Detail::Full
            } else {
                Detail::Summary
            },
            action: ctx.req.action.to_string(),
            at: ctx.now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            source: ctx.source.map(|r| self.texts.region(&ctx.e.regions, r)),
            target: ctx.target.map(|r| self.texts.region(&ctx.e.regions, r)),
            rules_considered: considered,
            rules_skipped: self.p.rules.len().saturating_sub(considered),
            rules: self.rules,
        }
    }
}

/// Why a grant did or did not count, in words.
pub(super) fn grant_why(
    g: &Grant,
    check: Result<(), GrantCheck>,
    now: DateTime<Utc>,
    purpose: Option<&str>,
) -> Cow<'static, str> {
    let t = |x: DateTime<Utc>| x.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let Err(check) = check else {
        return "valid: approved, within its validity window, not revoked, purpose matches".into();
    };
    match check {
        GrantCheck::Resource => "it covers neither this resource id nor its classification".into(),
        GrantCheck::Condition => "the rule's conditions on the grant do not hold".into(),
        GrantCheck::Unapproved => "it was never approved (approved_by is empty)".into(),
        GrantCheck::SelfApproved => format!(
            "it was approved by its own requester `{}` (no one approves their own request)",
            g.approved_by.as_deref().unwrap_or_default()
        ).into(),
        GrantCheck::NotYetValid => format!(
            "it is not valid yet: valid_from {} is after {}",
            g.valid_from.map(t).unwrap_or_default(),
            t(now)
        ).into(),
        GrantCheck::Expired => format!(
            "it expired: expires_at {} is not after {}",
            t(g.expires_at),
            t(now)
        ).into(),
        GrantCheck::Revoked => format!(
            "it was revoked at {}, not after {}",
            g.revoked_at.map(t).unwrap_or_default(),
            t(now)
        ).into(),
        GrantCheck::Purpose => format!(
            "its purpose `{}` is not the request's purpose {}",
            g.purpose.as_deref().unwrap_or(""),
            purpose.map_or("(missing)".into(), |p| format!("`{p}`"))
        ).into(),
        GrantCheck::TooLong => match g.valid_from {
            Some(f) => format!(
                "it lasts longer than the policy lets such grants last (from {} to {})",
                t(f),
                t(g.expires_at)
            ).into(),
            None => "the policy bounds how long such grants last, and it has no valid_from to count from".into(),
        },
    }
}

impl Tracer for Recorder<'_> {
    const ON: bool = true;

    fn rule_start(&mut self, rule: u32) {
        let (Some(def), Some((id, location))) = (
            self.p.rules.get(rule as usize),
            self.texts.rules.get(rule as usize),
        ) else {
            return;
        };
        self.rules.push(RuleTrace {
            applied: false,
            conditions: self.full.then(|| Vec::with_capacity(4)),
            effect: def.effect,
            grants: Vec::new(),
            grants_omitted: 0,
            location: location.clone(),
            rule: id.clone(),
        });
    }

    fn rule_end(&mut self, rule: u32, applied: bool) {
        let id = self.texts.rules.get(rule as usize).map(|(id, _)| id);
        if let Some(r) = self.rules.last_mut().filter(|r| Some(&r.rule) == id) {
            r.applied = applied;
        }
    }

    fn atom(&mut self, atom: u32, result: bool, l: &Val<'_>, r: &Val<'_>) {
        if !self.full || self.omitting {
            return;
        }
        let Some(a) = self.texts.atoms.get(atom as usize) else {
            return;
        };
        let mut values = Values::default();
        let mut missing = Vec::new();
        for (text, v) in a.operands.iter().zip([*l, *r]) {
            if let Some(text) = text {
                let j = render_json(self.p, v);
                if j.is_null() {
                    missing.push(String::from(&**text));
                }
                values.insert(text.clone(), j);
            }
        }
        let c = ConditionTrace {
            condition: a.text.clone(),
            location: a.location.clone(),
            missing,
            phrase: a.phrase.clone(),
            result,
            values,
        };
        let target = match self.grant.as_mut() {
            Some(g) => g,
            None => match self.rules.last_mut().and_then(|r| r.conditions.as_mut()) {
                Some(cs) => cs,
                None => return,
            },
        };
        target.push(c);
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
        check: Result<(), GrantCheck>,
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
        let t = GrantTrace {
            conditions,
            counted: check.is_ok(),
            failed: check.err(),
            grant: g.id.to_string(),
            why: grant_why(g, check, now, purpose).into_owned(),
        };
        if let Some(r) = self.rules.last_mut() {
            r.grants.push(t);
        }
    }
}
