//! Properties of the engine as a library: the rules are data, deciding is
//! deterministic, the engine is shareable, and bad input never panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::documents::{bundled_regions, Grants, Regions, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};
use std::path::PathBuf;

const EEA_TO_US: &str = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},
  "resource":{"id":"ds","classification":"identity","residency":"global","home_country":"DE"},"target_region":"us-east-1"}"#;

fn bundled() -> Engine {
    Engine::new(
        sovra::policy::compile(&sovra::policy::bundled()).unwrap(),
        bundled_regions(),
        Grants::default(),
    )
}

#[test]
fn a_changed_set_changes_the_decision() {
    let req = Request::from_json(EEA_TO_US).unwrap();
    assert_eq!(bundled().decide(&req, TraceLevel::Off).decision, "deny");

    // Copy the library and add the US to ADEQUATE: the same request is allowed.
    let dir = std::env::temp_dir().join(format!("sovra-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in sovra::policy::BUNDLED {
        let file = dir.join(name.trim_start_matches("policies/"));
        let text = if name.ends_with("geo.sov") {
            text.replace("set ADEQUATE = [AD,", "set ADEQUATE = [US, AD,")
        } else {
            text.to_string()
        };
        std::fs::write(file, text).unwrap();
    }
    let src = sovra::policy::load(std::slice::from_ref(&dir)).unwrap();
    let program = sovra::policy::compile(&src).unwrap();
    let changed = Engine::new(program, bundled_regions(), Grants::default());
    assert_ne!(changed.policy_hash(), bundled().policy_hash());
    assert_eq!(changed.decide(&req, TraceLevel::Off).decision, "allow");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_bundled_catalog_is_current_each_region_with_its_partition() {
    let r = bundled_regions();
    assert_eq!(r.regions.len(), 148);
    assert!(r
        .regions
        .iter()
        .all(|r| r.status == sovra::documents::Status::Active && r.partition.is_some()));
    assert_eq!(r.get("eu-central-1").unwrap().country.to_string(), "DE");
    // Regions the catalog of 2026-11 lacked, each in its partition.
    for (id, country, partition) in [
        ("mx-central-1", "MX", "aws"),
        ("ap-southeast-6", "NZ", "aws"),
        ("ap-east-2", "TW", "aws"),
        ("eusc-de-east-1", "DE", "aws-eusc"),
        ("us-gov-west-1", "US", "aws-us-gov"),
        ("cn-northwest-1", "CN", "aws-cn"),
        ("denmarkeast", "DK", "azure"),
        ("chinanorth3", "CN", "azure-china"),
        ("northamerica-south1", "MX", "gcp"),
        ("europe-north2", "SE", "gcp"),
        ("asia-southeast3", "TH", "gcp"),
        ("africa-south1", "ZA", "gcp"),
    ] {
        let region = r.get(id).unwrap_or_else(|| panic!("{id} is missing"));
        assert_eq!(region.country.to_string(), country, "{id}");
        assert_eq!(region.partition.as_deref(), Some(partition), "{id}");
    }
    // The European Sovereign Cloud is operated under a sovereignty regime.
    assert!(r.get("eusc-de-east-1").unwrap().sovereign);
    assert!(!r.get("eu-central-1").unwrap().sovereign);
}

#[test]
fn the_engine_is_send_and_sync_and_decides_the_same_everywhere() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    let engine = std::sync::Arc::new(bundled());
    let req = Request::from_json(EEA_TO_US).unwrap();
    let first = engine.decide(&req, TraceLevel::Full);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (e, r) = (engine.clone(), req.clone());
            std::thread::spawn(move || e.decide(&r, TraceLevel::Full))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), first);
    }
}

#[test]
fn the_policy_hash_is_stable() {
    // Compiling twice gives the same canonical bytes; the hash is pinned so a
    // change to the canonical form is a visible decision.
    let a = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let b = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    assert_eq!(a.canonical(), b.canonical());
    let round: sovra::ir::Program = serde_json::from_slice(&a.canonical()).unwrap();
    assert_eq!(
        round.canonical(),
        a.canonical(),
        "the IR deserialises to itself"
    );
    assert!(round == a, "the IR deserialises to an equal program");
    assert_eq!(round.hash(), a.hash());
}

#[test]
fn verdict_agrees_with_decide() {
    let engine = bundled();
    let mut scratch = Scratch::default();
    let req = Request::from_json(EEA_TO_US).unwrap();
    let v = engine.verdict(&req, &mut scratch);
    assert!(!v.allow);
    let names: Vec<&str> = v
        .rules
        .iter()
        .map(|r| engine.program().rules[*r as usize].id.as_str())
        .collect();
    assert_eq!(names, ["gdpr.transfer_outside_eea"]);
}

#[test]
fn only_rules_indexed_for_the_action_are_visited() {
    let engine = bundled();
    let req = Request::from_json(EEA_TO_US).unwrap();
    let d = engine.decide(&req, TraceLevel::Summary);
    let t = d.trace.unwrap();
    let visited: Vec<&str> = t.rules.iter().map(|r| &*r.rule).collect();
    assert!(
        !visited.iter().any(|r| r.starts_with("access.")),
        "store never visits access rules: {visited:?}"
    );
    assert_eq!(t.rules_skipped, 6);
}

