//! The decision log's guarantees under attack (issue 9, points 6 to 10):
//! masked means absent, tamper evidence survives the next writer, a report
//! is never built on a broken log, records carry the time they were
//! written, and a stored policy is validated before it runs.

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

use serde_json::Value;
use sovra::ir::sha256_hex;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SECRET: &str = "alice-secret-7781";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sovra-logattack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sovra(args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or("").to_string();
    let mut pipe = c.stdin.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = pipe.write_all(input.as_bytes());
    });
    c.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A policy whose message quotes the principal, and grants that name them.
fn fixture(dir: &Path) -> (String, String) {
    let pol = dir.join("policy");
    std::fs::create_dir_all(&pol).unwrap();
    std::fs::write(
        pol.join("p.sov"),
        r#"package p

permit access_with_grant
  when action == access
   and exists grant g where g.to_country == principal.country
  because "{principal.id} may read from {principal.country} under a grant"

forbid store_by_principal
  when action == store
  because "{principal.id} may not store {resource.id}"
"#,
    )
    .unwrap();
    let grants = dir.join("grants.json");
    std::fs::write(
        &grants,
        format!(
            r#"{{"grants":[
  {{"id":"g-1","principal":"{SECRET}","classifications":["identity"],"to_country":"US","requested_by":"{SECRET}","approved_by":"bob","expires_at":"2099-01-01T00:00:00Z"}},
  {{"id":"g-2","principal":"{SECRET}","classifications":["identity"],"to_country":"FR","requested_by":"{SECRET}","approved_by":" Alice-Secret-7781 ","expires_at":"2099-01-01T00:00:00Z"}}
]}}"#
        ),
    )
    .unwrap();
    (
        pol.to_string_lossy().into_owned(),
        grants.to_string_lossy().into_owned(),
    )
}

fn request(action: &str, country: &str) -> String {
    format!(
        r#"{{"action":"{action}","time":"2026-07-01T00:00:00Z","principal":{{"id":"{SECRET}","country":"{country}"}},"resource":{{"id":"ds-{SECRET}","classification":"identity"}}}}"#
    )
}

