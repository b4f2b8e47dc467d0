//! What is hashed does not depend on the order of a JSON object's members,
//! whichever crates a build holds: serde_json keeps an object's members in
//! key order unless some crate in the build turns on its `preserve_order`
//! feature (cedar-policy does), and then keeps them as read. `.ci/run`
//! runs this file a second time with that feature on
//! (`--features serde_json/preserve_order`), where a writer that iterated
//! the map as it is would fail it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails loudly: a panic is a failed check"
)]

use sovra::documents::{bundled_regions, Grants, Regions, Request};
use sovra::eval::Engine;

/// One request, its extra fields (nested too) written in two orders.
const ONE_ORDER: &str = r#"{"action":"access","time":"2026-03-01T12:00:00Z",
  "principal":{"id":"p","country":"DE","team":"t","badge":{"z":1,"a":2}},
  "resource":{"id":"ds","classification":"identity","tenant":"globex","home_region":"DE-BY"},
  "source_region":"eu-central-1","ticket":"T-1","approval":{"y":[{"q":1,"p":2}],"x":0}}"#;
const OTHER_ORDER: &str = r#"{"approval":{"x":0,"y":[{"p":2,"q":1}]},"ticket":"T-1",
  "source_region":"eu-central-1",
  "resource":{"home_region":"DE-BY","tenant":"globex","classification":"identity","id":"ds"},
  "principal":{"badge":{"a":2,"z":1},"team":"t","country":"DE","id":"p"},
  "time":"2026-03-01T12:00:00Z","action":"access"}"#;

#[test]
fn a_request_hashes_the_same_whatever_the_order_of_its_members() {
    let engine = Engine::new(
        sovra::policy::compile(&sovra::policy::bundled()).unwrap(),
        bundled_regions(),
        Grants::default(),
    );
    let a = Request::from_json(ONE_ORDER).unwrap();
    let b = Request::from_json(OTHER_ORDER).unwrap();
    assert_eq!(
        String::from_utf8(a.canonical()).unwrap(),
        String::from_utf8(b.canonical()).unwrap()
    );
    assert_eq!(engine.input_hash(&a), engine.input_hash(&b));
    // The canonical form is in key order, nested objects too.
    let text = String::from_utf8(a.canonical()).unwrap();
    assert!(
        text.contains(r#""approval":{"x":0,"y":[{"p":2,"q":1}]},"ticket":"T-1""#),
        "{text}"
    );
    assert!(
        text.contains(r#""badge":{"a":2,"z":1},"team":"t""#),
        "{text}"
    );
    assert!(
        text.contains(r#""home_region":"DE-BY","tenant":"globex""#),
        "{text}"
    );
}

#[test]
fn a_regions_document_hashes_the_same_whatever_the_order_of_its_attributes() {
    let doc = |attrs: &str| {
        format!(r#"{{"regions":[{{"id":"r1","country":"DE","attributes":{attrs}}}]}}"#)
    };
    let a = Regions::from_json(&doc(r#"{"regime":"gdpr","certifications":["c5","iso"]}"#)).unwrap();
    let b = Regions::from_json(&doc(r#"{"certifications":["c5","iso"],"regime":"gdpr"}"#)).unwrap();
    assert_eq!(a.hash, b.hash);
}
