//! `sovra fmt`: one layout for policy files.
//!
//! Input: a policy file's text, which must parse. Output: the same tokens and
//! comments, laid out one way: declarations at the left margin; `when`,
//! `with`, `because` and `cites` two spaces in; `and`/`or` three, or seven
//! under a `where` (five); a bracket's lines two in from the line that opens
//! it and its closing bracket back there; comments where they were; one
//! space between words and around operators, none inside brackets or
//! around the dots of a path, `a, b` in lists; no trailing spaces, no run of
//! blank lines, one newline at the end. Invariants: only whitespace changes
//! (strings and comments are kept byte for byte), so the file compiles to
//! the same policy hash; and formatting is idempotent.

use crate::diag::Diagnostic;

/// Formats one file; the file's diagnostics when it does not parse.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    // On a thread with room for the parser's recursion (a caller's thread
    // may have 2 MiB).
    match crate::policy::on_compile_stack(|| crate::syntax::parse(0, text).map(drop)) {
        Ok(parsed) => parsed?,
        Err(crate::policy::Stackless::NoThread) => crate::syntax::parse(0, text).map(drop)?,
        Err(crate::policy::Stackless::Panicked) => {
            return Err(vec![Diagnostic::new(
                crate::check::CheckError::CompilerFailed,
                crate::source::Span::new(0, 0, 0),
            )])
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut blank = 0usize;
    let mut in_block = false;
    // Inside a text that spans lines (a `because` or `cites`).
    let mut in_text = false;
    // The indentation of the line each open bracket is on.
    let mut open: Vec<usize> = Vec::new();
    // Inside a rule, after a line that starts `where` (outside brackets):
    // the `and`/`or` lines that follow belong to the grant's condition.
    let mut in_where = false;
    for raw in text.lines() {
        if in_text {
            // A text's later lines as written: its line breaks and the
            // indentation around them read as one space, so they are kept.
            out.push_str(raw.trim_end());
            out.push('\n');
            in_text = !closes_text(raw);
            continue;
        }
        if in_block {
            // Inside a block comment: the line as written.
            out.push_str(raw.trim_end());
            out.push('\n');
            in_block = !raw.contains("*/");
            continue;
        }
        let line = raw.trim();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if blank > 0 && !out.is_empty() {
            out.push('\n');
        }
        blank = 0;
        let (tokens, open_at_end) = tokens(line);
        in_block = open_at_end == Open::Block;
        in_text = open_at_end == Open::Text;
        let first = tokens.first().map_or("", |t| t.text);
        let written = raw.len() - raw.trim_start().len();
        let indent = if first.starts_with("//") || first.starts_with("/*") {
            // Comments stay where they were.
            written
        } else if let Some(&outer) = open.last() {
            // Inside brackets: members two in from the opening line, the
            // closing bracket back at it.
            if matches!(first, ")" | "]" | "}") {
                outer
            } else {
                outer + 2
            }
        } else {
            match first {
                "package" | "use" | "set" | "classification" | "profile" | "condition"
                | "field" | "actions" | "obligations" | "grants" | "permit" | "forbid"
                | "assert" => {
                    in_where = false;
                    0
                }
                "when" | "with" | "because" | "cites" | "never" | "always" | "under" => {
                    in_where = false;
                    2
                }
                "where" => {
                    in_where = true;
                    5
                }
                "and" | "or" if in_where => 7,
                "and" | "or" => 3,
                _ => 4,
            }
        };
        for t in &tokens {
            match t.kind {
                Kind::Open => open.push(indent),
                Kind::Close => {
                    open.pop();
                }
                _ => {}
            }
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(&join(&tokens));
        out.push('\n');
    }
    Ok(out)
}

/// A token of one line and what it is.
struct Token<'a> {
    text: &'a str,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Str,
    Comment,
    Open,
    Close,
    Comma,
    Dot,
    Colon,
    Op,
}

/// What a line ends inside of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    Block,
    Text,
}

/// Whether a text continued from an earlier line ends on this one.
fn closes_text(line: &str) -> bool {
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return true,
            _ => {}
        }
    }
    false
}

