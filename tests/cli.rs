//! The command line, through the real binary: output and exit codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::eval::{Decision, Detail, Outcome};
use sovra::vocab::Effect;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn sovra(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sovra"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        // A command may exit before it reads its input (a broken policy):
        // the pipe is then closed, which is not the test's failure.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ALLOW: &str = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#;
const DENY: &str = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"us-east-1"}"#;

#[test]
fn eval_allow_exits_0_with_a_decision_document() {
    let o = sovra(&["eval", "--request", "-"], Some(ALLOW));
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let raw: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert!(raw.get("trace").is_none(), "no trace unless asked");
    let d: Decision = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(d.decision, Outcome::Allow);
    assert_eq!(d.reasons[0].rule, "residency.store_or_replicate");
    assert_eq!(d.reasons[0].effect, Effect::Permit);
    assert!(d.policy_hash.starts_with("sha256:"));
    assert!(d.input_hash.starts_with("sha256:"));
    assert_eq!(d.evaluated_at, "2026-03-01T12:00:00Z");
}

#[test]
fn eval_deny_exits_1_and_names_the_rule() {
    let o = sovra(&["eval", "--request", "docs/examples/store-us.json"], None);
    assert_eq!(o.status.code(), Some(1));
    let d: Decision = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(d.decision, Outcome::Deny);
    assert!(d
        .rule_ids()
        .contains(&"gdpr.transfer_outside_eea".to_string()));
    assert_eq!(d.reasons[0].location, "policies/gdpr.sov:14:1");
}

#[test]
fn eval_same_input_same_hashes() {
    let a: serde_json::Value =
        serde_json::from_str(&out(&sovra(&["eval", "--request", "-"], Some(DENY)))).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&out(&sovra(&["eval", "--request", "-"], Some(DENY)))).unwrap();
    assert_eq!(a, b);
    let c: serde_json::Value =
        serde_json::from_str(&out(&sovra(&["eval", "--request", "-"], Some(ALLOW)))).unwrap();
    assert_eq!(a["policy_hash"], c["policy_hash"]);
    assert_ne!(a["input_hash"], c["input_hash"]);
}

