//! The editor support in `grammar/vscode/`: the TextMate grammar knows every
//! word of the language, and the extension manifest points at files that
//! exist.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use std::path::Path;

#[test]
fn the_textmate_grammar_knows_every_keyword_of_the_pest_grammar() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("grammar");
    let tm = std::fs::read_to_string(root.join("vscode/syntaxes/sovra.tmLanguage.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&tm).unwrap();
    assert_eq!(v["scopeName"], "source.sovra");
    assert_eq!(v["fileTypes"][0], "sov");
    // The language's words (docs/language.md; the pest grammar spells them
    // split for speed, so they are listed here).
    let words = [
        "package",
        "use",
        "set",
        "classification",
        "sensitivity",
        "profile",
        "permit",
        "forbid",
        "when",
        "because",
        "cites",
        "with",
        "obligations",
        "and",
        "or",
        "not",
        "in",
        "is",
        "declared",
        "present",
        "missing",
        "exists",
        "grant",
        "where",
        "satisfies",
        "true",
        "false",
        "single_country",
        "regional",
        "sovereign",
        "hybrid",
        "client_owned",
        "unrestricted",
        "primary",
        "secondary",
    ];
    let missing: Vec<&str> = words
        .into_iter()
        .filter(|w| {
            !tm.contains(&format!("|{w}|"))
                && !tm.contains(&format!("({w}|"))
                && !tm.contains(&format!("|{w})"))
        })
        .collect();
    assert!(missing.is_empty(), "not highlighted: {missing:?}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("vscode/package.json")).unwrap())
            .unwrap();
    let grammar = manifest["contributes"]["grammars"][0]["path"]
        .as_str()
        .unwrap();
    assert!(root.join("vscode").join(grammar).is_file());
    let config = manifest["contributes"]["languages"][0]["configuration"]
        .as_str()
        .unwrap();
    assert!(root.join("vscode").join(config).is_file());
}
