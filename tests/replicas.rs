//! The state store on a real PostgreSQL, shared by two `sovra serve`
//! replicas: the store's workflow holds there as on SQLite, concurrent
//! writers through two processes keep one history that verifies, each
//! replica sees the other's committed changes within a second, and never
//! decides on a state older than a change it acknowledged itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/server.rs"]
mod support;

use chrono::{DateTime, Utc};
use sovra::eval::{Engine, TraceLevel};
use sovra::state::{GrantRequest, Store};
use sovra::Request;
use std::time::{Duration, Instant};
use support::{http, json, start_exactly, Server};

const ALICE: &str = "alice-0123456789abcdef";
const BEN: &str = "ben-0123456789abcdefgh";
const OPS: &str = "ops-0123456789abcdefgh";
const SVC: &str = "svc-0123456789abcdefgh";

fn sovra(args: &[&str]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "sovra {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

#[test]
fn the_workflow_holds_on_postgres_as_on_sqlite() {
    let Some(pg) = postgres::start("workflow") else {
        return;
    };
    sovra(&["state", "init", "--state", &pg.url, "--as", "ops"]);
    let mut s = Store::open(&pg.url).unwrap();
    assert_eq!(s.kind(), "postgres");
    assert_eq!(s.schema_version().unwrap(), 2);
    // A second open runs no migration twice.
    assert_eq!(Store::open(&pg.url).unwrap().schema_version().unwrap(), 2);
    let (regions, _) = s.documents().unwrap();
    assert!(regions.regions.len() > 140, "the bundled catalog seeds it");

    let program = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let request = Request::from_json(
        r#"{"action":"access","time":"2026-03-02T12:00:00Z","principal":{"id":"alice","country":"US"},
            "resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},
            "source_region":"eu-central-1","purpose":"support"}"#,
    )
    .unwrap();
    let decide = |s: &mut Store| {
        let (r, g) = s.documents().unwrap();
        Engine::new(program.clone(), r, g)
            .decide(&request, TraceLevel::Off)
            .decision
            .as_str()
            .to_string()
    };
    assert_eq!(decide(&mut s), "deny");
    let req = GrantRequest {
        principal: "alice".into(),
        resource: Some("ds-customers".into()),
        to_country: "US".into(),
        purpose: Some("support".into()),
        mechanism: Some("scc".into()),
        duration: Some("90d".into()),
        ..Default::default()
    };
    let id = s
        .request_grant(&req, "alice", at("2026-03-02T09:00:00Z"))
        .unwrap();
    assert_eq!(id, "g-000001");
    let e = s
        .approve(&id, " Alice ", at("2026-03-02T10:00:00Z"))
        .unwrap_err();
    assert!(e.to_string().contains("a different person"), "{e}");
    s.approve(&id, "ben", at("2026-03-02T10:00:00Z")).unwrap();
    assert_eq!(decide(&mut s), "allow");
    s.revoke(&id, "ben", Some("done"), at("2026-03-02T11:00:00Z"))
        .unwrap();
    assert_eq!(decide(&mut s), "deny");
    let (_, state, history) = s.grant(&id, at("2026-03-03T00:00:00Z")).unwrap();
    assert_eq!(state.as_str(), "revoked");
    let whats: Vec<_> = history.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(whats, ["grant.request", "grant.approve", "grant.revoke"]);
    assert_eq!(s.verify().unwrap(), 4, "init and three changes");

    // Writers in two connections at once (as two replicas are): every
    // change gets its own place in one chain.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let url = pg.url.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&url).unwrap();
                (0..15)
                    .map(|n| {
                        let req = GrantRequest {
                            principal: format!("p{w}-{n}"),
                            classifications: vec!["identity".into()],
                            to_country: "US".into(),
                            duration: Some("30d".into()),
                            ..Default::default()
                        };
                        s.request_grant(&req, "alice", Utc::now()).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "no two requests got one id");
    assert_eq!(s.verify().unwrap(), 34);
    let out = sovra(&["audit", "verify", "--state", &pg.url]);
    assert!(out.contains("34"), "{out}");

    // A changed history entry is found, on PostgreSQL too.
    let mut c = ::postgres::Client::connect(&pg.url, ::postgres::NoTls).unwrap();
    c.execute("UPDATE history SET who = 'mallory' WHERE seq = 3", &[])
        .unwrap();
    let e = s.verify().unwrap_err().to_string();
    assert!(e.contains("history entry 3"), "{e}");
}

fn replica(url: &str, tokens: &str) -> Server {
    start_exactly(&["--state", url, "--tokens", tokens])
}

const ACCESS: &str = r#"{"action":"access","principal":{"id":"alice","country":"US"},
    "resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},
    "source_region":"eu-central-1","purpose":"support"}"#;

fn decision(r: &Server) -> String {
    let (st, b) = http(r.port, "POST", "/v1/evaluate", Some(SVC), ACCESS);
    assert_eq!(st, 200, "{b}");
    json(&b)["decision"].as_str().unwrap().to_string()
}

