//! The state store: the workflow, the documents it gives the engine, and a
//! history that refuses tampering.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use chrono::{DateTime, Utc};
use sovra::documents::Request;
use sovra::eval::{Engine, TraceLevel};
use sovra::state::{GrantRequest, GrantState, Store};

fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
}

fn store(name: &str) -> (Store, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("sovra-state-{}-{name}.db", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let mut s = Store::open(&format!("sqlite:{}", path.display())).unwrap();
    s.init(
        include_str!("../policies/catalog/cloud-regions.json"),
        r#"{"grants":[]}"#,
        "ops",
        at("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    (s, path)
}

fn access_request() -> Request<'static> {
    Request::from_json(
        r#"{"action":"access","time":"2026-03-02T12:00:00Z","principal":{"id":"alice","country":"US"},
            "resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},
            "source_region":"eu-central-1","purpose":"support"}"#,
    )
    .unwrap()
}

fn decide(s: &mut Store) -> String {
    let (regions, grants) = s.documents().unwrap();
    let program = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    Engine::new(program, regions, grants)
        .decide(&access_request(), TraceLevel::Off)
        .decision
        .as_str()
        .to_string()
}

#[test]
fn a_grant_is_requested_approved_by_another_person_and_then_counts() {
    let (mut s, _) = store("workflow");
    assert_eq!(decide(&mut s), "deny", "no grant yet");
    let req = GrantRequest {
        principal: "alice".into(),
        resource: Some("ds-customers".into()),
        to_country: "US".into(),
        purpose: Some("support".into()),
        mechanism: Some("scc".into()),
        duration: Some("90d".into()),
        reason: Some("ticket 4711".into()),
        ..Default::default()
    };
    let id = s
        .request_grant(&req, "alice", at("2026-03-02T09:00:00Z"))
        .unwrap();
    assert_eq!(id, "g-000001");
    assert_eq!(decide(&mut s), "deny", "a pending request is not a grant");
    // The requester never approves her own request, whatever the case or spaces.
    let e = s
        .approve(&id, " ALICE ", at("2026-03-02T10:00:00Z"))
        .unwrap_err();
    assert!(e.to_string().contains("a different person approves"), "{e}");
    s.approve(&id, "dpo-ben", at("2026-03-02T10:00:00Z"))
        .unwrap();
    assert_eq!(
        decide(&mut s),
        "allow",
        "approved: it counts from its approval"
    );
    let e = s
        .approve(&id, "carol", at("2026-03-02T10:05:00Z"))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("is approved: only a pending request"),
        "{e}"
    );
    s.revoke(
        &id,
        "dpo-ben",
        Some("ticket closed"),
        at("2026-03-02T11:00:00Z"),
    )
    .unwrap();
    assert_eq!(decide(&mut s), "deny", "revoked: effective at once");
    let (g, state, history) = s.grant(&id, at("2026-03-03T00:00:00Z")).unwrap();
    assert_eq!(state, GrantState::Revoked);
    assert_eq!(g["requested_by"], "alice");
    assert_eq!(g["approved_by"], "dpo-ben");
    let whats: Vec<&str> = history.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(whats, ["grant.request", "grant.approve", "grant.revoke"]);
    assert_eq!(history[0].why.as_deref(), Some("ticket 4711"));
    assert_eq!(s.verify().unwrap(), 4, "init and three changes");
}

