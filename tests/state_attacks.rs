//! The state store under attack: a server killed with SIGKILL in the middle
//! of a mixed load loses no acknowledged change and leaves a history that
//! verifies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "support/server.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use support::{http, json, start_exactly};

const ALICE: &str = "alice-0123456789abcdef";
const BEN: &str = "ben-0123456789abcdefgh";
const OPS: &str = "ops-0123456789abcdefgh";

#[test]
fn a_server_killed_under_load_loses_no_acknowledged_change() {
    let dir = std::env::temp_dir().join(format!("sovra-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("state.db").display());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(["state", "init", "--state", &url, "--as", "ops"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tokens = dir.join("tokens");
    std::fs::write(
        &tokens,
        format!("alice {ALICE} evaluate,request\nben {BEN} approve\nops {OPS} admin\n"),
    )
    .unwrap();
    let server = start_exactly(&["--state", &url, "--tokens", tokens.to_str().unwrap()]);
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    // What the server acknowledged (answered 2xx): it must all be in the store.
    let requested = Arc::new(Mutex::new(Vec::<String>::new()));
    let approved = Arc::new(Mutex::new(Vec::<String>::new()));
    let revoked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..2 {
        let (stop, requested) = (stop.clone(), requested.clone());
        workers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = format!(
                    r#"{{"principal":"p{w}-{n}","classifications":["identity"],"to_country":"US","duration":"30d"}}"#
                );
                let (st, b) = http(port, "POST", "/v1/grants", Some(ALICE), &body);
                if st == 201 {
                    requested.lock().unwrap().push(json(&b)["id"].as_str().unwrap().to_string());
                }
            }
        }));
    }
    {
        let (stop, requested, approved) = (stop.clone(), requested.clone(), approved.clone());
        workers.push(std::thread::spawn(move || {
            let mut next = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = requested.lock().unwrap().get(next).cloned();
                let Some(id) = id else { continue };
                next += 1;
                let (st, _) = http(
                    port,
                    "POST",
                    &format!("/v1/grants/{id}/approve"),
                    Some(BEN),
                    "{}",
                );
                if st == 200 {
                    approved.lock().unwrap().push(id);
                }
            }
        }));
    }
    {
        let (stop, approved, revoked) = (stop.clone(), approved.clone(), revoked.clone());
        workers.push(std::thread::spawn(move || {
            let mut next = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = approved.lock().unwrap().get(next).cloned();
                let Some(id) = id else { continue };
                next += 2; // every other approved grant
                let (st, _) = http(
                    port,
                    "POST",
                    &format!("/v1/grants/{id}/revoke"),
                    Some(OPS),
                    "{}",
                );
                if st == 200 {
                    revoked.lock().unwrap().push(id);
                }
            }
        }));
    }
    {
        let stop = stop.clone();
        workers.push(std::thread::spawn(move || {
            let req = r#"{"action":"store","resource":{"classification":"operational","residency":"eea"},"target_region":"eu-central-1"}"#;
            while !stop.load(Ordering::Relaxed) {
                let _ = http(port, "POST", "/v1/evaluate", Some(ALICE), req);
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SIGKILL, with requests in flight.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        // A worker whose connection the kill cut may panic in the helper:
        // only what was acknowledged before counts.
        let _ = w.join();
    }
    let requested = requested.lock().unwrap().clone();
    let approved = approved.lock().unwrap().clone();
    let revoked = revoked.lock().unwrap().clone();
    assert!(
        requested.len() > 10,
        "the load ran: {} requests",
        requested.len()
    );
    assert!(
        !approved.is_empty() && !revoked.is_empty(),
        "approvals and revocations ran"
    );
    let mut store = sovra::state::Store::open(&url).unwrap();
    let now = chrono::Utc::now();
    for id in &requested {
        store
            .grant(id, now)
            .unwrap_or_else(|e| panic!("acknowledged request {id} lost: {e}"));
    }
    for id in &approved {
        let (g, _, _) = store.grant(id, now).unwrap();
        assert_eq!(
            g["approved_by"], "ben",
            "acknowledged approval of {id} lost"
        );
    }
    for id in &revoked {
        let (_, state, _) = store.grant(id, now).unwrap();
        assert_eq!(
            state,
            sovra::state::GrantState::Revoked,
            "acknowledged revocation of {id} lost"
        );
    }
    let changes = store.verify().unwrap();
    assert!(changes > requested.len() + approved.len() + revoked.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
