//! The hand-written parser (`src/syntax/hand.rs`) against pest, which stays
//! the grammar's definition: wherever the hand-written parser gives a tree,
//! pest must give the same tree, spans included; where it declines, pest
//! parses alone. Over every policy file in the repository, generated
//! policies, and many thousands of edits of them that break or bend the
//! syntax (the fuzz target `policy` checks the same on its inputs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test fails loudly: a panic is a failed check"
)]

#[path = "support/gen.rs"]
mod gen;

use sovra::syntax::{parsers_agree, parsers_agree_in_pieces, Agreement};
use std::path::{Path, PathBuf};

fn policy_files() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "sov") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["policies", "docs", "tests"] {
        walk(&root.join(dir), &mut out);
    }
    assert!(out.len() > 50, "the repository's policy files are found");
    out
}

fn same_or_declined(text: &str, what: &str) -> Agreement {
    let a = parsers_agree(text);
    if let Agreement::Differ(both) = &a {
        panic!("{what}: the parsers differ on\n{text}\n{both}");
    }
    a
}

/// Every policy file in the repository: the same tree from both parsers,
/// and the hand-written parser never declines a file pest parses (it covers
/// every construct the library, the docs and the cases use).
#[test]
fn every_policy_file() {
    let mut same = 0;
    for (path, text) in policy_files() {
        match same_or_declined(&text, &path.display().to_string()) {
            Agreement::Same => same += 1,
            Agreement::Declined { pest_parses } => assert!(
                !pest_parses,
                "{}: the hand-written parser declines a file pest parses",
                path.display()
            ),
            Agreement::Differ(_) => unreachable!(),
        }
    }
    assert!(same > 50, "{same} files parsed by both");
}

#[test]
fn generated_policies() {
    for seed in 0..40 {
        let mut rng = gen::Rng::new(seed);
        let text = gen::policy(&mut rng, 1 + seed as usize % 30);
        assert_eq!(
            same_or_declined(&text, &format!("gen::policy seed {seed}")),
            Agreement::Same,
            "{text}"
        );
        let text = gen::scale_policy(&mut rng, 40);
        assert_eq!(
            same_or_declined(&text, &format!("gen::scale_policy seed {seed}")),
            Agreement::Same
        );
    }
}

/// A file large enough to be cut into pieces (as on several cores): the
/// pieces, each read by hand with its offset in the file, give pest's tree
/// of the whole file; with a broken declaration in the middle, pest's
/// errors.
#[test]
fn a_large_file_in_pieces() {
    let mut rng = gen::Rng::new(3);
    let mut text = gen::scale_policy(&mut rng, 2_000);
    // A `because` text over several lines (no block comment: a file with
    // one is never cut).
    text.push_str("permit tail\n  because \"a\n  b {target.country}\"\n// c\n");
    assert!(text.len() > 300_000, "{} bytes", text.len());
    assert_eq!(parsers_agree_in_pieces(&text), Agreement::Same);
    let mid = text.len() / 2;
    let at = mid + text[mid..].find("\nforbid").unwrap() + 1;
    text.insert_str(at, "forbid broken when ==\n");
    assert_eq!(
        parsers_agree_in_pieces(&text),
        Agreement::Declined { pest_parses: false }
    );
}

/// Tokens and trivia that bend the syntax where they land.
const PIECES: &[&str] = &[
    " ",
    "\n",
    "\t",
    "\r\n",
    "// c\n",
    "/* c */",
    "/*",
    "*/",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "-",
    "+",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "\"",
    "\\",
    "\"x\"",
    "\"a\\\"b\"",
    "not",
    "not in",
    "not  in",
    "not/**/in",
    "in",
    "and",
    "or",
    "is",
    "is not",
    "declared",
    "present",
    "missing",
    "exists",
    "grant",
    "where",
    "when",
    "with",
    "obligations",
    "because",
    "cites",
    "satisfies",
    "any in",
    "all in",
    "none in",
    "starts_with",
    "ends_with",
    "matches",
    "permit",
    "forbid",
    "set",
    "profile",
    "classification",
    "sensitivity",
    "condition",
    "field",
    "actions",
    "grants",
    "of",
    "last",
    "at",
    "most",
    "need",
    "approver",
    "role",
    "assert",
    "never",
    "always",
    "allow",
    "under",
    "use",
    "package",
    "true",
    "false",
    "truex",
    "US-CA",
    "US-CAL",
    "US-",
    "DE",
    "de-only",
    "a-b",
    "a - b",
    "_x",
    "x1",
    "1",
    "-1",
    "2.5",
    "2.",
    "1.x",
    "90d",
    "90dx",
    "12w",
    "2026-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T00:00:00.5+02:00",
    "2026-01-01T00:00:00",
    "single_country(DE)",
    "regional(EEA)",
    "hybrid(primary: DE, secondary: EEA)",
    "unrestricted",
    "client_owned",
    "count(x)",
    "f()",
    "x.y",
    "x.",
    "é",
    "\u{0}",
    "existsgrant",
    "permitx",
    "when(",
    "not(",
    "isdeclared",
];

