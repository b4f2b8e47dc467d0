//! The approvers' page in a real browser: headless Chromium from Debian's
//! packages, driven through ChromeDriver's WebDriver protocol. A person
//! signs in with a token, sees a pending request with the policy's
//! decisions without it and with it, approves it with a click, sees it
//! among the active grants (and the API now allows), revokes it, and signs
//! out. The screenshot of the page it takes is `target/ui-grants.png`; the
//! one in docs/ was checked by a person (`SOVRA_UPDATE_SCREENSHOT=1`
//! replaces it).
//!
//! Without Chromium and ChromeDriver the test is skipped with a word on
//! stderr, unless `SOVRA_REQUIRE_BROWSER` is set (as `.ci/run` sets it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "support/browser.rs"]
mod browser;
#[path = "support/server.rs"]
mod support;

use browser::Browser;
use std::process::Command;
use support::{http, start_exactly};

const ALICE: &str = "alice-0123456789abcdef";
const BEN: &str = "ben-0123456789abcdefgh";
const OPS: &str = "ops-0123456789abcdefgh";

fn decision(port: u16) -> String {
    let (st, body) = http(
        port,
        "POST",
        "/v1/evaluate",
        Some(ALICE),
        r#"{"action":"access","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers"},"source_region":"eu-central-1","purpose":"support"}"#,
    );
    assert_eq!(st, 200, "{body}");
    support::json(&body)["decision"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn an_approver_signs_in_sees_what_a_request_would_allow_and_approves_it_in_a_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sovra-ui-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("state.db").display());
    let o = Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(["state", "init", "--state", &url, "--as", "ops"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tokens = dir.join("tokens");
    std::fs::write(
        &tokens,
        format!("alice {ALICE} evaluate,request\nben {BEN} approve roles=dpo\nops {OPS} admin\n"),
    )
    .unwrap();
    let server = start_exactly(&["--state", &url, "--tokens", tokens.to_str().unwrap()]);
    let port = server.port;
    let (st, body) = http(
        port,
        "POST",
        "/v1/datasets",
        Some(OPS),
        r#"{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE","owner":"crm","placements":["eu-central-1"]}"#,
    );
    assert_eq!(st, 201, "{body}");
    let (st, body) = http(
        port,
        "POST",
        "/v1/grants",
        Some(ALICE),
        r#"{"principal":"alice","resource":"ds-customers","to_country":"US","purpose":"support","mechanism":"scc","duration":"30d","reason":"ticket 4711"}"#,
    );
    assert_eq!(st, 201, "{body}");
    assert_eq!(decision(port), "deny");

    let page = format!("http://127.0.0.1:{port}/ui/grants");
    browser.open(&page);
    // A wrong token: the sign-in form again, saying so.
    browser.type_in("#token", "not-a-token");
    browser.click("#sign-in");
    let said = browser.text(".error");
    assert!(said.contains("unknown token"), "{said}");
    browser.type_in("#token", BEN);
    browser.click("#sign-in");
    assert!(browser.text("header").contains("ben (dpo)"));
    // The request, and what it would allow: the policy's own words.
    let card = browser.text("#g-000001");
    assert!(card.contains("g-000001: alice → US"), "{card}");
    let row = browser.text("#g-000001 table.preview tr:nth-child(2)");
    assert!(
        row.contains("alice reads ds-customers (in eu-central-1) from US"),
        "{row}"
    );
    let without = browser.text("#g-000001 table.preview tr:nth-child(2) td:nth-child(2)");
    let with = browser.text("#g-000001 table.preview tr:nth-child(2) td:nth-child(3)");
    assert!(
        without.starts_with("deny") && without.contains("without a valid grant"),
        "{without}"
    );
    assert!(with.starts_with("allow"), "{with}");

    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert!(width >= 1000, "{width}");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(root.join("target/ui-grants.png"), &png).unwrap();
    let kept = root.join("docs/ui-grants.png");
    if std::env::var_os("SOVRA_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(&kept, &png).unwrap();
    }
    assert!(
        kept.exists(),
        "docs/ui-grants.png: run with SOVRA_UPDATE_SCREENSHOT=1, look at it, commit it"
    );

    // Approve with a click: active, by ben, and the API allows now.
    browser.click("#approve-g-000001");
    assert!(browser.text("#flash").contains("Approved g-000001"));
    assert!(!browser.exists("#g-000001"), "no longer pending");
    let active = browser.text("#active-g-000001");
    assert!(
        active.contains("alice") && active.contains("ben"),
        "{active}"
    );
    assert_eq!(decision(port), "allow");
    // Revoke with a click: denied again.
    browser.click("#revoke-g-000001");
    assert!(browser.text("#flash").contains("Revoked g-000001"));
    assert_eq!(decision(port), "deny");
    // Signed out: the sign-in form.
    browser.click("#sign-out");
    assert!(browser.exists("#token"));
    let _ = std::fs::remove_dir_all(&dir);
}
