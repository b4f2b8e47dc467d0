//! Source files and spans.
//!
//! Input: policy texts with a display name each. Output: a [`Sources`] map and
//! small `Copy` [`Span`]s into it. Invariant: a span's byte range lies inside
//! its file's text and on UTF-8 boundaries (pest produces only such ranges).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Span {
    /// The file, by index into [`Sources::files`].
    pub file: u32,
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset after the last byte.
    pub end: u32,
}

impl Span {
    /// A span of a file.
    pub fn new(file: u32, start: usize, end: usize) -> Self {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }
    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One policy file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name the program knows the file by, relative to its policy root
    /// (`policies/gdpr.sov`): part of rule locations and so of the policy hash.
    pub name: String,
    /// Where it was read from, as the user named it: for diagnostics only.
    pub path: String,
    /// The file's text.
    pub text: Arc<str>,
    /// Byte offset of the start of each line, for line and column lookups.
    lines: Arc<[u32]>,
    /// Whether a carriage return stands alone (not before a newline).
    lone_cr: bool,
}

impl SourceFile {
    /// The whole lines around bytes `lo..hi`, with `margin` more lines
    /// either side: the byte range and the 0-based number of its first
    /// line. Diagnostics show a few lines of a file; rendering them from
    /// this excerpt, not from the file's start, keeps a file with thousands
    /// of warnings from costing the file's length for each one. `None` for
    /// a file with a lone carriage return, which counts as a line break
    /// where `lines` does not.
    pub fn excerpt(&self, lo: u32, hi: u32, margin: usize) -> Option<(usize, usize, usize)> {
        if self.lone_cr {
            return None;
        }
        let line_of = |at: u32| self.lines.partition_point(|&s| s <= at).saturating_sub(1);
        let first = line_of(lo).saturating_sub(margin);
        let past = line_of(hi).saturating_add(margin + 1);
        let start = self.lines.get(first).copied().unwrap_or(0) as usize;
        let end = self
            .lines
            .get(past)
            .map_or(self.text.len(), |&e| e as usize);
        Some((start, end, first))
    }
}

/// Every policy file of a policy set, in a fixed order (sorted by name).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The files, by index.
    pub files: Vec<SourceFile>,
}

impl Sources {
    /// Adds a file by name (its path is the name); returns its index.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> u32 {
        let name = name.into();
        self.add_file(name.clone(), name, text)
    }

    /// Adds a file known as `name` (root-relative) that was read from `path`.
    pub fn add_file(&mut self, name: String, path: String, text: impl Into<Arc<str>>) -> u32 {
        let text: Arc<str> = text.into();
        let lines = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
        let b = text.as_bytes();
        let lone_cr = b
            .iter()
            .enumerate()
            .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'));
        self.files.push(SourceFile {
            name,
            path,
            text,
            lines,
            lone_cr,
        });
        (self.files.len() - 1) as u32
    }

    /// The file a span is in.
    pub fn file(&self, span: Span) -> Option<&SourceFile> {
        self.files.get(span.file as usize)
    }

    /// The text a span covers ("" when out of range).
    pub fn text(&self, span: Span) -> &str {
        self.file(span)
            .and_then(|f| f.text.get(span.start as usize..span.end as usize))
            .unwrap_or("")
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        self.line_col_near(span, &mut 0)
    }

    /// [`Sources::line_col`], looking first at the line `hint` (0-based)
    /// and the few after it, then setting `hint` to the span's line: the
    /// checker asks for every rule and condition in the order they are
    /// written, so the answer is nearly always there, where a binary search
    /// of the file's lines cost a fifth of each location.
    pub fn line_col_near(&self, span: Span, hint: &mut usize) -> (usize, usize) {
        let Some(f) = self.file(span) else {
            return (0, 0);
        };
        let lines = &f.lines;
        let mut line = None;
        let mut at = *hint;
        if lines.get(at).is_some_and(|&s| s <= span.start) {
            for _ in 0..8 {
                match lines.get(at + 1) {
                    Some(&next) if next <= span.start => at += 1,
                    _ => {
                        line = Some(at + 1);
                        break;
                    }
                }
            }
        }
        let line =
            line.unwrap_or_else(|| lines.partition_point(|&start| start <= span.start).max(1));
        *hint = line - 1;
        let start = lines.get(line - 1).copied().unwrap_or(0) as usize;
        // ASCII (nearly every line) counts a character a byte.
        let col = f.text.get(start..span.start as usize).map_or(0, |l| {
            if l.is_ascii() {
                l.len()
            } else {
                l.chars().count()
            }
        }) + 1;
        (line, col)
    }

    /// `file:line:col` for a span, the file by its root-relative name (as
    /// rule locations in the program give it).
    pub fn location(&self, span: Span) -> String {
        self.location_near(span, &mut 0)
    }

    /// [`Sources::location`], the line found from `hint` as
    /// [`Sources::line_col_near`] finds it.
    pub fn location_near(&self, span: Span, hint: &mut usize) -> String {
        let (line, col) = self.line_col_near(span, hint);
        let name = self.file(span).map_or("<unknown>", |f| f.name.as_str());
        // Written by hand, not by `format!`: the checker asks this for every
        // rule and condition.
        let mut out = String::with_capacity(name.len() + 12);
        out.push_str(name);
        for n in [line, col] {
            out.push(':');
            out.push_str(itoa::Buffer::new().format(n));
        }
        out
    }

    /// `file:line:col` for a span, the file as the user named it (for
    /// diagnostics, so that an editor can open it).
    pub fn path_location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span);
        let path = self.file(span).map_or("<unknown>", |f| f.path.as_str());
        format!("{path}:{line}:{col}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A location found from any hint is the one a binary search finds:
    /// spans in order, backwards, far apart, in another file, on a line's
    /// first byte, after text that is not ASCII, past the last line.
    #[test]
    fn a_location_from_a_hint_is_the_location() {
        let mut src = Sources::default();
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&" ".repeat(i % 7));
            text.push_str(if i % 5 == 0 {
                "caf\u{e9} \u{2003}x = 1\n"
            } else {
                "rule r when x\n"
            });
        }
        src.add("a.sov", text.clone());
        src.add("b.sov", "one\ntwo\n\nthree");
        let plain = |span: Span| {
            let f = src.file(span).unwrap();
            let line = f.lines.partition_point(|&s| s <= span.start).max(1);
            let start = f.lines[line - 1] as usize;
            let col = f.text[start..span.start as usize].chars().count() + 1;
            format!("{}:{line}:{col}", f.name)
        };
        let mut spans: Vec<Span> = (0..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .map(|i| Span::new(0, i, i))
            .collect();
        spans.extend((0..13).map(|i| Span::new(1, i, i)));
        let mut orders = vec![spans.clone()];
        orders.push(spans.iter().rev().copied().collect());
        orders.push(spans.iter().step_by(97).copied().collect());
        orders.push(
            spans
                .iter()
                .step_by(5)
                .chain(spans.iter().step_by(3))
                .copied()
                .collect(),
        );
        for order in orders {
            let mut hint = 0;
            for span in order {
                assert_eq!(src.location_near(span, &mut hint), plain(span), "{span:?}");
                assert_eq!(src.location(span), plain(span), "{span:?}");
            }
        }
        // A hint past the file's lines falls back to the search.
        let mut hint = 10_000;
        assert_eq!(
            src.location_near(Span::new(1, 4, 4), &mut hint),
            "b.sov:2:1"
        );
    }
}
