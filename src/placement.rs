//! Placement: where may this data go now? Every region of the catalog, each
//! decided as the request's target.
//!
//! Input: an [`Engine`] and a request (its `target_region` is ignored).
//! Output: the allowed regions with the obligations an allow there would
//! carry, and for each refused one the determining rules, as the `sovra place` command and `POST /v1/placement` print them.
//! Invariant: one verdict per region on the hot path (no trace), and the work
//! stops at the deadline when one is given.

use crate::documents::Request;
use crate::eval::{Engine, Scratch};
use serde_json::{json, Value};
use std::time::Instant;

/// Every region of the catalog where the action would be allowed, and for
/// each refused region the determining rules; `None` when `deadline` passed
/// first.
pub fn place(engine: &Engine, req: &Request, deadline: Option<Instant>) -> Option<Value> {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    let mut scratch = Scratch::default();
    let mut r = req.clone();
    for region in &engine.regions().regions {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        r.target_region = Some(region.id.as_str().into());
        let v = engine.verdict(&r, &mut scratch);
        if v.allow {
            // The obligations that would come with the allow, as a decision gives them.
            let p = engine.program();
            let mut obligations: Vec<&str> = Vec::new();
            for rule in v.rules.iter().filter_map(|i| p.rules.get(*i as usize)) {
                for o in &rule.obligations {
                    let o = p.sym(*o);
                    if !obligations.contains(&o) {
                        obligations.push(o);
                    }
                }
            }
            allowed.push(
                json!({"region": region.id, "country": region.country, "obligations": obligations}),
            );
        } else {
            let rules: Vec<&str> = v
                .rules
                .iter()
                .filter_map(|i| engine.program().rules.get(*i as usize))
                .map(|d| d.id.as_str())
                .collect();
            let rules = if rules.is_empty() {
                vec![crate::eval::DEFAULT_DENY]
            } else {
                rules
            };
            refused.push(json!({"region": region.id, "country": region.country, "rules": rules}));
        }
    }
    Some(json!({ "action": req.action, "allowed": allowed, "refused": refused }))
}
