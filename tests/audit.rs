//! The decision log: every change to it is detected and located, a killed
//! writer leaves a log that opens cleanly, replay reproduces every decision,
//! and impact analysis finds what a new policy would change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::audit::{self, LogWriter, Verdict};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, TraceLevel};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GRANTS: &str = include_str!("../docs/examples/grants.json");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sovra-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn engine() -> Engine {
    let p = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    Engine::new(p, bundled_regions(), Grants::from_json(GRANTS).unwrap())
}

fn requests() -> Vec<Request<'static>> {
    include_str!("../docs/examples/batch.jsonl")
        .lines()
        .chain([include_str!("../docs/examples/store-us.json")
            .replace('\n', " ")
            .as_str()])
        .map(|l| Request::from_json(l).unwrap().into_owned())
        .collect()
}

fn write_log(dir: &Path, mask: &[String]) -> usize {
    let e = engine();
    let mut log = LogWriter::open(dir, mask).unwrap();
    let reqs = requests();
    for r in &reqs {
        let d = e.decide(r, TraceLevel::Off);
        log.append(&e, r, &d).unwrap();
    }
    log.sync().unwrap();
    reqs.len()
}

fn tampered(dir: &Path) -> (u64, String) {
    match audit::verify(dir).unwrap() {
        Verdict::Tampered { record, why, .. } => (record, why),
        Verdict::Clean { records, .. } => panic!("not detected ({records} records clean)"),
    }
}