#[test]
fn eval_bad_request_exits_2_naming_the_field() {
    let o = sovra(
        &["eval", "--request", "-"],
        Some(r#"{"action":"store","time":"yesterday"}"#),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).is_empty());
    assert!(
        err(&o).contains("time: `yesterday` is not an RFC 3339 time"),
        "{}",
        err(&o)
    );
    let o = sovra(&["eval", "--request", "-"], Some("{not json"));
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not valid JSON"), "{}", err(&o));
    let o = sovra(
        &["eval", "--request", "-"],
        Some(r#"{"action":"store","resource":{"home_country":"Germany"}}"#),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("resource.home_country"), "{}", err(&o));
}

#[test]
fn a_declared_field_of_another_type_is_an_input_error_naming_it() {
    let args = [
        "eval",
        "--policies",
        "tests/cases/constructs/policy",
        "--regions",
        "tests/cases/constructs/regions.json",
        "--request",
        "-",
    ];
    let o = sovra(
        &args,
        Some(r#"{"action":"store","target_region":"fr-sov-1","principal":{"clearance":"high"}}"#),
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).is_empty());
    assert!(
        err(&o).contains("principal.clearance: the policy declares it number, but it is \"high\""),
        "{}",
        err(&o)
    );
    let o = sovra(
        &args,
        Some(r#"{"action":"store","target_region":"fr-sov-1","principal":{"clearance":3}}"#),
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // A region attribute of another type: every request is denied, saying which.
    let dir = std::env::temp_dir().join(format!("sovra-attr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let regions = dir.join("regions.json");
    std::fs::write(
        &regions,
        r#"{"regions":[{"id":"fr-sov-1","country":"FR","attributes":{"certifications":"SecNumCloud"}}]}"#,
    )
    .unwrap();
    let mut bad = args;
    bad[4] = regions.to_str().unwrap();
    let o = sovra(
        &bad,
        Some(r#"{"action":"store","target_region":"fr-sov-1","principal":{"clearance":3}}"#),
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        out(&o).contains("regions[0] (fr-sov-1) attributes.certifications: the policy declares it a list of string"),
        "{}",
        out(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_bad_documents_exit_2_naming_file_and_path() {
    let dir = std::env::temp_dir().join(format!("sovra-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let g = dir.join("grants.json");
    std::fs::write(&g, r#"{"grants":[{"id":"a","principal":"p","to_country":"US","requested_by":"x","expires_at":"2026-01-01T00:00:00Z"},{"id":"b","principal":"p","to_country":"US","requested_by":"x","expires_at":"soon"}]}"#).unwrap();
    let o = sovra(
        &["eval", "--grants", g.to_str().unwrap(), "--request", "-"],
        Some(ALLOW),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("grants.json: grants[1].expires_at: `soon` is not an RFC 3339 time"),
        "{}",
        err(&o)
    );
    let r = dir.join("regions.json");
    std::fs::write(
        &r,
        r#"{"regions":[{"id":"x","country":"DE"},{"id":"x","country":"FR"}]}"#,
    )
    .unwrap();
    let o = sovra(
        &["eval", "--regions", r.to_str().unwrap(), "--request", "-"],
        Some(ALLOW),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("regions[1].id: duplicate region id `x`"),
        "{}",
        err(&o)
    );
    std::fs::write(
        &r,
        r#"{"regions":[{"id":"x","country":"DE","status":"paused"}]}"#,
    )
    .unwrap();
    let o = sovra(
        &["eval", "--regions", r.to_str().unwrap(), "--request", "-"],
        Some(ALLOW),
    );
    assert!(
        err(&o).contains("regions[0].status: `paused` is not a region status"),
        "{}",
        err(&o)
    );
    let o = sovra(
        &["eval", "--regions", "nope.json", "--request", "-"],
        Some(ALLOW),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("nope.json"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_with_a_broken_policy_exits_2_with_diagnostics() {
    let o = sovra(
        &[
            "eval",
            "--policies",
            "tests/diagnostics/unknown_name.sov",
            "--request",
            "-",
        ],
        Some(ALLOW),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("unknown name `resourse`"), "{}", err(&o));
}

#[test]
fn eval_text_format_and_full_trace() {
    let o = sovra(
        &[
            "eval",
            "--request",
            "-",
            "--format",
            "text",
            "--explain",
            "full",
        ],
        Some(DENY),
    );
    assert_eq!(o.status.code(), Some(1));
    let t = out(&o);
    assert!(t.contains("Decision: DENY"));
    assert!(t.contains("gdpr.transfer_outside_eea (forbid, policies/gdpr.sov:14:1) applied"));
    assert!(
        t.contains(
            "the target region's country is not in EEA + ADEQUATE: yes (target.country = US)"
        ),
        "{t}"
    );
    let o = sovra(
        &["eval", "--request", "-", "--explain", "summary"],
        Some(DENY),
    );
    let d: Decision = serde_json::from_str(&out(&o)).unwrap();
    let t = d.trace.unwrap();
    assert_eq!(t.level, Detail::Summary);
    assert!(t.rules[0].conditions.is_none());
    let o = sovra(&["eval", "--request", "-", "--explain", "full"], Some(DENY));
    let d: Decision = serde_json::from_str(&out(&o)).unwrap();
    assert!(d.trace.unwrap().rules[0].conditions.is_some());
}

#[test]
fn eval_batch_prints_in_order_and_reports_bad_lines() {
    let input = format!("{ALLOW}\nnot json\n\n{DENY}\n{{\"action\":7}}\n{ALLOW}\n");
    let o = sovra(&["eval", "--requests", "-"], Some(&input));
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert_eq!(lines[2]["decision"], "deny");
    assert_eq!(lines[3]["line"], 5);
    assert!(lines[3]["error"]
        .as_str()
        .unwrap()
        .contains("action: expected a string"));
    assert_eq!(lines[4]["decision"], "allow");
    assert!(out(&o)
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("{\"line\":2,\"error\":"));

    let many: String = (0..5000)
        .map(|i| {
            if i % 3 == 0 {
                format!("{DENY}\n")
            } else {
                format!("{ALLOW}\n")
            }
        })
        .collect();
    let o = sovra(&["eval", "--requests", "-"], Some(&many));
    assert_eq!(o.status.code(), Some(0), "every line decided: exit 0");
    for (i, l) in out(&o).lines().enumerate() {
        let want = if i % 3 == 0 {
            "\"decision\":\"deny\""
        } else {
            "\"decision\":\"allow\""
        };
        assert!(
            l.starts_with(&format!("{{{want}")),
            "line {i} out of order: {l}"
        );
    }
}

#[test]
fn eval_batch_from_a_file_reads_in_blocks_and_a_line_not_utf8_is_a_bad_line() {
    // Some 7 MB: read in many blocks, decided as they are read.
    let mut input = Vec::new();
    for i in 1..=30_000 {
        match i {
            12_345 => input.extend_from_slice(b"{\"action\":\"st\xffore\"}\n"),
            20_000 => input.extend_from_slice(b"\n"),
            _ if i % 3 == 0 => input.extend_from_slice(format!("{DENY}\r\n").as_bytes()),
            _ => input.extend_from_slice(format!("{ALLOW}\n").as_bytes()),
        }
    }
    let file = std::env::temp_dir().join(format!("sovra-batch-{}.jsonl", std::process::id()));
    std::fs::write(&file, &input).unwrap();
    let o = sovra(&["eval", "--requests", file.to_str().unwrap()], None);
    std::fs::remove_file(&file).ok();
    assert_eq!(o.status.code(), Some(2), "a bad line: exit 2");
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 29_999, "one a line, the blank one skipped");
    for (k, l) in lines.iter().enumerate() {
        // The line's number in the input: the blank line 20,000 printed nothing.
        let n = if k + 1 < 20_000 { k + 1 } else { k + 2 };
        let want = match n {
            12_345 => "{\"line\":12345,\"error\":\"not UTF-8 text",
            _ if n % 3 == 0 => "{\"decision\":\"deny\"",
            _ => "{\"decision\":\"allow\"",
        };
        assert!(l.starts_with(want), "line {n}: {l}");
    }
}

#[test]
fn check_exits_0_clean_and_2_with_every_diagnostic() {
    let o = sovra(&["check"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).starts_with("ok: 8 files, 15 rules, 6 assertions, 0 warnings"));
    let o = sovra(&["check", "--policies", "policies"], None);
    assert_eq!(o.status.code(), Some(0));
    let o = sovra(
        &[
            "check",
            "--policies",
            "tests/diagnostics/invalid_country.sov",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains("`UK` is not an ISO 3166-1 country code")
            && e.contains("`XX`")
            && e.contains("`EU`"),
        "{e}"
    );
    assert!(e.contains("3 problems and 1 warning found"), "{e}");
    let o = sovra(&["check", "--policies", "does/not/exist"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("does/not/exist"));
}

#[test]
fn compile_prints_writes_and_hashes_the_ir() {
    let o = sovra(&["compile"], None);
    assert_eq!(o.status.code(), Some(0));
    let ir = out(&o);
    assert!(ir.contains("r6 forbid gdpr.transfer_outside_eea"));
    assert!(ir.contains("index:"));
    let hash = out(&sovra(&["compile", "--emit", "hash"], None))
        .trim()
        .to_string();
    assert!(ir.starts_with(&format!("policy {hash}")));
    let d: serde_json::Value =
        serde_json::from_str(&out(&sovra(&["eval", "--request", "-"], Some(ALLOW)))).unwrap();
    assert_eq!(d["policy_hash"], hash.as_str());
    let file = std::env::temp_dir().join(format!("sovra-ir-{}.json", std::process::id()));
    let o = sovra(
        &["compile", "--emit", "json", "-o", file.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["rules"].as_array().unwrap().len(), 15);
    std::fs::remove_file(file).ok();
}

#[test]
fn explain_a_request_or_a_stored_decision() {
    let o = sovra(
        &["explain", "--request", "docs/examples/store-us.json"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let direct = out(&o);
    assert!(direct.contains("Denied because 2 rules forbid it"));
    assert!(direct.contains("policies/gdpr.sov:14:1"));
    let file = std::env::temp_dir().join(format!("sovra-decision-{}.json", std::process::id()));
    let o = sovra(
        &[
            "eval",
            "--request",
            "docs/examples/store-us.json",
            "--explain",
            "full",
        ],
        None,
    );
    std::fs::write(&file, o.stdout).unwrap();
    let o = sovra(&["explain", "--decision", file.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        out(&o),
        direct,
        "a stored decision explains as the live one"
    );
    std::fs::write(&file, "{}").unwrap();
    let o = sovra(&["explain", "--decision", file.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a decision document"));
    std::fs::remove_file(file).ok();
}

#[test]
fn usage_errors_exit_2() {
    let o = sovra(&["eval"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = sovra(
        &["eval", "--request", "-", "--explain", "loud"],
        Some(ALLOW),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn export_to_rego_and_decide_through_regorus() {
    let o = sovra(&["export", "--to", "rego"], None);
    assert_eq!(o.status.code(), Some(0));
    let rego = out(&o);
    assert!(rego.contains("package sovra") && rego.contains("import rego.v1"));
    assert!(rego.contains("forbids contains \"gdpr.transfer_outside_eea\""));
    let file = std::env::temp_dir().join(format!("sovra-{}.rego", std::process::id()));
    let o = sovra(
        &["export", "--to", "rego", "-o", file.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), rego);
    std::fs::remove_file(file).ok();

    let mut documents: Vec<Decision> = Vec::new();
    for engine in ["sovra", "rego", "rego-rvm"] {
        let o = sovra(&["eval", "--engine", engine, "--request", "-"], Some(DENY));
        assert_eq!(o.status.code(), Some(1), "{engine}: {}", err(&o));
        let d: Decision = serde_json::from_str(&out(&o)).unwrap();
        let rules: Vec<&str> = d.reasons.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "gdpr.transfer_outside_eea",
                "residency.store_outside_profile"
            ],
            "{engine}"
        );
        documents.push(d);
        let o = sovra(&["eval", "--engine", engine, "--request", "-"], Some(ALLOW));
        assert_eq!(o.status.code(), Some(0), "{engine}");
    }
    // One decision builder: the engines' documents are the same, messages too.
    assert!(documents.windows(2).all(|w| w[0] == w[1]), "{documents:#?}");
    let both = format!("{ALLOW}\n{DENY}\nnope\n");
    let native = sovra(&["eval", "--requests", "-"], Some(&both));
    let rego = sovra(
        &["eval", "--engine", "rego", "--requests", "-"],
        Some(&both),
    );
    assert_eq!(native.status.code(), Some(2));
    assert_eq!(rego.status.code(), Some(2));
    let decisions = |o: &Output| -> Vec<String> {
        out(o)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.get("decision")
                    .map_or_else(|| format!("line {}", v["line"]), |d| d.to_string())
            })
            .collect()
    };
    assert_eq!(decisions(&native), decisions(&rego));
    let o = sovra(
        &[
            "eval",
            "--engine",
            "rego",
            "--explain",
            "full",
            "--request",
            "-",
        ],
        Some(ALLOW),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("--explain needs the native engine"));
}

#[test]
fn audit_commands_exit_0_clean_1_tampered_2_error() {
    let dir = std::env::temp_dir().join(format!("sovra-cli-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let o = sovra(
        &[
            "eval",
            "--log",
            d,
            "--mask",
            "principal.id",
            "--requests",
            "-",
        ],
        Some(&format!("{ALLOW}\n{DENY}\n")),
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(sovra(&["audit", "verify", d], None).status.code(), Some(0));
    assert_eq!(sovra(&["audit", "replay", d], None).status.code(), Some(0));
    let shown = out(&sovra(
        &["audit", "show", d, "--principal", "svc", "--format", "json"],
        None,
    ));
    assert_eq!(
        shown.lines().count(),
        2,
        "a masked principal is found by its value: {shown}"
    );
    let shown = out(&sovra(
        &["audit", "show", d, "--decision", "deny", "--country", "US"],
        None,
    ));
    assert!(shown.contains("1 record shown"), "{shown}");
    assert!(out(&sovra(&["report", d, "--format", "md"], None)).contains("| DE | US | 0 | 1 |"));
    let log = dir.join("decisions.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("\"id\":\"d-1-"),
        "records carry a decision id"
    );
    std::fs::write(&log, text.replacen("\"deny\"", "\"allow\"", 1)).unwrap();
    let o = sovra(&["audit", "verify", d], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("tampered: record 2"), "{}", out(&o));
    let o = sovra(&["audit", "verify", "does/not/exist"], None);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_bundled_tests_prove_the_policy_files_assertions() {
    let dir = std::env::temp_dir().join(format!("sovra-test-assert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("p.sov");
    let write = |claim: &str| {
        std::fs::write(
            &policy,
            format!(
                "package p\n\npermit store_in_de\n  when action == store and target.country == DE\n\n{claim}\n"
            ),
        )
        .unwrap()
    };
    let d = dir.to_str().unwrap();
    // No case files: the assertions are the tests.
    write("assert only_de: never allow\n  when action == store and target.country != DE");
    let o = sovra(&["test", "--policies", d], None);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(out(&o).ends_with("1 passed, 0 failed\n"), "{}", out(&o));
    let o = sovra(&["check", "--policies", d], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // A false one fails with a counterexample the policy allows.
    write("assert nothing_in_de: never allow\n  when action == store and target.country == DE");
    let o = sovra(&["test", "--policies", d], None);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("FAIL assertion p.nothing_in_de (") && text.contains("p.sov:6:1"),
        "{text}"
    );
    assert!(
        text.contains("counterexample: {\"action\":\"store\""),
        "{text}"
    );
    assert!(text.contains("the policy says allow"), "{text}");
    let o = sovra(&["verify", "--policies", d], None);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(out(&o).contains("FAILS   p.nothing_in_de"), "{}", out(&o));
    // A typo is an error in check, test and verify alike, naming the line.
    write("assert typo: never allow\n  when action == store and target.contry == DE");
    for cmd in ["check", "test", "verify"] {
        let o = sovra(&[cmd, "--policies", d], None);
        assert_ne!(o.status.code(), Some(0), "{cmd}");
        assert!(
            err(&o).contains("`country`") && err(&o).contains("p.sov:7"),
            "{cmd}: {}",
            err(&o)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sovra_test_runs_case_files_and_says_why_one_fails() {
    // The bundled library's own tests, built in.
    let o = sovra(&["test"], None);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    let last = out(&o).lines().last().unwrap_or("").to_string();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    // The same files from the folder, with coverage.
    let o = sovra(&["test", "--policies", "policies", "--coverage"], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("coverage: 15 of 15 rules applied"),
        "{}",
        out(&o)
    );
    assert_eq!(out(&o).lines().last(), Some(last.as_str()));
    // Every *.test.json under policies/tests is built in.
    let on_disk = std::fs::read_dir("policies/tests")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".test.json")
        })
        .count();
    assert_eq!(on_disk, sovra::policy::BUNDLED_TESTS.len());
    // The case file docs/authors.md shows is the one it runs.
    let guide = std::fs::read_to_string("docs/authors.md").unwrap();
    let example = std::fs::read_to_string("docs/examples/tests/transfers.test.json").unwrap();
    assert!(
        guide.contains(example.trim()),
        "authors.md shows the example file as it is"
    );

    let dir = std::env::temp_dir().join(format!("sovra-test-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let suite = |cases: &str| {
        format!(
            r#"{{"now": "2026-03-01T12:00:00Z",
                "base": {{"action": "store", "resource": {{"classification": "identity", "residency": "eea", "home_country": "DE"}}}},
                "cases": [{cases}]}}"#
        )
    };
    let file = dir.join("mine.test.json");
    std::fs::write(
        &file,
        suite(
            r#"{"name": "to the US is denied", "set": {"target_region": "us-east-1"}, "decision": "deny",
                "rules": ["gdpr.transfer_outside_eea", "residency.store_outside_profile"], "message": "US is neither"},
               {"name": "to Frankfurt is allowed", "set": {"target_region": "eu-central-1"}, "decision": "allow", "obligations": []},
               {"name": "a bad time is an input error", "set": {"time": "yesterday"}, "error": "time"},
               {"name": "wrongly expected", "set": {"target_region": "us-east-1"}, "decision": "allow"}"#,
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let o = sovra(&["test", f], None);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("FAIL ") && text.contains("wrongly expected"),
        "{text}"
    );
    assert!(text.contains("expected allow, decided deny"), "{text}");
    assert!(
        text.contains("| Decision: DENY"),
        "the trace of the failing case: {text}"
    );
    // The six assertions of policies/guarantees.sov count as tests too.
    assert!(text.ends_with("9 passed, 1 failed\n"), "{text}");
    // A misspelt key is an invalid suite: exit 2, naming the file.
    std::fs::write(&file, suite(r#"{"name": "x", "decison": "deny"}"#)).unwrap();
    let o = sovra(&["test", f], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("unknown field `decison`"), "{}", err(&o));
    // Coverage for tools, and a threshold that fails the run.
    std::fs::write(
        &file,
        suite(r#"{"name": "to Frankfurt", "set": {"target_region": "eu-central-1"}, "decision": "allow"}"#),
    )
    .unwrap();
    let o = sovra(
        &[
            "test",
            f,
            "--coverage",
            "--coverage-format",
            "json",
            "--threshold",
            "50",
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "1 of 15 rules applied is below 50%"
    );
    let json_line = out(&o).lines().next().unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&json_line).unwrap();
    assert_eq!(v["rules"].as_array().unwrap().len(), 15);
    assert!(v["applied_percent"].as_f64().unwrap() < 50.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_prints_diagnostics_for_tools_as_json_and_sarif() {
    let bad = "tests/diagnostics/duplicate_rule.sov";
    let o = sovra(&["check", "--policies", bad, "--format", "json"], None);
    assert_eq!(o.status.code(), Some(2));
    let d: Vec<sovra::diag::Record> = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, "error");
    assert_eq!(d[0].code, "sovra::duplicate");
    assert_eq!(d[0].message, "rule `p.read` is declared twice");
    assert_eq!(d[0].file, bad);
    assert_eq!(
        (d[0].line, d[0].column, d[0].end_line, d[0].end_column),
        (5, 8, 5, 12)
    );
    assert!(d[0].help.as_deref().unwrap().contains("must be unique"));
    let o = sovra(&["check", "--policies", bad, "--format", "sarif"], None);
    assert_eq!(o.status.code(), Some(2));
    let s: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let r = &s["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "sovra::duplicate");
    assert_eq!(r["level"], "error");
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], bad);
    assert_eq!(loc["region"]["startLine"], 5);
    assert_eq!(
        s["runs"][0]["tool"]["driver"]["rules"][0]["id"],
        "sovra::duplicate"
    );
    // Clean: an empty list, exit 0.
    let o = sovra(&["check", "--format", "json"], None);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(out(&o).trim(), "[]");
}

#[test]
fn version_names_the_bundled_library_and_completions_and_man_are_generated() {
    let o = sovra(&["--version"], None);
    assert_eq!(o.status.code(), Some(0));
    let hash = out(&sovra(&["compile", "--emit", "hash"], None))
        .trim()
        .to_string();
    let v = out(&o);
    assert!(v.starts_with("sovra 0.1.0 (bundled library "), "{v}");
    assert!(v.contains(&hash), "the bundled library's policy hash: {v}");
    for (shell, mark) in [
        ("bash", "_sovra()"),
        ("zsh", "#compdef sovra"),
        ("fish", "complete -c sovra"),
    ] {
        let o = sovra(&["completions", shell], None);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        assert!(out(&o).contains(mark), "{shell}");
        assert!(
            out(&o).contains("coverage"),
            "{shell}: the test command's flags"
        );
    }
    let o = sovra(&["man"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).contains(".TH sovra 1"));
    // Every command's help ends with examples.
    let o = sovra(&["test", "--help"], None);
    assert!(out(&o).contains("Examples:\n  sovra test"), "{}", out(&o));
}

#[test]
fn warnings_pass_check_unless_denied() {
    let w = "tests/warnings/fails_open.sov";
    let o = sovra(&["check", "--policies", w], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains("sovra::fails_open"), "{}", err(&o));
    assert!(
        out(&o).starts_with("ok: 1 file, 1 rule, 1 warning"),
        "{}",
        out(&o)
    );
    let o = sovra(&["check", "--policies", w, "--deny-warnings"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = sovra(&["check", "--policies", w, "--format", "json"], None);
    let d: Vec<sovra::diag::Record> = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(d[0].severity, "warning");
    assert_eq!(d[0].code, "sovra::fails_open");
    // The bundled library is clean.
    let o = sovra(&["check", "--deny-warnings"], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
}

#[test]
fn fmt_formats_checks_and_reads_standard_input() {
    let o = sovra(&["fmt", "--check", "policies"], None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the bundled library is formatted: {}",
        out(&o)
    );
    let messy = "package  p\npermit   all when action==store\n";
    let o = sovra(&["fmt", "-"], Some(messy));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(out(&o), "package p\npermit all when action == store\n");
    assert_eq!(
        sovra(&["fmt", "--check", "-"], Some(messy)).status.code(),
        Some(1)
    );
    let dir = std::env::temp_dir().join(format!("sovra-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("p.sov");
    std::fs::write(&f, messy).unwrap();
    let o = sovra(&["fmt", "--check", dir.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("p.sov"),
        "the file that would change is named"
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        messy,
        "--check changes nothing"
    );
    assert_eq!(
        sovra(&["fmt", dir.to_str().unwrap()], None).status.code(),
        Some(0)
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "package p\npermit all when action == store\n"
    );
    // A file that does not parse is refused, not mangled.
    std::fs::write(&f, "package p\nforbid x when action = store\n").unwrap();
    let o = sovra(&["fmt", dir.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("does not parse"), "{}", err(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn catalog_import_adds_listed_regions_and_never_guesses_a_country() {
    let dir = std::env::temp_dir().join(format!("sovra-catalog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let aws = dir.join("aws.json");
    std::fs::write(
        &aws,
        r#"{"partitions":[{"partition":"aws","regions":{"eu-central-1":{"description":"Europe (Frankfurt)"},"ap-southeast-9":{"description":"Asia Pacific (Taipei)"}}}]}"#,
    )
    .unwrap();
    let gcp = dir.join("gcp.json");
    std::fs::write(&gcp, r#"[{"name":"us-central1"},{"name":"europe-west99"}]"#).unwrap();
    let written = dir.join("regions.json");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "catalog".to_string(),
            "import".into(),
            "--aws".into(),
            aws.display().to_string(),
            "--gcp".into(),
            gcp.display().to_string(),
            "--output".into(),
            written.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&[]);
    let o = sovra(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(o.status.code(), Some(1), "a region left unplaced: exit 1");
    assert!(
        err(&o).contains("added aws ap-southeast-9 (TW)"),
        "{}",
        err(&o)
    );
    assert!(
        err(&o).contains("not added: gcp europe-west99: its listing names no country"),
        "{}",
        err(&o)
    );
    let a = args(&["--country", "europe-west99=DE"]);
    let o = sovra(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // The result is a catalog `sovra eval --regions` reads.
    let o = sovra(
        &[
            "eval",
            "--regions",
            written.to_str().unwrap(),
            "--request",
            "-",
        ],
        Some(
            r#"{"action":"store","resource":{"classification":"operational","residency":"eea"},"target_region":"europe-west99"}"#,
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    let a = args(&["--country", "europe-west99=UK"]);
    let o = sovra(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("GB"), "{}", err(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_state_store_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("sovra-cli-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("state.db").display());
    let run = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--state", url.as_str()]);
        sovra(&a, None)
    };
    let o = run(&["state", "init", "--as", "ops"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        err(&o).contains("seeded with 148 regions and 0 grants"),
        "{}",
        err(&o)
    );
    let o = run(&["state", "init", "--as", "ops"]);
    assert_eq!(o.status.code(), Some(2), "seeded once");
    // Alice asks; she cannot approve her own request; Ben can.
    let o = run(&[
        "grants",
        "request",
        "--as",
        "alice",
        "--principal",
        "alice",
        "--resource",
        "ds-customers",
        "--to-country",
        "US",
        "--purpose",
        "support",
        "--mechanism",
        "scc",
        "--duration",
        "90d",
        "--reason",
        "ticket 4711",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let id = out(&o).trim().to_string();
    assert_eq!(id, "g-000001");
    let o = run(&["grants", "approve", &id, "--as", "Alice"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("a different person approves"),
        "{}",
        err(&o)
    );
    let o = run(&["grants", "list", "--only", "pending"]);
    assert!(out(&o).contains(r#""state":"pending""#), "{}", out(&o));
    let o = run(&["grants", "approve", &id, "--as", "dpo-ben"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // `eval --state` decides on the store: the grant counts now.
    let access = r#"{"action":"access","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#;
    let eval = |stdin: &str| {
        sovra(
            &["eval", "--state", url.as_str(), "--request", "-"],
            Some(stdin),
        )
    };
    assert_eq!(
        eval(access).status.code(),
        Some(0),
        "allowed under the grant"
    );
    let o = run(&[
        "grants",
        "revoke",
        &id,
        "--as",
        "dpo-ben",
        "--reason",
        "ticket closed",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        eval(access).status.code(),
        Some(1),
        "revoked: denied at once"
    );
    // A logged decision names the state version it was made on.
    let log = dir.join("decisions");
    let o = sovra(
        &[
            "eval",
            "--state",
            url.as_str(),
            "--log",
            log.to_str().unwrap(),
            "--request",
            "-",
        ],
        Some(access),
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let records = std::fs::read_to_string(log.join(sovra::audit::LOG)).unwrap();
    assert!(records.contains(r#""state_version":4"#), "{records}");
    let o = run(&["grants", "show", &id]);
    let shown: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(shown["state"], "revoked");
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    // A region taken offline; the exported documents read as documents.
    let o = run(&[
        "state",
        "region",
        "eu-central-1",
        "offline",
        "--reason",
        "power loss",
        "--as",
        "monitor",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let regions = dir.join("regions.json");
    let grants = dir.join("grants.json");
    let o = run(&[
        "state",
        "export",
        "--regions",
        regions.to_str().unwrap(),
        "--grants",
        grants.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let store = r#"{"action":"store","resource":{"classification":"operational","residency":"eea"},"target_region":"eu-central-1"}"#;
    let o = sovra(
        &[
            "eval",
            "--regions",
            regions.to_str().unwrap(),
            "--grants",
            grants.to_str().unwrap(),
            "--request",
            "-",
        ],
        Some(store),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "the offline region refuses new data"
    );
    assert!(out(&o).contains("residency.inactive_target"), "{}", out(&o));
    let o = run(&["state", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("ok: 5 changes"), "{}", out(&o));
    let o = sovra(&["audit", "verify", "--state", url.as_str()], None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = run(&["state", "history"]);
    assert_eq!(out(&o).lines().count(), 5);
    // A registered dataset: a request naming it is filled in, and failover
    // lists where its copy may go.
    let mut store = sovra::state::Store::open(&url).unwrap();
    let d: sovra::state::Dataset = serde_json::from_str(
        r#"{"id":"ds-9","classification":"identity","residency":"eea","home_country":"DE","owner":"crm","placements":["eu-west-1"]}"#,
    )
    .unwrap();
    store
        .register_dataset(&d, "ops", chrono::Utc::now())
        .unwrap();
    drop(store);
    let o = eval(r#"{"action":"store","resource":{"id":"ds-9"},"target_region":"us-east-1"}"#);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(out(&o).contains("gdpr.transfer_outside_eea"), "{}", out(&o));
    let o = eval(
        r#"{"action":"store","resource":{"id":"ds-9","home_country":"FR"},"target_region":"eu-west-1"}"#,
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a contradiction is an input error"
    );
    assert!(err(&o).contains("resource.home_country"), "{}", err(&o));
    let o = sovra(&["failover", "eu-west-1", "--state", url.as_str()], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let plan: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(plan["datasets"][0]["dataset"], "ds-9");
    assert!(!plan["datasets"][0]["may_move_to"]
        .as_array()
        .unwrap()
        .is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn place_gives_the_obligations_an_allowed_region_would_carry() {
    let o = sovra(
        &[
            "place",
            "--policies",
            "tests/cases/constructs/policy",
            "--regions",
            "tests/cases/constructs/regions.json",
            "--request",
            "-",
        ],
        Some(r#"{"action":"archive","resource":{"id":"d-1"}}"#),
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    let allowed = v["allowed"].as_array().unwrap();
    assert!(!allowed.is_empty(), "{v}");
    for a in allowed {
        assert_eq!(
            a["obligations"],
            serde_json::json!(["encrypt_at_rest"]),
            "{a}"
        );
    }
}
