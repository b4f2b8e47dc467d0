//! What an editor asks of a policy set: the problems in a file, what a name
//! under the cursor is, and where it is declared. `sovra lsp` answers the
//! language server protocol with these.
//!
//! Input: the policy set's [`Sources`] (the open file among them) and a byte
//! offset in one file. Output: diagnostics, hover text, a declaration's
//! span. Invariant: it never panics on text an editor holds mid-edit; a set
//! that does not parse still gets its diagnostics, and hover and definition
//! answer from the files that parse.

use crate::diag::Diagnostic;
use crate::source::{Sources, Span};
use crate::syntax::{self, Item};

/// Every error and warning of the policy set.
pub fn diagnostics(sources: &Sources) -> Vec<Diagnostic> {
    let checked = crate::policy::compile_all(sources);
    let mut all = checked.errors;
    all.extend(checked.warnings);
    all
}

/// A declaration: what it is, its name, where, and what to show.
struct Decl {
    name: String,
    span: Span,
    hover: String,
}

/// The declarations of every file that parses (parsed on a thread with room
/// for the parser's recursion).
fn declarations(sources: &Sources) -> Vec<Decl> {
    use crate::policy::{on_compile_stack, Stackless};
    match on_compile_stack(|| declarations_here(sources)) {
        Ok(d) => d,
        Err(Stackless::NoThread) => declarations_here(sources),
        Err(Stackless::Panicked) => Vec::new(),
    }
}

fn declarations_here(sources: &Sources) -> Vec<Decl> {
    let mut out = Vec::new();
    for (i, f) in sources.files.iter().enumerate() {
        let Ok(file) = syntax::parse(i as u32, &f.text) else {
            continue;
        };
        let package = file.package.name.clone();
        for item in &file.items {
            let (name, span, what) = match item {
                Item::Set { name, value } => (
                    name,
                    name.span,
                    format!(
                        "set `{package}.{}` = {}",
                        name.name,
                        sources.text(value.span())
                    ),
                ),
                Item::Field { path, ty, list } => {
                    let Some(last) = path.last() else { continue };
                    let names: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
                    let ty = if *list {
                        format!("[{}]", ty.name)
                    } else {
                        ty.name.clone()
                    };
                    (
                        last,
                        last.span,
                        format!("field `{}`: {ty}", names.join(".")),
                    )
                }
                Item::Actions(_)
                | Item::Obligations(_)
                | Item::GrantBound { .. }
                | Item::ApproverRole { .. } => continue,
                Item::Condition(c) => {
                    let params: Vec<&str> = c.params.iter().map(|p| p.name.as_str()).collect();
                    let params = if params.is_empty() {
                        String::new()
                    } else {
                        format!("({})", params.join(", "))
                    };
                    (
                        &c.name,
                        c.name.span,
                        format!(
                            "condition `{package}.{}{params}` = {}",
                            c.name.name,
                            sources.text(c.body.span())
                        ),
                    )
                }
                Item::Classification { name, sensitivity } => (
                    name,
                    name.span,
                    format!(
                        "classification `{}`, sensitivity {}",
                        name.name, sensitivity.name
                    ),
                ),
                Item::Profile { name, mode } => {
                    let set = |s: &syntax::SetExpr| sources.text(s.span()).to_string();
                    let m = match mode {
                        syntax::Mode::SingleCountry(c) => format!("single_country({})", c.name),
                        syntax::Mode::Regional(s) => format!("regional({})", set(s)),
                        syntax::Mode::Sovereign(c) => format!("sovereign({})", c.name),
                        syntax::Mode::Hybrid { primary, secondary } => format!(
                            "hybrid(primary: {}, secondary: {})",
                            set(primary),
                            set(secondary)
                        ),
                        syntax::Mode::ClientOwned => "client_owned".into(),
                        syntax::Mode::Unrestricted => "unrestricted".into(),
                    };
                    (
                        name,
                        name.span,
                        format!("residency profile `{}` = {m}", name.name),
                    )
                }
                Item::Assert(a) => (
                    &a.name,
                    a.name.span,
                    format!(
                        "assertion `{package}.{}`: {} allow{} when {}",
                        a.name.name,
                        if a.always { "always" } else { "never" },
                        if a.any_grants {
                            " under any grants"
                        } else {
                            ""
                        },
                        sources.text(a.cond.span())
                    ),
                ),
                Item::Rule(r) => {
                    let mut h = format!("{} `{package}.{}`", r.effect.as_str(), r.name.name);
                    if let Some(b) = &r.because {
                        let text: String = b
                            .parts
                            .iter()
                            .map(|p| match p {
                                syntax::MessagePart::Text(t) => t.clone(),
                                syntax::MessagePart::Hole(segs, _) => format!(
                                    "{{{}}}",
                                    segs.iter()
                                        .map(|s| s.name.as_str())
                                        .collect::<Vec<_>>()
                                        .join(".")
                                ),
                            })
                            .collect();
                        h.push_str(&format!("\n\nbecause \"{text}\""));
                    }
                    if let Some(c) = &r.cites {
                        h.push_str(&format!("\n\ncites \"{c}\""));
                    }
                    (&r.name, r.name.span, h)
                }
            };
            out.push(Decl {
                name: name.name.clone(),
                span,
                hover: what,
            });
        }
    }
    out
}

