//! Explanations: a decision rendered for a person who has never read the
//! policy language.
//!
//! Input: a [`Decision`] (fresh from the engine, or read back from the JSON
//! that `sovra eval` wrote). Output: plain text: the outcome, the rules that
//! determined it with their messages and places, each condition in words with
//! the values it saw, and every grant looked at with why it did or did not
//! count. It reads only the decision document, never the policy.

use crate::eval::Decision;
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

fn conditions(o: &mut String, conds: &[Value], indent: &str) {
    for c in conds {
        let phrase = c
            .get("phrase")
            .or_else(|| c.get("condition"))
            .map(show)
            .unwrap_or_default();
        let yes = c.get("result").and_then(Value::as_bool).unwrap_or(false);
        let _ = write!(o, "{indent}- {phrase}: {}", if yes { "yes" } else { "no" });
        if let Some(Value::Object(vals)) = c.get("values") {
            let seen: Vec<String> = vals
                .iter()
                .map(|(k, v)| format!("{} = {}", clean(k), show(v)))
                .collect();
            let _ = write!(o, " ({})", seen.join("; "));
        }
        if c.get("missing").is_some() {
            o.push_str(" [a value was missing, so the comparison is false]");
        }
        o.push('\n');
        if let Some(Value::String(code)) = c.get("condition") {
            let loc = c.get("location").map(show).unwrap_or_default();
            let _ = writeln!(o, "{indent}    as written: `{}` at {loc}", clean(code));
        }
    }
}

fn grants(o: &mut String, gs: &[Value], indent: &str) {
    for g in gs {
        let id = g.get("grant").map(show).unwrap_or_default();
        let counted = g.get("counted").and_then(Value::as_bool).unwrap_or(false);
        let why = g.get("why").map(show).unwrap_or_default();
        let verdict = if counted { "counted" } else { "did not count" };
        let _ = writeln!(o, "{indent}- grant {id} {verdict}: {why}");
        if let Some(Value::Array(cs)) = g.get("conditions") {
            conditions(o, cs, &format!("{indent}    "));
        }
    }
}

/// Renders a decision for a person.
pub fn render(d: &Decision) -> String {
    let mut o = String::new();
    let outcome = if d.allowed() { "ALLOW" } else { "DENY" };
    let _ = writeln!(o, "Decision: {outcome}");
    let _ = writeln!(o, "Decided at: {}", clean(&d.evaluated_at));
    if let Some(t) = &d.trace {
        let action = t.get("action").map(show).unwrap_or_default();
        let _ = write!(o, "Action: {action}");
        for side in ["source", "target"] {
            if let Some(r) = t.get(side).filter(|r| !r.is_null()) {
                let id = r.get("id").map(show).unwrap_or_default();
                let c = r.get("country").map(show).unwrap_or_default();
                let st = r.get("status").map(show).unwrap_or_default();
                let sov = if r.get("sovereign").and_then(Value::as_bool) == Some(true) {
                    ", sovereign"
                } else {
                    ""
                };
                let _ = write!(o, "; {side} region {id} ({c}, {st}{sov})");
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
    } else if d
        .reasons
        .iter()
        .any(|r| r.rule == crate::eval::DEFAULT_DENY)
    {
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
            clean(&r.effect),
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
            let rules = t
                .get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let skipped = t.get("rules_skipped").and_then(Value::as_u64).unwrap_or(0);
            let _ = writeln!(
                o,
                "\nRules considered: {} ({} others cannot concern this request: their action or key field differs)",
                rules.len(),
                skipped
            );
            for r in &rules {
                let id = r.get("rule").map(show).unwrap_or_default();
                let eff = r.get("effect").map(show).unwrap_or_default();
                let loc = r.get("location").map(show).unwrap_or_default();
                let applied = r.get("applied").and_then(Value::as_bool).unwrap_or(false);
                let verb = match (eff.as_str(), applied) {
                    ("forbid", true) => "applied: it forbids the request",
                    ("permit", true) => "applied: it permits the request",
                    _ => "did not apply",
                };
                let _ = writeln!(o, "\n  {id} ({eff}, {loc}) {verb}");
                if let Some(Value::Array(cs)) = r.get("conditions") {
                    conditions(&mut o, cs, "    ");
                }
                if let Some(Value::Array(gs)) = r.get("grants") {
                    let _ = writeln!(o, "    grants looked at:");
                    grants(&mut o, gs, "      ");
                }
                if let Some(n) = r.get("grants_omitted").and_then(Value::as_u64) {
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
