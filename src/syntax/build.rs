//! From pest pairs to typed nodes: one small function per grammar rule, so
//! no `Pair` leaves the syntax module. A shape the grammar cannot produce is
//! an internal error ([`Expr::Unexpected`]), never a plausible value.

use super::*;

/// Where a parsed piece of text lies: its file, and the byte offset of the
/// piece in that file (files are parsed in pieces on several cores).
#[derive(Clone, Copy)]
pub(super) struct At {
    pub(super) file: u32,
    pub(super) base: usize,
}

/// The span of a pair's text, without the white space and comments pest
/// may leave at its end (when an optional part after them did not match),
/// so that a condition's text never carries the comment after it.
fn span(at: At, p: &P) -> Span {
    let s = p.as_span();
    Span::new(at.file, at.base + s.start(), at.base + end(p))
}

/// Where a pair's text ends, trailing trivia left out.
fn end(p: &P) -> usize {
    let s = p.as_span();
    let text = s.get_input().as_bytes();
    let raw = s.end();
    let may_trail = raw == text.len()
        || raw
            .checked_sub(1)
            .and_then(|i| text.get(i))
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/');
    if !may_trail {
        return raw;
    }
    let Some(last) = p.clone().into_inner().next_back() else {
        return raw;
    };
    // After the last child: trivia and literal tokens (`)`, `]`), never a
    // string; keep up to the last literal.
    let mut i = end(&last);
    let mut kept = i;
    while i < raw {
        match (text.get(i), text.get(i + 1)) {
            (Some(b'/'), Some(b'/')) => {
                while i < raw && text.get(i) != Some(&b'\n') {
                    i += 1;
                }
            }
            (Some(b'/'), Some(b'*')) => {
                i += 2;
                while i < raw && !(text.get(i) == Some(&b'*') && text.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            (Some(b), _) if b.is_ascii_whitespace() => i += 1,
            _ => {
                i += 1;
                kept = i;
            }
        }
    }
    kept.min(raw)
}

fn ident(at: At, p: P) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span(at, &p),
    }
}

pub(super) fn build_file(f: At, file: P) -> File {
    let mut package = Ident {
        name: String::new(),
        span: Span::default(),
    };
    let mut uses = Vec::new();
    let mut items = Vec::new();
    for p in file.into_inner() {
        match p.as_rule() {
            Rule::package_decl => {
                if let Some(n) = p.into_inner().next() {
                    package = ident(f, n);
                }
            }
            Rule::use_decl => uses.extend(p.into_inner().next().map(|u| build_use(f, u))),
            Rule::set_decl => {
                let mut it = p.into_inner();
                if let (Some(n), Some(v)) = (it.next(), it.next()) {
                    items.push(Item::Set {
                        name: ident(f, n),
                        value: build_set(f, v),
                    });
                }
            }
            Rule::class_decl => {
                let mut it = p.into_inner();
                if let (Some(n), Some(s)) = (it.next(), it.next()) {
                    items.push(Item::Classification {
                        name: ident(f, n),
                        sensitivity: ident(f, s),
                    });
                }
            }
            Rule::profile_decl => {
                let mut it = p.into_inner();
                if let (Some(n), Some(m)) = (it.next(), it.next()) {
                    items.push(Item::Profile {
                        name: ident(f, n),
                        mode: build_mode(f, m),
                    });
                }
            }
            Rule::rule_decl => items.push(Item::Rule(build_rule(f, p))),
            Rule::assert_decl => {
                let sp = span(f, &p);
                let mut name = None;
                let (mut always, mut any_grants, mut cond) = (false, false, None);
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::ident => name = Some(ident(f, q)),
                        Rule::assert_kind => always = q.as_str() == "always",
                        Rule::any_grants => any_grants = true,
                        _ => cond = Some(build_expr(f, q)),
                    }
                }
                if let Some(name) = name {
                    items.push(Item::Assert(AssertDecl {
                        name,
                        always,
                        any_grants,
                        cond: cond.unwrap_or(Expr::Unexpected("an assertion's condition", sp)),
                        span: sp,
                    }));
                }
            }
            Rule::field_decl => {
                let mut path = Vec::new();
                let mut ty = None;
                let mut list = false;
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::field_path => path = q.into_inner().map(|i| ident(f, i)).collect(),
                        _ => {
                            list = q.as_str().trim_start().starts_with('[');
                            ty = q
                                .into_inner()
                                .next()
                                .and_then(|w| w.into_inner().next())
                                .map(|i| ident(f, i));
                        }
                    }
                }
                if let Some(ty) = ty {
                    items.push(Item::Field { path, ty, list });
                }
            }
            Rule::grants_decl => {
                let mut class = None;
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::ident => class = Some(ident(f, q)),
                        Rule::grants_last => {
                            let seconds = match q.into_inner().next().map(|d| build_expr(f, d)) {
                                Some(Expr::Lit(Lit::Duration(d), _)) => d,
                                _ => 0,
                            };
                            items.push(Item::GrantBound {
                                class: class.clone(),
                                seconds,
                            });
                        }
                        Rule::grants_role => {
                            if let Some(role) = q.into_inner().next() {
                                items.push(Item::ApproverRole {
                                    class: class.clone(),
                                    role: ident(f, role),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            Rule::actions_decl => {
                items.push(Item::Actions(p.into_inner().map(|i| ident(f, i)).collect()))
            }
            Rule::obligations_decl => items.push(Item::Obligations(
                p.into_inner().map(|i| ident(f, i)).collect(),
            )),
            Rule::condition_decl => {
                let sp = span(f, &p);
                let mut name = None;
                let mut params = Vec::new();
                let mut body = None;
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::ident => name = Some(ident(f, q)),
                        Rule::cond_params => params = q.into_inner().map(|i| ident(f, i)).collect(),
                        _ => body = Some(build_expr(f, q)),
                    }
                }
                if let Some(name) = name {
                    items.push(Item::Condition(ConditionDecl {
                        name,
                        params,
                        body: body.unwrap_or(Expr::Unexpected("a condition's body", sp)),
                    }));
                }
            }
            _ => {}
        }
    }
    File {
        package,
        uses,
        items,
    }
}