/// The name at a byte offset of a file (letters, digits, `_`, `-`) and its
/// span.
fn word_at(sources: &Sources, file: u32, offset: usize) -> Option<(String, Span)> {
    let text = &sources.files.get(file as usize)?.text;
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let before = text.get(..offset)?;
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let after = text.get(offset..)?;
    let end = offset
        + after
            .char_indices()
            .find(|(_, c)| !is_word(*c))
            .map_or(after.len(), |(i, _)| i);
    let word = text.get(start..end)?;
    (!word.is_empty()).then(|| (word.to_string(), Span::new(file, start, end)))
}

/// What the name under the cursor is: a set's members, a profile's mode, a
/// classification's sensitivity, a rule's `because` and `cites`.
pub fn hover(sources: &Sources, file: u32, offset: usize) -> Option<(String, Span)> {
    let (word, span) = word_at(sources, file, offset)?;
    let d = declarations(sources).into_iter().find(|d| d.name == word)?;
    let mut text = d.hover;
    // A set's members, resolved (`EU + [IS, LI, NO]` is 30 countries), when
    // the policy set compiles.
    if let Some(qualified) = text
        .strip_prefix("set `")
        .and_then(|r| r.split('`').next())
        .map(str::to_string)
    {
        if let Ok(p) = crate::policy::compile(sources) {
            if let Some(s) = p.sets.iter().find(|s| s.name == qualified) {
                text.push_str(&format!("\n\nmembers: {}", p.render_set(&s.value)));
            }
        }
    }
    Some((text, span))
}

/// Where the name under the cursor (a set, profile, classification or
/// rule, also as imported) is declared.
pub fn definition(sources: &Sources, file: u32, offset: usize) -> Option<Span> {
    let (word, _) = word_at(sources, file, offset)?;
    let decls = declarations(sources);
    // A name declared in this file first, then anywhere.
    decls
        .iter()
        .find(|d| d.name == word && d.span.file == file)
        .or_else(|| decls.iter().find(|d| d.name == word))
        .map(|d| d.span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Sources {
        let mut s = Sources::default();
        s.add("geo.sov", "package geo\nset NORDICS = [DK, FI, NO, SE]\n");
        s.add(
            "p.sov",
            "package p\nuse geo.{NORDICS}\nclassification payroll sensitivity high\nforbid north\n  when target.country in NORDICS\n  because \"not in the north\"\n  cites \"contract 7\"\n",
        );
        s
    }

    #[test]
    fn hover_and_definition_answer_for_names_declared_anywhere() {
        let s = set();
        let text = s.files[1].text.to_string();
        let at = text.rfind("NORDICS").unwrap() + 2;
        let (h, _) = hover(&s, 1, at).unwrap();
        assert_eq!(
            h,
            "set `geo.NORDICS` = [DK, FI, NO, SE]\n\nmembers: countries [DK FI NO SE]"
        );
        let d = definition(&s, 1, at).unwrap();
        assert_eq!((d.file, s.text(d)), (0, "NORDICS"));
        let at = text.find("payroll").unwrap();
        assert_eq!(
            hover(&s, 1, at).unwrap().0,
            "classification `payroll`, sensitivity high"
        );
        let at = text.find("north").unwrap();
        let (h, _) = hover(&s, 1, at).unwrap();
        assert!(h.contains("because \"not in the north\"") && h.contains("cites \"contract 7\""));
        assert!(hover(&s, 1, text.find("target").unwrap()).is_none());
        assert!(
            hover(&s, 1, 100_000).is_none(),
            "an offset past the end is nothing"
        );
    }
}
