//! From text to a [`File`]: cutting a large file at declaration boundaries
//! and parsing the pieces on every core, the nesting limit, and pest's
//! errors translated into the words of docs/language.md.

use super::build::{build_file, At};
use super::*;

/// Parses one file. On syntax errors, parsing resumes at the next declaration
/// so that every error in the file is reported at once. A large file is cut
/// at declaration boundaries into pieces of about [`PIECE`] bytes, parsed in
/// order on every core: pest's token queue stays the size of a piece, so
/// memory is reused from piece to piece instead of one queue growing with
/// the file (on 10,000 rules, the growing queue's fresh pages were a third of
/// the compile).
pub(crate) fn parse(file_id: u32, text: &str) -> Result<File, Vec<Diagnostic>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        // On one core, cutting the file buys nothing when the hand-written
        // parser reads it whole; the pieces are for pest, if it declines.
        // (Nesting counts restart at every declaration, so checking the
        // whole file and checking its pieces agree on a file that parses.)
        let at = At {
            file: file_id,
            base: 0,
        };
        if too_deep(at, text).is_none() {
            if let Some(file) = super::hand::parse(at, text, true) {
                return Ok(file);
            }
        }
    }
    in_pieces(file_id, text, cores)
}

/// [`parse`] on `cores` cores: the file cut at declarations into pieces of
/// about [`PIECE`] bytes, each parsed (by hand, or by pest where the
/// hand-written parser declines) and their declarations joined in order.
pub(super) fn in_pieces(file_id: u32, text: &str, cores: usize) -> Result<File, Vec<Diagnostic>> {
    let cuts = cut_points(text);
    let pieces: Vec<(usize, &str)> = cuts
        .iter()
        .zip(cuts.iter().skip(1).chain(std::iter::once(&text.len())))
        .map(|(&a, &b)| (a, text.get(a..b).unwrap_or("")))
        .collect();
    let parse_run = |first: usize, run: &[(usize, &str)]| -> Vec<Result<File, Vec<Diagnostic>>> {
        run.iter()
            .enumerate()
            .map(|(i, &(base, piece))| {
                let at = At {
                    file: file_id,
                    base,
                };
                parse_piece(at, piece, first + i == 0)
            })
            .collect()
    };
    let threads = cores.min(8).min(pieces.len());
    let results: Vec<Result<File, Vec<Diagnostic>>> = if threads < 2 {
        parse_run(0, &pieces)
    } else {
        let per = pieces.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .chunks(per)
                .enumerate()
                .map(|(t, run)| {
                    let parse = move || parse_run(t * per, run);
                    std::thread::Builder::new()
                        .stack_size(crate::policy::COMPILE_STACK)
                        .spawn_scoped(s, parse)
                })
                .collect();
            handles
                .into_iter()
                .zip(pieces.chunks(per))
                .flat_map(|(h, run)| {
                    // A parser thread that failed is a defect, never "no problems".
                    let base = run.first().map_or(0, |&(b, _)| b);
                    let failed = |why: &str| {
                        vec![Err(vec![Diagnostic::new(
                            ParseError::ParserFailed {
                                why: why.to_string(),
                            },
                            Span::new(file_id, base, base + 1),
                        )
                        .label("parsing failed here")
                        .help("split the file, or report the defect with the file")])]
                    };
                    match h {
                        Ok(h) => h.join().unwrap_or_else(|_| failed("failed")),
                        Err(_) => failed("could not start"),
                    }
                })
                .collect()
        })
    };
    let mut errors = Vec::new();
    let mut file: Option<File> = None;
    for r in results {
        match (r, file.as_mut()) {
            (Ok(f), None) => file = Some(f),
            (Ok(mut f), Some(first)) => first.items.append(&mut f.items),
            (Err(mut e), _) => errors.append(&mut e),
        }
    }
    match file {
        Some(f) if errors.is_empty() => Ok(f),
        _ => Err(errors),
    }
}

