//! Reference-pack requests of each action and outcome, with a few grants:
//! the shared inputs of benches/eval.rs and benches/compare.rs.
#![allow(
    dead_code,
    reason = "shared by several test crates; each uses part of it"
)]

pub const GRANTS: &str = r#"{ "grants": [
  { "id": "g-1", "principal": "alice", "resource": "ds-customers", "to_country": "US", "purpose": "support", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "valid_from": "2026-01-01T00:00:00Z", "expires_at": "2026-12-31T00:00:00Z" },
  { "id": "g-2", "principal": "alice", "classifications": ["identity"], "to_country": "IN", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob", "expires_at": "2026-12-31T00:00:00Z" },
  { "id": "g-3", "principal": "svc-billing", "resource": "ds-customers", "to_country": "US", "mechanism": "dpf", "requested_by": "carol", "approved_by": "dave", "expires_at": "2026-12-31T00:00:00Z" }
] }"#;

/// (name, request, expected allow)
pub const REQUESTS: &[(&str, &str, bool)] = &[
    (
        "store/allow",
        r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-billing","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#,
        true,
    ),
    (
        "store/deny-gdpr",
        r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-other","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"global","home_country":"DE"},"target_region":"us-east-1"}"#,
        false,
    ),
    (
        "replicate/allow-hybrid",
        r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds-orders","classification":"transactional","residency":"de-primary-eea","home_country":"DE"},"source_region":"eu-central-1","target_region":"eu-west-3"}"#,
        true,
    ),
    (
        "replicate/allow-dpf-grant",
        r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"svc-billing","country":"DE"},"resource":{"id":"ds-customers","classification":"identity","residency":"global","home_country":"DE"},"source_region":"eu-central-1","target_region":"us-east-1"}"#,
        true,
    ),
    (
        "access/allow-grant",
        r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#,
        true,
    ),
    (
        "access/deny-no-grant",
        r#"{"action":"access","time":"2026-03-01T12:00:00Z","principal":{"id":"mallory","country":"CN"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1"}"#,
        false,
    ),
];
