//! Explanations: a decision rendered for a person who has never read the
//! policy language.
//!
//! Input: a [`Decision`] (fresh from the engine, or read back from the JSON
//! that `sovra eval` wrote). Output: plain text: the outcome, the rules that
//! determined it with their messages and places, each condition in words with
//! the values it saw, and every grant looked at with why it did or did not
//! count. It reads only the decision document, never the policy.

use crate::eval::{ConditionTrace, Decision, GrantTrace};
use crate::vocab::Effect;
use serde_json::Value;
use std::fmt::Write as _;

/// Text from the request, the documents or the policy, made safe to print:
/// control characters and line breaks are written as escapes, so a value
/// can never start a line of its own or forge one (`\n`, `\u{1b}`).
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "missing".into(),
        Value::String(s) => clean(s).into_owned(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        o => o.to_string(),
    }
}

fn conditions(o: &mut String, conds: &[ConditionTrace], indent: &str) {
    for c in conds {
        let phrase = if c.phrase.is_empty() {
            &c.condition
        } else {
            &c.phrase
        };
        let yes = if c.result { "yes" } else { "no" };
        let _ = write!(o, "{indent}- {}: {yes}", clean(phrase));
        if !c.values.is_empty() {
            let seen: Vec<String> = c
                .values
                .iter()
                .map(|(k, v)| format!("{} = {}", clean(k), show(v)))
                .collect();
            let _ = write!(o, " ({})", seen.join("; "));
        }
        if !c.missing.is_empty() {
            o.push_str(" [a value was missing, so the comparison is false]");
        }
        o.push('\n');
        let _ = writeln!(
            o,
            "{indent}    as written: `{}` at {}",
            clean(&c.condition),
            clean(&c.location)
        );
    }
}

fn grants(o: &mut String, gs: &[GrantTrace], indent: &str) {
    for g in gs {
        let verdict = if g.counted {
            "counted"
        } else {
            "did not count"
        };
        let _ = writeln!(
            o,
            "{indent}- grant {} {verdict}: {}",
            clean(&g.grant),
            clean(&g.why)
        );
        conditions(o, &g.conditions, &format!("{indent}    "));
    }
}

/// Renders a decision for a person.
pub fn render(d: &Decision) -> String {
    let mut o = String::new();
    let outcome = if d.allowed() { "ALLOW" } else { "DENY" };
    let _ = writeln!(o, "Decision: {outcome}");
    let _ = writeln!(o, "Decided at: {}", clean(&d.evaluated_at));
    if let Some(t) = &d.trace {
        let _ = write!(o, "Action: {}", clean(&t.action));
        for (side, r) in [("source", &t.source), ("target", &t.target)] {
            if let Some(r) = r {
                let sov = if r.sovereign { ", sovereign" } else { "" };
                let _ = write!(
                    o,
                    "; {side} region {} ({}, {}{sov})",
                    clean(&r.id),
                    clean(&r.country),
                    clean(&r.status)
                );
            }
        }
        o.push('\n');
    }
    o.push('\n');
    let n = d.reasons.len();
    let why = if d.allowed() {
        format!(
            "Allowed because {n} rule{} permit{} it and no rule forbids it:",
            plural(n),
            if n == 1 { "s" } else { "" }
        )
    } else if d.default_denied() {
        "Denied because no rule permits it (what is not permitted is denied):".to_string()
    } else {
        format!(
            "Denied because {n} rule{} forbid{} it (a forbidding rule overrides any permit):",
            plural(n),
            if n == 1 { "s" } else { "" }
        )
    };
    let _ = writeln!(o, "{why}");
    for r in &d.reasons {
        let _ = writeln!(
            o,
            "  * {} ({}, {})",
            clean(&r.rule),
            r.effect,
            clean(&r.location)
        );
        let _ = writeln!(o, "    {}", clean(&r.message));
    }
    if !d.obligations.is_empty() {
        let _ = writeln!(o, "\nThe caller must: {}", clean(&d.obligations.join(", ")));
    }
    match &d.trace {
        None => {
            o.push_str("\n(No trace was recorded: decide with --explain full to see every rule and value.)\n");
        }
        Some(t) => {
            let _ = writeln!(
                o,
                "\nRules considered: {} ({} others cannot concern this request: their action or key field differs)",
                t.rules.len(),
                t.rules_skipped
            );
            for r in &t.rules {
                let verb = match (r.effect, r.applied) {
                    (Effect::Forbid, true) => "applied: it forbids the request",
                    (Effect::Permit, true) => "applied: it permits the request",
                    _ => "did not apply",
                };
                let _ = writeln!(
                    o,
                    "\n  {} ({}, {}) {verb}",
                    clean(&r.rule),
                    r.effect,
                    clean(&r.location)
                );
                if let Some(cs) = &r.conditions {
                    conditions(&mut o, cs, "    ");
                }
                if !r.grants.is_empty() {
                    let _ = writeln!(o, "    grants looked at:");
                    grants(&mut o, &r.grants, "      ");
                }
                let n = r.grants_omitted;
                if n > 0 {
                    let _ = writeln!(
                        o,
                        "      … and {n} more grant{} looked at, not shown (a trace shows the first {})",
                        plural(n as usize),
                        crate::eval::TRACED_GRANTS
                    );
                }
            }
        }
    }
    let _ = writeln!(
        o,
        "\nPolicy: {}\nInputs: {}",
        clean(&d.policy_hash),
        clean(&d.input_hash)
    );
    o
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