/// About how many bytes of a large file one parse takes at a time.
const PIECE: usize = 64 * 1024;

/// Where to cut a large file: declaration starts, about [`PIECE`] bytes
/// apart; just `[0]` for a small file (or one with block comments, which
/// could hide a declaration keyword at the start of a line).
fn cut_points(text: &str) -> Vec<usize> {
    if text.len() < 2 * PIECE || text.contains("/*") {
        return vec![0];
    }
    let mut cuts = vec![0];
    let mut off = 0;
    let mut next = PIECE;
    // A `because` text may span lines: never cut inside one.
    let mut in_text = false;
    for line in text.split_inclusive('\n') {
        let starts_in_text = in_text;
        let mut escaped = false;
        // By bytes: the characters sought are ASCII, and no byte of a
        // longer character is one of them.
        let bytes = line.as_bytes();
        for (i, &c) in bytes.iter().enumerate() {
            match c {
                _ if escaped => escaped = false,
                b'\\' if in_text => escaped = true,
                b'"' => in_text = !in_text,
                b'/' if !in_text && bytes.get(i + 1) == Some(&b'/') => break,
                _ => {}
            }
        }
        if off >= next && !starts_in_text && starts_item(line) && !line.starts_with("use") {
            cuts.push(off);
            next = off + PIECE;
        }
        off += line.len();
    }
    cuts
}

/// How deeply a condition may nest: parentheses and lists, `not`s in a
/// row, and `+`/`-` chains each count a level (docs/language.md). The parser
/// and the checker recurse once a level, so a deeper file is refused before
/// either sees it, with a diagnostic, never a stack overflow.
pub const MAX_NESTING: u32 = 64;

/// What each byte is to [`too_deep`]'s words: 1 a letter, digit or `_`;
/// 2 a `-` or `.` (inside a word, not its first byte); 0 anything else.
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated when building: an index out of range fails the build"
)]
const WORD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if super::hand::ident_char(b) {
            1
        } else if b == b'-' || b == b'.' {
            2
        } else {
            0
        };
        c += 1;
    }
    t
};

/// What a word is to [`too_deep`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum WordKind {
    /// `not`: it adds a level.
    Not,
    /// A word that ends an operand (its `not`s and `+`/`-` levels).
    Ends,
    Other,
}

/// A word of at most 8 bytes as one number, its bytes little-endian.
#[allow(
    clippy::indexing_slicing,
    reason = "the index is below the slice's length, checked by the loop's condition"
)]
const fn packed(w: &[u8]) -> u64 {
    let mut k = 0u64;
    let mut n = 0;
    while n < w.len() && n < 8 {
        k |= (w[n] as u64) << (8 * n);
        n += 1;
    }
    k
}

/// What the word at `b[start..end]` is, its bytes compared as one number
/// (comparing its text with each keyword, with the byte loop that noted a
/// `-` or `.`, cost a sixth of the scan). Words hold no zero byte, so a
/// number stands for one word of each length.
fn word_kind(b: &[u8], start: usize, end: usize) -> WordKind {
    let w = b.get(start..end).unwrap_or_default();
    if w.len() > 8 {
        return match w {
            b"satisfies" | b"condition" | b"obligations" | b"classification" => WordKind::Ends,
            _ => WordKind::Other,
        };
    }
    // Eight bytes read at once where the text has them, cut to the word.
    let k = match b
        .get(start..start + 8)
        .and_then(|e| <[u8; 8]>::try_from(e).ok())
    {
        Some(e) => {
            u64::from_le_bytes(e) & u64::MAX.checked_shr(8 * (8 - w.len() as u32)).unwrap_or(0)
        }
        None => packed(w),
    };
    /// The words of at most eight bytes that end an operand, packed.
    const ENDS: [u64; 19] = {
        let words: [&[u8]; 19] = [
            b"and", b"or", b"in", b"is", b"when", b"where", b"because", b"with", b"cites",
            b"permit", b"forbid", b"set", b"profile", b"package", b"use", b"field", b"actions",
            b"grants", b"assert",
        ];
        let mut out = [0; 19];
        let mut n = 0;
        while n < words.len() {
            #[allow(
                clippy::indexing_slicing,
                reason = "const evaluation over two arrays of the same length: an index out of range fails the build"
            )]
            {
                out[n] = packed(words[n]);
            }
            n += 1;
        }
        out
    };
    if k == packed(b"not") {
        WordKind::Not
    } else if ENDS.contains(&k) {
        WordKind::Ends
    } else {
        WordKind::Other
    }
}

