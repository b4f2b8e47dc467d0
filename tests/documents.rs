//! One reading on every path (issue 9, points 14 and 15): country codes are
//! assigned ISO codes with the checker's hints, the parallel grants reader
//! accepts exactly what the small-file reader accepts, duplicate keys, grant
//! ids and inverted validity are input errors, separation of duties compares
//! identities trimmed and case-folded, and text output cannot be forged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::documents::{bundled_regions, Grants, Regions, Request};
use sovra::{Engine, TraceLevel};

fn grant(id: &str, requested: &str, approved: &str) -> String {
    format!(
        r#"{{"id":"{id}","principal":"alice","resource":"ds-customers","to_country":"US",
            "mechanism":"scc","requested_by":"{requested}","approved_by":"{approved}",
            "valid_from":"2026-01-01T00:00:00Z","expires_at":"2026-12-31T00:00:00Z"}}"#
    )
}

const ACCESS: &str = r#"{"action":"access","time":"2026-07-01T00:00:00Z",
  "principal":{"id":"alice","country":"US"},
  "resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},
  "source_region":"eu-central-1"}"#;

fn engine(grants: Grants) -> Engine {
    let p = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    Engine::new(p, bundled_regions(), grants)
}

#[test]
fn country_codes_are_assigned_iso_codes_with_hints_everywhere() {
    let e = Request::from_json(r#"{"action":"store","principal":{"country":"UK"}}"#).unwrap_err();
    assert_eq!(e.path, "principal.country");
    assert!(e.message.contains("did you mean `GB`"), "{e}");
    let e =
        Request::from_json(r#"{"action":"store","resource":{"home_country":"XX"}}"#).unwrap_err();
    assert_eq!(e.path, "resource.home_country");
    assert!(
        e.message.contains("`XX` is not an ISO 3166-1 country code"),
        "{e}"
    );
    let e = Regions::from_json(r#"{"regions":[{"id":"r","country":"UK"}]}"#).unwrap_err();
    assert_eq!(e.path, "regions[0].country");
    assert!(e.message.contains("did you mean `GB`"), "{e}");
    let doc = format!(
        r#"{{"grants":[{}]}}"#,
        grant("g", "a", "b").replace("\"US\"", "\"EL\"")
    );
    let e = Grants::from_json(&doc).unwrap_err();
    assert_eq!(e.path, "grants[0].to_country");
    assert!(e.message.contains("did you mean `GR`"), "{e}");
    assert!(Request::from_json(r#"{"action":"store","principal":{"country":"GB"}}"#).is_ok());
}

#[test]
fn duplicate_keys_are_input_errors() {
    for text in [
        r#"{"action":"store","action":"access"}"#,
        r#"{"action":"store","principal":{"id":"a","id":"b"}}"#,
        r#"{"action":"store","resource":{"tenant":"a","tenant":"b"}}"#,
        r#"{"action":"store","resource":{"tags":{"x":1,"x":2}}}"#,
        r#"{"action":"store","ticket":1,"ticket":2}"#,
    ] {
        let e = Request::from_json(text).unwrap_err();
        assert!(e.message.contains("appears twice"), "{text}: {e}");
        let mut r = Request::default();
        assert!(r.read_json(text).is_err(), "{text}");
        let batch = format!("[{text}]");
        assert!(!Request::each_from_json(batch.as_bytes(), |_| {}), "{text}");
    }
    let e = Regions::from_json(r#"{"regions":[{"id":"r","id":"s","country":"DE"}]}"#).unwrap_err();
    assert!(e.message.contains("appears twice"), "{e}");
    let g = grant("g", "a", "b");
    for doc in [
        format!(
            r#"{{"grants":[{}]}}"#,
            g.replace(r#""id":"g""#, r#""id":"g","id":"h""#)
        ),
        format!(
            r#"{{"grants":[{}]}}"#,
            g.replace(r#""id":"g""#, r#""id":"g","t":1,"t":2"#)
        ),
        format!(r#"{{"grants":[],"grants":[{g}]}}"#),
        format!(r#"{{"x":1,"x":2,"grants":[{g}]}}"#),
    ] {
        let e = Grants::from_json(&doc).unwrap_err();
        assert!(e.message.contains("appears twice"), "{doc}: {e}");
    }
}

#[test]
fn duplicate_grant_ids_and_inverted_validity_are_input_errors() {
    let doc = format!(
        r#"{{"grants":[{},{}]}}"#,
        grant("g-1", "a", "b"),
        grant("g-1", "c", "d")
    );
    let e = Grants::from_json(&doc).unwrap_err();
    assert_eq!(e.path, "grants[1].id");
    assert!(e.message.contains("duplicate grant id `g-1`"), "{e}");
    let inverted = grant("g", "a", "b").replace("2026-12-31T00:00:00Z", "2026-01-01T00:00:00Z");
    let e = Grants::from_json(&format!(r#"{{"grants":[{inverted}]}}"#)).unwrap_err();
    assert_eq!(e.path, "grants[0].expires_at");
    assert!(e.message.contains("after `valid_from`"), "{e}");
}

/// A grants file over 1 MiB, so that `Grants::from_file` takes the parallel
/// path, with `between` written between the first two grants and `after`
/// after the document.
fn big_file(name: &str, between: &str, after: &str) -> std::path::PathBuf {
    let mut text = String::from("{\"grants\": [");
    text.push_str(&grant("g-0", "a", "b"));
    text.push_str(between);
    for i in 1..6000 {
        text.push_str(&grant(&format!("g-{i}"), "a", "b"));
        if i + 1 < 6000 {
            text.push(',');
        }
    }
    text.push_str("]}");
    text.push_str(after);
    assert!(text.len() > 1 << 20);
    let path = std::env::temp_dir().join(format!("sovra-docs-{}-{name}.json", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_parallel_grants_reader_accepts_exactly_what_the_small_file_reader_accepts() {
    let cases = [
        ("ok", ",\n ", "\n", true),
        ("junk", ", 42, ", "", false),
        ("string", ", \"x\", ", "", false),
        ("nocomma", " ", "", false),
        ("twocommas", ",,", "", false),
        ("trailing", ",", " trailing", false),
        ("second", ",", "{}", false),
    ];
    for (name, between, after, ok) in cases {
        let path = big_file(name, between, after);
        let small = Grants::from_json(&std::fs::read_to_string(&path).unwrap());
        let fast = Grants::from_file(&path).unwrap();
        assert_eq!(small.is_ok(), ok, "{name}: small-file reader");
        assert_eq!(fast.is_ok(), ok, "{name}: parallel reader");
        match (small, fast) {
            (Ok(a), Ok(b)) => {
                assert_eq!((a.len(), &a.hash), (b.len(), &b.hash), "{name}");
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{name}: both name the same place"),
            _ => unreachable!(),
        }
        std::fs::remove_file(path).ok();
    }
    // Not UTF-8 inside a string: refused on both paths.
    let path = big_file("utf8", ",", "");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(5).position(|w| w == b"alice").unwrap();
    bytes[at] = 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert!(Grants::from_file(&path).unwrap().is_err());
    assert!(Grants::from_reader(&bytes[..]).is_err());
    std::fs::remove_file(path).ok();
}

#[test]
fn separation_of_duties_compares_identities_trimmed_and_case_folded() {
    let decide = |requested: &str, approved: &str| {
        let doc = format!(r#"{{"grants":[{}]}}"#, grant("g", requested, approved));
        let e = engine(Grants::from_json(&doc).unwrap());
        e.decide(&Request::from_json(ACCESS).unwrap(), TraceLevel::Off)
            .decision
    };
    assert_eq!(decide("alice", "bob"), "allow");
    assert_eq!(decide("alice", "alice"), "deny");
    assert_eq!(decide("alice", "Alice"), "deny");
    assert_eq!(decide("alice", "alice "), "deny");
    assert_eq!(decide("Alice", " ALICE\\t"), "deny");
    assert_eq!(decide("alice", "   "), "deny");
}

#[test]
fn control_characters_in_values_are_escaped_in_text_output() {
    let forged = "x\nDecision: ALLOW\u{1b}[2J";
    let req = format!(
        r#"{{"action":"store","time":"2026-03-01T00:00:00Z","principal":{{"id":"p\r\nroot"}},
            "resource":{{"classification":{},"residency":"eea","home_country":"DE"}},
            "target_region":"eu-central-1"}}"#,
        serde_json::to_string(forged).unwrap()
    );
    let e = engine(Grants::default());
    let req = Request::from_json(&req).unwrap();
    let d = e.decide(&req, TraceLevel::Full);
    assert_eq!(d.decision, "deny");
    // Escaped alike when the trace is written as JSON as the walk goes.
    let mut json = Vec::new();
    e.decide_json_traced(&req, TraceLevel::Full, &mut Default::default(), &mut json);
    assert_eq!(
        String::from_utf8(json).unwrap(),
        serde_json::to_string(&d).unwrap()
    );
    let text = sovra::explain::render(&d);
    assert!(!text.contains("\nDecision: ALLOW"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
    assert!(text.contains(r"x\nDecision: ALLOW\u{1b}[2J"), "{text}");
    let headers = text.lines().filter(|l| l.starts_with("Decision")).count();
    assert_eq!(headers, 1, "only the header starts a line: {text}");
}

#[test]
fn a_full_trace_over_a_principal_with_many_grants_stays_small() {
    // 20,000 grants of one principal, none of which covers the request.
    let list: Vec<String> = (0..20_000)
        .map(|i| grant(&format!("g-{i}"), "a", "b").replace("\"US\"", "\"IN\""))
        .collect();
    let e = engine(Grants::from_json(&format!(r#"{{"grants":[{}]}}"#, list.join(","))).unwrap());
    let req = Request::from_json(ACCESS).unwrap();
    let d = e.decide(&req, TraceLevel::Full);
    assert_eq!(d.decision, "deny");
    // The trace written as text shows and counts the same grants, at
    // either level.
    let mut text = Vec::new();
    e.decide_json_traced(&req, TraceLevel::Full, &mut Default::default(), &mut text);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        serde_json::to_string(&d).unwrap()
    );
    let mut text = Vec::new();
    e.decide_json_traced(
        &req,
        TraceLevel::Summary,
        &mut Default::default(),
        &mut text,
    );
    let summary = e.decide(&req, TraceLevel::Summary);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        serde_json::to_string(&summary).unwrap()
    );
    let trace = d.trace.unwrap();
    let rule = trace.rules.iter().find(|r| !r.grants.is_empty()).unwrap();
    let shown = rule.grants.len();
    assert_eq!(shown, sovra::eval::TRACED_GRANTS);
    assert_eq!(rule.grants_omitted, 20_000 - shown as u64);
    assert!(serde_json::to_string(&trace).unwrap().len() < 200_000);
    assert!(sovra::explain::render(&sovra::Decision {
        trace: Some(trace),
        ..d
    })
    .contains("19900 more grants looked at, not shown"));
}

#[test]
fn reasons_written_as_text_escape_the_message_and_its_values_alike() {
    // A message whose own text needs escaping, filled in with values that
    // do too (a quote, a backslash, control characters, a list, a number,
    // a missing field), a rule without `because`, and a permit's message.
    let policy = r#"package t

profile wide = unrestricted

forbid quoted
  when action == store
  because "a \"quoted\" \\ back	slash
  and more: {request.note} / {request.count} / {request.flag} / {request.tags} / {resource.classification} / {target} / {principal.country} / {request.absent} / {resource.residency} / {target.sovereign}"

forbid plain when action == store

permit ok when action == replicate because "ok {purpose} / {resource.id} é"
"#;
    let mut src = sovra::source::Sources::default();
    src.add("t.sov", policy.to_string());
    let p = sovra::policy::compile(&src).unwrap();
    let e = Engine::new(p, bundled_regions(), Grants::default());
    let store = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"p","country":"DE"},
        "resource":{"classification":"x\"\u0001\\y","residency":"wide"},"target_region":"eu-central-1",
        "note":"n\nDecision: ALLOW\u001b","count":2.5,"flag":true,"tags":["a","b\""]}"#;
    let replicate = r#"{"action":"replicate","time":"2026-03-01T12:00:00Z","principal":{"id":"p"},
        "resource":{"id":"ds\t1"}}"#;
    for (req, decision, reasons) in [(store, "deny", 2), (replicate, "allow", 1)] {
        let req = Request::from_json(req).unwrap();
        for level in [TraceLevel::Off, TraceLevel::Summary, TraceLevel::Full] {
            let d = e.decide(&req, level);
            assert_eq!(d.decision, decision);
            assert_eq!(d.reasons.len(), reasons);
            let mut json = Vec::new();
            e.decide_json_traced(&req, level, &mut Default::default(), &mut json);
            assert_eq!(
                String::from_utf8(json).unwrap(),
                serde_json::to_string(&d).unwrap()
            );
        }
    }
    let d = e.decide(&Request::from_json(store).unwrap(), TraceLevel::Off);
    assert_eq!(
        d.reasons[0].message,
        "a \"quoted\" \\ back\tslash and more: n\nDecision: ALLOW\u{1b} / 2.5 / true / \
         [\"a\",\"b\\\"\"] / x\"\u{1}\\y / eu-central-1 / DE / (missing) / wide / false"
    );
    assert_eq!(d.reasons[1].message, "forbidden by rule `t.plain`");
}
