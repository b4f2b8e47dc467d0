//! Traces as auditors read them: the JSON trace and its plain-words rendering
//! are snapshots; the decisions are asserted inline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use sovra::documents::{Grants, Regions, Request};
use sovra::eval::{Engine, GrantCheck, TraceLevel};

fn engine() -> Engine {
    let program = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    let regions = Regions::from_json(include_str!("../policies/tests/regions.json")).unwrap();
    let grants = Grants::from_json(include_str!("../policies/tests/grants-access.json")).unwrap();
    Engine::new(program, regions, grants)
}

fn req(json: &str) -> Request<'_> {
    Request::from_json(json).unwrap()
}

#[test]
fn full_trace_of_a_gdpr_denial() {
    let d = engine().decide(
        &req(include_str!("../docs/examples/store-us.json")),
        TraceLevel::Full,
    );
    assert_eq!(d.decision, "deny");
    insta::assert_json_snapshot!("gdpr_denial_trace", d.trace);
    insta::assert_snapshot!("gdpr_denial_explained", sovra::explain::render(&d));
}

#[test]
fn full_trace_shows_each_grant_and_why() {
    // alice reads from the US at a time her grant has expired; bruno's grant is
    // not hers. The trace names the first failed validity condition.
    let r = req(r#"{"action":"access","time":"2026-07-01T00:00:00Z",
        "principal":{"id":"alice","country":"US"},
        "resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},
        "source_region":"eu-central-1","purpose":"support"}"#);
    let d = engine().decide(&r, TraceLevel::Full);
    assert_eq!(d.decision, "deny");
    let rules = &d.trace.as_ref().unwrap().rules;
    let a2 = rules
        .iter()
        .find(|r| &*r.rule == "access.cross_border_access")
        .unwrap();
    assert_eq!(a2.grants[0].grant, "g-104");
    assert_eq!(a2.grants[0].failed, Some(GrantCheck::Expired));
    insta::assert_json_snapshot!("expired_grant_trace", a2);
    insta::assert_snapshot!("expired_grant_explained", sovra::explain::render(&d));
}

#[test]
fn summary_trace_lists_rules_without_conditions() {
    let d = engine().decide(
        &req(include_str!("../docs/examples/store-us.json")),
        TraceLevel::Summary,
    );
    insta::assert_json_snapshot!("summary_trace", d.trace);
}

#[test]
fn missing_values_are_named_in_the_trace() {
    let r = req(
        r#"{"action":"store","time":"2026-03-01T00:00:00Z","resource":{"classification":"identity","residency":"eea"},"target_region":"eu-central-1"}"#,
    );
    let d = engine().decide(&r, TraceLevel::Full);
    // C2: personal data without a data-subject country fails closed.
    assert_eq!(d.decision, "deny");
    assert_eq!(d.reasons[0].rule, "classes.personal_without_home_country");
    let rules = &d.trace.as_ref().unwrap().rules;
    let gdpr = rules
        .iter()
        .find(|r| &*r.rule == "gdpr.transfer_outside_eea")
        .unwrap();
    let home = gdpr
        .conditions
        .iter()
        .flatten()
        .find(|c| &*c.condition == "resource.home_country in EEA")
        .unwrap();
    assert!(!home.result);
    assert_eq!(home.missing, ["resource.home_country"]);
    let text = sovra::explain::render(&d);
    assert!(
        text.contains("a value was missing, so the comparison is false"),
        "{text}"
    );
}

#[test]
fn the_ir_prints_for_a_person() {
    let p = sovra::policy::compile(&sovra::policy::bundled()).unwrap();
    insta::assert_snapshot!("bundled_ir", p.render());
}

#[test]
fn new_constructs_read_in_plain_words() {
    let program = sovra::policy::compile(
        &sovra::policy::load(&["tests/cases/constructs/policy".into()]).unwrap(),
    )
    .unwrap();
    let regions = Regions::from_json(include_str!("cases/constructs/regions.json")).unwrap();
    let grants = Grants::from_json(include_str!("cases/constructs/grants.json")).unwrap();
    let e = Engine::new(program, regions, grants);
    // A named condition inside `exists`, a request value in a list, a time span.
    let d = e.decide(
        &req(r#"{"action":"share","time":"2026-03-01T00:00:00Z",
            "principal":{"id":"p-recent","country":"US"},
            "resource":{"id":"d-1","classification":"identity"},"target_region":"fr-sov-1"}"#),
        TraceLevel::Full,
    );
    assert_eq!(d.decision, "allow");
    let text = sovra::explain::render(&d);
    assert!(
        text.contains("recent: the time since the grant's valid from is at most 180d: yes"),
        "{text}"
    );
    insta::assert_snapshot!("named_condition_explained", text);
    // Lists, a glob, a count, a subdivision's country, a region attribute.
    let d = e.decide(
        &req(r#"{"action":"store","time":"2026-03-01T00:00:00Z",
            "principal":{"id":"ann@example.com","roles":["dpo"],"clearance":3},
            "resource":{"id":"d-1","home_region":"US-CA","subject_countries":["DE"]},
            "target_region":"fr-sov-1"}"#),
        TraceLevel::Full,
    );
    assert_eq!(d.decision, "deny");
    insta::assert_snapshot!(
        "subdivision_and_attributes_explained",
        sovra::explain::render(&d)
    );
}

#[test]
fn a_conditions_text_never_carries_the_comment_after_it() {
    let mut s = sovra::source::Sources::default();
    s.add(
        "c.sov",
        "package p\npermit a\n  when action == store\n   and target.country == DE // trailing\n// next rule\npermit b when action == access and not exists grant g where g.to_country == DE\n/* a block */\npermit c when action == replicate // at the end, no newline",
    );
    let p = sovra::policy::compile(&s).unwrap();
    let texts: Vec<&str> = p.atoms.iter().map(|a| a.text.as_str()).collect();
    assert!(texts.contains(&"target.country == DE"), "{texts:?}");
    assert!(
        texts.contains(&"not exists grant g where g.to_country == DE"),
        "{texts:?}"
    );
    assert!(texts.contains(&"action == replicate"), "{texts:?}");
    assert!(
        texts.iter().all(|t| !t.contains("//") && !t.contains("/*")),
        "{texts:?}"
    );
}