#[test]
fn requests_are_checked_when_made_and_states_read_at_an_instant() {
    let (mut s, _) = store("states");
    let now = at("2026-03-02T09:00:00Z");
    let bad = GrantRequest {
        principal: "bob".into(),
        classifications: vec!["identity".into()],
        to_country: "UK".into(),
        duration: Some("30d".into()),
        ..Default::default()
    };
    let e = s.request_grant(&bad, "bob", now).unwrap_err().to_string();
    assert!(e.contains("to_country") && e.contains("GB"), "{e}");
    let e = s
        .request_grant(
            &GrantRequest {
                duration: Some("soon".into()),
                to_country: "US".into(),
                ..bad.clone()
            },
            "bob",
            now,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("`soon` is not a duration"), "{e}");
    let ok = GrantRequest {
        to_country: "US".into(),
        ..bad.clone()
    };
    let a = s.request_grant(&ok, "bob", now).unwrap();
    let b = s.request_grant(&ok, "bob", now).unwrap();
    s.approve(&a, "dpo", now).unwrap();
    s.reject(&b, "dpo", Some("no mechanism"), now).unwrap();
    let c = s.request_grant(&ok, "bob", now).unwrap();
    let mut states = |t| {
        s.grants(None, at(t))
            .unwrap()
            .into_iter()
            .map(|(g, st)| format!("{} {}", g["id"].as_str().unwrap(), st.as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states("2026-03-10T00:00:00Z"),
        [
            format!("{a} active"),
            format!("{b} rejected"),
            format!("{c} pending")
        ]
    );
    assert_eq!(states("2026-04-02T00:00:00Z")[0], format!("{a} expired"));
    assert_eq!(s.grants(Some(GrantState::Pending), now).unwrap().len(), 1);
    // Only approved (and revoked) grants are in the grants document.
    let doc = s.grants_document().unwrap();
    assert_eq!(doc["grants"].as_array().unwrap().len(), 1);
}

#[test]
fn a_region_status_change_is_in_force_and_in_the_history() {
    let (mut s, path) = store("regions");
    let seq = s
        .set_region_status(
            "eu-central-1",
            "offline",
            "power loss in FRA",
            "monitor",
            at("2026-03-02T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(seq, 2);
    assert_eq!(s.version().unwrap(), 2);
    let (regions, _) = s.documents().unwrap();
    assert_eq!(
        regions.get("eu-central-1").unwrap().status.as_str(),
        "offline"
    );
    let e = s
        .set_region_status(
            "eu-central-1",
            "broken",
            "",
            "monitor",
            at("2026-03-02T00:00:00Z"),
        )
        .unwrap_err();
    assert!(e.to_string().contains("not a region status"), "{e}");
    let e = s
        .set_region_status(
            "mars-1",
            "offline",
            "",
            "monitor",
            at("2026-03-02T00:00:00Z"),
        )
        .unwrap_err();
    assert!(e.to_string().contains("no region `mars-1`"), "{e}");
    // Reopened, the store holds what was committed.
    drop(s);
    let mut s = Store::open(&format!("sqlite:{}", path.display())).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    let (regions, _) = s.documents().unwrap();
    assert_eq!(
        regions.get("eu-central-1").unwrap().status.as_str(),
        "offline"
    );
    let h = s.history().unwrap();
    assert_eq!(h[1].who, "monitor");
    assert_eq!(h[1].why.as_deref(), Some("power loss in FRA"));
    assert_eq!(h[1].before.as_ref().unwrap()["status"], "active");
    assert_eq!(h[1].after.as_ref().unwrap()["status"], "offline");
}

#[test]
fn a_changed_or_removed_history_entry_fails_verification_naming_it() {
    let (mut s, path) = store("tamper");
    let now = at("2026-03-02T00:00:00Z");
    s.set_region_status("eu-west-1", "degraded", "latency", "monitor", now)
        .unwrap();
    s.set_region_status("eu-west-1", "active", "recovered", "monitor", now)
        .unwrap();
    assert_eq!(s.verify().unwrap(), 3);
    drop(s);
    let db = rusqlite_open(&path);
    db.execute("UPDATE history SET who = 'someone-else' WHERE seq = 2", [])
        .unwrap();
    drop(db);
    let mut s = Store::open(&format!("sqlite:{}", path.display())).unwrap();
    let e = s.verify().unwrap_err().to_string();
    assert!(
        e.contains("history entry 2 (region.status of eu-west-1"),
        "{e}"
    );
    drop(s);
    let db = rusqlite_open(&path);
    db.execute("DELETE FROM history WHERE seq = 2", []).unwrap();
    drop(db);
    let mut s = Store::open(&format!("sqlite:{}", path.display())).unwrap();
    let e = s.verify().unwrap_err().to_string();
    assert!(e.contains("expected sequence number 2"), "{e}");
}

#[test]
fn a_store_is_seeded_once_and_a_bad_url_says_what_to_write() {
    let (mut s, _) = store("seeded");
    let e = s
        .init(
            r#"{"regions":[]}"#,
            r#"{"grants":[]}"#,
            "ops",
            at("2026-03-02T00:00:00Z"),
        )
        .unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    let e = Store::open("postgress://x").err().unwrap().to_string();
    assert!(e.contains("write `sqlite:PATH`"), "{e}");
}

/// The database file opened directly, as an attacker with file access would.
fn rusqlite_open(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn a_request_longer_than_the_policy_lets_grants_last_is_refused_when_made() {
    let (mut s, _) = store("bounds");
    let req = GrantRequest {
        principal: "alice".into(),
        classifications: vec!["identity".into()],
        to_country: "US".into(),
        duration: Some("120d".into()),
        ..Default::default()
    };
    let now = at("2026-03-02T09:00:00Z");
    let e = s
        .request_grant_within(&req, "alice", now, Some(90 * 86_400))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 90d"), "{e}");
    let ok = GrantRequest {
        duration: Some("90d".into()),
        ..req
    };
    s.request_grant_within(&ok, "alice", now, Some(90 * 86_400))
        .unwrap();
}
