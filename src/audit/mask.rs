//! Masking: the keyed hashes that stand for masked request values, and the
//! scrubbing of those values from everything else a record holds.

use super::{AuditError, Record};
use crate::eval::ConditionTrace;
use crate::ir::{hex_digest, Program};
use serde_json::Value;
use sha2::Sha256;
use std::path::Path;

/// The request paths of the contract that `--mask` may name.
const MASKABLE: [&str; 11] = [
    "principal.id",
    "principal.country",
    "principal.roles",
    "resource.id",
    "resource.classification",
    "resource.residency",
    "resource.home_country",
    "resource.client_regions",
    "source_region",
    "target_region",
    "purpose",
];

/// Refuses a mask path that is not a request path the policy could read (a
/// typo such as `principal.idd` would mask nothing and leak everything), and
/// `action` and `time`, without which a decision cannot be replayed.
pub fn check_mask(mask: &[String], program: &Program) -> Result<(), AuditError> {
    for m in mask {
        if m == "action" || m == "time" {
            return Err(AuditError::Invalid(format!(
                "`--mask {m}` is refused: a decision cannot be replayed without its `{m}`"
            )));
        }
        let extra = program.extras.iter().any(|x| {
            let root = match x.root {
                crate::ir::ExtraRoot::Request => None,
                crate::ir::ExtraRoot::Principal => Some("principal"),
                crate::ir::ExtraRoot::Resource => Some("resource"),
                crate::ir::ExtraRoot::Grant
                | crate::ir::ExtraRoot::Source
                | crate::ir::ExtraRoot::Target => return false,
            };
            let path = root.into_iter().chain(x.path.iter().map(String::as_str));
            path.collect::<Vec<_>>().join(".") == *m
        });
        if !MASKABLE.contains(&m.as_str()) && !extra {
            return Err(AuditError::Invalid(format!(
                "`--mask {m}` names no request field the policy could read: use one of {} or an extra field a rule reads",
                MASKABLE.join(", ")
            )));
        }
    }
    Ok(())
}

/// HMAC-SHA256 (RFC 2104), for masking.
fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    #[cfg_attr(
        not(test),
        expect(
            clippy::expect_used,
            reason = "HMAC-SHA256 takes a key of any length: new_from_slice cannot fail"
        )
    )]
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("a key of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// A value as `--mask` stores it in the log in `dir` (to look masked values up).
pub fn masked(dir: &Path, value: &str) -> Option<String> {
    let key = std::fs::read(dir.join("mask.key")).ok()?;
    Some(mask_token(&key, value))
}

/// `mask:<hex>`: the keyed hash that stands for a masked text.
pub(super) fn mask_token(key: &[u8], text: &str) -> String {
    format!(
        "mask:{}",
        hex_digest(&hmac(key, text.as_bytes())).trim_start_matches("sha256:")
    )
}

/// Every string inside a JSON value.
pub(super) fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// `text` with every occurrence of `secret`, in any ASCII case, replaced by
/// `token` (`None` when there is none): an identity written `Alice` is the
/// same person as `alice`.
fn replace_any_case(text: &str, secret: &str, token: &str) -> Option<String> {
    let hay = text.to_ascii_lowercase();
    let needle = secret.to_ascii_lowercase();
    if needle.is_empty() || !hay.contains(&needle) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (i, _) in hay.match_indices(&needle) {
        if i < at {
            continue;
        }
        out.push_str(text.get(at..i)?);
        out.push_str(token);
        at = i + needle.len();
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

/// Every occurrence of each secret (in any ASCII case) in the record's
/// reasons, obligations and trace replaced by its keyed hash: every text a
/// request value can reach. The enums (effects, outcomes, failed checks)
/// are not text and are left alone, so masking `IT` cannot break `permit`.
pub(super) fn scrub_record(rec: &mut Record, secrets: &[(String, String)]) {
    let clean = |s: &mut String| {
        if let Some(c) = scrub_text(s, secrets) {
            *s = c;
        }
    };
    for r in &mut rec.reasons {
        for s in [&mut r.rule, &mut r.message, &mut r.location] {
            clean(s);
        }
    }
    rec.obligations.iter_mut().for_each(clean);
    let Some(t) = rec.trace.as_mut() else { return };
    clean(&mut t.action);
    clean(&mut t.at);
    for r in [&mut t.source, &mut t.target].into_iter().flatten() {
        // The engine's shared region, copied before it is masked.
        let r = std::sync::Arc::make_mut(r);
        for s in [&mut r.country, &mut r.id, &mut r.status] {
            clean(s);
        }
        for s in [&mut r.location, &mut r.provider].into_iter().flatten() {
            clean(s);
        }
        r.zones.iter_mut().for_each(clean);
    }
    // The trace's shared texts (rule ids, places, conditions as written).
    let clean_shared = |s: &mut std::sync::Arc<str>| {
        if let Some(c) = scrub_text(s, secrets) {
            *s = c.into();
        }
    };
    let conditions = |cs: &mut Vec<ConditionTrace>| {
        for c in cs {
            for s in [&mut c.condition, &mut c.location, &mut c.phrase] {
                clean_shared(s);
            }
            c.missing.iter_mut().for_each(clean);
            for (mut k, mut v) in c.values.take() {
                clean_shared(&mut k);
                scrub(&mut v, secrets);
                c.values.insert(k, v);
            }
        }
    };
    for r in &mut t.rules {
        clean_shared(&mut r.rule);
        clean_shared(&mut r.location);
        if let Some(cs) = r.conditions.as_mut() {
            conditions(cs);
        }
        for g in &mut r.grants {
            clean(&mut g.grant);
            clean(&mut g.why);
            conditions(&mut g.conditions);
        }
    }
}

/// `s` with each secret replaced, or `None` when it holds none.
fn scrub_text(s: &str, secrets: &[(String, String)]) -> Option<String> {
    let mut out = None::<String>;
    for (secret, token) in secrets {
        let cur = out.as_deref().unwrap_or(s);
        if let Some(c) = replace_any_case(cur, secret, token) {
            out = Some(c);
        }
    }
    out
}

/// Replaces every occurrence of each secret (in any ASCII case) in the
/// strings of `v`, keys too, by its keyed hash.
fn scrub(v: &mut Value, secrets: &[(String, String)]) {
    let clean = |s: &str| scrub_text(s, secrets);
    match v {
        Value::String(s) => {
            if let Some(c) = clean(s) {
                *s = c;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, secrets)),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                scrub(&mut x, secrets);
                o.insert(clean(&k).unwrap_or(k), x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    /// RFC 4231, test case 2.
    #[test]
    fn hmac_sha256_is_rfc_4231() {
        let mac = super::hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::ir::hex_digest(&mac),
            "sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