/// Every byte of every file under `dir`.
fn everything(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(everything(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn assert_absent(dir: &Path, secret: &str) {
    let lower = secret.to_lowercase();
    for (path, bytes) in everything(dir) {
        let t = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(
            !t.contains(&lower),
            "{} holds the masked value",
            path.display()
        );
    }
}

#[test]
fn masked_means_absent_from_the_folder_and_from_audit_show_and_still_replays() {
    let dir = tmp("mask");
    let (pol, grants) = fixture(&dir);
    let log = dir.join("log");
    let log_s = log.to_str().unwrap();
    let lines = [
        request("access", "US"),
        request("access", "FR"),
        request("store", "DE"),
    ]
    .join("\n");
    let o = sovra(
        &[
            "eval",
            "--policies",
            &pol,
            "--grants",
            &grants,
            "--log",
            log_s,
            "--mask",
            "principal.id",
            "--mask",
            "resource.id",
            "--explain",
            "full",
            "--requests",
            "-",
        ],
        Some(&lines),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // The caller still gets the decision in clear; the log never sees it.
    assert!(out.contains(SECRET));
    let decisions: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions[0]["decision"], "allow");
    assert_eq!(
        decisions[1]["decision"], "deny",
        "self-approval by case and spaces"
    );
    assert_eq!(decisions[2]["decision"], "deny");
    assert_absent(&log, SECRET);
    // The plain input hash would confirm a guessed value: the log keeps a keyed one.
    for d in &decisions {
        let plain = d["input_hash"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        for (path, bytes) in everything(&log) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(plain),
                "{} holds the plain input hash",
                path.display()
            );
        }
    }
    for format in ["text", "json"] {
        let o = sovra(&["audit", "show", log_s, "--format", format], None);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(!text(&o).to_lowercase().contains(SECRET), "{}", text(&o));
        assert!(text(&o).contains("mask:"));
    }
    let o = sovra(&["audit", "replay", log_s], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = sovra(&["report", log_s, "--format", "md"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).to_lowercase().contains(SECRET));

    // `sovra serve --mask` too.
    let slog = dir.join("served");
    let s = server::start(&[
        "--policies",
        &pol,
        "--grants",
        &grants,
        "--log",
        slog.to_str().unwrap(),
        "--mask",
        "principal.id",
        "--mask",
        "resource.id",
    ]);
    let (st, b) = server::http(
        s.port,
        "POST",
        "/v1/evaluate?explain=full",
        None,
        &request("store", "DE"),
    );
    assert_eq!(st, 200, "{b}");
    assert!(b.contains(SECRET));
    drop(s);
    assert_absent(&slog, SECRET);
}

#[test]
fn a_masked_region_is_masked_in_the_log_only_and_not_for_the_next_decision() {
    // The trace's regions are shared by every decision of an engine: the
    // log's masking must scrub its own copy, never the engine's.
    let dir = tmp("mask-region");
    let log = dir.join("log");
    let line = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#;
    let o = sovra(
        &[
            "eval",
            "--log",
            log.to_str().unwrap(),
            "--mask",
            "target_region",
            "--explain",
            "full",
            "--requests",
            "-",
        ],
        Some(&format!("{line}\n{line}\n")),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let targets: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["trace"]["target"]["id"].to_string())
        .collect();
    assert_eq!(targets, ["\"eu-central-1\"", "\"eu-central-1\""]);
    // The records (the documents kept beside them name every region).
    let records = std::fs::read_to_string(log.join("decisions.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 2);
    assert!(!records.contains("eu-central-1"), "{records}");
}

#[test]
fn a_mask_that_names_nothing_or_the_action_is_refused() {
    let dir = tmp("maskpath");
    let log = dir.join("log");
    let log_s = log.to_str().unwrap();
    for (mask, want) in [
        ("principal.idd", "names no request field"),
        ("action", "cannot be replayed"),
        ("time", "cannot be replayed"),
    ] {
        let o = sovra(
            &[
                "eval",
                "--log",
                log_s,
                "--mask",
                mask,
                "--request",
                "docs/examples/store-us.json",
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{mask}");
        assert!(text(&o).contains(want), "{mask}: {}", text(&o));
        let o = sovra(
            &[
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--log",
                log_s,
                "--mask",
                mask,
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "serve {mask}");
        assert!(text(&o).contains(want), "serve {mask}: {}", text(&o));
    }
    assert!(!log.join("decisions.jsonl").exists(), "nothing was logged");
    // An extra field that a rule reads may be masked.
    let pol = dir.join("p.sov");
    std::fs::write(
        &pol,
        "package p\npermit t when resource.tenant == \"acme\"\n",
    )
    .unwrap();
    let o = sovra(
        &[
            "eval",
            "--policies",
            pol.to_str().unwrap(),
            "--log",
            log_s,
            "--mask",
            "resource.tenant",
            "--request",
            "-",
        ],
        Some(r#"{"action":"store","resource":{"tenant":"acme"}}"#),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn log_some(dir: &Path, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"action":"store","time":"2026-03-01T12:00:{:02}Z","resource":{{"classification":"operational","residency":"global"}},"target_region":"eu-central-1"}}"#,
                i % 60
            )
        })
        .collect();
    let o = sovra(
        &["eval", "--log", dir.to_str().unwrap(), "--requests", "-"],
        Some(&lines.join("\n")),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// One more decision through `sovra eval --log`.
fn log_one(dir: &Path) -> Output {
    sovra(
        &[
            "eval",
            "--log",
            dir.to_str().unwrap(),
            "--request",
            "docs/examples/store-us.json",
        ],
        None,
    )
}

fn verify(dir: &Path) -> (i32, String) {
    let o = sovra(&["audit", "verify", dir.to_str().unwrap()], None);
    (o.status.code().unwrap(), text(&o))
}

#[test]
fn a_changed_last_record_or_a_head_ahead_of_the_log_is_refused_by_the_next_writer() {
    let dir = tmp("tail").join("log");
    log_some(&dir, 3);
    let path = dir.join("decisions.jsonl");
    let good = std::fs::read(&path).unwrap();
    // The last record, complete, with one byte changed.
    let mut bad = good.clone();
    let at = bad.len() - 40;
    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, &bad).unwrap();
    let o = log_one(&dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("was changed"), "{}", text(&o));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bad,
        "the writer left the log as it was"
    );
    assert!(!dir.join("torn").exists(), "not taken for a torn write");
    // An incomplete last line is a torn write: moved aside, with a warning.
    let mut torn = good.clone();
    torn.extend_from_slice(b"{\"seq\":4,\"id\":\"d-4");
    std::fs::write(&path, &torn).unwrap();
    let o = log_one(&dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("torn record"));
    assert_eq!(verify(&dir).0, 0);
    // A head naming a later record than the log holds: records were cut.
    let head = std::fs::read_to_string(dir.join("head")).unwrap();
    let lines = std::fs::read_to_string(&path).unwrap();
    let cut: Vec<&str> = lines.lines().take(2).collect();
    std::fs::write(&path, format!("{}\n", cut.join("\n"))).unwrap();
    let o = log_one(&dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("the head names record"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(dir.join("head")).unwrap(), head);
}

#[test]
fn a_failed_append_uses_no_number_and_the_log_verifies_after_space_returns() {
    let dir = tmp("full").join("log");
    log_some(&dir, 5);
    let len = std::fs::metadata(dir.join("decisions.jsonl"))
        .unwrap()
        .len();
    // The file may grow by about one and a half records, then the disk is full.
    let blocks = (len + 1500).div_ceil(512);
    let lines: Vec<String> = (0..20)
        .map(|_| r#"{"action":"store","time":"2026-03-01T12:00:00Z","resource":{"classification":"operational","residency":"global"},"target_region":"eu-central-1"}"#.to_string())
        .collect();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" eval --log {} --requests -",
            dir.display()
        ))
        .arg(env!("CARGO_BIN_EXE_sovra"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(lines.join("\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("File too large"), "{}", text(&o));
    let (code, out) = verify(&dir);
    assert_eq!(code, 0, "{out}");
    let n: u64 = out
        .split("ok: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 5, "{out}");
    // Space is back: the next writer opens the log and numbers on from it.
    log_some(&dir, 2);
    let (code, out) = verify(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("ok: {} records", n + 2)), "{out}");
}

#[test]
fn deleting_files_does_not_let_a_second_writer_in() {
    let dir = tmp("lock").join("log");
    let s = server::start(&["--log", dir.to_str().unwrap()]);
    for name in ["lock", "head"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let o = log_one(&dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("locked by another writer"),
        "{}",
        text(&o)
    );
    drop(s);
}

/// Rewrites records as a tamperer who knows the format would: each edited
/// record and every one after it re-hashed and re-linked, `head` too, so
/// that `audit verify` passes.
fn rechain(dir: &Path, mut edit: impl FnMut(u64, &mut serde_json::Map<String, Value>)) {
    let path = dir.join("decisions.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut prev =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000".to_string();
    let mut out = String::new();
    let mut seq = 0;
    for line in text.lines() {
        let Value::Object(mut rec) = serde_json::from_str(line).unwrap() else {
            panic!()
        };
        seq = rec["seq"].as_u64().unwrap();
        edit(seq, &mut rec);
        let mut body = format!("{{\"seq\":{seq}");
        for (k, v) in &rec {
            if k != "seq" && k != "prev" && k != "hash" {
                body.push_str(&format!(",{}:{}", Value::from(k.as_str()), v));
            }
        }
        body.push_str(&format!(",\"prev\":\"{prev}\""));
        let hash = sha256_hex(body.as_bytes());
        out.push_str(&format!("{body},\"hash\":\"{hash}\"}}\n"));
        prev = hash;
    }
    std::fs::write(&path, out).unwrap();
    std::fs::write(
        dir.join("head"),
        format!("{{\"seq\":{seq},\"hash\":\"{prev}\"}}\n"),
    )
    .unwrap();
}

#[test]
fn a_report_is_never_built_on_a_broken_log_and_says_what_it_covers() {
    let dir = tmp("report").join("log");
    log_some(&dir, 4);
    let d = dir.to_str().unwrap();
    let (code, out) = verify(&dir);
    assert_eq!(code, 0);
    let head = out.split("head ").nth(1).unwrap().trim().to_string();
    let o = sovra(&["report", d, "--format", "md"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o).contains(&format!("Log: 4 records, head {head}, verified")),
        "{}",
        text(&o)
    );
    // One byte changed in the middle of the log.
    let path = dir.join("decisions.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(&path, &bytes).unwrap();
    for args in [
        vec!["report", d, "--format", "md"],
        vec!["report", d, "--format", "html"],
        vec!["audit", "show", d],
    ] {
        let o = sovra(&args, None);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("does not verify"), "{args:?}");
        assert!(
            o.stdout.is_empty(),
            "{args:?}: nothing is printed from a broken log"
        );
    }
    let o = sovra(&["report", d, "--format", "md", "--unverified"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout).to_string();
    let sections = md.matches("\n## ").count();
    assert!(sections >= 5);
    assert_eq!(
        md.matches("UNVERIFIED LOG").count(),
        sections,
        "a banner before each section: {md}"
    );
    assert!(md.starts_with("# Compliance report\n\n**UNVERIFIED: this log does not verify"));
    let o = sovra(&["report", d, "--format", "html", "--unverified"], None);
    assert!(String::from_utf8_lossy(&o.stdout).contains("position:fixed"));
    let o = sovra(&["audit", "show", d, "--unverified"], None);
    assert_eq!(o.status.code(), Some(0));
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        shown.matches("UNVERIFIED LOG").count(),
        shown.matches("--- record").count()
    );
}

#[test]
fn records_carry_the_time_they_were_written_and_unplaced_ones_are_flagged() {
    let dir = tmp("time").join("log");
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    log_some(&dir, 3);
    let after = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    let recs = sovra::audit::records(&dir).unwrap();
    for r in &recs {
        let t = chrono::DateTime::parse_from_rfc3339(r.logged_at.as_deref().unwrap()).unwrap();
        assert!(t >= before && t <= after, "{t}");
    }
    let d = dir.to_str().unwrap();
    // --since and --until select by when records were written.
    let hour_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    let o = sovra(&["audit", "show", d, "--since", &hour_ago], None);
    assert!(text(&o).contains("3 records shown"), "{}", text(&o));
    let o = sovra(&["audit", "show", d, "--until", &hour_ago], None);
    assert!(text(&o).contains("0 records shown"), "{}", text(&o));
    // A record whose decision time cannot be read, re-chained so that the log
    // verifies: counted and flagged, never dropped.
    rechain(&dir, |seq, rec| {
        if seq == 2 {
            rec.insert("time".into(), Value::from("not a time"));
            rec.insert("logged_at".into(), Value::from("not a time either"));
        }
    });
    assert_eq!(verify(&dir).0, 0);
    let o = sovra(&["report", d, "--format", "md", "--since", &hour_ago], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("Decisions: 3."), "{md}");
    assert!(
        md.contains("1 record could not be placed in time") && md.contains("records 2"),
        "{md}"
    );
    let o = sovra(&["audit", "show", d, "--since", &hour_ago], None);
    assert!(text(&o).contains("3 records shown"), "{}", text(&o));
    assert!(text(&o).contains("record 2 has no readable time"));
}

#[test]
fn a_crafted_program_in_a_log_that_verifies_is_refused_not_run() {
    let dir = tmp("program").join("log");
    log_some(&dir, 2);
    let d = dir.to_str().unwrap();
    let recs = sovra::audit::records(&dir).unwrap();
    let id = recs[0].policy.clone();
    let file = |id: &str| {
        dir.join("objects")
            .join(format!("{}.json", id.trim_start_matches("sha256:")))
    };
    let program: Value = serde_json::from_slice(&std::fs::read(file(&id)).unwrap()).unwrap();
    let crafts: Vec<(&str, Value)> = vec![
        ("a cycle", {
            let mut p = program.clone();
            let n = p["nodes"].as_array().unwrap().len();
            p["nodes"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"Not": {"expr": n, "atom": null}}));
            p["rules"][0]["cond"] = Value::from(n);
            p
        }),
        ("deep nesting", {
            let mut p = program.clone();
            let nodes = p["nodes"].as_array_mut().unwrap();
            let start = nodes.len();
            nodes.push(serde_json::json!({"Const": {"Bool": true}}));
            for i in 0..100_000 {
                nodes.push(serde_json::json!({"Not": {"expr": start + i, "atom": null}}));
            }
            let top = nodes.len() - 1;
            p["rules"][0]["cond"] = Value::from(top);
            p
        }),
        ("an index out of range", {
            let mut p = program.clone();
            p["rules"][0]["cond"] = Value::from(1_000_000);
            p
        }),
        ("an unknown format", {
            let mut p = program.clone();
            p["format"] = Value::from(99);
            p
        }),
    ];
    for (what, p) in crafts {
        let bytes = serde_json::to_vec(&p).unwrap();
        let new = sha256_hex(&bytes);
        std::fs::write(file(&new), &bytes).unwrap();
        rechain(&dir, |_, rec| {
            rec.insert("policy".into(), Value::from(new.as_str()));
        });
        assert_eq!(verify(&dir).0, 0, "{what}: the crafted log verifies");
        let start = std::time::Instant::now();
        let o = sovra(&["audit", "replay", d], None);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", text(&o));
        assert!(text(&o).contains("does not load"), "{what}: {}", text(&o));
        let o = sovra(&["report", d, "--format", "html"], None);
        assert!(
            o.status.code().is_some(),
            "{what}: the report ran to an end"
        );
        assert!(!text(&o).contains("panicked"), "{what}: {}", text(&o));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{what}"
        );
    }
}
