//! `sovra fmt` keeps meaning and is idempotent, on the bundled library and on
//! generated policies (the differential tests' generator: every construct,
//! random layouts of whitespace added here), and the bundled library is
//! formatted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

#[path = "support/gen.rs"]
mod gen;

use sovra::source::Sources;

/// The policy hash, or `None` when the text does not compile.
fn hash(name: &str, text: &str) -> Option<String> {
    let mut s = Sources::default();
    s.add(name, text.to_string());
    sovra::policy::compile(&s).ok().map(|p| p.hash())
}

/// The text with its whitespace scrambled where the grammar allows it:
/// runs of spaces between tokens and indentation, blank lines doubled.
fn scramble(text: &str, rng: &mut gen::Rng) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let extra = (rng.next() % 4) as usize;
        out.push_str(&" ".repeat(extra));
        let mut in_str = false;
        for c in line.chars() {
            if c == '"' {
                in_str = !in_str;
            }
            out.push(c);
            if c == ' ' && !in_str && rng.next().is_multiple_of(3) {
                out.push(' ');
            }
        }
        out.push('\n');
        if rng.next().is_multiple_of(5) {
            out.push_str("\n\n");
        }
    }
    out
}

#[test]
fn formatting_generated_policies_keeps_their_hash_and_is_idempotent() {
    let seed = 20_261_202;
    let mut rng = gen::Rng::new(seed);
    let mut formatted = 0;
    for i in 0..300 {
        let text = gen::policy(&mut rng, 1 + i % 7);
        let messy = scramble(&text, &mut rng);
        // The generator writes some sets that do not compile (nested
        // `exists`): those are not formatting's concern.
        let Some(want) = hash("g.sov", &text) else {
            continue;
        };
        formatted += 1;
        let want = Some(want);
        assert_eq!(
            hash("g.sov", &messy),
            want,
            "seed {seed} case {i}: scrambling"
        );
        let once = sovra::format::format(&messy)
            .unwrap_or_else(|_| panic!("seed {seed} case {i}: does not parse:\n{messy}"));
        assert_eq!(
            hash("g.sov", &once),
            want,
            "seed {seed} case {i}:\n{messy}\n---\n{once}"
        );
        let twice = sovra::format::format(&once).unwrap();
        assert_eq!(twice, once, "seed {seed} case {i}: not idempotent");
        assert!(!once.contains(" \n") && !once.contains("\n\n\n"), "{once}");
    }
    assert!(
        formatted > 100,
        "only {formatted} generated policies compiled"
    );
}

#[test]
fn the_bundled_library_is_formatted() {
    for f in sovra::policy::bundled().files {
        let formatted = sovra::format::format(&f.text).unwrap();
        assert_eq!(
            formatted, *f.text,
            "{} is not formatted: run `sovra fmt policies`",
            f.name
        );
    }
}