/// How long until `check` holds, polling every 5 ms, up to 5 s.
fn until(check: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not seen within 5 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

#[test]
fn two_replicas_on_one_database_see_each_others_changes_within_a_second() {
    let Some(mut pg) = postgres::start("replicas") else {
        return;
    };
    sovra(&["state", "init", "--state", &pg.url, "--as", "ops"]);
    let tokens = std::env::temp_dir().join(format!("sovra-replicas-{}", std::process::id()));
    std::fs::write(
        &tokens,
        format!(
            "alice {ALICE} evaluate,request\nben {BEN} approve\nops {OPS} admin\nsvc {SVC} evaluate\n"
        ),
    )
    .unwrap();
    let t = tokens.to_str().unwrap();
    let (a, b) = (replica(&pg.url, t), replica(&pg.url, t));
    assert_eq!(decision(&a), "deny");
    assert_eq!(decision(&b), "deny");

    // Requested on A, approved on B: B allows at once (its own change),
    // A within a second.
    let (st, body) = http(
        a.port,
        "POST",
        "/v1/grants",
        Some(ALICE),
        r#"{"principal":"alice","resource":"ds-customers","to_country":"US","purpose":"support","mechanism":"scc","duration":"30d"}"#,
    );
    assert_eq!(st, 201, "{body}");
    let id = json(&body)["id"].as_str().unwrap().to_string();
    let (st, body) = http(
        b.port,
        "POST",
        &format!("/v1/grants/{id}/approve"),
        Some(BEN),
        "{}",
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(decision(&b), "allow", "B decides on what it acknowledged");
    let seen = until(|| decision(&a) == "allow");
    assert!(
        seen < Duration::from_secs(1),
        "A saw the approval after {seen:?}"
    );

    // Revoked on A: A denies at once, B within a second.
    let (st, body) = http(
        a.port,
        "POST",
        &format!("/v1/grants/{id}/revoke"),
        Some(BEN),
        r#"{"reason":"ticket closed"}"#,
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(decision(&a), "deny");
    let seen = until(|| decision(&b) == "deny");
    assert!(
        seen < Duration::from_secs(1),
        "B saw the revocation after {seen:?}"
    );

    // A region marked offline on B is offline on A within a second.
    let (st, body) = http(
        b.port,
        "PATCH",
        "/v1/regions/eu-central-1",
        Some(OPS),
        r#"{"status":"offline","reason":"health check"}"#,
    );
    assert_eq!(st, 200, "{body}");
    let offline = |r: &Server| {
        let (_, body) = http(r.port, "GET", "/v1/regions", Some(OPS), "");
        json(&body)["regions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "eu-central-1" && r["status"] == "offline")
    };
    assert!(offline(&b));
    let seen = until(|| offline(&a));
    assert!(
        seen < Duration::from_secs(1),
        "A saw the region after {seen:?}"
    );

    // Both replicas take requests at once: every acknowledged one is in
    // the one history, and it verifies.
    let load: Vec<_> = [a.port, b.port]
        .into_iter()
        .map(|port| {
            std::thread::spawn(move || {
                (0..20)
                    .filter(|n| {
                        let body = format!(
                            r#"{{"principal":"p{port}-{n}","classifications":["identity"],"to_country":"US","duration":"30d"}}"#
                        );
                        http(port, "POST", "/v1/grants", Some(ALICE), &body).0 == 201
                    })
                    .count()
            })
        })
        .collect();
    let acknowledged: usize = load.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(acknowledged, 40);
    let mut s = Store::open(&pg.url).unwrap();
    assert_eq!(s.grants(None, Utc::now()).unwrap().len(), 41);
    // init, request, approve, revoke, region, 40 requests.
    assert_eq!(s.verify().unwrap(), 45);
    let stored = s.version().unwrap();
    for r in [&a, &b] {
        let seen = until(|| {
            let (_, body) = http(r.port, "GET", "/v1/regions", Some(OPS), "");
            json(&body)["version"] == stored
        });
        assert!(seen < Duration::from_secs(1), "{seen:?}");
    }
    drop(s);

    // The database restarts: the replicas decide on the state in force
    // meanwhile, and take changes again once it answers.
    pg.stop();
    assert_eq!(decision(&a), "deny");
    let (st, _) = http(
        a.port,
        "POST",
        "/v1/grants",
        Some(ALICE),
        r#"{"principal":"x","classifications":["identity"],"to_country":"US","duration":"30d"}"#,
    );
    assert_eq!(st, 500, "a change the database cannot take is refused");
    pg.restart();
    until(|| {
        http(
            b.port,
            "POST",
            "/v1/grants",
            Some(ALICE),
            r#"{"principal":"y","classifications":["identity"],"to_country":"US","duration":"30d"}"#,
        )
        .0 == 201
    });
    let seen = until(|| {
        let (_, body) = http(a.port, "GET", "/v1/regions", Some(OPS), "");
        json(&body)["version"] == stored + 1
    });
    assert!(
        seen < Duration::from_secs(1),
        "A after the restart: {seen:?}"
    );
    assert_eq!(Store::open(&pg.url).unwrap().verify().unwrap(), 46);
    let _ = std::fs::remove_file(&tokens);
}

#[test]
fn the_operators_guide_runs_on_postgres() {
    let Some(pg) = postgres::start("guide") else {
        return;
    };
    let guide = include_str!("../docs/operators.md");
    let mut ran = 0;
    let mut inside = false;
    for line in guide.lines() {
        if line.starts_with("```") {
            inside = line == "```sh postgres";
            continue;
        }
        let Some(cmd) = line.strip_prefix("sovra ").filter(|_| inside) else {
            continue;
        };
        let (cmd, want) = cmd.split_once("# exit ").unwrap();
        let cmd = cmd.replace("postgres://sovra@db.internal/sovra", &pg.url);
        let args: Vec<&str> = cmd.split_whitespace().collect();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_sovra"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(want.trim().parse().unwrap()),
            "sovra {cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 2, "the guide's PostgreSQL examples: {ran}");
}