/// The first place where `text` nests deeper than [`MAX_NESTING`]. A
/// linear scan of the tokens outside strings and comments: brackets open
/// and close levels; within a level, `not`s and `+`/`-` operators add one
/// each until a word or operator that ends the operand (`and`, `or`, `,`, a
/// comparison, a keyword) resets them.
pub(super) fn too_deep(at: At, text: &str) -> Option<Diagnostic> {
    let b = text.as_bytes();
    // Per open level: (`not`s, arithmetic operators) counted in it.
    let mut levels: Vec<(u32, u32)> = vec![(0, 0)];
    let mut depth = 0u32;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let start = i;
        let mut deeper = false;
        match c {
            b'"' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    i += if d == b'\\' { 2 } else { 1 };
                    if d == b'"' {
                        break;
                    }
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while b.get(i).is_some_and(|d| *d != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b.get(i) == Some(&b'*') && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'(' | b'[' | b'{' => {
                levels.push((0, 0));
                depth += 1;
                deeper = true;
            }
            b')' | b']' | b'}' if levels.len() > 1 => {
                let (n, o) = levels.pop().unwrap_or_default();
                depth = depth.saturating_sub(1 + n + o);
            }
            b'+' => {
                if let Some(l) = levels.last_mut() {
                    l.1 += 1;
                }
                depth += 1;
                deeper = true;
            }
            // Subtraction is written with a space after the `-` (a name's
            // hyphen is followed by a letter, a negative number by a digit).
            b'-' if b.get(i + 1).is_some_and(|d| d.is_ascii_whitespace()) => {
                if let Some(l) = levels.last_mut() {
                    l.1 += 1;
                }
                depth += 1;
                deeper = true;
            }
            b'=' | b'<' | b'>' | b'!' | b',' | b':' => {
                if let Some(l) = levels.last_mut() {
                    depth = depth.saturating_sub(l.0 + l.1);
                    *l = (0, 0);
                }
            }
            c if WORD.get(usize::from(c)) == Some(&1) => {
                // A word (a path or a hyphenated name is one word, and
                // never a keyword): its end found in a loop of one test a
                // byte, then the word compared with the keywords as one
                // number.
                i += b
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .position(|&d| WORD.get(usize::from(d)).is_none_or(|w| *w == 0))
                    .unwrap_or(b.len() - i);
                match word_kind(b, start, i) {
                    WordKind::Not => {
                        if let Some(l) = levels.last_mut() {
                            l.0 += 1;
                        }
                        depth += 1;
                        deeper = true;
                    }
                    WordKind::Ends => {
                        if let Some(l) = levels.last_mut() {
                            depth = depth.saturating_sub(l.0 + l.1);
                            *l = (0, 0);
                        }
                    }
                    WordKind::Other => {}
                }
                i -= 1;
            }
            _ => {}
        }
        i += 1;
        if deeper && depth > MAX_NESTING {
            let end = (start + 1..=text.len())
                .find(|e| text.is_char_boundary(*e))
                .unwrap_or(start);
            return Some(
                Diagnostic::new(
                    ParseError::TooDeep {
                        limit: MAX_NESTING,
                    },
                    Span::new(at.file, at.base + start, at.base + end),
                )
                .label("too deep")
                .help(format!(
                    "parentheses, lists, `not`s in a row and `+`/`-` chains count a level each, at most {MAX_NESTING}: name a part as a set, or split the rule"
                )),
            );
        }
    }
    None
}