fn build_use(f: At, p: P) -> Use {
    let mut package = Ident {
        name: String::new(),
        span: Span::default(),
    };
    let mut names = Vec::new();
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::use_pkg => package = ident(f, q),
            Rule::use_group => names.extend(q.into_inner().map(|n| ident(f, n))),
            Rule::ident => names.push(ident(f, q)),
            _ => {}
        }
    }
    Use { package, names }
}

fn build_set(f: At, p: P) -> SetExpr {
    if p.as_rule() != Rule::set_expr {
        return build_set_term(f, p);
    }
    let mut it = p.into_inner();
    let mut acc = match it.next() {
        Some(t) => build_set_term(f, t),
        None => SetExpr::List(Vec::new(), Span::default()),
    };
    while let (Some(op), Some(t)) = (it.next(), it.next()) {
        let rhs = build_set_term(f, t);
        acc = if op.as_str() == "+" {
            SetExpr::Union(Box::new(acc), Box::new(rhs))
        } else {
            SetExpr::Difference(Box::new(acc), Box::new(rhs))
        };
    }
    acc
}

fn build_set_term(f: At, p: P) -> SetExpr {
    match p.as_rule() {
        Rule::list => {
            let sp = span(f, &p);
            SetExpr::List(p.into_inner().map(|e| build_expr(f, e)).collect(), sp)
        }
        Rule::ident => SetExpr::Name(ident(f, p)),
        _ => build_set(f, p),
    }
}

fn build_mode(f: At, p: P) -> Mode {
    let rule = p.as_rule();
    let sp = span(f, &p);
    let mut it = p.into_inner();
    let mut next_set = || {
        it.next()
            .map_or(SetExpr::List(Vec::new(), sp), |q| build_set(f, q))
    };
    match rule {
        Rule::single_mode | Rule::sovereign_mode => {
            let c = match next_set() {
                SetExpr::Name(c) => c,
                _ => Ident {
                    name: String::new(),
                    span: sp,
                },
            };
            if rule == Rule::single_mode {
                Mode::SingleCountry(c)
            } else {
                Mode::Sovereign(c)
            }
        }
        Rule::regional_mode => Mode::Regional(next_set()),
        Rule::hybrid_mode => {
            let primary = next_set();
            let secondary = next_set();
            Mode::Hybrid { primary, secondary }
        }
        Rule::client_mode => Mode::ClientOwned,
        _ => Mode::Unrestricted,
    }
}