#[test]
fn malformed_documents_are_errors_with_paths_never_panics() {
    let cases = [
        (r#"{"regions": {}}"#, "regions: expected an array"),
        (
            r#"{"regions": [{"id": "a"}]}"#,
            "regions[0].country: required field is missing",
        ),
        (
            r#"{"regions": [{"id": "a", "country": "Deutschland"}]}"#,
            "regions[0].country: `Deutschland` is not an ISO 3166-1 country code",
        ),
        (
            r#"{"regions": [{"id": 1, "country": "DE"}]}"#,
            "regions[0].id: expected a string, found a number",
        ),
        (
            r#"{"regions": [{"id": "a", "country": "DE", "sovereign": "yes"}]}"#,
            "regions[0].sovereign: expected true or false",
        ),
        (
            r#"{"regions": [{"id": "a", "country": "DE", "zones": [1]}]}"#,
            "regions[0].zones[0]: expected a string",
        ),
        (r#"[]"#, "(document): expected an object"),
        (r#"{"regions": [}"#, "not valid JSON"),
    ];
    for (doc, want) in cases {
        let e = Regions::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(want), "{doc}: {e}");
    }
    let cases = [
        (
            r#"{"grants": [{"principal": "p", "to_country": "US", "requested_by": "a", "expires_at": "2026-01-01T00:00:00Z"}]}"#,
            "grants[0].id: required field is missing",
        ),
        (
            r#"{"grants": [{"id": "g", "principal": "p", "to_country": "US", "requested_by": "a"}]}"#,
            "grants[0].expires_at: required field is missing",
        ),
        (
            r#"{"grants": [{"id": "g", "principal": "p", "to_country": "usa", "requested_by": "a", "expires_at": "2026-01-01T00:00:00Z"}]}"#,
            "grants[0].to_country",
        ),
        (
            r#"{"grants": [{"id": "g", "principal": "p", "to_country": "US", "requested_by": "a", "expires_at": "2026-01-01"}]}"#,
            "grants[0].expires_at: `2026-01-01` is not an RFC 3339 time",
        ),
        (
            r#"{"grants": [{"id": "g", "principal": "p", "to_country": "US", "requested_by": "a", "expires_at": "2026-01-01T00:00:00Z", "classifications": "identity"}]}"#,
            "grants[0].classifications: expected an array",
        ),
        (
            r#"{"grants": [{"id": "g", "principal": "p", "to_country": "US", "requested_by": "a", "expires_at": "2026-01-01T00:00:00"}]}"#,
            "not an RFC 3339 time",
        ),
    ];
    for (doc, want) in cases {
        let e = Grants::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(want), "{doc}: {e}");
    }
    let cases = [
        (r#"{}"#, "action: required field is missing"),
        (
            r#"{"action": "store", "principal": "alice"}"#,
            "principal: expected an object",
        ),
        (
            r#"{"action": "store", "principal": {"roles": "admin"}}"#,
            "principal.roles: expected an array of strings",
        ),
        (
            r#"{"action": "store", "resource": {"client_regions": ["a", 2]}}"#,
            "resource.client_regions[1]: expected a string",
        ),
        (
            r#"{"action": "store", "target_region": 5}"#,
            "target_region: expected a string, found a number",
        ),
        (
            r#"{"action": "store", "time": "2026-03-01 12:00"}"#,
            "time: `2026-03-01 12:00` is not an RFC 3339 time",
        ),
    ];
    for (doc, want) in cases {
        let e = Request::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(want), "{doc}: {e}");
    }
}

#[test]
fn nulls_mean_absent_and_extras_are_kept() {
    let r = Request::from_json(r#"{"action":"store","time":null,"purpose":null,"principal":{"id":"a","country":null,"team":"x"},"tenant":"acme"}"#).unwrap();
    assert!(r.time.is_none() && r.purpose.is_none() && r.principal.country.is_none());
    assert_eq!(r.principal.extra["team"], "x");
    assert_eq!(r.extra["tenant"], "acme");
}

#[test]
fn policy_paths_as_files_or_folders() {
    let one = sovra::policy::load(&[
        PathBuf::from("policies/geo.sov"),
        PathBuf::from("policies/classes.sov"),
    ])
    .unwrap();
    assert_eq!(one.files.len(), 2);
    assert!(
        sovra::policy::load(&[PathBuf::from("docs/examples/tests")]).is_err(),
        "a folder without .sov files is an error"
    );
}

#[path = "support/gen.rs"]
mod gen;

#[test]
fn grants_files_read_in_parallel_as_in_one_piece() {
    let dir = std::env::temp_dir().join(format!("sovra-grants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Large enough to be cut into several pieces.
    let text = gen::scale_grants(&mut gen::Rng::new(3), 40_000);
    let big = dir.join("big.json");
    std::fs::write(&big, &text).unwrap();
    let a = Grants::from_file(&big).unwrap().unwrap();
    let b = Grants::from_json(&text).unwrap();
    assert_eq!(a.len(), 40_000);
    assert!(a.iter().eq(b.iter()));
    assert_eq!(a.get(39_999), b.get(39_999));
    assert_eq!(a.get(12_345).map(|g| &*g.id), Some("g-12345"));
    assert!(a.get(40_000).is_none());
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.of_principal("svc-7"), b.of_principal("svc-7"));
    // The index by principal: every grant of each principal, in document
    // order, whichever reader read it.
    let mut listed = 0;
    for p in b
        .iter()
        .map(|g| &*g.principal)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let mine = a.of_principal(p);
        assert_eq!(mine, b.of_principal(p), "{p}");
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{p}");
        assert!(
            mine.iter().all(|&i| &*a.get(i).unwrap().principal == p),
            "{p}"
        );
        listed += mine.len();
    }
    assert_eq!(listed, 40_000);
    assert!(a.of_principal("svc-none").is_empty());
    // A repeated id or an empty window in a late piece is refused with the
    // serial reader's error, naming the first offender.
    let refused = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let e = Grants::from_file(&path)
            .unwrap()
            .map(|g| g.len())
            .unwrap_err();
        e.to_string()
    };
    let dup = text.replace(r#""id": "g-39990""#, r#""id": "g-5""#);
    let e = refused("dup.json", &dup);
    let first = "grants[39990].id: duplicate grant id `g-5` (first at grants[5])";
    assert!(e.contains(first), "{e}");
    let at = text.find(r#""id": "g-30000""#).unwrap();
    let from = "\"valid_from\": \"2026-01-01T00:00:00Z\"";
    let window = text[at..].find(from).unwrap() + at;
    let mut inverted = text.clone();
    inverted.replace_range(window..window + from.len(), &from.replace("2026", "2030"));
    let e = refused("inverted.json", &inverted);
    let first = "grants[30000].expires_at: the grant expires at or before";
    assert!(e.contains(first), "{e}");
    // Other top-level keys, escapes and nesting are no obstacle.
    let odd = dir.join("odd.json");
    std::fs::write(&odd, r#"{"note": {"x": ["{", "}"]}, "grants": [{"id": "g\"1", "principal": "p", "to_country": "US", "requested_by": "a", "expires_at": "2026-01-01T00:00:00Z", "meta": {"k": [1, {"z": "]"}]}}], "after": 1}"#).unwrap();
    let g = Grants::from_file(&odd).unwrap().unwrap();
    assert_eq!(g.get(0).map(|g| &*g.id), Some("g\"1"));
    // A broken file is read again serially, for an error that names the place.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"grants": [{"id": "g", "principal": "p", "to_country": "US", "requested_by": "a", "expires_at": "soon"}]}"#).unwrap();
    let e = Grants::from_file(&bad).unwrap().unwrap_err().to_string();
    assert!(
        e.contains("grants[0].expires_at: `soon` is not an RFC 3339 time"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_canonical_request_is_json_that_reads_back_the_same_and_ignores_nulls() {
    let a = Request::from_json(r#"{"action":"store","time":"2026-03-01T14:00:00+02:00","principal":{"id":"a\"b","roles":["x"],"team":{"k":[1,null]}},"resource":{"id":"ds","home_country":"DE","client_regions":["r1"]},"purpose":"p","zz":1,"aa":"é"}"#).unwrap();
    let bytes = a.canonical();
    let back = Request::from_json(std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(back, a);
    assert_eq!(back.canonical(), bytes);
    let with_nulls =
        Request::from_json(r#"{"action":"store","purpose":null,"principal":{"country":null}}"#)
            .unwrap();
    let without = Request::from_json(r#"{"action":"store"}"#).unwrap();
    assert_eq!(with_nulls.canonical(), without.canonical());
    let e = bundled();
    assert_eq!(e.input_hash(&with_nulls), e.input_hash(&without));
    assert_ne!(e.input_hash(&a), e.input_hash(&without));
}

#[test]
fn the_input_hash_tells_requests_apart_exactly_as_their_canonical_json_does() {
    use serde_json::{json, Map, Value};
    use sovra::country::Country;
    // Requests of one or two fields besides the action, drawn from a few
    // short values (with the compact form's own tag bytes in some), so that
    // many are equal and many differ in one place or in where one string
    // ends and the next begins: the compact form the input hash is taken of
    // must be equal exactly when the canonical JSON is.
    let mut rng = gen::Rng::new(0xC0_4AC7);
    let words = ["", "a", "b", "ab", "\u{3}b", "a\u{3}b", "é"];
    let word = |rng: &mut gen::Rng| words[rng.below(words.len())].to_string();
    let text = |rng: &mut gen::Rng| std::borrow::Cow::from(word(rng));
    let some = |rng: &mut gen::Rng| rng.chance(12);
    let maybe = |rng: &mut gen::Rng| some(rng).then(|| text(rng));
    let country = |rng: &mut gen::Rng| {
        some(rng)
            .then(|| Country::parse(["DE", "US"][rng.below(2)]))
            .flatten()
    };
    let list = |rng: &mut gen::Rng| -> Vec<std::borrow::Cow<'static, str>> {
        let n = if some(rng) { 1 + rng.below(2) } else { 0 };
        (0..n).map(|_| text(rng)).collect()
    };
    let extra = |rng: &mut gen::Rng| -> Map<String, Value> {
        let values = [
            json!(1),
            json!(1.0),
            json!("1"),
            json!([1]),
            json!({"a": 1}),
            Value::Null,
        ];
        let n = if some(rng) { 1 + rng.below(2) } else { 0 };
        (0..n)
            .map(|_| (word(rng), values[rng.below(values.len())].clone()))
            .collect()
    };
    let times = [
        "2026-03-01T12:00:00Z",
        "2026-03-01T14:00:00+02:00",
        "2026-03-01T12:00:00.5Z",
        "2026-03-01T12:00:01Z",
    ];
    let mut all = Vec::new();
    for _ in 0..3000 {
        let mut r = Request {
            action: text(&mut rng),
            time: some(&mut rng).then(|| {
                chrono::DateTime::parse_from_rfc3339(times[rng.below(times.len())]).unwrap()
            }),
            source_region: maybe(&mut rng),
            target_region: maybe(&mut rng),
            purpose: maybe(&mut rng),
            ..Request::default()
        };
        r.principal.id = maybe(&mut rng);
        r.principal.country = country(&mut rng);
        r.principal.roles = list(&mut rng);
        r.resource.id = maybe(&mut rng);
        r.resource.classification = maybe(&mut rng);
        r.resource.residency = maybe(&mut rng);
        r.resource.home_country = country(&mut rng);
        r.resource.client_regions = list(&mut rng);
        r.principal.extra = extra(&mut rng);
        r.resource.extra = extra(&mut rng);
        r.extra = extra(&mut rng);
        let mut compact = Vec::new();
        r.write_compact(&mut compact);
        all.push((r.canonical(), compact));
    }
    let mut equal = 0;
    for (i, (json_a, compact_a)) in all.iter().enumerate() {
        for (json_b, compact_b) in &all[i + 1..] {
            assert_eq!(
                json_a == json_b,
                compact_a == compact_b,
                "{} and {}",
                String::from_utf8_lossy(json_a),
                String::from_utf8_lossy(json_b)
            );
            equal += usize::from(json_a == json_b);
        }
    }
    assert!(
        equal > 100,
        "{equal} pairs of equal requests: too few to prove anything"
    );
    // A near miss chance would rarely draw: a list whose last item reads as
    // the next field's tag and value, were the list's length not written.
    let mut a = Request::default();
    a.principal.roles = vec!["a".into(), "\u{6}bcdefg".into()];
    let mut b = Request::default();
    b.principal.roles = vec!["a".into()];
    b.resource.id = Some("bcdefg".into());
    let e = bundled();
    assert_ne!(e.input_hash(&a), e.input_hash(&b));
}

#[test]
fn requests_read_into_a_reused_value_read_as_if_each_were_alone() {
    use serde_json::{json, Value};
    // Requests read into one reused value: every field one leaves out (or
    // sets to null) must not keep the value of the request before it.
    let mut rng = gen::Rng::new(11);
    let mut items = Vec::new();
    for _ in 0..3000 {
        let mut r = gen::request(&mut rng, 8);
        let obj = r.as_object_mut().unwrap();
        for k in [
            "action",
            "principal",
            "resource",
            "purpose",
            "time",
            "source_region",
        ] {
            match rng.below(15) {
                0 if k != "action" => {
                    obj.insert(k.into(), Value::Null);
                }
                1 if k != "action" => {
                    obj.remove(k);
                }
                _ => {}
            }
        }
        if rng.chance(5) {
            obj.insert("purpose".into(), json!("a \"quoted\"\npurpose é"));
        }
        if let Some(p) = obj.get_mut("principal").and_then(|p| p.as_object_mut()) {
            if rng.chance(10) {
                p.insert("roles".into(), Value::Null);
            }
        }
        items.push(r);
    }
    let text = serde_json::to_vec(&items).unwrap();
    let mut read = Vec::new();
    assert!(Request::each_from_json(&text, |run| read.extend_from_slice(run)));
    assert_eq!(read.len(), items.len());
    let texts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    let mut again = Request::default();
    for ((got, item), text) in read.iter().zip(&items).zip(&texts) {
        again.read_json(text).unwrap();
        assert_eq!(got, &again, "{item}");
        assert_eq!(got, &Request::from_value(item).unwrap(), "{item}");
        assert_eq!(
            got,
            &Request::from_json(&item.to_string()).unwrap(),
            "{item}"
        );
    }

    // Read into a used request, a bad one is the same error as read alone.
    for bad in [
        r#"{"action":"store","purpose":5}"#,
        r#"{"purpose":"x"}"#,
        "{",
    ] {
        assert_eq!(
            again.read_json(bad).unwrap_err(),
            Request::from_json(bad).unwrap_err()
        );
    }

    // A bad element ends the pass there; so does anything but an array.
    let mut n = 0;
    let bad = format!("[{},{{\"action\":null}},{}]", items[0], items[1]);
    assert!(!Request::each_from_json(bad.as_bytes(), |run| n += run.len()));
    assert_eq!(n, 0, "nothing of the run with the bad element");
    for not_a_batch in ["{}", "[] x", "[", "7", "[\"\\ud800\"]"] {
        assert!(
            !Request::each_from_json(not_a_batch.as_bytes(), |_| ()),
            "{not_a_batch}"
        );
    }
    assert!(!Request::each_from_json(b"[\xff]", |_| ()));
    assert!(Request::each_from_json(b" [ ] ", |_| ()));
}

#[test]
fn rules_keyed_on_more_than_eight_fields_are_all_found() {
    // Ten forbid rules keyed on ten different request fields: the engine
    // keeps eight keyed groups in a fixed array and looks the rest up as it
    // goes; a rule in any of them must apply.
    let mut text = String::from("package wide\n\npermit all when action == store\n");
    for i in 0..10 {
        text.push_str(&format!("\nforbid f{i} when request.f{i} == \"x\"\n"));
    }
    let mut src = sovra::source::Sources::default();
    src.add("wide.sov", text);
    let engine = Engine::new(
        sovra::policy::compile(&src).unwrap(),
        bundled_regions(),
        Grants::default(),
    );
    let mut scratch = Scratch::default();
    for i in 0..10 {
        let text = format!(r#"{{"action":"store","f{i}":"x"}}"#);
        let req = Request::from_json(&text).unwrap();
        let v = engine.verdict(&req, &mut scratch);
        assert!(!v.allow, "f{i}");
        assert_eq!(
            engine.program().rules[v.rules[0] as usize].id,
            format!("wide.f{i}")
        );
        let text = format!(r#"{{"action":"store","f{i}":"y"}}"#);
        let other = Request::from_json(&text).unwrap();
        assert!(engine.verdict(&other, &mut scratch).allow, "f{i}");
    }
}

#[test]
fn a_program_that_does_not_validate_is_not_run_and_every_request_is_denied_saying_why() {
    let mut p = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    // A rule whose condition is a node that does not exist.
    p.rules[0].cond = Some(p.nodes.len() as u32 + 7);
    let e = Engine::new(p, bundled_regions(), Grants::default());
    for text in [EEA_TO_US, include_str!("../docs/examples/store-us.json")] {
        let req = Request::from_json(text).unwrap();
        let d = e.decide(&req, TraceLevel::Full);
        assert!(!d.allowed());
        assert_eq!(d.reasons.len(), 1);
        assert!(
            d.reasons[0]
                .message
                .starts_with("internal error: the compiled program is invalid"),
            "{}",
            d.reasons[0].message
        );
        let mut out = Vec::new();
        e.decide_json(&req, &mut sovra::Scratch::default(), &mut out);
        let fast: sovra::Decision = serde_json::from_slice(&out).unwrap();
        assert_eq!(fast.reasons, d.reasons, "the batch path says the same");
    }
}

#[test]
fn the_policy_hash_is_the_logic_not_the_debug_info() {
    let hash_of = |root: &str| {
        let mut s = sovra::source::Sources::default();
        for f in sovra::policy::bundled().files {
            let name = f.name.replacen("policies/", root, 1);
            s.add(name, f.text.clone());
        }
        sovra::policy::compile(&s).unwrap()
    };
    let here = hash_of("policies/");
    let moved = hash_of("elsewhere/compliance/");
    assert_ne!(here.rules[0].location, moved.rules[0].location);
    assert_eq!(
        here.hash(),
        moved.hash(),
        "moving the folder keeps the hash"
    );
    // Sovra rewording a phrase, or a condition's text and place, keeps it.
    let mut reworded = here.clone();
    for a in &mut reworded.atoms {
        a.phrase = format!("in other words: {}", a.phrase);
        a.location = "nowhere:1:1".into();
    }
    assert_eq!(here.hash(), reworded.hash());
    // What a decision says is hashed: a message, a rule id, an obligation.
    let mut other = here.clone();
    if let Some(sovra::ir::MessagePart::Text(t)) = other.messages[0].first_mut() {
        t.push('!');
    }
    assert_ne!(here.hash(), other.hash(), "a message is part of the hash");
    let mut other = here.clone();
    other.rules[0].id.push('x');
    assert_ne!(here.hash(), other.hash(), "a rule id is part of the hash");
    // The stored form keeps the debug info: a log shows where a rule was.
    let stored = sovra::ir::Program::from_json(&moved.canonical()).unwrap();
    assert_eq!(stored, moved);
}

#[test]
fn a_declared_field_of_another_type_is_denied_through_the_library_saying_which() {
    let program = sovra::policy::compile(
        &sovra::policy::load(&["tests/cases/constructs/policy".into()]).unwrap(),
    )
    .unwrap();
    let regions = Regions::from_json(include_str!("cases/constructs/regions.json")).unwrap();
    let e = Engine::new(program.clone(), regions, Grants::default());
    let ok = Request::from_json(
        r#"{"action":"store","principal":{"clearance":3},"target_region":"fr-sov-1"}"#,
    )
    .unwrap();
    let bad = Request::from_json(
        r#"{"action":"store","principal":{"clearance":"3"},"target_region":"fr-sov-1"}"#,
    )
    .unwrap();
    let mut scratch = Scratch::default();
    assert!(e.verdict(&ok, &mut scratch).allow);
    // Read as "missing", the string would only turn the permit off; but a
    // forbid would silently not apply: so the request is refused as a whole.
    assert!(!e.verdict(&bad, &mut scratch).allow);
    let m = e.check_request(&bad).unwrap_err();
    assert_eq!(m.field, "principal.clearance");
    let d = e.decide(&bad, sovra::TraceLevel::Off);
    assert_eq!(d.decision, "deny");
    assert!(
        d.reasons[0]
            .message
            .contains("principal.clearance: the policy declares it number"),
        "{:?}",
        d.reasons
    );
    // A region attribute of another type denies every request, saying which.
    let regions = Regions::from_json(
        r#"{"regions":[{"id":"fr-sov-1","country":"FR","attributes":{"regime":["EUCS"]}}]}"#,
    )
    .unwrap();
    let e = Engine::new(program, regions, Grants::default());
    let d = e.decide(&ok, sovra::TraceLevel::Off);
    assert_eq!(d.decision, "deny");
    assert!(
        d.reasons[0]
            .message
            .contains("attributes.regime: the policy declares it string"),
        "{:?}",
        d.reasons
    );
}

/// The path without a trace decides each rule by its pre-digested
/// conjuncts (src/eval/fast.rs); the traced path walks every condition as
/// written. On generated policies (with the bundled library), documents and
/// requests, and on the scale policy, both give the same decision and the
/// same determining rules.
/// An engine of one policy file, the bundled regions and no grants.
fn engine_of(name: &str, text: &str) -> Engine {
    let mut src = sovra::source::Sources::default();
    src.add(name, text.to_string());
    Engine::new(
        sovra::policy::compile(&src).unwrap(),
        bundled_regions(),
        Grants::default(),
    )
}

#[test]
fn rules_keyed_on_the_classification_are_found_by_the_declared_name_only() {
    // The engine finds a group keyed on the classification by the index of
    // the request's declared classification, not by its text: a name that
    // is not declared (another case, a near miss, none) reaches no group.
    let text = "package keyed\n\n\
        classification identity sensitivity high\n\
        classification health   sensitivity high\n\n\
        permit all when action == store\n\
        forbid f when resource.classification == identity\n\
        forbid g when resource.classification == health and resource.id == \"ds-1\"\n";
    let engine = engine_of("keyed.sov", text);
    let keyed: Vec<_> = engine
        .program()
        .by_action
        .iter()
        .flat_map(|a| a.keyed.iter().map(|k| k.field))
        .collect();
    assert!(
        keyed.contains(&sovra::ir::Field::Classification),
        "{keyed:?}"
    );
    let mut scratch = Scratch::default();
    for (class, id, expect) in [
        (Some("identity"), "ds-9", Some("keyed.f")),
        (Some("health"), "ds-1", Some("keyed.g")),
        (Some("health"), "ds-2", None),
        (Some("Identity"), "ds-1", None),
        (Some("identit"), "ds-1", None),
        (Some("other"), "ds-1", None),
        (None, "ds-1", None),
    ] {
        let mut req = serde_json::json!({"action": "store", "resource": {"id": id}});
        if let Some(c) = class {
            req["resource"]["classification"] = c.into();
        }
        let req = Request::from_value(&req).unwrap();
        let v = engine.verdict(&req, &mut scratch);
        let rule = (!v.allow).then(|| engine.program().rules[v.rules[0] as usize].id.clone());
        assert_eq!(rule.as_deref(), expect, "{class:?} {id}");
        let full = engine.decide(&req, TraceLevel::Full);
        assert_eq!(full.allowed(), v.allow, "{class:?} {id}");
    }
}

#[test]
fn membership_of_classifications_and_presence_decide_as_the_walk() {
    // The quick path tests `classification in S` by the declared
    // classification's bit and `is present`/`is missing` by the value
    // loaded; a classification that is not declared is in no set of
    // declared names (so `not in` holds), a missing one neither in nor out.
    let text = "package shapes\n\n\
        classification identity sensitivity high\n\
        classification health   sensitivity high\n\
        classification public   sensitivity low\n\n\
        set PERSONAL = [identity, health]\n\n\
        permit all when action == store\n\
        forbid inside when resource.classification in PERSONAL and resource.id == \"a\"\n\
        forbid outside when resource.classification not in PERSONAL and resource.id == \"b\"\n\
        forbid nowhere when resource.home_country is missing and resource.id == \"c\"\n\
        forbid somewhere when not (resource.home_country is present) and resource.id == \"d\"\n\
        forbid target when target is present and resource.id == \"e\"\n";
    let engine = engine_of("shapes.sov", text);
    let mut scratch = Scratch::default();
    // The resource id, its classification and home country, the target
    // region, and the rule expected to deny.
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let cases: &[Case] = &[
        ("a", Some("identity"), None, None, Some("shapes.inside")),
        ("a", Some("public"), None, None, None),
        ("a", Some("Identity"), None, None, None),
        ("a", None, None, None, None),
        ("b", Some("public"), None, None, Some("shapes.outside")),
        ("b", Some("health"), None, None, None),
        (
            "b",
            Some("not-declared"),
            None,
            None,
            Some("shapes.outside"),
        ),
        ("b", None, None, None, None),
        ("c", Some("public"), None, None, Some("shapes.nowhere")),
        ("c", Some("public"), Some("DE"), None, None),
        ("d", Some("public"), None, None, Some("shapes.somewhere")),
        ("d", Some("public"), Some("FR"), None, None),
        (
            "e",
            Some("public"),
            None,
            Some("eu-central-1"),
            Some("shapes.target"),
        ),
        ("e", Some("public"), None, Some("no-such-region"), None),
        ("e", Some("public"), None, None, None),
    ];
    for (id, class, home, target, expect) in cases {
        let mut req = serde_json::json!({"action": "store", "resource": {"id": id}});
        if let Some(c) = class {
            req["resource"]["classification"] = (*c).into();
        }
        if let Some(h) = home {
            req["resource"]["home_country"] = (*h).into();
        }
        if let Some(t) = target {
            req["target_region"] = (*t).into();
        }
        let req = Request::from_value(&req).unwrap();
        let v = engine.verdict(&req, &mut scratch);
        let rule = (!v.allow).then(|| engine.program().rules[v.rules[0] as usize].id.clone());
        assert_eq!(rule.as_deref(), *expect, "{req:?}");
        let full = engine.decide(&req, TraceLevel::Full);
        assert_eq!(full.allowed(), v.allow, "{req:?}");
        let traced: Vec<&str> = full.reasons.iter().map(|r| r.rule.as_str()).collect();
        if !v.allow {
            assert_eq!(traced, [expect.unwrap()], "{req:?}");
        }
    }
}

/// A generated rule of tests on the classification alone (folded into
/// each kind's plan when the engine is built, src/eval/plan.rs) and on
/// other fields (left to each request).
fn class_rule(rng: &mut gen::Rng, i: usize) -> String {
    const CLASS: &[&str] = &[
        "resource.classification == identity",
        "resource.classification != health",
        "resource.classification == public",
        "resource.classification != public",
        "resource.classification in PERSONAL",
        "resource.classification not in PERSONAL",
        "resource.classification is declared",
        "resource.classification is not declared",
        "resource.classification is present",
        "resource.classification is missing",
    ];
    const OTHER: &[&str] = &[
        "principal.country not in [US]",
        "purpose != \"x\"",
        "purpose is missing",
    ];
    let atom = |rng: &mut gen::Rng| {
        let a = if rng.chance(70) {
            rng.pick(CLASS)
        } else {
            rng.pick(OTHER)
        };
        if rng.chance(25) {
            format!("not ({a})")
        } else {
            a.to_string()
        }
    };
    let mut parts = vec![];
    for _ in 0..1 + rng.below(3) {
        parts.push(if rng.chance(25) {
            format!("({} or {})", atom(rng), atom(rng))
        } else {
            atom(rng)
        });
    }
    if rng.chance(50) {
        parts.push("action == store".into());
    }
    let effect = if rng.chance(60) { "forbid" } else { "permit" };
    format!("{effect} r{i} when {}\n", parts.join(" and "))
}

#[test]
fn plans_fold_the_classification_as_the_walk_decides() {
    // Each kind of classification (each declared one, one not declared,
    // none) has its own plan, its classification tests answered when the
    // engine is built. Every request of every kind, action, country and
    // purpose gets the decision and determining rules of the traced walk,
    // with plans split by kind and, past their budget (the filler rules),
    // with one plan for each action and nothing folded.
    let mut rng = gen::Rng::new(0xC1A55);
    let mut compared = 0;
    for (policies, fillers) in [(40, 0), (4, 3_000)] {
        let before = compared;
        for _ in 0..policies {
            let mut text = String::from(
                "package fold\n\n\
                 classification identity sensitivity high\n\
                 classification health   sensitivity high\n\
                 classification public   sensitivity low\n\n\
                 set PERSONAL = [identity, health]\n\n",
            );
            for i in 0..2 + rng.below(8) {
                text.push_str(&class_rule(&mut rng, i));
            }
            for i in 0..fillers {
                text.push_str(&format!(
                    "forbid fill{i} when purpose is present and purpose != \"x\" and purpose != \"y\" and purpose != \"q{i}\"\n"
                ));
            }
            // A rule that can never apply is refused: generate another.
            let mut src = sovra::source::Sources::default();
            src.add("fold.sov", text.clone());
            let Ok(program) = sovra::policy::compile(&src) else {
                continue;
            };
            let engine = Engine::new(program, bundled_regions(), Grants::default());
            let mut scratch = Scratch::default();
            for action in ["store", "access"] {
                for class in [
                    Some("identity"),
                    Some("health"),
                    Some("public"),
                    Some("other"),
                    Some("Public"),
                    None,
                ] {
                    for country in ["DE", "US"] {
                        for purpose in [Some("x"), Some("y"), None] {
                            let mut req = serde_json::json!({
                                "action": action,
                                "principal": {"id": "p", "country": country},
                                "resource": {"id": "ds"},
                            });
                            if let Some(c) = class {
                                req["resource"]["classification"] = c.into();
                            }
                            if let Some(p) = purpose {
                                req["purpose"] = p.into();
                            }
                            let req = Request::from_value(&req).unwrap();
                            let v = engine.verdict(&req, &mut scratch);
                            let names: Vec<&str> = v
                                .rules
                                .iter()
                                .map(|r| engine.program().rules[*r as usize].id.as_str())
                                .collect();
                            let full = engine.decide(&req, TraceLevel::Full);
                            let traced: Vec<&str> =
                                full.reasons.iter().map(|r| r.rule.as_str()).collect();
                            assert_eq!(v.allow, full.allowed(), "{text}\n{req:?}");
                            if names.is_empty() && !v.allow {
                                assert_eq!(traced, ["default_deny"], "{text}\n{req:?}");
                            } else {
                                assert_eq!(names, traced, "{text}\n{req:?}");
                            }
                            compared += 1;
                        }
                    }
                }
            }
        }
        // Most generated policies compile.
        assert!(
            compared - before >= policies / 2 * 72,
            "{fillers}: {compared}"
        );
    }
}

#[test]
fn the_quick_path_decides_as_the_traced_walk() {
    let mut rng = gen::Rng::new(0x0F_A57);
    let mut compared = 0;
    let mut check = |engine: &Engine, req: &Request| {
        let mut scratch = Scratch::default();
        let v = engine.verdict(req, &mut scratch);
        let (allow, rules) = (v.allow, v.rules.to_vec());
        let full = engine.decide(req, TraceLevel::Full);
        let names: Vec<&str> = rules
            .iter()
            .map(|r| engine.program().rules[*r as usize].id.as_str())
            .collect();
        let traced: Vec<&str> = full.reasons.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(allow, full.allowed(), "{req:?}");
        if !names.is_empty() {
            assert_eq!(names, traced, "{req:?}");
        }
        compared += 1;
    };
    for _ in 0..12 {
        let mut sources = sovra::policy::bundled();
        sources.add("gen.sov", gen::policy(&mut rng, 12));
        let Ok(program) = sovra::policy::compile(&sources) else {
            continue;
        };
        let regions = Regions::from_json(&gen::regions(&mut rng, 12).to_string()).unwrap();
        let grants = Grants::from_json(&gen::grants(&mut rng, 6, 4).to_string()).unwrap();
        let engine = Engine::new(program, regions, grants);
        for _ in 0..300 {
            let req = Request::from_value(&gen::request(&mut rng, 12)).unwrap();
            check(&engine, &req);
        }
    }
    let mut src = sovra::source::Sources::default();
    src.add("scale.sov", gen::scale_policy(&mut rng, 400));
    let engine = Engine::new(
        sovra::policy::compile(&src).unwrap(),
        bundled_regions(),
        Grants::from_json(&gen::scale_grants(&mut rng, 200)).unwrap(),
    );
    for r in gen::scale_requests(&mut rng, 400, 40, 2_000) {
        check(&engine, &Request::from_json(&r).unwrap());
    }
    assert!(compared > 4_000, "{compared}");
}

#[test]
fn one_person_is_one_person_whatever_the_case_and_spaces() {
    use sovra::eval::same_identity;
    assert!(same_identity("alice", "alice"));
    assert!(same_identity("Alice", " alice "));
    assert!(same_identity("ÅSA", "åsa"));
    assert!(same_identity(" Jörg", "JÖRG"));
    assert!(!same_identity("alice", "bob"));
    assert!(!same_identity("alice", "alice2"));
    assert!(!same_identity("Jörg", "Jorg"));
    assert!(!same_identity("", "x"));
}

#[test]
fn names_trim_as_trim_does() {
    use sovra::eval::same_identity;
    for (a, b) in [
        ("\u{0b}alice\r\n", "ALICE"),
        ("\talice\u{0c}", "alice"),
        ("  ", ""),
        ("a b", "A B"),
    ] {
        assert!(same_identity(a, b), "{a:?} {b:?}");
        assert_eq!(
            same_identity(a, b),
            a.trim().to_lowercase() == b.trim().to_lowercase()
        );
    }
    assert!(!same_identity("a b", "ab"));
}

#[test]
fn grants_are_checked_without_a_trace_as_the_traced_walk_checks_them() {
    // The path without a trace checks each grant's approval and bounds
    // (found once per engine), instants and purpose before what it covers
    // and its condition. Each way a grant can fail, alone and at its
    // boundary, must give the traced walk's decision, under policies with
    // and without bounds on how long grants last.
    let grant = |id: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut g = serde_json::json!({
            "id": id, "principal": "p", "to_country": "US", "classifications": ["identity"],
            "purpose": "support", "mechanism": "scc", "requested_by": "alice", "approved_by": "bob",
            "valid_from": "2026-03-01T00:00:00Z", "expires_at": "2026-03-31T00:00:00Z"
        });
        change(&mut g);
        g
    };
    type Change = fn(&mut serde_json::Value);
    let changes: [(&str, Change); 14] = [
        ("fits", |_| {}),
        ("unapproved", |g| {
            g.as_object_mut().unwrap().remove("approved_by");
        }),
        ("blank-approver", |g| g["approved_by"] = " ".into()),
        ("self-approved", |g| g["approved_by"] = " Alice".into()),
        ("not-yet", |g| {
            g["valid_from"] = "2026-03-10T12:00:00Z".into()
        }),
        ("from-now", |g| {
            g["valid_from"] = "2026-03-10T11:00:00Z".into()
        }),
        ("expires-now", |g| {
            g["expires_at"] = "2026-03-10T11:00:00Z".into()
        }),
        ("expired", |g| {
            g["expires_at"] = "2026-03-10T10:59:59Z".into()
        }),
        ("revoked-now", |g| {
            g["revoked_at"] = "2026-03-10T11:00:00Z".into()
        }),
        ("revoked-later", |g| {
            g["revoked_at"] = "2026-03-10T11:00:01Z".into()
        }),
        ("no-purpose", |g| {
            g.as_object_mut().unwrap().remove("purpose");
        }),
        ("other-class", |g| {
            g["classifications"] = serde_json::json!(["logs"])
        }),
        ("for-resource", |g| {
            g["classifications"] = serde_json::json!([]);
            g["resource"] = "ds-1".into();
        }),
        ("other-country", |g| g["to_country"] = "JP".into()),
    ];
    let policies = [
        "",
        "grants last at most 30d\n",
        "grants last at most 29d\n",
        "grants of identity last at most 29d\n",
        "grants of logs last at most 1d\n",
    ];
    let mut compared = 0;
    for bounds in policies {
        let text = format!(
            "package p\n\
             classification identity sensitivity high\n\
             classification logs sensitivity low\n{bounds}\n\
             forbid no_transfer when action == access\n  and not exists grant g where g.to_country == principal.country\n\
             forbid no_grant when action == replicate and not exists grant g\n\
             permit any when action in [access, replicate]\n"
        );
        let mut src = sovra::source::Sources::default();
        src.add("p.sov", text);
        let program = sovra::policy::compile(&src).unwrap();
        for (name, change) in &changes {
            // The grant alone, and after one that fails.
            for before in [None, Some("expired"), Some("other-class")] {
                let mut list: Vec<serde_json::Value> = Vec::new();
                if let Some(b) = before {
                    let (_, c) = changes.iter().find(|(n, _)| *n == b).unwrap();
                    list.push(grant("g0", c));
                }
                list.push(grant("g1", change));
                let grants =
                    Grants::from_json(&serde_json::json!({ "grants": list }).to_string()).unwrap();
                let engine = Engine::new(program.clone(), bundled_regions(), grants);
                for (action, purpose, class) in [
                    ("access", Some("support"), "identity"),
                    ("access", Some("billing"), "identity"),
                    ("access", None, "identity"),
                    ("replicate", Some("support"), "identity"),
                    ("replicate", Some("support"), "logs"),
                ] {
                    let mut req = serde_json::json!({
                        "action": action, "time": "2026-03-10T11:00:00Z",
                        "principal": {"id": "p", "country": "US"},
                        "resource": {"id": "ds-1", "classification": class}
                    });
                    if let Some(p) = purpose {
                        req["purpose"] = p.into();
                    }
                    let req = Request::from_value(&req).unwrap();
                    let mut scratch = Scratch::default();
                    let quick = engine.verdict(&req, &mut scratch).allow;
                    let full = engine.decide(&req, TraceLevel::Full);
                    assert_eq!(
                        quick,
                        full.allowed(),
                        "{bounds:?} {name} after {before:?}: {action} {purpose:?} {class}"
                    );
                    compared += usize::from(quick) + 1;
                }
            }
        }
    }
    // Both answers are reached: some grants pass, most fail.
    assert!(compared > 5 * 14 * 3 * 5 + 40, "{compared}");
}

/// A policy that permits `action` and, for each of `atoms` (after
/// `prefix`), forbids resource `"i"` when atom `i` holds and resource
/// `"ni"` when it does not.
fn atoms_program(action: &str, atoms: &[&str], prefix: &str) -> sovra::ir::Program {
    let mut text = format!(
        "package p\n\nclassification identity sensitivity high\n\n\
         profile eea = regional([DE, FR])\nprofile anywhere = unrestricted\n\
         profile fr-sovereign = sovereign(FR)\nprofile de-only = single_country(DE)\n\
         profile de-hybrid = hybrid(primary: DE, secondary: [FR])\n\n\
         permit any when action == {action}\n"
    );
    for (i, atom) in atoms.iter().enumerate() {
        text.push_str(&format!(
            "forbid yes_{i} when resource.id == \"{i}\" and {prefix}({atom})\n\
             forbid not_{i} when resource.id == \"n{i}\" and {prefix}not ({atom})\n"
        ));
    }
    let mut src = sovra::source::Sources::default();
    src.add("p.sov", text);
    sovra::policy::compile(&src).unwrap_or_else(|d| panic!("{d:?}"))
}

/// Whether `engine` denies `req` without a trace, asserted to be what the
/// traced walk decides (`atom`: the shape under test, for the message).
fn quick_denies(
    engine: &Engine,
    scratch: &mut Scratch,
    atom: &str,
    req: &serde_json::Value,
) -> bool {
    let req = Request::from_value(req).unwrap();
    let quick = engine.verdict(&req, scratch).allow;
    let full = engine.decide(&req, TraceLevel::Full);
    assert_eq!(quick, full.allowed(), "{atom}: {req:?}");
    !quick
}

#[test]
fn grant_fields_are_tested_without_a_trace_as_the_walk_tests_them() {
    // The path without a trace tests a grant's text fields against a text
    // or a set of texts, and its destination against a country, a set of
    // countries or a country of the request, without the walk. Each shape,
    // as written and under `not`, against grants that have the field and
    // grants that lack it, must give the traced walk's decision.
    const ATOMS: &[&str] = &[
        "g.mechanism == dpf",
        "g.mechanism != dpf",
        "g.mechanism in [scc, bcr]",
        "g.mechanism not in [scc, bcr]",
        "g.mechanism in [a1, a2, a3, a4, a5, a6, a7, a8, scc]",
        "g.mechanism not in [a1, a2, a3, a4, a5, a6, a7, a8, dpf]",
        "g.purpose == \"support\"",
        "g.purpose in [support, billing]",
        "g.purpose not in [support]",
        "g.resource == \"ds-1\"",
        "g.resource in [\"ds-1\", \"ds-2\"]",
        "g.approved_by == bob",
        "g.requested_by in [alice]",
        "g.id == \"g1\"",
        "g.principal in [p, q]",
        "g.to_country == US",
        "g.to_country != US",
        "g.to_country in [US, JP]",
        "g.to_country not in [US]",
        "g.to_country == target.country",
        "g.to_country != principal.country",
        "g.mechanism in [scc, bcr] or (g.mechanism == dpf and g.to_country == US)",
    ];
    let program = atoms_program("access", ATOMS, "exists grant g where ");
    // Each grant covers the request by its classification; `resource`
    // names another dataset, to be read by the rules.
    let grant = |id: &str, mechanism: Option<&str>, purpose: Option<&str>, to: &str| {
        let mut g = serde_json::json!({
            "id": id, "principal": "p", "to_country": to, "classifications": ["identity"],
            "resource": "ds-1", "requested_by": "alice", "approved_by": "bob",
            "expires_at": "2027-01-01T00:00:00Z"
        });
        if let Some(m) = mechanism {
            g["mechanism"] = m.into();
        }
        if let Some(p) = purpose {
            g["purpose"] = p.into();
        }
        g
    };
    let documents = [
        vec![grant("g1", Some("scc"), Some("support"), "US")],
        vec![grant("g1", Some("dpf"), None, "US")],
        vec![grant("g2", None, Some("billing"), "JP")],
        vec![
            grant("g2", Some("bcr"), None, "JP"),
            grant("g1", Some("dpf"), Some("other"), "US"),
        ],
    ];
    let (mut denied, mut compared) = (0, 0);
    for list in documents {
        let grants = Grants::from_json(&serde_json::json!({ "grants": list }).to_string()).unwrap();
        let engine = Engine::new(program.clone(), bundled_regions(), grants);
        let mut scratch = Scratch::default();
        for (i, atom) in ATOMS.iter().enumerate() {
            for key in [format!("{i}"), format!("n{i}")] {
                for target in [Some("us-east-1"), Some("ap-northeast-1"), None] {
                    let mut req = serde_json::json!({
                        "action": "access", "time": "2026-03-10T11:00:00Z",
                        "principal": {"id": "p", "country": "US"},
                        "resource": {"id": key, "classification": "identity"}
                    });
                    if let Some(t) = target {
                        req["target_region"] = t.into();
                    }
                    denied += usize::from(quick_denies(&engine, &mut scratch, atom, &req));
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 4 * ATOMS.len() * 2 * 3);
    // Both answers are reached (a grant with a purpose counts for no
    // request here: the requests state none).
    assert!(
        denied >= compared / 5 && denied < compared * 3 / 4,
        "{denied} of {compared}"
    );
    // And by hand: a DPF grant to the US, without a purpose.
    let grants = Grants::from_json(
        &serde_json::json!({ "grants": [grant("g1", Some("dpf"), None, "US")] }).to_string(),
    )
    .unwrap();
    let engine = Engine::new(program, bundled_regions(), grants);
    let mut scratch = Scratch::default();
    for (key, denies) in [
        ("0", true),
        ("n0", false),
        ("2", false),
        ("n2", true),
        ("5", false),
        ("8", false),
        ("n8", true),
        ("15", true),
        ("16", false),
        ("19", true),
        ("21", true),
        ("n21", false),
    ] {
        let req = serde_json::json!({
            "action": "access", "time": "2026-03-10T11:00:00Z",
            "principal": {"id": "p", "country": "US"},
            "resource": {"id": key, "classification": "identity"},
            "target_region": "us-east-1"
        });
        let req = Request::from_value(&req).unwrap();
        assert_eq!(!engine.verdict(&req, &mut scratch).allow, denies, "{key}");
    }
}

#[test]
fn region_text_fields_are_tested_without_a_trace_as_the_walk_tests_them() {
    // The path without a trace tests a region's text fields (`id`,
    // `status`, `provider`, `location`, `partition`) against a text or a
    // set of texts, and whether a region or a country is given, without
    // the walk. Each shape, as written and under `not`, on regions that
    // have the field, regions that lack it and requests that name no region
    // or an unknown one, must give the traced walk's decision.
    const ATOMS: &[&str] = &[
        "target.status == active",
        "target.status != active",
        "target.status in [draining, offline]",
        "source.status not in [active]",
        "target.provider == aws",
        "target.provider != aws",
        "source.provider in [aws, gcp]",
        "target.location == \"Frankfurt\"",
        "target.location not in [\"Frankfurt\", \"Paris\"]",
        "target.partition == aws",
        "target.partition != \"aws-cn\"",
        "target.id == \"r1\"",
        "source.id in [r1, r2]",
        "target.status != active or source.provider == gcp",
        "target is present",
        "source is missing",
        "resource.home_country is missing",
        "target.country is present",
    ];
    let program = atoms_program("replicate", ATOMS, "");
    let regions = Regions::from_json(
        r#"{"regions": [
            {"id": "r1", "country": "DE", "provider": "aws", "location": "Frankfurt", "partition": "aws"},
            {"id": "r2", "country": "FR", "status": "draining", "provider": "gcp", "location": "Paris"},
            {"id": "r3", "country": "US", "status": "offline"},
            {"id": "r4", "country": "CN", "status": "degraded", "provider": "aws", "partition": "aws-cn"}
        ]}"#,
    )
    .unwrap();
    let engine = Engine::new(program, regions, Grants::default());
    let mut scratch = Scratch::default();
    let places = [
        Some("r1"),
        Some("r2"),
        Some("r3"),
        Some("r4"),
        Some("nowhere"),
        None,
    ];
    let (mut denied, mut compared) = (0, 0);
    for (i, atom) in ATOMS.iter().enumerate() {
        for key in [format!("{i}"), format!("n{i}")] {
            for source in places {
                for target in places {
                    let mut req = serde_json::json!({
                        "action": "replicate", "time": "2026-03-10T11:00:00Z",
                        "principal": {"id": "p", "country": "DE"},
                        "resource": {"id": key, "classification": "identity"}
                    });
                    if let Some(s) = source {
                        req["source_region"] = s.into();
                    }
                    if let Some(t) = target {
                        req["target_region"] = t.into();
                    }
                    denied += usize::from(quick_denies(&engine, &mut scratch, atom, &req));
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, ATOMS.len() * 2 * 36);
    assert!(
        denied >= compared / 5 && denied < compared * 3 / 4,
        "{denied} of {compared}"
    );
    // And by hand: which requests each of three shapes denies.
    let mut deny = |atom: &str, source: &str, target: &str| {
        let i = ATOMS.iter().position(|a| *a == atom).unwrap();
        let req = Request::from_value(&serde_json::json!({
            "action": "replicate", "time": "2026-03-10T11:00:00Z",
            "principal": {"id": "p", "country": "DE"},
            "resource": {"id": format!("{i}"), "classification": "identity"},
            "source_region": source, "target_region": target
        }))
        .unwrap();
        !engine.verdict(&req, &mut scratch).allow
    };
    assert!(!deny("target.status == active", "r2", "r2"));
    assert!(deny("target.status == active", "r2", "r1"));
    assert!(deny("target.status != active", "r1", "r4"));
    // A region without the field, or no region: neither equal nor unequal.
    assert!(!deny("target.provider != aws", "r1", "r3"));
    assert!(!deny("target.provider != aws", "r1", "nowhere"));
    assert!(deny("target.provider != aws", "r1", "r2"));
    assert!(deny("target.partition != \"aws-cn\"", "r1", "r1"));
    assert!(!deny("target.partition != \"aws-cn\"", "r1", "r4"));
}

#[test]
fn residency_fields_are_tested_without_a_trace_as_the_walk_tests_them() {
    // The path without a trace tests the residency profile's mode as text
    // and its country as a country field without the walk. Each shape, as
    // written and under `not`, for every kind of profile (with a country
    // and without), an undeclared one and none, must give the traced
    // walk's decision.
    const ATOMS: &[&str] = &[
        "resource.residency.mode == sovereign",
        "resource.residency.mode != hybrid",
        "resource.residency.mode in [sovereign, single_country]",
        "resource.residency.mode not in [regional]",
        "resource.residency.country == DE",
        "resource.residency.country != FR",
        "resource.residency.country in [DE, US]",
        "resource.residency.country not in [FR]",
        "principal.country != resource.residency.country",
        "target.country == resource.residency.country",
        "resource.residency.mode == sovereign and principal.country != resource.residency.country",
        "resource.residency.country is present",
        "resource.residency.country is missing",
    ];
    let program = atoms_program("access", ATOMS, "");
    let engine = Engine::new(program, bundled_regions(), Grants::default());
    let mut scratch = Scratch::default();
    let profiles = [
        Some("eea"),
        Some("anywhere"),
        Some("fr-sovereign"),
        Some("de-only"),
        Some("de-hybrid"),
        Some("undeclared"),
        None,
    ];
    let (mut denied, mut compared) = (0, 0);
    for (i, atom) in ATOMS.iter().enumerate() {
        for key in [format!("{i}"), format!("n{i}")] {
            for profile in profiles {
                for (country, target) in [
                    ("DE", "eu-central-1"),
                    ("FR", "us-east-1"),
                    ("US", "eu-west-3"),
                ] {
                    let mut req = serde_json::json!({
                        "action": "access", "time": "2026-03-10T11:00:00Z",
                        "principal": {"id": "p", "country": country},
                        "resource": {"id": key, "classification": "identity"},
                        "target_region": target
                    });
                    if let Some(r) = profile {
                        req["resource"]["residency"] = r.into();
                    }
                    denied += usize::from(quick_denies(&engine, &mut scratch, atom, &req));
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, ATOMS.len() * 2 * 7 * 3);
    assert!(
        denied >= compared / 5 && denied < compared * 3 / 4,
        "{denied} of {compared}"
    );
    // And by hand: the sovereign read rule's shape.
    let last = ATOMS
        .iter()
        .position(|a| a.starts_with("resource.residency.mode == sovereign and"))
        .unwrap();
    for (profile, country, denies) in [
        ("fr-sovereign", "DE", true),
        ("fr-sovereign", "FR", false),
        ("de-only", "US", false),
        ("eea", "US", false),
    ] {
        let req = serde_json::json!({
            "action": "access", "time": "2026-03-10T11:00:00Z",
            "principal": {"id": "p", "country": country},
            "resource": {"id": format!("{last}"), "classification": "identity", "residency": profile}
        });
        assert_eq!(
            quick_denies(&engine, &mut scratch, "by hand", &req),
            denies,
            "{profile} {country}"
        );
    }
    // A profile without a country: neither equal nor unequal to one.
    let i = ATOMS
        .iter()
        .position(|a| *a == "resource.residency.country != FR")
        .unwrap();
    for (profile, denies) in [("eea", false), ("de-only", true), ("fr-sovereign", false)] {
        let req = serde_json::json!({
            "action": "access", "time": "2026-03-10T11:00:00Z",
            "principal": {"id": "p", "country": "DE"},
            "resource": {"id": format!("{i}"), "classification": "identity", "residency": profile}
        });
        assert_eq!(
            quick_denies(&engine, &mut scratch, "by hand", &req),
            denies,
            "{profile}"
        );
    }
}