/// One piece: the hand-written parser's tree when it gives one, else pest's
/// (and pest's errors). Nesting is checked first: both recurse once a level.
fn parse_piece(at: At, text: &str, first: bool) -> Result<File, Vec<Diagnostic>> {
    if let Some(d) = too_deep(at, text) {
        return Err(vec![d]);
    }
    match super::hand::parse(at, text, first) {
        Some(file) => Ok(file),
        None => parse_pest(at, text, first),
    }
}

/// One piece by pest: its tree, or every syntax error in it.
pub(super) fn parse_pest(at: At, text: &str, first: bool) -> Result<File, Vec<Diagnostic>> {
    let rule = if first { Rule::file } else { Rule::items };
    let mut errors = Vec::new();
    let mut work = text.to_string();
    for _ in 0..50 {
        match Grammar::parse(rule, &work) {
            Ok(mut pairs) => {
                if !errors.is_empty() {
                    return Err(errors);
                }
                let Some(file) = pairs.next() else { break };
                return Ok(build_file(at, file));
            }
            Err(e) => {
                let (diag, pos) = translate(at, &work, e);
                errors.push(diag);
                // Blank the broken declaration (keeping newlines, so positions
                // stay true) and try again from the next one.
                let start = item_start_before(&work, pos);
                let end = next_item_start(&work, pos.max(start + 1));
                if end <= start || (start == 0 && first) {
                    break; // the package line itself is broken: nothing to resume from
                }
                let blank: String = work
                    .get(start..end)
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' })
                    .collect();
                work.replace_range(start..end, &blank);
            }
        }
    }
    Err(errors)
}

const ITEM_WORDS: [&str; 12] = [
    "actions",
    "assert",
    "grants",
    "field",
    "obligations",
    "condition",
    "permit",
    "forbid",
    "set",
    "profile",
    "classification",
    "use",
];

fn starts_item(line: &str) -> bool {
    ITEM_WORDS.iter().any(|w| {
        line.strip_prefix(w)
            .is_some_and(|rest| rest.starts_with([' ', '\t']) || rest.is_empty())
    })
}

/// Byte offset of the line starting the declaration that contains `pos`.
fn item_start_before(text: &str, pos: usize) -> usize {
    let mut best = 0;
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        // An error right at a declaration's first word belongs to the one before.
        let word_at = off + (line.len() - line.trim_start().len());
        if word_at >= pos && off > 0 {
            break;
        }
        if starts_item(line) {
            best = off;
        }
        off += line.len();
    }
    best
}

/// Byte offset of the first declaration line starting after `pos`.
fn next_item_start(text: &str, pos: usize) -> usize {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        if off > pos && starts_item(line) {
            return off;
        }
        off += line.len();
    }
    text.len()
}

