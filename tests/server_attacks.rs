//! The server's guarantees under attack (issue 9, points 1 to 5): no lost
//! update, nothing unauthenticated costs memory or time, not reachable from
//! a browser, decisions at the server's own clock, every error as JSON.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "support/server.rs"]
mod server;

use server::{http, json, start, start_exactly};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TOKENS: &str =
    "evaluate e-0123456789abcdef\nadmin a-0123456789abcdef\nevaluate,historic h-0123456789abcdef\n";
const EVAL: Option<&str> = Some("e-0123456789abcdef");
const ADMIN: Option<&str> = Some("a-0123456789abcdef");
const HISTORIC: Option<&str> = Some("h-0123456789abcdef");

/// The tests that measure time, memory or CPU run one at a time: on two
/// cores, a sibling test's million-element request would be measured too.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sovra-attack-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tokens_file() -> String {
    let f = temp("tokens").join("tokens");
    std::fs::write(&f, TOKENS).unwrap();
    f.to_string_lossy().into_owned()
}

/// Raw bytes to the server; the whole answer back (until it closes).
fn raw(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_and_body(answer: &str) -> (u16, &str) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map_or("", |(_, b)| b))
}

fn grants_doc(version: usize, extra: usize) -> String {
    let mut list = vec![format!(
        r#"{{"id":"v{version}","principal":"p-{version}","classifications":["identity"],"to_country":"US","mechanism":"scc","requested_by":"r","approved_by":"a","expires_at":"2030-01-01T00:00:00Z"}}"#
    )];
    for i in 0..extra {
        list.push(format!(
            r#"{{"id":"x{i}","principal":"q-{i}","to_country":"US","requested_by":"r","approved_by":"a","expires_at":"2030-01-01T00:00:00Z"}}"#
        ));
    }
    format!(r#"{{"grants":[{}]}}"#, list.join(","))
}

fn regions_doc(version: usize) -> String {
    format!(
        r#"{{"regions":[{{"id":"eu-central-1","country":"DE"}},{{"id":"r-{version}","country":"DE"}}]}}"#
    )
}

fn decision(port: u16, body: &str) -> String {
    let (st, b) = http(port, "POST", "/v1/evaluate", None, body);
    assert_eq!(st, 200, "{b}");
    json(&b)["decision"].as_str().unwrap().to_string()
}

#[test]
fn concurrent_document_swaps_and_reloads_never_undo_each_other() {
    let _alone = alone();
    let s = start(&[]);
    let p = s.port;
    for v in 1..=12 {
        let grants = grants_doc(v, 20_000);
        let regions = regions_doc(v);
        let g = std::thread::spawn(move || http(p, "PUT", "/v1/documents/grants", None, &grants));
        let r = std::thread::spawn(move || http(p, "PUT", "/v1/documents/regions", None, &regions));
        let l = std::thread::spawn(move || http(p, "POST", "/v1/reload", None, ""));
        for (name, h) in [("grants", g), ("regions", r), ("reload", l)] {
            let (st, b) = h.join().unwrap();
            assert_eq!(st, 200, "{name}: {b}");
        }
        // Both acknowledged documents of this round are the ones in force.
        let access = format!(
            r#"{{"action":"access","time":"2026-07-01T00:00:00Z","principal":{{"id":"p-{v}","country":"US"}},"resource":{{"id":"d","classification":"identity","residency":"eea","home_country":"DE"}},"source_region":"eu-central-1"}}"#
        );
        assert_eq!(
            decision(p, &access),
            "allow",
            "round {v}: the grants put back"
        );
        let store = format!(
            r#"{{"action":"store","time":"2026-07-01T00:00:00Z","resource":{{"classification":"operational","residency":"global"}},"target_region":"r-{v}"}}"#
        );
        assert_eq!(
            decision(p, &store),
            "allow",
            "round {v}: the regions put back"
        );
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// `/health` answers, and fast.
fn healthy(port: u16) -> Duration {
    let t = Instant::now();
    let (st, _) = http(port, "GET", "/health", None, "");
    assert_eq!(st, 200);
    t.elapsed()
}

#[test]
fn hostile_clients_leave_the_server_answering_health_in_little_memory() {
    let _alone = alone();
    let tokens = tokens_file();
    let s = start(&[
        "--tokens",
        &tokens,
        "--timeout-ms",
        "500",
        "--header-timeout-ms",
        "3000",
    ]);
    let (p, pid) = (s.port, s.child.id());
    // 600 connections that never finish their headers.
    let slow: Vec<TcpStream> = (0..600)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", p)).unwrap();
            c.write_all(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // 12 token-less uploads of 60 MB each: refused from their headers.
    let uploads: Vec<_> = (0..12)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", p)).unwrap();
                let head = format!(
                    "POST /v1/evaluate/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    60 << 20
                );
                c.write_all(head.as_bytes()).unwrap();
                let chunk = vec![b' '; 1 << 20];
                let mut sent = 0;
                for _ in 0..60 {
                    if c.write_all(&chunk).is_err() {
                        break;
                    }
                    sent += 1;
                }
                let mut answer = String::new();
                let _ = c.read_to_string(&mut answer);
                (sent, answer)
            })
        })
        .collect();
    // A 16 MiB batch under a 500 ms limit.
    let one = r#"{"action":"store","resource":{"classification":"operational","residency":"global"},"target_region":"eu-central-1"},"#;
    let mut batch = String::from("[");
    while batch.len() < 16 << 20 {
        batch.push_str(one);
    }
    batch.pop();
    batch.push(']');
    let big = std::thread::spawn(move || http(p, "POST", "/v1/evaluate/batch", EVAL, &batch));
    let mut worst = Duration::ZERO;
    let mut peak = 0;
    for _ in 0..20 {
        worst = worst.max(healthy(p));
        peak = peak.max(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    for u in uploads {
        let (_, answer) = u.join().unwrap();
        assert!(answer.is_empty() || answer.contains(" 401 "), "{answer}");
    }
    let (st, b) = big.join().unwrap();
    assert!(st == 413 || st == 503, "{st} {b}");
    assert!(json(&b)["error"].is_string());
    worst = worst.max(healthy(p));
    peak = peak.max(rss_kb(pid));
    assert!(worst < Duration::from_millis(100), "/health took {worst:?}");
    assert!(peak < 200 * 1024, "the server grew to {peak} kB");
    // The slow connections are closed at the header timeout.
    std::thread::sleep(Duration::from_millis(3500));
    for mut c in slow.into_iter().take(20) {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.contains(" 408 "), "still open: {text}");
    }
}

#[test]
fn idle_connections_are_reaped_and_connections_are_limited() {
    let _alone = alone();
    let s = start(&["--header-timeout-ms", "1000", "--max-connections", "4"]);
    let p = s.port;
    // A kept-alive connection that goes quiet after its request is closed.
    let mut c = TcpStream::connect(("127.0.0.1", p)).unwrap();
    write!(c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut all = Vec::new();
    let _ = c.read_to_end(&mut all);
    assert!(String::from_utf8_lossy(&all).contains("200 OK"));
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "idle for {:?}",
        t.elapsed()
    );
    // Four connections held open: a fifth is closed at once.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", p)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fifth = TcpStream::connect(("127.0.0.1", p)).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let _ = write!(fifth, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n");
    let mut buf = [0u8; 64];
    assert_eq!(fifth.read(&mut buf).unwrap_or(0), 0, "the fifth was served");
    drop(held);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(http(p, "GET", "/health", None, "").0, 200);
}

#[test]
fn the_time_limit_stops_the_work_not_only_the_answer() {
    let _alone = alone();
    let s = start(&["--timeout-ms", "60"]);
    let (p, pid) = (s.port, s.child.id());
    // Placement over a million client regions: far more than 60 ms of work
    // (every catalog region looked for among the million; `sovra place`
    // takes about 0.3 s on it, which was once thought far more than a
    // limit of 300 ms, until the engine got faster).
    let regions: Vec<String> = (0..1_000_000).map(|i| format!("\"c{i}\"")).collect();
    let body = format!(
        r#"{{"action":"store","time":"2026-07-01T00:00:00Z","resource":{{"classification":"operational","residency":"client","client_regions":[{}]}}}}"#,
        regions.join(",")
    );
    let (st, b) = http(p, "POST", "/v1/placement", None, &body);
    assert_eq!(st, 503, "{b}");
    // Once answered, the server is idle again: the work stopped with it (a
    // placement left to run would keep a core busy for over a second more).
    // A second to let it drop the million strings it read, which on a
    // loaded machine (the rest of `cargo test` beside it) takes a while.
    std::thread::sleep(Duration::from_millis(1000));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(1000));
    let spent = cpu_ticks(pid) - before;
    assert!(spent < 50, "the server kept working: {spent} ticks in 1 s");
    assert!(healthy(p) < Duration::from_millis(100));
}