fn build_rule(f: At, p: P) -> RuleDecl {
    let sp = span(f, &p);
    let mut rule = RuleDecl {
        effect: Effect::Permit,
        name: Ident {
            name: String::new(),
            span: sp,
        },
        when: None,
        obligations: Vec::new(),
        because: None,
        cites: None,
        repeated: Vec::new(),
        span: sp,
    };
    let mut seen: Vec<Rule> = Vec::new();
    for q in p.into_inner() {
        let r = q.as_rule();
        if matches!(r, Rule::obligations | Rule::because | Rule::cites) {
            if seen.contains(&r) {
                let word = match r {
                    Rule::obligations => "with obligations",
                    Rule::because => "because",
                    _ => "cites",
                };
                rule.repeated.push((word, span(f, &q)));
                continue;
            }
            seen.push(r);
        }
        match q.as_rule() {
            Rule::effect => {
                rule.effect = if q.as_str() == "forbid" {
                    Effect::Forbid
                } else {
                    Effect::Permit
                }
            }
            Rule::ident => rule.name = ident(f, q),
            Rule::when_clause => rule.when = q.into_inner().next().map(|e| build_expr(f, e)),
            Rule::obligations => rule.obligations = q.into_inner().map(|o| ident(f, o)).collect(),
            Rule::because => rule.because = q.into_inner().next().map(|s| build_message(f, s)),
            Rule::cites => {
                rule.cites = q
                    .into_inner()
                    .next()
                    .and_then(|s| s.into_inner().next())
                    .map(|i| cites(i.as_str()))
            }
            _ => {}
        }
    }
    rule
}

fn build_message(f: At, p: P) -> Message {
    let sp = span(f, &p);
    let inner = p.into_inner().next();
    let (raw, base) = inner.map_or(("", sp.start as usize + 1), |i| {
        (i.as_str(), f.base + i.as_span().start())
    });
    message(f, raw, base)
}

/// A `because` text's pieces and holes; `raw` is the text between the
/// quotes, `base` its offset in the file.
pub(super) fn message(f: At, raw: &str, base: usize) -> Message {
    let mut parts = Vec::new();
    let mut text = String::new();
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // A run of plain characters is copied whole (every character a
        // `push` was a twentieth of parsing the bench's policy); what ends
        // it is ASCII, so it ends on a character boundary.
        let rest = b.get(i..).unwrap_or_default();
        let run = rest
            .iter()
            .position(|c| matches!(c, b'\\' | b'{' | b'\n' | b'\r'))
            .map_or(b.len(), |n| i + n);
        text.push_str(raw.get(i..run).unwrap_or_default());
        i = run;
        match b.get(i) {
            None => break,
            Some(b'\\') => {
                i += 1;
                if let Some(e) = raw.get(i..).and_then(|r| r.chars().next()) {
                    text.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                    i += e.len_utf8();
                }
            }
            Some(b'{') => {
                let start = i + 1;
                let end = b
                    .get(start..)
                    .and_then(|r| r.iter().position(|&d| d == b'}'))
                    .map_or(b.len(), |n| start + n);
                i = end + 1;
                if !text.is_empty() {
                    parts.push(MessagePart::Text(std::mem::take(&mut text)));
                }
                parts.push(hole(f, raw, start, end, base));
            }
            // A line break and the indentation around it read as one space.
            Some(_) => {
                text.truncate(text.trim_end_matches([' ', '\t']).len());
                let rest = raw.get(i..).unwrap_or_default();
                i += rest.len() - rest.trim_start().len();
                text.push(' ');
            }
        }
    }
    if !text.is_empty() {
        parts.push(MessagePart::Text(text));
    }
    Message { parts }
}

/// The hole `{path}` of a message, its path at `raw[start..end]`, each
/// name with its own span (`base` is where `raw` starts in the file).
fn hole(f: At, raw: &str, start: usize, end: usize, base: usize) -> MessagePart {
    let path = raw.get(start..end).unwrap_or_default();
    let mut off = base + start;
    let mut segs = Vec::new();
    for seg in path.split('.') {
        let lead = seg.len() - seg.trim_start().len();
        let name = seg.trim();
        segs.push(Ident {
            name: name.to_string(),
            span: Span::new(f.file, off + lead, off + lead + name.len()),
        });
        off += seg.len() + 1;
    }
    MessagePart::Hole(segs, Span::new(f.file, base + start, base + end))
}

/// A `cites` text (between the quotes) as the rule keeps it.
pub(super) fn cites(raw: &str) -> String {
    unescape(&join_lines(raw))
}