/// The tokens of a line, and what it ends inside of.
fn tokens(line: &str) -> (Vec<Token<'_>>, Open) {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let slice = |s: usize, e: usize| line.get(s..e).unwrap_or("");
    while i < b.len() {
        let c = at(i);
        let start = i;
        let kind = match c {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'/' if at(i + 1) == b'/' => {
                i = b.len();
                Kind::Comment
            }
            b'/' if at(i + 1) == b'*' => {
                match line.get(i + 2..).and_then(|r| r.find("*/")) {
                    Some(e) => i += 2 + e + 2,
                    None => {
                        out.push(Token {
                            text: slice(start, b.len()),
                            kind: Kind::Comment,
                        });
                        return (out, Open::Block);
                    }
                }
                Kind::Comment
            }
            b'"' => {
                i += 1;
                while i < b.len() && at(i) != b'"' {
                    i += if at(i) == b'\\' { 2 } else { 1 };
                }
                if i >= b.len() {
                    // A text that goes on on the next line.
                    out.push(Token {
                        text: slice(start, b.len()),
                        kind: Kind::Str,
                    });
                    return (out, Open::Text);
                }
                i += 1;
                Kind::Str
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                Kind::Open
            }
            b')' | b']' | b'}' => {
                i += 1;
                Kind::Close
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b'.' => {
                i += 1;
                Kind::Dot
            }
            b':' => {
                i += 1;
                Kind::Colon
            }
            b'=' | b'!' | b'<' | b'>' => {
                i += if at(i + 1) == b'=' { 2 } else { 1 };
                Kind::Op
            }
            b'+' | b'-' => {
                i += 1;
                Kind::Op
            }
            b'0'..=b'9' => {
                // A number, a duration, or a time (`2026-01-01T00:00:00Z`):
                // a time has no spaces, so it runs to one or a bracket.
                let date = b.len() > i + 4
                    && b.get(i..i + 4)
                        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
                    && at(i + 4) == b'-';
                while i < b.len() {
                    let d = at(i);
                    let more = d.is_ascii_alphanumeric()
                        || d == b'.'
                        || (date && matches!(d, b'-' | b':' | b'+'));
                    if !more {
                        break;
                    }
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                // A name: letters, digits, `_`, and single hyphens between
                // letters (`de-only`), as the grammar reads them.
                i += 1;
                while i < b.len() {
                    let d = at(i);
                    let name_char = d.is_ascii_alphanumeric() || d == b'_' || d >= 0x80;
                    // A subdivision's code may be digits: `FR-75`.
                    let subdivision = i == start + 2
                        && b.get(start..i)
                            .is_some_and(|w| w.iter().all(u8::is_ascii_uppercase))
                        && at(i + 1).is_ascii_digit();
                    let hyphen =
                        d == b'-' && (at(i + 1).is_ascii_alphabetic() || subdivision) && i > start;
                    if !(name_char || hyphen) {
                        break;
                    }
                    i += 1;
                }
                Kind::Word
            }
        };
        out.push(Token {
            text: slice(start, i),
            kind,
        });
    }
    (out, Open::Nothing)
}

/// The tokens of a line joined with the layout's spacing.
fn join(tokens: &[Token<'_>]) -> String {
    let mut s = String::new();
    let mut prev: Option<Kind> = None;
    for t in tokens {
        let space = match (prev, t.kind) {
            (None, _) => false,
            (_, Kind::Comment) => true,
            (Some(Kind::Open | Kind::Dot), _) => false,
            (_, Kind::Close | Kind::Comma | Kind::Dot | Kind::Colon) => false,
            // A call's or a group's opening bracket after a word
            // (`regional(`, `use geo.{`) stays attached; a list after an
            // operator or keyword is spaced.
            (Some(Kind::Word), Kind::Open) => {
                !matches!(t.text, "(" | "{") || is_keyword(s_last_word(&s))
            }
            _ => true,
        };
        if space {
            s.push(' ');
        }
        s.push_str(t.text);
        prev = Some(t.kind);
    }
    s
}

/// The last word written.
fn s_last_word(s: &str) -> &str {
    s.rsplit([' ', '(', '[', '{', '.']).next().unwrap_or("")
}

/// Words after which a bracket opens an expression, not a call.
fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "and" | "or" | "not" | "in" | "when" | "where" | "is" | "satisfies" | "obligations"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_normalised_and_idempotent() {
        let messy = "package   p\n\n\n\nuse geo.{ EEA ,ADEQUATE }\nset  S =[DE,FR]+ EEA\nprofile x = regional( S )\n\n\nforbid  r   // why\n      when action==store\n  and not( target.country in S )and now-90d < 2026-01-01T00:00:00Z\n  because \"a  {target.country}\"\n\n";
        let once = format(messy).unwrap();
        assert_eq!(
            once,
            "package p\n\nuse geo.{EEA, ADEQUATE}\nset S = [DE, FR] + EEA\nprofile x = regional(S)\n\nforbid r // why\n  when action == store\n   and not (target.country in S) and now - 90d < 2026-01-01T00:00:00Z\n  because \"a  {target.country}\"\n"
        );
        assert_eq!(format(&once).unwrap(), once);
    }

    #[test]
    fn a_file_that_does_not_parse_is_not_formatted() {
        assert!(format("package p\nforbid x when action = store\n").is_err());
    }

    #[test]
    fn a_text_over_several_lines_keeps_its_later_lines() {
        let text = "package p\npermit x\n    when action == store\n  because \"one\n           two \\\" three\n\n     four\"   with obligations [a]\n";
        let once = format(text).unwrap();
        assert_eq!(
            once,
            "package p\npermit x\n  when action == store\n  because \"one\n           two \\\" three\n\n     four\"   with obligations [a]\n"
        );
        assert_eq!(format(&once).unwrap(), once);
    }
}
