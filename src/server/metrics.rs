//! The server's counters and the Prometheus text of `/metrics`.
//!
//! Invariant: counting never blocks a decision for long: counters are atomics,
//! and a request or batch tallies its decisions locally and merges them once.

use super::St;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sovra::eval::Engine;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub const BUCKETS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
    0.25,
];

#[derive(Default)]
pub struct Metrics {
    pub allow: AtomicU64,
    pub deny: AtomicU64,
    pub by_rule: Mutex<BTreeMap<String, u64>>,
    pub latency: [AtomicU64; 13],
    pub latency_sum_ns: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub bad_requests: AtomicU64,
    pub unauthorized: AtomicU64,
}

impl Metrics {
    /// Counts one request's time to decide in the latency histogram.
    pub fn latency(&self, started: Instant) {
        let m = self;
        let secs = started.elapsed().as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = m.latency.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        m.latency_sum_ns
            .fetch_add((secs * 1e9) as u64, Ordering::Relaxed);
    }
}

/// Decisions of one request or batch, counted locally and added to the
/// metrics once.
#[derive(Default)]
pub struct Tally {
    allow: u64,
    deny: u64,
    /// By rule index; `u32::MAX` counts default denies.
    by_rule: rustc_hash::FxHashMap<u32, u64>,
    /// Decisions counted by name (those built whole, with a trace or for the log).
    by_name: BTreeMap<String, u64>,
    pub bad: u64,
}

impl Tally {
    pub fn verdict(&mut self, v: sovra::Verdict<'_>) {
        if v.allow {
            self.allow += 1;
        } else {
            self.deny += 1;
        }
        let slots: &[u32] = if !v.allow && v.rules.is_empty() {
            &[u32::MAX]
        } else {
            v.rules
        };
        for &r in slots {
            *self.by_rule.entry(r).or_default() += 1;
        }
    }

    pub fn decision(&mut self, d: &sovra::eval::Decision) {
        if d.allowed() {
            self.allow += 1;
        } else {
            self.deny += 1;
        }
        for r in &d.reasons {
            *self.by_name.entry(r.rule.clone()).or_default() += 1;
        }
    }

    pub fn merge(self, engine: &Engine, m: &Metrics) {
        m.allow.fetch_add(self.allow, Ordering::Relaxed);
        m.deny.fetch_add(self.deny, Ordering::Relaxed);
        m.bad_requests.fetch_add(self.bad, Ordering::Relaxed);
        let Ok(mut by) = m.by_rule.lock() else { return };
        let rules = &engine.program().rules;
        for (&i, &n) in &self.by_rule {
            let name = rules
                .get(i as usize)
                .map_or("default_deny", |r| r.id.as_str());
            match by.get_mut(name) {
                Some(c) => *c += n,
                None => {
                    by.insert(name.to_string(), n);
                }
            }
        }
        for (name, n) in self.by_name {
            *by.entry(name).or_default() += n;
        }
    }
}

pub async fn metrics(State(s): State<St>) -> Response {
    use std::fmt::Write as _;
    let m = &s.metrics;
    let mut o = String::new();
    o.push_str("# HELP sovra_decisions_total Decisions made, by outcome.\n# TYPE sovra_decisions_total counter\n");
    let _ = writeln!(
        o,
        "sovra_decisions_total{{outcome=\"allow\"}} {}",
        m.allow.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "sovra_decisions_total{{outcome=\"deny\"}} {}",
        m.deny.load(Ordering::Relaxed)
    );
    o.push_str("# HELP sovra_decisions_by_rule_total Decisions by determining rule.\n# TYPE sovra_decisions_by_rule_total counter\n");
    if let Ok(by) = m.by_rule.lock() {
        for (rule, n) in by.iter() {
            let _ = writeln!(o, "sovra_decisions_by_rule_total{{rule=\"{rule}\"}} {n}");
        }
    }
    o.push_str("# HELP sovra_decision_seconds Time to decide one request.\n# TYPE sovra_decision_seconds histogram\n");
    let mut cumulative = 0;
    for (i, b) in BUCKETS.iter().enumerate() {
        cumulative += m.latency.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
        let _ = writeln!(
            o,
            "sovra_decision_seconds_bucket{{le=\"{b}\"}} {cumulative}"
        );
    }
    cumulative += m
        .latency
        .get(BUCKETS.len())
        .map_or(0, |c| c.load(Ordering::Relaxed));
    let _ = writeln!(
        o,
        "sovra_decision_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        o,
        "sovra_decision_seconds_sum {}",
        m.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
    );
    let _ = writeln!(o, "sovra_decision_seconds_count {cumulative}");
    o.push_str("# HELP sovra_reloads_total Policy reloads, by result.\n# TYPE sovra_reloads_total counter\n");
    let _ = writeln!(
        o,
        "sovra_reloads_total{{result=\"ok\"}} {}",
        m.reloads_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "sovra_reloads_total{{result=\"failed\"}} {}",
        m.reloads_failed.load(Ordering::Relaxed)
    );
    o.push_str(
        "# HELP sovra_errors_total Requests refused, by kind.\n# TYPE sovra_errors_total counter\n",
    );
    let _ = writeln!(
        o,
        "sovra_errors_total{{kind=\"bad_request\"}} {}",
        m.bad_requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "sovra_errors_total{{kind=\"unauthorized\"}} {}",
        m.unauthorized.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], o).into_response()
}