/// A text's line breaks, with the white space around each, as one space.
fn join_lines(s: &str) -> String {
    if !s.contains('\n') {
        return s.to_string();
    }
    let last = s.split('\n').count() - 1;
    let lines: Vec<&str> = s
        .split('\n')
        .enumerate()
        .map(|(i, l)| {
            let l = if i > 0 { l.trim_start() } else { l };
            if i < last {
                l.trim_end()
            } else {
                l
            }
        })
        .collect();
    lines.join(" ")
}

pub(super) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn fold<F>(f: At, p: P, mk: F) -> Expr
where
    F: Fn(Vec<Expr>, Span) -> Expr,
{
    let sp = span(f, &p);
    let parts: Vec<Expr> = p
        .into_inner()
        .filter(|q| !matches!(q.as_rule(), Rule::or_op | Rule::and_op))
        .map(|q| build_expr(f, q))
        .collect();
    if parts.len() == 1 {
        parts
            .into_iter()
            .next()
            .unwrap_or(Expr::Unexpected("an operand of `and` or `or`", sp))
    } else {
        mk(parts, sp)
    }
}

fn build_expr(f: At, p: P) -> Expr {
    let sp = span(f, &p);
    match p.as_rule() {
        Rule::expr => fold(f, p, Expr::Or),
        Rule::and_expr => fold(f, p, Expr::And),
        Rule::not_expr => {
            let mut it = p.into_inner();
            match it.next() {
                Some(q) if q.as_rule() == Rule::not_op => {
                    let inner = it
                        .next()
                        .map_or(Expr::Unexpected("the operand of `not`", sp), |e| {
                            build_expr(f, e)
                        });
                    Expr::Not(Box::new(inner), sp)
                }
                Some(q) => build_expr(f, q),
                None => Expr::Unexpected("a condition", sp),
            }
        }
        Rule::exists => {
            let mut it = p.into_inner();
            let var = it.next().map_or(
                Ident {
                    name: String::new(),
                    span: sp,
                },
                |v| ident(f, v),
            );
            let cond = it.next().map(|c| Box::new(build_expr(f, c)));
            Expr::Exists {
                var,
                cond,
                span: sp,
            }
        }
        Rule::comparison => {
            let mut it = p.into_inner();
            let lhs = it
                .next()
                .map_or(Expr::Unexpected("the left side of a comparison", sp), |e| {
                    build_expr(f, e)
                });
            match it.next() {
                None => lhs,
                Some(q) if q.as_rule() == Rule::is_test => {
                    let mut negated = false;
                    let mut what = IsWhat::Present;
                    for r in q.into_inner() {
                        match r.as_rule() {
                            Rule::not_op => negated = true,
                            _ => {
                                what = match r.as_str() {
                                    "declared" => IsWhat::Declared,
                                    "missing" => IsWhat::Missing,
                                    "present" => IsWhat::Present,
                                    _ => return Expr::Unexpected("an `is` test", sp),
                                }
                            }
                        }
                    }
                    Expr::Is {
                        expr: Box::new(lhs),
                        negated,
                        what,
                        span: sp,
                    }
                }
                Some(op) => {
                    let op = match op.as_str() {
                        "==" => CmpOp::Eq,
                        "!=" => CmpOp::Ne,
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        ">=" => CmpOp::Ge,
                        "in" => CmpOp::In,
                        "satisfies" => CmpOp::Satisfies,
                        "starts_with" => CmpOp::StartsWith,
                        "ends_with" => CmpOp::EndsWith,
                        "matches" => CmpOp::Matches,
                        s if s.split_whitespace().eq(["not", "in"]) => CmpOp::NotIn,
                        s if s.split_whitespace().eq(["any", "in"]) => CmpOp::AnyIn,
                        s if s.split_whitespace().eq(["all", "in"]) => CmpOp::AllIn,
                        s if s.split_whitespace().eq(["none", "in"]) => CmpOp::NoneIn,
                        _ => return Expr::Unexpected("a comparison operator", sp),
                    };
                    let rhs = it.next().map_or(
                        Expr::Unexpected("the right side of a comparison", sp),
                        |e| build_expr(f, e),
                    );
                    Expr::Cmp {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                        span: sp,
                    }
                }
            }
        }
        Rule::sum => {
            let mut it = p.into_inner();
            let mut acc = it
                .next()
                .map_or(Expr::Unexpected("an operand of `+` or `-`", sp), |e| {
                    build_expr(f, e)
                });
            while let (Some(op), Some(t)) = (it.next(), it.next()) {
                let rhs = build_expr(f, t);
                let s = acc.span().to(rhs.span());
                let op = if op.as_str() == "+" {
                    AddOp::Add
                } else {
                    AddOp::Sub
                };
                acc = Expr::Arith {
                    op,
                    lhs: Box::new(acc),
                    rhs: Box::new(rhs),
                    span: s,
                };
            }
            acc
        }
        Rule::path => Expr::Path(p.into_inner().map(|i| ident(f, i)).collect(), sp),
        Rule::call => {
            let mut it = p.into_inner();
            let Some(name) = it.next() else {
                return Expr::Unexpected("a call's name", sp);
            };
            let name = ident(f, name);
            let args = it
                .map(|a| {
                    let mut parts = a.into_inner().collect::<Vec<_>>();
                    let value = parts
                        .pop()
                        .map_or(Expr::Unexpected("an argument", sp), |e| build_expr(f, e));
                    let label = parts
                        .pop()
                        .and_then(|l| l.into_inner().next())
                        .map(|l| ident(f, l));
                    (label, value)
                })
                .collect();
            Expr::Call {
                name,
                args,
                span: sp,
            }
        }
        Rule::list => Expr::List(p.into_inner().map(|e| build_expr(f, e)).collect(), sp),
        Rule::boolean => Expr::Lit(Lit::Bool(p.as_str() == "true"), sp),
        Rule::subdivision => Expr::Lit(Lit::Subdivision(p.as_str().to_string()), sp),
        Rule::number => Expr::Lit(number(p.as_str()), sp),
        Rule::string => {
            let raw = p.into_inner().next().map_or("", |i| i.as_str());
            Expr::Lit(Lit::Str(unescape(raw)), sp)
        }
        Rule::duration => match duration(p.as_str()) {
            Some(d) => Expr::Lit(Lit::Duration(d), sp),
            None => Expr::Unexpected("a duration's unit", sp),
        },
        Rule::time => Expr::Lit(time(p.as_str()), sp),
        _ => Expr::Unexpected("an expression", sp),
    }
}