#[test]
fn not_reachable_from_a_browser() {
    let s = start(&[]);
    let p = s.port;
    let req = |head: &str, method: &str, path: &str, body: &str| {
        let answer = raw(
            p,
            format!(
                "{method} {path} HTTP/1.1\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let (st, b) = status_and_body(&answer);
        (st, b.to_string())
    };
    // DNS rebinding: another name that points at 127.0.0.1.
    let (st, b) = req("Host: evil.example:80\r\n", "GET", "/v1/policies", "");
    assert_eq!(st, 403, "{b}");
    assert!(json(&b)["error"].as_str().unwrap().contains("Host"));
    assert_eq!(req("", "GET", "/health", "").0, 403, "no Host at all");
    assert_eq!(req("Host: localhost\r\n", "GET", "/health", "").0, 403);
    assert_eq!(
        req(&format!("Host: localhost:{p}\r\n"), "GET", "/health", "").0,
        200
    );
    assert_eq!(
        req(&format!("Host: 127.0.0.1:{p}\r\n"), "GET", "/health", "").0,
        200
    );
    let host = format!("Host: 127.0.0.1:{p}\r\n");
    let grants = r#"{"grants":[]}"#;
    // A form post (text/plain or urlencoded) cannot reach an admin endpoint.
    let (st, b) = req(
        &format!("{host}Content-Type: text/plain\r\n"),
        "PUT",
        "/v1/documents/grants",
        grants,
    );
    assert_eq!(st, 415, "{b}");
    let (st, _) = req(&host, "POST", "/v1/reload", "");
    assert_eq!(st, 415);
    // A page of another site is refused even with the right content type.
    let json_ct = "Content-Type: application/json\r\n";
    let (st, b) = req(
        &format!("{host}{json_ct}Origin: http://evil.example\r\n"),
        "PUT",
        "/v1/documents/grants",
        grants,
    );
    assert_eq!(st, 403, "{b}");
    let (st, _) = req(
        &format!("{host}{json_ct}Sec-Fetch-Site: cross-site\r\n"),
        "POST",
        "/v1/evaluate",
        "{}",
    );
    assert_eq!(st, 403);
    let (st, b) = req(
        &format!("{host}{json_ct}Origin: http://127.0.0.1:{p}\r\n"),
        "PUT",
        "/v1/documents/grants",
        grants,
    );
    assert_eq!(st, 200, "{b}");
    // With tokens, a token is compared whatever its length, and refused.
    let tokens = tokens_file();
    let t = start(&["--tokens", &tokens]);
    for bad in [
        "",
        "e",
        "e-0123456789abcde",
        "e-0123456789abcdef0",
        "E-0123456789ABCDEF",
    ] {
        let st = http(t.port, "POST", "/v1/evaluate", Some(bad), "{}").0;
        assert_eq!(st, 401, "{bad:?}");
    }
    assert_eq!(http(t.port, "POST", "/v1/reload", ADMIN, "").0, 200);
}

const OLD: &str = r#"{"action":"store","time":"2026-03-01T12:00:00Z","resource":{"classification":"operational","residency":"global"},"target_region":"eu-central-1"}"#;

#[test]
fn a_live_server_decides_at_its_own_clock() {
    let dir = temp("clock");
    // alice's grant was revoked an hour ago.
    let revoked = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    let grants = format!(
        r#"{{"grants":[{{"id":"g","principal":"alice","classifications":["identity"],"to_country":"US","requested_by":"r","approved_by":"a","expires_at":"2099-01-01T00:00:00Z","revoked_at":"{revoked}"}}]}}"#
    );
    std::fs::write(dir.join("grants.json"), grants).unwrap();
    let tokens = tokens_file();
    let s = start_exactly(&[
        "--tokens",
        &tokens,
        "--grants",
        dir.join("grants.json").to_str().unwrap(),
    ]);
    let p = s.port;
    // Back-dated past the revocation: refused, not allowed.
    let back = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
    let access = format!(
        r#"{{"action":"access","time":"{back}","principal":{{"id":"alice","country":"US"}},"resource":{{"classification":"identity","residency":"eea","home_country":"DE"}},"source_region":"eu-central-1"}}"#
    );
    let (st, b) = http(p, "POST", "/v1/evaluate", EVAL, &access);
    assert_eq!(st, 400, "{b}");
    let e = json(&b);
    assert_eq!(e["path"], "time");
    assert!(
        e["error"].as_str().unwrap().contains("server's clock"),
        "{b}"
    );
    // In a batch, the element is refused and the rest decided.
    let (st, b) = http(
        p,
        "POST",
        "/v1/evaluate/batch",
        EVAL,
        &format!(
            "[{access},{}]",
            OLD.replace(r#""time":"2026-03-01T12:00:00Z","#, "")
        ),
    );
    assert_eq!(st, 200, "{b}");
    let arr = json(&b);
    assert_eq!(arr[0]["path"], "time");
    assert_eq!(arr[1]["decision"], "allow");
    // Without a time, the server's own clock: the revocation holds.
    let now_access = access.replace(&format!(r#""time":"{back}","#), "");
    let (st, b) = http(p, "POST", "/v1/evaluate", EVAL, &now_access);
    assert_eq!(st, 200, "{b}");
    let d = json(&b);
    assert_eq!(d["decision"], "deny");
    let at = chrono::DateTime::parse_from_rfc3339(d["evaluated_at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - at.to_utc()).abs() < chrono::TimeDelta::seconds(30));
    // A token with the `historic` scope may decide at another instant.
    let (st, b) = http(p, "POST", "/v1/evaluate", HISTORIC, &access);
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["decision"], "allow");
    assert_eq!(json(&b)["evaluated_at"].as_str().unwrap()[..13], back[..13]);
    // Placement too.
    assert_eq!(http(p, "POST", "/v1/placement", EVAL, OLD).0, 400);
}

#[test]
fn times_outside_years_1_to_9999_are_input_errors_everywhere() {
    for t in [
        "9999-12-31T23:30:00-01:00",
        "0000-06-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
    ] {
        let req = OLD.replace("2026-03-01T12:00:00Z", t);
        let e = sovra::Request::from_json(&req).unwrap_err();
        assert_eq!(e.path, "time", "{t}");
        assert!(e.message.contains("0001 to 9999"), "{t}: {e}");
        let g = format!(
            r#"{{"grants":[{{"id":"g","principal":"a","to_country":"US","requested_by":"r","expires_at":"{t}"}}]}}"#
        );
        assert!(sovra::Grants::from_json(&g).is_err(), "{t}");
    }
    let s = start(&[]);
    let req = OLD.replace("2026-03-01T12:00:00Z", "9999-12-31T23:30:00-01:00");
    let (st, b) = http(s.port, "POST", "/v1/evaluate", None, &req);
    assert_eq!(st, 400, "{b}");
    // The far end that is still in range gives an RFC 3339 `evaluated_at`.
    let req = OLD.replace("2026-03-01T12:00:00Z", "9999-12-31T23:59:59Z");
    let (st, b) = http(s.port, "POST", "/v1/evaluate", None, &req);
    assert_eq!(st, 200, "{b}");
    let at = json(&b)["evaluated_at"].as_str().unwrap().to_string();
    assert!(chrono::DateTime::parse_from_rfc3339(&at).is_ok(), "{at}");
}

#[test]
fn every_error_is_the_json_error_object() {
    let s = start(&["--max-body", "100"]);
    let p = s.port;
    let big = "x".repeat(500);
    for (method, path, body, want) in [
        ("POST", "/v1/evaluate", big.as_str(), 413),
        ("GET", "/v1/evaluate", "", 405),
        ("DELETE", "/v1/documents/grants", "", 405),
        ("POST", "/v1/evaluate?explain=%ZZ", "{}", 400),
        ("POST", "/v1/evaluate?explain=loud", "{}", 400),
        ("GET", "/nowhere", "", 404),
        ("POST", "/v1/evaluate", "{", 400),
        ("POST", "/v1/evaluate", "[]", 400),
    ] {
        let (st, b) = http(p, method, path, None, body);
        assert_eq!(st, want, "{method} {path}: {b}");
        let e = json(&b);
        assert!(
            e["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path}: {b}"
        );
    }
    let (_, b) = http(p, "POST", "/v1/evaluate", None, &big);
    assert!(
        json(&b)["error"].as_str().unwrap().contains("--max-body"),
        "{b}"
    );
    // A body that is not UTF-8.
    let mut bytes = format!("POST /v1/evaluate HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n").into_bytes();
    bytes.extend_from_slice(b"\"\xff\xfe\"}");
    let answer = raw(p, &bytes);
    let (st, b) = status_and_body(&answer);
    assert_eq!(st, 400, "{answer}");
    assert!(json(b)["error"].as_str().unwrap().contains("UTF-8"));
}

#[test]
fn a_deeply_nested_policy_is_refused_at_startup_and_on_reload_and_the_server_lives() {
    let _alone = alone();
    let dir = temp("deep");
    let file = dir.join("p.sov");
    std::fs::write(&file, "package p\npermit r when action == store\n").unwrap();
    let deep = format!(
        "package p\npermit r when {}action == store{}\n",
        "(".repeat(300),
        ")".repeat(300)
    );
    let s = start(&["--policies", dir.to_str().unwrap()]);
    std::fs::write(&file, &deep).unwrap();
    let (st, b) = http(s.port, "POST", "/v1/reload", None, "");
    assert_eq!(st, 400, "{b}");
    let diags: Vec<sovra::diag::Record> =
        serde_json::from_value(json(&b)["diagnostics"].clone()).unwrap();
    assert!(
        diags
            .iter()
            .any(|d| d.code == "sovra::too_deep" && d.message.contains("nests deeper than")),
        "{b}"
    );
    assert_eq!(http(s.port, "GET", "/health", None, "").0, 200);
    drop(s);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--policies",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nests deeper than"));
}