/// Words for grammar rules, as docs/language.md names them, with a rank:
/// when pest lists many alternatives, the most specific few are shown.
fn describe(rule: Rule) -> Option<(u8, &'static str)> {
    Some(match rule {
        Rule::package_decl => (0, "`package <name>` on the first line"),
        Rule::package_name | Rule::name_word => (1, "a package name"),
        Rule::use_group => (1, "`{` and the names to import"),
        Rule::use_path | Rule::use_pkg => (1, "`<package>.{Name, ...}` or `<package>.Name`"),
        Rule::set_expr => (1, "a set (a list `[...]` or a set name)"),
        Rule::single_mode
        | Rule::regional_mode
        | Rule::sovereign_mode
        | Rule::hybrid_mode
        | Rule::client_mode
        | Rule::unrestricted_mode => {
            (1, "a residency mode (single_country, regional, sovereign, hybrid, client_owned, unrestricted)")
        }
        Rule::expr | Rule::and_expr | Rule::not_expr | Rule::comparison | Rule::sum | Rule::path => {
            (1, "a condition")
        }
        Rule::ident | Rule::root_ident => (2, "a name"),
        Rule::is_what => (2, "`declared`, `present` or `missing`"),
        Rule::string | Rule::string_inner | Rule::text | Rule::text_inner => (2, "a quoted string"),
        Rule::list => (3, "a list `[...]`"),
        Rule::boolean | Rule::number | Rule::duration | Rule::time | Rule::subdivision => (3, "a value"),
        Rule::field_type | Rule::type_word => (2, "a type (string, number, boolean, country, subdivision, time, or `[type]` for a list)"),
        Rule::field_path => (2, "a field path such as `resource.home_region`"),
        Rule::exists => (3, "`exists grant <name>`"),
        Rule::cmp_op | Rule::not_in | Rule::in_op | Rule::satisfies_op | Rule::is_test => {
            (4, "a comparison (`==`, `!=`, `in`, `not in`, `satisfies`, `is`)")
        }
        Rule::or_op | Rule::and_op | Rule::not_op => (5, "`and`, `or` or `not`"),
        Rule::set_op | Rule::add_op => (6, "`+` or `-`"),
        Rule::when_clause => (6, "`when`"),
        Rule::assert_kind => (2, "`never allow` or `always allow`"),
        Rule::any_grants => (6, "`under any grants` or `when`"),
        Rule::obligations => (7, "`with obligations [...]`"),
        Rule::because => (7, "`because \"...\"`"),
        Rule::cites => (7, "`cites \"...\"`"),
        Rule::use_decl
        | Rule::set_decl
        | Rule::class_decl
        | Rule::profile_decl
        | Rule::condition_decl
        | Rule::field_decl
        | Rule::actions_decl
        | Rule::obligations_decl
        | Rule::grants_decl
        | Rule::rule_decl
        | Rule::assert_decl
        | Rule::effect
        | Rule::EOI => (8, "a new declaration (`permit`, `forbid`, `set`, `profile`, `classification`, `condition`)"),
        _ => return None,
    })
}

