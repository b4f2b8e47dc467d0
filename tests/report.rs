//! Compliance reports: counts asserted, the HTML checked to be one
//! self-contained file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::audit::LogWriter;
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, TraceLevel};

const GRANTS: &str = r#"{ "grants": [
  { "id": "g-ok", "principal": "alice", "resource": "ds-1", "to_country": "US", "requested_by": "alice", "approved_by": "bob", "expires_at": "2026-03-20T00:00:00Z" },
  { "id": "g-self", "principal": "carol", "resource": "ds-1", "to_country": "US", "requested_by": "carol", "approved_by": "carol", "expires_at": "2027-01-01T00:00:00Z" },
  { "id": "g-revoked", "principal": "dave", "resource": "ds-1", "to_country": "US", "requested_by": "dave", "approved_by": "bob", "expires_at": "2027-01-01T00:00:00Z", "revoked_at": "2026-02-01T00:00:00Z" }
] }"#;

fn access(who: &str, day: u32) -> Request<'static> {
    Request::from_json(&format!(
        r#"{{"action":"access","time":"2026-03-0{day}T12:00:00Z","principal":{{"id":"{who}","country":"US"}},
            "resource":{{"id":"ds-1","classification":"identity","residency":"eea","home_country":"DE"}},"source_region":"eu-central-1"}}"#
    ))
    .unwrap()
    .into_owned()
}

#[test]
fn the_report_counts_outcomes_laws_flows_and_grants() {
    let dir = std::env::temp_dir().join(format!("sovra-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let grants = Grants::from_json(GRANTS).unwrap();
    let engine = Engine::new(
        sovra::policy::compile(&sovra::policy::bundled()).unwrap(),
        bundled_regions(),
        grants.clone(),
    );
    let mut log = LogWriter::open(&dir, &[]).unwrap();
    for (who, day) in [("alice", 1), ("alice", 2), ("carol", 2), ("dave", 3)] {
        let r = access(who, day);
        let d = engine.decide(&r, TraceLevel::Off);
        log.append(&engine, &r, &d).unwrap();
    }
    log.sync().unwrap();
    drop(log);

    let r = sovra::report::gather(&dir, Some(&grants), None, None).unwrap();
    assert_eq!(r.total, 4);
    assert_eq!(r.by_day["2026-03-01"], (1, 0));
    assert_eq!(r.by_day["2026-03-02"], (1, 1));
    assert_eq!(r.by_day["2026-03-03"], (0, 1));
    assert_eq!(r.denials_by_law["GDPR Art. 44-49"], 2);
    assert_eq!(r.denials_by_rule["access.cross_border_access"].0, 2);
    assert_eq!(r.flows[&("DE".to_string(), "US".to_string())], (2, 2));
    assert_eq!(r.grants_used["g-ok"], 2);
    assert_eq!(r.self_approved["g-self"], 1);
    assert_eq!(r.revoked["g-revoked"], 1);
    assert_eq!(
        r.expiring.len(),
        1,
        "g-ok expires within 30 days of the last decision"
    );
    assert_eq!(r.policies.len(), 1);

    // The period is by when records were written (`logged_at`, the writer's
    // clock), not by the instants the decisions were about.
    let at =
        |hours: i64| Some((chrono::Utc::now() + chrono::TimeDelta::hours(hours)).fixed_offset());
    let total = |since, until| {
        sovra::report::gather(&dir, None, since, until)
            .unwrap()
            .total
    };
    assert_eq!(total(at(-1), None), 4);
    assert_eq!(total(at(1), None), 0);
    assert_eq!(total(None, at(-1)), 0);
    let decided = chrono::DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").ok();
    assert_eq!(total(decided, None), 4);

    let md = sovra::report::markdown(&r);
    assert!(md.contains("| GDPR Art. 44-49 | 2 |"), "{md}");
    assert!(md.contains("| DE | US | 2 | 2 |"), "{md}");
    let html = sovra::report::html(&r);
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "the outcome chart and the flow matrix"
    );
    assert!(
        !html.contains("<script") && !html.contains("src=") && !html.contains("href="),
        "no scripts, no outside resources"
    );
    assert!(
        !html
            .replace("http://www.w3.org/2000/svg", "")
            .contains("http"),
        "no network"
    );
    std::fs::remove_dir_all(&dir).ok();
}
