//! Suggestions: "did you mean" by edit distance, and the shapes of words.

pub(super) fn looks_like_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

pub(super) fn is_symbol(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

/// "did you mean" from a list of candidates (edit distance ≤ 2), else the list.
pub(super) fn suggest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
    what: &str,
) -> String {
    let mut all: Vec<&str> = candidates.collect();
    all.sort();
    all.dedup();
    let best = all
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(word.len() / 4) && *d < c.len())
        .min();
    if let Some((_, c)) = best {
        return format!("did you mean `{c}`?");
    }
    if all.is_empty() {
        return format!("there are no {what}");
    }
    let shown: Vec<String> = all.iter().take(12).map(|c| format!("`{c}`")).collect();
    let more = if all.len() > 12 { ", …" } else { "" };
    format!("{what}: {}{more}", shown.join(", "))
}

/// The candidate nearest `word` (edit distance at most 2, and less than
/// the candidate's length), if one is.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d > 0 && *d <= 2 && *d < c.len())
        .min()
        .map(|(_, c)| c)
}

/// Edit distance by character (strsim's Levenshtein).
pub(super) fn levenshtein(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_edits_by_character() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("gdpr", "gdpr"), 0);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("über", "uber"), 1, "characters, not bytes");
    }

    #[test]
    fn suggest_names_the_nearest_candidate_or_lists_them() {
        let c = ["identity", "financial", "health"];
        assert_eq!(
            suggest("identty", c.into_iter(), "classifications"),
            "did you mean `identity`?"
        );
        // Too far from every candidate: the list, sorted.
        assert_eq!(
            suggest("zzz", c.into_iter(), "classifications"),
            "classifications: `financial`, `health`, `identity`"
        );
        assert_eq!(
            suggest("x", std::iter::empty(), "sets"),
            "there are no sets"
        );
        // A one-letter word is not "near" every one-letter candidate.
        assert_eq!(suggest("a", ["b"].into_iter(), "names"), "names: `b`");
        let many: Vec<String> = (0..20).map(|i| format!("name{i:02}x")).collect();
        let s = suggest("qqqqqqqqqq", many.iter().map(String::as_str), "names");
        assert!(s.ends_with(", …"), "{s}");
    }

    #[test]
    fn word_shapes() {
        assert!(looks_like_country("FR"));
        assert!(!looks_like_country("Fr"));
        assert!(!looks_like_country("FRA"));
        assert!(is_symbol("store"));
        assert!(!is_symbol("Store"));
        assert!(!is_symbol(""));
    }
}
