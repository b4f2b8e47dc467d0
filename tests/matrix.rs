//! The static flow matrix: its answers agree with the engine cell by cell,
//! and its HTML page reads in a real browser (headless Chromium): one
//! table a classification, a legend, a mark in every cell, a rule named on
//! every denied one. The screenshot is `target/matrix.png`; the one in
//! docs/ was checked by a person (`SOVRA_UPDATE_SCREENSHOT=1` replaces it).

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

use sovra::analysis::matrix::{html, matrix, Cell};
use sovra::documents::{bundled_regions, Grants, Request};
use sovra::eval::{Engine, TraceLevel};

fn bundled() -> Engine {
    Engine::new(
        sovra::policy::compile(&sovra::policy::bundled()).unwrap(),
        bundled_regions(),
        Grants::default(),
    )
}

#[test]
fn every_cell_is_the_engines_own_answer() {
    let e = bundled();
    let m = matrix(&e, "store", "2026-12-02T12:00:00Z".parse().unwrap());
    assert_eq!(m.rows.len() % 5, 0, "five classifications");
    let mut grants_needed = 0;
    for row in &m.rows {
        for ((region, _), cell) in m.regions.iter().zip(&row.cells) {
            let text = format!(
                r#"{{"action":"store","time":"2026-12-02T12:00:00Z","principal":{{}},"resource":{{"classification":"{}","residency":"{}","home_country":"{}"}},"target_region":"{region}"}}"#,
                row.classification, row.residency, row.home_country
            );
            let req = Request::from_json(&text).unwrap();
            let d = e.decide(&req, TraceLevel::Off);
            match cell {
                Cell::Allowed => assert!(d.allowed(), "{row:?} {region}"),
                Cell::Denied { rule } | Cell::WithGrant { rule } => {
                    assert!(!d.allowed());
                    assert_eq!(&d.reasons[0].rule, rule);
                }
            }
            if matches!(cell, Cell::WithGrant { .. }) {
                grants_needed += 1;
                // Only the transfer rule yields to a grant.
                assert!(
                    matches!(cell, Cell::WithGrant { rule } if rule == "gdpr.transfer_outside_eea"),
                    "{cell:?}"
                );
            }
        }
    }
    assert!(
        grants_needed > 0,
        "EEA personal data to the US needs a grant somewhere"
    );
    // Russian identity data: stored only in Russia, never with a grant.
    let ru = m
        .rows
        .iter()
        .find(|r| {
            r.classification == "identity" && r.residency == "global" && r.home_country == "RU"
        })
        .unwrap();
    for ((region, country), cell) in m.regions.iter().zip(&ru.cells) {
        assert_eq!(*cell == Cell::Allowed, country == "RU", "{region}");
    }
}

#[test]
fn the_html_matrix_reads_in_a_browser() {
    let e = bundled();
    let m = matrix(&e, "store", "2026-12-02T12:00:00Z".parse().unwrap());
    let page = html(&m);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = root.join("target/matrix.html");
    std::fs::write(&file, &page).unwrap();
    assert!(!page.contains("<script"), "self-contained, no script");
    let Some(b) = browser::Browser::start() else {
        return;
    };
    b.open(&format!("file://{}", file.display()));
    let legend = b.text("#legend");
    for words in ["allowed", "only with a grant", "denied"] {
        assert!(legend.contains(words), "{legend}");
    }
    for class in [
        "identity",
        "transactional",
        "operational",
        "content",
        "analytical",
    ] {
        assert!(b.exists(&format!("#matrix-{class}")), "{class}");
    }
    let caption = b.text("#matrix-identity caption");
    assert_eq!(caption, "Classification: identity");
    assert!(b.exists("#matrix-identity td.grant"));
    assert!(b.exists("#matrix-identity td.denied[title*='denied by']"));
    let png = b.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::write(root.join("target/matrix.png"), &png).unwrap();
    let kept = root.join("docs/matrix.png");
    if std::env::var_os("SOVRA_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(&kept, &png).unwrap();
    }
    assert!(
        kept.exists(),
        "docs/matrix.png: run with SOVRA_UPDATE_SCREENSHOT=1, look at it, commit it"
    );
}