/// Edits of every policy file (and a generated one): a piece inserted,
/// bytes deleted, or a stretch replaced; each edit either parses to the
/// same tree in both or is declined.
#[test]
fn edited_policies() {
    let mut files: Vec<String> = policy_files().into_iter().map(|(_, t)| t).collect();
    files.push(gen::scale_policy(&mut gen::Rng::new(7), 30));
    let mut rng = gen::Rng::new(15);
    let (mut same, mut declined) = (0, 0);
    for text in &files {
        let cuts: Vec<usize> = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .collect();
        for _ in 0..60 {
            let mut t = text.clone();
            for _ in 0..1 + rng.below(2) {
                let at = *rng.pick(&cuts);
                let at = at.min(t.len());
                if !t.is_char_boundary(at) {
                    continue;
                }
                match rng.below(3) {
                    0 => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        t.insert_str(at, piece)
                    }
                    1 => {
                        let end = (at + 1 + rng.below(6)).min(t.len());
                        if t.is_char_boundary(end) {
                            t.replace_range(at..end, "");
                        }
                    }
                    _ => {
                        let end = (at + 1 + rng.below(3)).min(t.len());
                        if t.is_char_boundary(end) {
                            let piece = PIECES[rng.below(PIECES.len())];
                            t.replace_range(at..end, piece);
                        }
                    }
                }
            }
            match same_or_declined(&t, "an edited file") {
                Agreement::Same => same += 1,
                _ => declined += 1,
            }
        }
    }
    // Edits land in comments and white space as well as in tokens: many
    // still parse, and many do not.
    assert!(
        same > 1_000 && declined > 1_000,
        "{same} same, {declined} declined"
    );
}

/// Small texts around each construct, where the grammar's corners are.
#[test]
fn corners() {
    let cases = [
        "package p\npermit a when x == -1",
        "package p\npermit a when x -1 == 2",
        "package p\npermit a when x - -1 == 2",
        "package p\npermit a when (a or b) == true",
        "package p\npermit a when not (a) and not not b",
        "package p\npermit a when x not  \n in [DE]",
        "package p\npermit a when x not/**/in [DE]",
        "package p\npermit a when x is not declared",
        "package p\npermit a when x isnot declared",
        "package p\npermit a when exists grant g",
        "package p\npermit a when existsgrant g whereg.x == 1",
        "package p\npermit a when exists_flag == true",
        "package p\npermit a when x == US-CA1",
        "package p\npermit a when x == US-CAL",
        "package p\npermit a when x == US-CA-B",
        "package p\npermit a when x == 2026-01-01T00:00:00Z",
        "package p\npermit a when x == 2026-01-01T00:00:00.25-03:00",
        "package p\npermit a when x == 2026-01-01T00:00:00.Z",
        "package p\npermit a when x < 1.5 and y >= 2. ",
        "package p\npermit a when f(a: 1, b,) and g()",
        "package p\npermit a when f (1)",
        "package p\npermit a when x.y.z == \"a\\\"b\\n\"",
        "package p\npermit a when x == \"two\nlines\"",
        "package p\npermit a when [1, 2,] == []",
        "package p\npermit a when truex",
        "package p\npermit a when and-x == 1",
        "package p\npermit a when a-b == a - b",
        "package p\npermit a\n  because \"x {target.country} \\{y\n   z\"\n  because \"again\"\n  cites \"Art.\n 44\"\n  with obligations [a, b,]\n  with obligations []",
        "package p\npermit a with obligations [a] // tail",
        "package p\npermit a /* tail */",
        "package p\npermit a /* unclosed",
        "package p\nforbid a when x == 1 or y == 2 or z",
        "package p.q.r\nuse a.b.{X, Y,}\nuse a.Z\npermit a",
        "package p\nuse a.b . X",
        "package p\nset A = [DE] + (B - [FR]) - C\nset B = A",
        "package p\nprofile x = hybrid(primary: DE, secondary: [FR] + EEA)",
        "package p\nprofile x = single_country(DE)\nprofile y = sovereign(FR)\nprofile z = client_owned",
        "package p\nprofile x = unrestrictedfoo",
        "package p\nclassification c sensitivity high",
        "package p\ncondition c(a, b,) = a == b\ncondition d = true",
        "package p\nfield resource.home_region: subdivision\nfield region.certs: [string]",
        "package p\nfield resource: string",
        "package p\nactions [store, read,]\nobligations []",
        "package p\ngrants last at most 365d\ngrants of identity need approver role dpo",
        "package p\ngrants of identity last at most 99999999999999999999d",
        "package p\nassert a: never allow under any grants when action == store",
        "package p\nassert a: always allow when true",
        "package p\n",
        "package p",
        "  // lead\npackage p",
        "package",
        "permit a",
    ];
    for text in cases {
        same_or_declined(text, "a corner");
    }
    // The common shapes among them are parsed by hand, not declined.
    for text in [
        cases[0], cases[3], cases[4], cases[5], cases[7], cases[9], cases[15], cases[19],
        cases[27], cases[32], cases[34], cases[35], cases[39], cases[40], cases[42], cases[43],
        cases[45],
    ] {
        assert_eq!(parsers_agree(text), Agreement::Same, "{text}");
    }
}