/// A number as written (`-2.5`).
pub(super) fn number(s: &str) -> Lit {
    Lit::Number(s.parse().unwrap_or(f64::NAN))
}

/// A duration as written (`90d`), in seconds; `None` for an unknown unit.
pub(super) fn duration(s: &str) -> Option<i64> {
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().unwrap_or(i64::MAX);
    Some(n.saturating_mul(crate::vocab::duration_unit(unit)?))
}

/// A time as written, or the text of one that is not a time.
pub(super) fn time(s: &str) -> Lit {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => Lit::Time(t.with_timezone(&chrono::Utc)),
        Err(_) => Lit::InvalidTime(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader that copies runs, against the one it replaced (a
    /// character at a time), on drawn messages of escapes, holes (closed,
    /// open, dotted, padded), line breaks with indentation and characters
    /// that are not ASCII.
    #[test]
    fn a_message_reads_as_it_did_a_character_at_a_time() {
        let at = At { file: 0, base: 0 };
        let alphabet = [
            "a", "b", " ", "\t", "\n", "\r", "\\", "n", "t", "{", "}", ".", "\u{e9}", "\u{2003}",
            "x.y",
        ];
        let mut rng = crate::gen::Rng::new(2);
        for _ in 0..100_000 {
            let len = rng.below(24);
            let raw: String = (0..len).map(|_| *rng.pick(&alphabet)).collect();
            let want = format!("{:?}", message_by_chars(at, &raw, 7));
            assert_eq!(format!("{:?}", message(at, &raw, 7)), want, "{raw:?}");
        }
    }

    fn message_by_chars(f: At, raw: &str, base: usize) -> Message {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        text.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                }
                '{' => {
                    let start = i + 1;
                    let mut end = start;
                    for (j, d) in chars.by_ref() {
                        if d == '}' {
                            end = j;
                            break;
                        }
                        end = j + d.len_utf8();
                    }
                    if !text.is_empty() {
                        parts.push(MessagePart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(hole(f, raw, start, end, base));
                }
                // A line break and the indentation around it read as one space.
                '\n' | '\r' => {
                    text.truncate(text.trim_end_matches([' ', '\t']).len());
                    while chars.next_if(|(_, d)| d.is_whitespace()).is_some() {}
                    text.push(' ');
                }
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            parts.push(MessagePart::Text(text));
        }
        Message { parts }
    }
}
