//! The decision document and its trace, as types.
//!
//! Input: the verdict of a run (allow or deny, the determining rules by
//! index) and, when asked for, the trace the recorder gathered. Output: the
//! contract's decision document (contract.md, "Decision"). [`Engine::build`]
//! is the one place a [`Decision`] is assembled: the native engine and the
//! Rego bridge both call it, so their documents differ only in the verdict.
//!
//! Every reader (explanations, the decision log, reports, the server, the
//! tests) reads these fields, never JSON keys or prose. The trace's structs
//! declare their fields in alphabetical order: that is the order the trace's
//! JSON has always had (it was built as sorted maps), so logs written before
//! these types existed read back and print byte for byte the same.

use super::{Ctx, Engine};
use crate::documents::{Region, Request};
use crate::vocab::Effect;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::sync::Arc;

/// The rule id a default deny reports (no permit rule applied).
pub const DEFAULT_DENY: &str = "default_deny";

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A permit applied and no forbid did.
    Allow,
    /// A forbid applied, or no permit did.
    Deny,
}

impl Outcome {
    /// `allow` or `deny`, as the document spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// `outcome == "allow"`: the document's spelling, for tests and callers
/// holding text.
impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One determining rule, as the contract's `reasons` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reason {
    /// The rule's id (`gdpr.transfer_outside_eea`), or [`DEFAULT_DENY`].
    pub rule: String,
    /// Whether it permits or forbids.
    pub effect: Effect,
    /// The rule's message with the request's values put in.
    pub message: String,
    /// `file:line:column` of the rule, or `built-in`.
    pub location: String,
}

/// The decision document (contract.md, "Decision").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// Allow or deny.
    pub decision: Outcome,
    /// The rules that determined it, in rule order.
    pub reasons: Vec<Reason>,
    /// What the caller must do when allowed (the permits' obligations).
    pub obligations: Vec<String>,
    /// Why, rule by rule, when a trace was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
    /// The compiled policy that decided (`sha256:…`).
    pub policy_hash: String,
    /// The request and documents it decided on (`sha256:…`, or `mask:…` in
    /// a log record with masked fields).
    pub input_hash: String,
    /// The instant it was decided at (RFC 3339, UTC).
    pub evaluated_at: String,
}

impl Decision {
    /// Whether it allows.
    pub fn allowed(&self) -> bool {
        self.decision == Outcome::Allow
    }

    /// The determining rules' ids, sorted.
    pub fn rule_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.reasons.iter().map(|r| r.rule.clone()).collect();
        ids.sort();
        ids
    }

    /// Whether the only reason is the default deny.
    pub fn default_denied(&self) -> bool {
        !self.allowed() && self.reasons.iter().any(|r| r.rule == DEFAULT_DENY)
    }
}

/// How much a trace shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// Every rule considered and whether it applied.
    Summary,
    /// And each condition with its values, and each grant looked at.
    Full,
}

/// Why a decision came out as it did: every rule considered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Trace {
    /// The request's action.
    pub action: String,
    /// The instant decided at.
    pub at: String,
    /// Summary or full.
    pub level: Detail,
    /// The rules considered, in the order they were evaluated.
    pub rules: Vec<RuleTrace>,
    /// How many rules were evaluated.
    pub rules_considered: usize,
    /// How many could not concern the request (another action or key value).
    pub rules_skipped: usize,
    /// The request's source region as the regions document has it.
    pub source: Option<Arc<RegionSeen>>,
    /// The request's target region as the regions document has it.
    pub target: Option<Arc<RegionSeen>>,
}

/// A region as a trace shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegionSeen {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The region id.
    pub id: String,
    /// Its city or area, when the document gives one.
    pub location: Option<String>,
    /// Its cloud provider, when the document gives one.
    pub provider: Option<String>,
    /// Whether it is a sovereign-cloud region.
    pub sovereign: bool,
    /// active, degraded, draining or offline.
    pub status: String,
    /// Its availability zones.
    pub zones: Vec<String>,
}

impl From<&Region> for RegionSeen {
    fn from(r: &Region) -> Self {
        RegionSeen {
            country: r.country.to_string(),
            id: r.id.clone(),
            location: r.location.clone(),
            provider: r.provider.clone(),
            sovereign: r.sovereign,
            status: r.status.as_str().to_string(),
            zones: r.zones.clone(),
        }
    }
}

/// One rule considered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleTrace {
    /// Whether all its conditions held.
    pub applied: bool,
    /// Each condition evaluated, with the values it saw (full traces only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ConditionTrace>>,
    /// Permit or forbid.
    pub effect: Effect,
    /// The grants looked at (full traces only; at most
    /// [`TRACED_GRANTS`](super::TRACED_GRANTS)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantTrace>,
    /// Grants looked at beyond those shown: counted, not shown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grants_omitted: u64,
    /// `file:line:column`.
    pub location: Arc<str>,
    /// The rule's id.
    pub rule: Arc<str>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One comparison evaluated.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConditionTrace {
    /// The condition as written.
    pub condition: Arc<str>,
    /// `file:line:column`.
    pub location: Arc<str>,
    /// The operands whose value was missing (the comparison is then false).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The condition in plain words.
    pub phrase: Arc<str>,
    /// Whether it held.
    pub result: bool,
    /// Each operand's value, by the operand as written.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    pub values: Values,
}