#[test]
fn a_clean_log_verifies_and_replays_identically() {
    let dir = tmp("clean");
    let n = write_log(&dir, &[]);
    assert!(matches!(
        audit::verify(&dir).unwrap(),
        Verdict::Clean { records, .. } if records == n as u64
    ));
    let replayed = audit::replay(&dir, None, |_, _| {}).unwrap();
    assert_eq!(replayed.len(), n);
    assert!(replayed.iter().all(|r| r.was == r.now), "{replayed:?}");
    // Objects are stored once, whatever the number of records.
    assert_eq!(std::fs::read_dir(dir.join("objects")).unwrap().count(), 3);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_changed_byte_is_detected_and_located() {
    let dir = tmp("bytes");
    write_log(&dir, &[]);
    let path = dir.join(audit::LOG);
    let original = std::fs::read(&path).unwrap();
    // The record each byte belongs to (a newline belongs to its line).
    let mut record_of = Vec::new();
    let mut rec = 1u64;
    for b in &original {
        record_of.push(rec);
        if *b == b'\n' {
            rec += 1;
        }
    }
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
        std::fs::write(&path, &bytes).unwrap();
        let (record, why) = tampered(&dir);
        let expected = record_of[i];
        assert!(
            record == expected || (original[i] == b'\n' && record == expected + 1),
            "byte {i} (record {expected}): reported record {record}: {why}"
        );
    }
    std::fs::write(&path, &original).unwrap();
    assert!(matches!(
        audit::verify(&dir).unwrap(),
        Verdict::Clean { .. }
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn deletion_insertion_reordering_and_truncation_are_detected() {
    let dir = tmp("lines");
    write_log(&dir, &[]);
    let path = dir.join(audit::LOG);
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let write = |ls: &[&str]| {
        std::fs::write(
            &path,
            ls.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap()
    };

    write(&[lines[0], lines[2], lines[3], lines[4]]);
    let (record, why) = tampered(&dir);
    assert_eq!(record, 2, "{why}");
    assert!(why.contains("deleted"), "{why}");

    write(&[lines[0], lines[1], lines[1], lines[2], lines[3], lines[4]]);
    let (record, why) = tampered(&dir);
    assert_eq!(record, 3, "{why}");

    write(&[lines[0], lines[2], lines[1], lines[3], lines[4]]);
    let (record, why) = tampered(&dir);
    assert_eq!(record, 2, "{why}");

    write(&lines[..4]);
    let (record, why) = tampered(&dir);
    assert_eq!(record, 5, "{why}");
    assert!(why.contains("cut from the end"), "{why}");

    write(&lines);
    let obj = std::fs::read_dir(dir.join("objects"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&obj).unwrap();
    bytes.push(b' ');
    std::fs::write(&obj, bytes).unwrap();
    let (record, why) = tampered(&dir);
    assert_eq!(record, 1, "{why}");
    assert!(why.contains("object"), "{why}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tmp("lock");
    let _first = LogWriter::open(&dir, &[]).unwrap();
    let second = LogWriter::open(&dir, &[]);
    assert!(matches!(second, Err(audit::AuditError::Locked(_))));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_torn_last_record_is_moved_aside_with_a_warning() {
    let dir = tmp("torn");
    let n = write_log(&dir, &[]);
    let path = dir.join(audit::LOG);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"seq":6,"time":"2026-03-01T12:00:00Z","req"#);
    std::fs::write(&path, &bytes).unwrap();
    let (record, why) = tampered(&dir);
    assert_eq!(record, n as u64 + 1);
    assert!(why.contains("incomplete"), "{why}");
    let w = LogWriter::open(&dir, &[]).unwrap();
    assert_eq!(w.warnings.len(), 1);
    assert!(w.warnings[0].contains("torn record"), "{:?}", w.warnings);
    drop(w);
    assert!(matches!(
        audit::verify(&dir).unwrap(),
        Verdict::Clean { records, .. } if records == n as u64
    ));
    let aside: Vec<_> = std::fs::read_dir(dir.join("torn")).unwrap().collect();
    assert_eq!(aside.len(), 1, "the torn bytes are kept, not dropped");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_writer_killed_at_any_moment_leaves_a_log_that_opens_cleanly() {
    let dir = tmp("kill");
    let input: String = (0..20_000)
        .map(|_| {
            format!(
                "{}\n",
                include_str!("../docs/examples/batch.jsonl")
                    .lines()
                    .next()
                    .unwrap()
            )
        })
        .collect();
    let file = dir.with_extension("jsonl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&file, input).unwrap();
    for round in 0..8u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sovra"))
            .args([
                "eval",
                "--requests",
                file.to_str().unwrap(),
                "--log",
                dir.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20 + round * 37 % 150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever the moment: either clean, or only the last line is torn.
        match audit::verify(&dir).unwrap() {
            Verdict::Clean { .. } => {}
            Verdict::Tampered { why, .. } => {
                assert!(why.contains("incomplete"), "round {round}: {why}")
            }
        }
        // The next writer opens it, moving any torn record aside.
        let o = Command::new(env!("CARGO_BIN_EXE_sovra"))
            .args([
                "eval",
                "--request",
                "docs/examples/store-us.json",
                "--log",
                dir.to_str().unwrap(),
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "round {round}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            matches!(audit::verify(&dir).unwrap(), Verdict::Clean { .. }),
            "round {round}"
        );
    }
    let replayed = audit::replay(&dir, None, |_, _| {}).unwrap();
    assert!(replayed.iter().all(|r| r.was == r.now));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&file).ok();
}

#[test]
fn masked_fields_are_keyed_hashes_and_still_replay() {
    let dir = tmp("mask");
    let n = write_log(
        &dir,
        &[
            "principal.id".to_string(),
            "resource.home_country".to_string(),
        ],
    );
    let recs = audit::records(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join(audit::LOG)).unwrap();
    assert!(
        !text.contains("\"alice\""),
        "the masked value is not in the log"
    );
    let alice: Vec<&str> = recs
        .iter()
        .filter_map(|r| r.request.pointer("/principal/id").and_then(|v| v.as_str()))
        .collect();
    assert!(alice.iter().all(|a| a.starts_with("mask:")));
    assert_eq!(alice[0], alice[1], "equal values still match");
    assert_eq!(recs[0].masked, ["principal.id", "resource.home_country"]);
    let replayed = audit::replay(&dir, None, |_, _| {}).unwrap();
    assert_eq!(replayed.len(), n);
    assert!(replayed.iter().all(|r| r.masked), "home_country was masked");
    // Masking only the principal replays exactly, grant-based access included:
    // grants are stored with their principals masked alike.
    let dir2 = tmp("mask2");
    write_log(&dir2, &["principal.id".to_string()]);
    let replayed = audit::replay(&dir2, None, |_, _| {}).unwrap();
    assert!(
        replayed.iter().all(|r| r.was == r.now && !r.masked),
        "{replayed:?}"
    );
    std::fs::remove_dir_all(&dir2).ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn impact_analysis_counts_what_a_new_policy_would_change() {
    let dir = tmp("impact");
    write_log(&dir, &[]);
    let mut src = sovra::policy::bundled();
    for f in &mut src.files {
        if f.name.ends_with("residency.sov") {
            f.text = f
                .text
                .replace(
                    "profile de-primary-eea = hybrid(primary: DE, secondary: EEA)",
                    "profile de-primary-eea = regional(EEA + [CH])",
                )
                .into();
        }
    }
    let src = sovra::policy::load(&[]).map(|_| src.clone()).unwrap_or(src);
    let new = sovra::policy::compile(&src).unwrap();
    let results = audit::replay(&dir, Some(&new), |_, _| {}).unwrap();
    let changed: Vec<_> = results.iter().filter(|r| r.was != r.now).collect();
    assert_eq!(changed.len(), 1, "{results:?}");
    assert_eq!(changed[0].was.0, "deny");
    assert_eq!(changed[0].now.0, "allow");
    std::fs::remove_dir_all(&dir).ok();
}

/// A log written by this version (2026-12-02, five records, one of them with
/// `principal.id` masked) is committed: every later version must still verify
/// and replay it, whatever it changes in the stored program's form.
#[test]
fn a_log_written_on_2026_12_02_still_verifies_and_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log-2026-12-02");
    match audit::verify(&dir).unwrap() {
        Verdict::Clean { records, head } => {
            assert_eq!(records, 5);
            assert_eq!(
                head,
                "sha256:5ba809663f00b0621d4543b0533c17864e6d939cbb9ac86f670f1a2a59818eb7"
            );
        }
        other => panic!("{other:?}"),
    }
    let replayed = audit::replay(&dir, None, |_, _| {}).unwrap();
    assert_eq!(replayed.len(), 5);
    assert!(replayed.iter().all(|r| r.was == r.now), "{replayed:?}");
    assert!(
        replayed.iter().any(|r| r.was.0 == "allow") && replayed.iter().any(|r| r.was.0 == "deny")
    );
}

#[test]
fn masking_a_value_found_inside_an_enum_word_leaves_the_record_readable() {
    // `IT` is in `permit`, `RE` in `resource` and `expired`: masking a
    // country scrubs text the request could reach, never the trace's enums.
    let dir = tmp("mask-enum");
    let e = engine();
    let mut log = LogWriter::open(&dir, &["principal.country".to_string()]).unwrap();
    let r = Request::from_json(
        r#"{"action":"access","time":"2026-03-01T00:00:00Z",
            "principal":{"id":"p-1","country":"IT"},
            "resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},
            "source_region":"eu-central-1","purpose":"support"}"#,
    )
    .unwrap();
    let d = e.decide(&r, TraceLevel::Full);
    assert!(d.allowed(), "{:?}", d.reasons);
    log.append(&e, &r, &d).unwrap();
    log.sync().unwrap();
    let recs = audit::records(&dir).unwrap();
    let rec = &recs[0];
    assert_eq!(rec.reasons[0].effect, sovra::vocab::Effect::Permit);
    let trace = rec.trace.as_ref().unwrap();
    assert!(trace
        .rules
        .iter()
        .any(|r| r.effect == sovra::vocab::Effect::Permit));
    let values = serde_json::to_string(&trace.rules).unwrap();
    assert!(
        !values.contains("\"IT\""),
        "the masked country is scrubbed: {values}"
    );
    assert_eq!(audit::replay(&dir, None, |_, _| {}).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}