fn translate(at: At, text: &str, e: pest::error::Error<Rule>) -> (Diagnostic, usize) {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut ranked: Vec<(u8, &str)> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    ranked.sort();
    ranked.dedup();
    let expected: Vec<&str> = ranked.iter().take(3).map(|(_, w)| *w).collect();
    let found = found_token(text, pos);
    let end = pos + found.len().max(if pos < text.len() { 1 } else { 0 });
    let end = (pos..=end.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(pos);
    let span = Span::new(at.file, at.base + pos, at.base + end);
    let what = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let expected_words = match expected.len() {
        0 => "something else".to_string(),
        1 => expected.first().map_or(String::new(), |e| e.to_string()),
        _ => format!("one of: {}", expected.join("; ")),
    };
    let label = if expected.len() == 1 {
        format!("expected {expected_words} here")
    } else {
        "not expected here".to_string()
    };
    let mut d = Diagnostic::new(
        ParseError::Unexpected {
            found: what,
            expected: expected_words,
        },
        span,
    )
    .label(label);
    d = d.help(hint(found, &expected));
    (d, pos)
}

fn hint(found: &str, expected: &[&str]) -> String {
    const KEYWORDS: [&str; 12] = [
        "and",
        "or",
        "not",
        "in",
        "when",
        "because",
        "with",
        "exists",
        "where",
        "satisfies",
        "is",
        "package",
    ];
    if KEYWORDS.contains(&found) && expected.contains(&"a name") {
        return format!("`{found}` is a keyword and cannot be used as a name; pick another name");
    }
    let item = [
        "permit",
        "forbid",
        "set",
        "profile",
        "classification",
        "use",
        "because",
        "with",
        "",
    ];
    if expected.first() == Some(&"a condition") && item.contains(&found) {
        let at = if found.is_empty() {
            "the end of the file".to_string()
        } else {
            format!("`{found}`")
        };
        return format!("the condition before {at} is unfinished: complete the comparison or remove the dangling operator");
    }
    if found == "=" {
        return "compare with `==`; a single `=` only appears in `set` and `profile` declarations"
            .into();
    }
    if found == "&&" || found == "||" || found == "!" {
        return "write conditions with the words `and`, `or` and `not`".into();
    }
    if found.starts_with('\'') {
        return "strings use double quotes: \"...\"".into();
    }
    "see docs/language.md for the shape of each declaration".into()
}

/// The token at `pos`, for messages: a word, or one character.
fn found_token(text: &str, pos: usize) -> &str {
    let rest = text.get(pos..).unwrap_or("");
    let word_len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(rest.len(), |(i, _)| i);
    if word_len > 0 {
        return rest.get(..word_len).unwrap_or(rest);
    }
    let op = ["==", "!=", "<=", ">=", "&&", "||"]
        .into_iter()
        .find(|o| rest.starts_with(*o));
    if let Some(o) = op {
        return o;
    }
    rest.chars()
        .next()
        .map_or("", |c| rest.get(..c.len_utf8()).unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name table says of each of the 256 bytes what the definition
    /// says: a letter, digit or `_`.
    #[test]
    fn a_name_is_made_of_letters_digits_and_underscores() {
        for c in 0..=u8::MAX {
            let want = c.is_ascii_alphanumeric() || c == b'_';
            assert_eq!(super::super::hand::ident_char(c), want, "{c}");
        }
    }

    /// A word is a keyword exactly when its text is one: alone, followed
    /// by more text (its first eight bytes read at once) and at the very
    /// end of the text (read byte by byte), and words one letter off,
    /// joined by `-` or `.`, are not.
    #[test]
    fn a_word_is_told_from_its_text() {
        let ends = [
            "and",
            "or",
            "in",
            "is",
            "satisfies",
            "when",
            "where",
            "because",
            "with",
            "cites",
            "permit",
            "forbid",
            "set",
            "profile",
            "classification",
            "condition",
            "package",
            "use",
            "field",
            "actions",
            "grants",
            "obligations",
            "assert",
        ];
        let want = |w: &str| match w {
            "not" => WordKind::Not,
            _ if ends.contains(&w) => WordKind::Ends,
            _ => WordKind::Other,
        };
        let mut words: Vec<String> = vec!["not".into(), "a".into(), "x".into()];
        for w in ends.iter().chain(&["not"]) {
            words.push((*w).to_string());
            words.push(format!("{w}s"));
            words.push(format!("x{w}"));
            words.push(format!("{w}-x"));
            words.push(format!("{w}.x"));
            words.push(w.get(..w.len() - 1).unwrap_or_default().to_string());
            words.push(w.to_uppercase());
        }
        for w in &words {
            for text in [format!("{w} and more text"), w.clone(), format!("(({w}")] {
                let start = text.find(w.as_str()).unwrap_or_default();
                let got = word_kind(text.as_bytes(), start, start + w.len());
                assert!(got == want(w), "{w:?} in {text:?}");
            }
        }
    }

    /// A word that ends an operand ends its `not`s: `not`s on either side
    /// of an `and` count apart, and past the limit on one side they do not.
    #[test]
    fn a_keyword_ends_the_nots_before_it() {
        let at = At { file: 0, base: 0 };
        let half = "not ".repeat(40);
        for word in ["and", "or", "because", "classification", "satisfies"] {
            let text = format!("{half}x {word} {half}x");
            assert!(too_deep(at, &text).is_none(), "{word}");
        }
        let text = format!("{half}x andx {half}x");
        assert!(too_deep(at, &text).is_some());
        let text = format!("{}x", "not ".repeat(MAX_NESTING as usize + 1));
        assert!(too_deep(at, &text).is_some());
    }
}