/// A condition's operands and their values, by the operand as written: a
/// JSON object, ordered by operand as a sorted map is. Kept as a short list
/// with the operands' texts shared, inline up to two (a condition has one
/// or two): a full trace builds one for every condition it shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values(SmallVec<[(Arc<str>, Value); 2]>);

impl Values {
    /// Sets `operand`'s value (replacing one it had).
    pub fn insert(&mut self, operand: Arc<str>, value: Value) {
        match self.0.binary_search_by(|(k, _)| k.cmp(&operand)) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (operand, value)),
        }
    }

    /// The value of `operand`, if shown.
    pub fn get(&self, operand: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| &**k == operand).map(|(_, v)| v)
    }

    /// Whether none is shown.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many are shown.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Each operand and its value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// The pairs themselves, for a pass that rewrites them (masking).
    pub fn take(&mut self) -> Vec<(Arc<str>, Value)> {
        std::mem::take(&mut self.0).into_vec()
    }
}

impl Serialize for Values {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Values, D::Error> {
        let m = Map::<String, Value>::deserialize(d)?;
        Ok(Values(m.into_iter().map(|(k, v)| (k.into(), v)).collect()))
    }
}

/// One grant looked at by a rule's `exists grant` condition.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GrantTrace {
    /// The rule's conditions on the grant, evaluated for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionTrace>,
    /// Whether it counted.
    pub counted: bool,
    /// The first check it failed, when it did not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<GrantCheck>,
    /// The grant's id.
    pub grant: String,
    /// Why, in words, with the instants compared.
    pub why: String,
}

/// The first check a grant failed, in the order of reference-pack.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantCheck {
    /// It covers neither this resource id nor its classification.
    Resource,
    /// The rule's conditions on the grant do not hold.
    Condition,
    /// No one approved it (`approved_by` empty or missing). Logs written
    /// before the two approval checks were told apart say `approval`.
    #[serde(alias = "approval")]
    Unapproved,
    /// Its approver is its own requester (separation of duties).
    SelfApproved,
    /// `valid_from` is after the decision's instant.
    NotYetValid,
    /// `expires_at` is not after the decision's instant.
    Expired,
    /// It was revoked at or before the decision's instant.
    Revoked,
    /// Its purpose is not the request's.
    Purpose,
    /// It lasts longer than the policy lets grants last
    /// (`grants last at most 365d`), or has no `valid_from` to count from.
    TooLong,
}

impl Engine {
    /// The decision document for a verdict: the one builder. `rules` are the
    /// determining rules by index (in rule order); none on a deny is the
    /// default deny. Messages take the request's values.
    pub fn build(
        &self,
        req: &Request,
        now: DateTime<Utc>,
        allow: bool,
        rules: &[u32],
        trace: Option<Trace>,
    ) -> Decision {
        let ctx = self.ctx(req, now, true);
        self.build_in(&ctx, allow, rules, trace)
    }

    pub(super) fn build_in(
        &self,
        ctx: &Ctx<'_>,
        allow: bool,
        rules: &[u32],
        trace: Option<Trace>,
    ) -> Decision {
        let p = &self.program;
        let defs = || rules.iter().filter_map(|r| p.rules.get(*r as usize));
        let mut reasons: Vec<Reason> = defs()
            .map(|r| Reason {
                rule: r.id.clone(),
                effect: r.effect,
                message: ctx.message(r),
                location: r.location.clone(),
            })
            .collect();
        if !allow && reasons.is_empty() {
            reasons.push(Reason {
                rule: DEFAULT_DENY.into(),
                effect: Effect::Forbid,
                message: self.default_deny_message(ctx.req),
                location: "built-in".into(),
            });
        }
        let mut obligations: Vec<String> = Vec::new();
        if allow {
            for o in defs().flat_map(|r| &r.obligations) {
                let o = p.sym(*o);
                if !obligations.iter().any(|x| x == o) {
                    obligations.push(o.to_string());
                }
            }
        }
        Decision {
            decision: if allow { Outcome::Allow } else { Outcome::Deny },
            reasons,
            obligations,
            trace,
            policy_hash: self.policy_hash.clone(),
            input_hash: self.input_hash(ctx.req),
            evaluated_at: ctx.now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        }
    }
}

impl Engine {
    /// The default deny's message, or why every request is denied when the
    /// engine was given a program that does not validate.
    pub(super) fn default_deny_message(&self, req: &Request) -> String {
        if let Some(why) = &self.defect {
            return format!(
                "internal error: the compiled program is invalid ({why}); every request is denied"
            );
        }
        if let Some(why) = &self.unfit {
            return format!("{why}; every request is denied until the document is fixed");
        }
        if let Err(why) = self.check_request(req) {
            return format!("the request does not fit the policy's declarations: {why}");
        }
        format!(
            "no permit rule applies to action `{}` for this request (no permit means deny)",
            req.action
        )
    }
}
