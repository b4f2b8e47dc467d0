//! The hand-written parser: a policy file read straight into typed nodes,
//! without pest's pairs (issue 15, point 4: pest's machinery and the
//! building of nodes from its pairs were two thirds of compiling 10,000
//! rules).
//!
//! It follows `grammar/sovra.pest` rule by rule and builds exactly the nodes,
//! spans included, that [`build`](super::build) builds from pest's pairs.
//! It accepts a subset of the grammar's language: wherever it is not sure
//! (a syntax error, or an alternative that pest could leave and try the next
//! one), it declines with `None`, and pest parses the piece. So pest stays
//! the grammar's definition and the source of every syntax error; this
//! parser is only a faster road to the same tree. Held to pest by
//! [`agree`]: unit tests over the bundled library, the case files, the
//! fuzz corpus and generated text, and the fuzz target `policy`.
//!
//! Conventions: every function starts at a token (trivia skipped) and
//! leaves `pos` at the next token (trivia after its last token skipped) and
//! `end` after its last token, which is where pest's pair for it ends once
//! [`build`](super::build) trims the trivia.

use super::build::{self, At};
use super::*;

/// The file (or, when `!first`, a later piece of one: declarations only) as
/// pest and [`build`](super::build) would give it, or `None` where this
/// parser declines.
pub(super) fn parse(at: At, text: &str, first: bool) -> Option<File> {
    let mut h = Hand {
        at,
        text,
        b: text.as_bytes(),
        pos: 0,
        end: 0,
    };
    h.skip();
    h.file(first)
}

/// Words that may not start a path (pest's `keyword` and `item_word`).
fn reserved(word: &[u8]) -> bool {
    matches!(
        word,
        b"and"
            | b"or"
            | b"not"
            | b"in"
            | b"is"
            | b"when"
            | b"with"
            | b"where"
            | b"because"
            | b"exists"
            | b"satisfies"
            | b"starts_with"
            | b"true"
            | b"false"
            | b"matches"
            | b"ends_with"
            | b"permit"
            | b"profile"
            | b"package"
            | b"forbid"
            | b"field"
            | b"set"
            | b"classification"
            | b"condition"
            | b"use"
            | b"actions"
            | b"assert"
            | b"obligations"
            | b"grants"
    )
}

/// Whether `r` starts with `w`, compared in line (the words are short: a
/// `memcmp` call for each cost more than the comparison).
fn starts(r: &[u8], w: &[u8]) -> bool {
    r.len() >= w.len() && r.iter().zip(w).all(|(a, b)| a == b)
}

/// A letter, digit or `_`: what a name is made of. Looked up in a table
/// of the 256 bytes (the parser asks it of every byte of every name; the
/// three range tests were a fiftieth of compiling 10,000 rules).
#[allow(
    clippy::indexing_slicing,
    reason = "a byte indexes a table of 256 entries: never out of range"
)]
pub(super) const fn ident_char(c: u8) -> bool {
    IDENT[c as usize]
}

/// [`ident_char`] of each byte.
const IDENT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0u8;
    loop {
        #[allow(
            clippy::indexing_slicing,
            reason = "const evaluation: an index out of range fails the build"
        )]
        {
            t[c as usize] = c.is_ascii_alphanumeric() || c == b'_';
        }
        if c == u8::MAX {
            break t;
        }
        c += 1;
    }
};

struct Hand<'t> {
    at: At,
    text: &'t str,
    b: &'t [u8],
    /// The next byte to read.
    pos: usize,
    /// After the last token read.
    end: usize,
}

impl<'t> Hand<'t> {
    /// The byte at `i`, 0 past the end (0 is never part of a token).
    fn byte(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn peek(&self) -> u8 {
        self.byte(self.pos)
    }

    fn rest(&self) -> &[u8] {
        self.b.get(self.pos..).unwrap_or_default()
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.at.file, self.at.base + start, self.at.base + end)
    }

    fn str(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn ident_at(&self, start: usize, end: usize) -> Ident {
        Ident {
            name: self.str(start, end).to_string(),
            span: self.span(start, end),
        }
    }

    /// Pest's implicit `(WHITESPACE | COMMENT)*`. An unclosed block comment
    /// is left in place: the next token fails on it and the parser declines.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' if self.byte(self.pos + 1) == b'/' => {
                    let rest = self.rest();
                    self.pos += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
                }
                b'/' if self.byte(self.pos + 1) == b'*' => {
                    let body = self.text.get(self.pos + 2..).unwrap_or_default();
                    match body.find("*/") {
                        Some(i) => self.pos += 2 + i + 2,
                        None => return,
                    }
                }
                _ => return,
            }
        }
    }

    /// Reads up to `end` as one token.
    fn token(&mut self, end: usize) {
        self.pos = end;
        self.end = end;
        self.skip();
    }

    /// A literal, as pest matches one: its bytes, with no word boundary.
    fn lit(&mut self, w: &[u8]) -> bool {
        let ok = starts(self.rest(), w);
        if ok {
            self.token(self.pos + w.len());
        }
        ok
    }

    fn expect(&mut self, w: &[u8]) -> Option<()> {
        self.lit(w).then_some(())
    }

    /// A keyword operator: the word, then no name character (`@{ "and" ~
    /// !ident_char }`).
    fn word(&mut self, w: &[u8]) -> bool {
        let ok = starts(self.rest(), w) && !ident_char(self.byte(self.pos + w.len()));
        if ok {
            self.token(self.pos + w.len());
        }
        ok
    }

    /// Where an `ident` starting at `i` ends.
    fn ident_end(&self, i: usize) -> Option<usize> {
        let c = self.byte(i);
        if !(c.is_ascii_alphabetic() || c == b'_') {
            return None;
        }
        let mut j = i + 1;
        loop {
            let c = self.byte(j);
            if ident_char(c) {
                j += 1;
            } else if c == b'-' && self.byte(j + 1).is_ascii_alphabetic() {
                j += 2;
            } else {
                return Some(j);
            }
        }
    }

    /// Where a `name_word` (no hyphens) starting at `i` ends.
    fn name_word_end(&self, i: usize) -> Option<usize> {
        let c = self.byte(i);
        if !(c.is_ascii_alphabetic() || c == b'_') {
            return None;
        }
        let mut j = i + 1;
        while ident_char(self.byte(j)) {
            j += 1;
        }
        Some(j)
    }

    /// Where a `root_ident` starting at `i` ends: an ident whose run of name
    /// characters is not a reserved word.
    fn root_ident_end(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while ident_char(self.byte(j)) {
            j += 1;
        }
        if reserved(self.b.get(i..j).unwrap_or_default()) {
            return None;
        }
        self.ident_end(i)
    }

    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        let end = self.ident_end(start)?;
        let id = self.ident_at(start, end);
        self.token(end);
        Some(id)
    }

    /// `(item ("," item)* ","?)? close`, the opening bracket already read:
    /// the grammar's shape of every list (names, values, arguments).
    fn until<T>(
        &mut self,
        close: &[u8],
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut v = Vec::with_capacity(4);
        if self.lit(close) {
            return Some(v);
        }
        loop {
            v.push(item(self)?);
            if self.lit(b",") {
                if self.lit(close) {
                    return Some(v);
                }
                continue;
            }
            self.expect(close)?;
            return Some(v);
        }
    }

    /// Names up to `close`, the opening bracket already read.
    fn idents_until(&mut self, close: &[u8]) -> Option<Vec<Ident>> {
        self.until(close, Self::ident)
    }

    // ---- declarations -----------------------------------------------------------

    fn file(&mut self, first: bool) -> Option<File> {
        let mut package = Ident {
            name: String::new(),
            span: Span::default(),
        };
        let mut uses = Vec::new();
        if first {
            self.expect(b"package")?;
            let start = self.pos;
            let mut end = self.name_word_end(start)?;
            while self.byte(end) == b'.' {
                match self.name_word_end(end + 1) {
                    Some(e) => end = e,
                    None => break,
                }
            }
            package = self.ident_at(start, end);
            self.token(end);
            while starts(self.rest(), b"use") {
                uses.push(self.use_decl()?);
            }
        }
        let mut items = Vec::new();
        while self.pos < self.b.len() {
            self.item(&mut items)?;
        }
        Some(File {
            package,
            uses,
            items,
        })
    }

    /// `use pkg.Name` or `use pkg.{A, B}`.
    fn use_decl(&mut self) -> Option<Use> {
        self.expect(b"use")?;
        let start = self.pos;
        let mut end = self.name_word_end(start)?;
        // `use_pkg`: further words while another `.` follows them.
        while self.byte(end) == b'.' {
            match self.name_word_end(end + 1) {
                Some(e) if self.byte(e) == b'.' => end = e,
                _ => break,
            }
        }
        let package = self.ident_at(start, end);
        if self.byte(end) != b'.' {
            return None;
        }
        self.pos = end + 1;
        let names = if self.peek() == b'{' {
            self.token(self.pos + 1);
            // At least one name: `{}` is not a group.
            if self.peek() == b'}' {
                return None;
            }
            self.idents_until(b"}")?
        } else {
            vec![self.ident()?]
        };
        Some(Use { package, names })
    }

    fn item(&mut self, items: &mut Vec<Item>) -> Option<()> {
        let r = self.rest();
        let item = if starts(r, b"set") {
            self.token(self.pos + 3);
            let name = self.ident()?;
            self.expect(b"=")?;
            Item::Set {
                name,
                value: self.set_expr()?,
            }
        } else if starts(r, b"classification") {
            self.token(self.pos + 14);
            let name = self.ident()?;
            self.expect(b"sensitivity")?;
            Item::Classification {
                name,
                sensitivity: self.ident()?,
            }
        } else if starts(r, b"profile") {
            self.token(self.pos + 7);
            let name = self.ident()?;
            self.expect(b"=")?;
            Item::Profile {
                name,
                mode: self.mode()?,
            }
        } else if starts(r, b"condition") {
            self.token(self.pos + 9);
            let name = self.ident()?;
            let params = if self.lit(b"(") {
                self.idents_until(b")")?
            } else {
                Vec::new()
            };
            self.expect(b"=")?;
            Item::Condition(ConditionDecl {
                name,
                params,
                body: self.expr()?,
            })
        } else if starts(r, b"field") {
            self.token(self.pos + 5);
            self.field()?
        } else if starts(r, b"actions") {
            self.token(self.pos + 7);
            self.expect(b"[")?;
            Item::Actions(self.idents_until(b"]")?)
        } else if starts(r, b"obligations") {
            self.token(self.pos + 11);
            self.expect(b"[")?;
            Item::Obligations(self.idents_until(b"]")?)
        } else if starts(r, b"grants") {
            self.token(self.pos + 6);
            self.grants()?
        } else if starts(r, b"permit") || starts(r, b"forbid") {
            Item::Rule(self.rule()?)
        } else if starts(r, b"assert") {
            self.assert()?
        } else {
            return None;
        };
        items.push(item);
        Some(())
    }

    /// `field root.path: type` or `: [type]`, after `field`.
    fn field(&mut self) -> Option<Item> {
        let start = self.pos;
        let mut end = self.ident_end(start)?;
        let mut path = vec![self.ident_at(start, end)];
        while self.byte(end) == b'.' {
            match self.ident_end(end + 1) {
                Some(e) => {
                    path.push(self.ident_at(end + 1, e));
                    end = e;
                }
                None => break,
            }
        }
        if path.len() < 2 {
            return None;
        }
        self.token(end);
        self.expect(b":")?;
        let list = self.lit(b"[");
        let ty = self.ident()?;
        if list {
            self.expect(b"]")?;
        }
        Some(Item::Field { path, ty, list })
    }

    /// `grants [of CLASS] last at most D` or `need approver role R`, after `grants`.
    fn grants(&mut self) -> Option<Item> {
        let class = if self.lit(b"of") {
            Some(self.ident()?)
        } else {
            None
        };
        if self.lit(b"last") {
            self.expect(b"at")?;
            self.expect(b"most")?;
            let start = self.pos;
            let end = self.duration_end(start)?;
            let seconds = build::duration(self.str(start, end))?;
            self.token(end);
            Some(Item::GrantBound { class, seconds })
        } else if self.lit(b"need") {
            self.expect(b"approver")?;
            self.expect(b"role")?;
            Some(Item::ApproverRole {
                class,
                role: self.ident()?,
            })
        } else {
            None
        }
    }

    fn assert(&mut self) -> Option<Item> {
        let start = self.pos;
        self.expect(b"assert")?;
        let name = self.ident()?;
        self.expect(b":")?;
        let always = if self.lit(b"never") {
            false
        } else if self.lit(b"always") {
            true
        } else {
            return None;
        };
        self.expect(b"allow")?;
        let any_grants = self.lit(b"under");
        if any_grants {
            self.expect(b"any")?;
            self.expect(b"grants")?;
        }
        self.expect(b"when")?;
        let cond = self.expr()?;
        Some(Item::Assert(AssertDecl {
            name,
            always,
            any_grants,
            cond,
            span: self.span(start, self.end),
        }))
    }

    fn rule(&mut self) -> Option<RuleDecl> {
        let start = self.pos;
        let effect = if self.lit(b"permit") {
            Effect::Permit
        } else if self.lit(b"forbid") {
            Effect::Forbid
        } else {
            return None;
        };
        let name = self.ident()?;
        let when = if self.lit(b"when") {
            Some(self.expr()?)
        } else {
            None
        };
        let mut rule = RuleDecl {
            effect,
            name,
            when,
            obligations: Vec::new(),
            because: None,
            cites: None,
            repeated: Vec::new(),
            span: Span::default(),
        };
        // Which of `with obligations` (1), `because` (2) and `cites` (4)
        // were given.
        let mut seen = 0u8;
        loop {
            let clause = self.pos;
            let (kind, word) = if self.lit(b"with") {
                self.expect(b"obligations")?;
                self.expect(b"[")?;
                let list = self.idents_until(b"]")?;
                if seen & 1 == 0 {
                    rule.obligations = list;
                }
                (1, "with obligations")
            } else if self.lit(b"because") {
                let (raw, base) = self.text_lit()?;
                if seen & 2 == 0 {
                    rule.because = Some(build::message(self.at, raw, self.at.base + base));
                }
                (2, "because")
            } else if self.lit(b"cites") {
                let (raw, _) = self.text_lit()?;
                if seen & 4 == 0 {
                    rule.cites = Some(build::cites(raw));
                }
                (4, "cites")
            } else {
                break;
            };
            if seen & kind != 0 {
                rule.repeated.push((word, self.span(clause, self.end)));
            }
            seen |= kind;
        }
        rule.span = self.span(start, self.end);
        Some(rule)
    }

    /// A `because` or `cites` text (it may span lines): what lies between
    /// the quotes, and where that starts.
    fn text_lit(&mut self) -> Option<(&'t str, usize)> {
        if self.peek() != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.b.get(i)? {
                b'"' => break,
                b'\\' => {
                    self.b.get(i + 1)?;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        let text = self.text;
        self.token(i + 1);
        Some((text.get(start..i)?, start))
    }

    fn mode(&mut self) -> Option<Mode> {
        Some(if self.lit(b"single_country") {
            self.expect(b"(")?;
            let c = self.ident()?;
            self.expect(b")")?;
            Mode::SingleCountry(c)
        } else if self.lit(b"regional") {
            self.expect(b"(")?;
            let s = self.set_expr()?;
            self.expect(b")")?;
            Mode::Regional(s)
        } else if self.lit(b"sovereign") {
            self.expect(b"(")?;
            let c = self.ident()?;
            self.expect(b")")?;
            Mode::Sovereign(c)
        } else if self.lit(b"hybrid") {
            self.expect(b"(")?;
            self.expect(b"primary")?;
            self.expect(b":")?;
            let primary = self.set_expr()?;
            self.expect(b",")?;
            self.expect(b"secondary")?;
            self.expect(b":")?;
            let secondary = self.set_expr()?;
            self.expect(b")")?;
            Mode::Hybrid { primary, secondary }
        } else if self.lit(b"client_owned") {
            Mode::ClientOwned
        } else if self.lit(b"unrestricted") {
            Mode::Unrestricted
        } else {
            return None;
        })
    }

    fn set_expr(&mut self) -> Option<SetExpr> {
        let mut acc = self.set_term()?;
        loop {
            let union = match self.peek() {
                b'+' => true,
                b'-' => false,
                _ => return Some(acc),
            };
            self.token(self.pos + 1);
            let rhs = Box::new(self.set_term()?);
            acc = if union {
                SetExpr::Union(Box::new(acc), rhs)
            } else {
                SetExpr::Difference(Box::new(acc), rhs)
            };
        }
    }

    fn set_term(&mut self) -> Option<SetExpr> {
        match self.peek() {
            b'[' => {
                let start = self.pos;
                let items = self.list()?;
                Some(SetExpr::List(items, self.span(start, self.end)))
            }
            b'(' => {
                self.token(self.pos + 1);
                let s = self.set_expr()?;
                self.expect(b")")?;
                Some(s)
            }
            _ => Some(SetExpr::Name(self.ident()?)),
        }
    }

    /// `[ (expr ("," expr)* ","?)? ]`.
    fn list(&mut self) -> Option<Vec<Expr>> {
        self.expect(b"[")?;
        self.until(b"]", Self::expr)
    }

    // ---- expressions ------------------------------------------------------------

    fn expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        let first = self.and_expr()?;
        if !self.word(b"or") {
            return Some(first);
        }
        let mut parts = Vec::with_capacity(4);
        parts.push(first);
        parts.push(self.and_expr()?);
        while self.word(b"or") {
            parts.push(self.and_expr()?);
        }
        Some(Expr::Or(parts, self.span(start, self.end)))
    }

    fn and_expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        let first = self.not_expr()?;
        if !self.word(b"and") {
            return Some(first);
        }
        let mut parts = Vec::with_capacity(4);
        parts.push(first);
        parts.push(self.not_expr()?);
        while self.word(b"and") {
            parts.push(self.not_expr()?);
        }
        Some(Expr::And(parts, self.span(start, self.end)))
    }

    fn not_expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        if self.word(b"not") {
            let inner = self.not_expr()?;
            return Some(Expr::Not(Box::new(inner), self.span(start, self.end)));
        }
        if starts(self.rest(), b"exists") {
            self.token(self.pos + 6);
            self.expect(b"grant")?;
            let var = self.ident()?;
            let cond = if self.lit(b"where") {
                Some(Box::new(self.expr()?))
            } else {
                None
            };
            return Some(Expr::Exists {
                var,
                cond,
                span: self.span(start, self.end),
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Option<Expr> {
        let start = self.pos;
        let lhs = self.sum()?;
        if let Some(op) = self.cmp_op() {
            let rhs = self.sum()?;
            return Some(Expr::Cmp {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span: self.span(start, self.end),
            });
        }
        if !self.lit(b"is") {
            return Some(lhs);
        }
        let negated = self.word(b"not");
        let what = if self.lit(b"declared") {
            IsWhat::Declared
        } else if self.lit(b"present") {
            IsWhat::Present
        } else if self.lit(b"missing") {
            IsWhat::Missing
        } else {
            return None;
        };
        Some(Expr::Is {
            expr: Box::new(lhs),
            negated,
            what,
            span: self.span(start, self.end),
        })
    }

    /// A comparison operator, in the grammar's order of trying them.
    fn cmp_op(&mut self) -> Option<CmpOp> {
        let r = self.rest();
        let second = r.get(1).copied().unwrap_or(0);
        let (op, len) = match (r.first()?, second) {
            (b'=', b'=') => (CmpOp::Eq, 2),
            (b'!', b'=') => (CmpOp::Ne, 2),
            (b'<', b'=') => (CmpOp::Le, 2),
            (b'>', b'=') => (CmpOp::Ge, 2),
            (b'<', _) => (CmpOp::Lt, 1),
            (b'>', _) => (CmpOp::Gt, 1),
            _ => {
                let bounded =
                    |w: &[u8]| starts(r, w) && !ident_char(r.get(w.len()).copied().unwrap_or(0));
                if let Some(n) = self.spaced_in(b"not") {
                    (CmpOp::NotIn, n)
                } else if bounded(b"in") {
                    (CmpOp::In, 2)
                } else if bounded(b"satisfies") {
                    (CmpOp::Satisfies, 9)
                } else if let Some(n) = self.spaced_in(b"any") {
                    (CmpOp::AnyIn, n)
                } else if let Some(n) = self.spaced_in(b"all") {
                    (CmpOp::AllIn, n)
                } else if let Some(n) = self.spaced_in(b"none") {
                    (CmpOp::NoneIn, n)
                } else if bounded(b"starts_with") {
                    (CmpOp::StartsWith, 11)
                } else if bounded(b"ends_with") {
                    (CmpOp::EndsWith, 9)
                } else if bounded(b"matches") {
                    (CmpOp::Matches, 7)
                } else {
                    return None;
                }
            }
        };
        self.token(self.pos + len);
        Some(op)
    }

    /// The length of `w`, white space (no comments), and `in` with no name
    /// character after it, when that is what comes next (`not in`, `any in`).
    fn spaced_in(&self, w: &[u8]) -> Option<usize> {
        let r = self.rest();
        if !starts(r, w) {
            return None;
        }
        let gap = r
            .get(w.len()..)?
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        let n = w.len() + gap;
        let ok = gap > 0
            && starts(r.get(n..)?, b"in")
            && !ident_char(r.get(n + 2).copied().unwrap_or(0));
        ok.then_some(n + 2)
    }

    fn sum(&mut self) -> Option<Expr> {
        let mut acc = self.atom()?;
        loop {
            let op = match self.peek() {
                b'+' => AddOp::Add,
                b'-' => AddOp::Sub,
                _ => return Some(acc),
            };
            self.token(self.pos + 1);
            let rhs = self.atom()?;
            let span = acc.span().to(rhs.span());
            acc = Expr::Arith {
                op,
                lhs: Box::new(acc),
                rhs: Box::new(rhs),
                span,
            };
        }
    }

    fn atom(&mut self) -> Option<Expr> {
        let start = self.pos;
        let c = self.peek();
        if c.is_ascii_uppercase() {
            if let Some(end) = self.subdivision_end(start) {
                let lit = Lit::Subdivision(self.str(start, end).to_string());
                self.token(end);
                return Some(Expr::Lit(lit, self.span(start, end)));
            }
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            if let Some(end) = self.root_ident_end(start) {
                return if self.byte(end) == b'(' {
                    self.call(start, end)
                } else {
                    Some(self.path(start, end))
                };
            }
            for (w, v) in [(&b"true"[..], true), (&b"false"[..], false)] {
                if self.word(w) {
                    return Some(Expr::Lit(Lit::Bool(v), self.span(start, self.end)));
                }
            }
            return None;
        }
        match c {
            b'"' => {
                let mut i = start + 1;
                loop {
                    match self.b.get(i)? {
                        b'"' => break,
                        b'\n' => return None,
                        b'\\' => {
                            self.b.get(i + 1)?;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
                let lit = Lit::Str(build::unescape(self.str(start + 1, i)));
                self.token(i + 1);
                Some(Expr::Lit(lit, self.span(start, i + 1)))
            }
            b'[' => {
                let items = self.list()?;
                Some(Expr::List(items, self.span(start, self.end)))
            }
            b'(' => {
                self.token(start + 1);
                let e = self.expr()?;
                self.expect(b")")?;
                Some(e)
            }
            b'0'..=b'9' | b'-' => {
                let (lit, end) = if let Some(end) = self.time_end(start) {
                    (build::time(self.str(start, end)), end)
                } else if let Some(end) = self.duration_end(start) {
                    (Lit::Duration(build::duration(self.str(start, end))?), end)
                } else {
                    let end = self.number_end(start)?;
                    (build::number(self.str(start, end)), end)
                };
                self.token(end);
                Some(Expr::Lit(lit, self.span(start, end)))
            }
            _ => None,
        }
    }

    fn path(&mut self, start: usize, first: usize) -> Expr {
        let mut segs = Segments::new();
        segs.push(self.ident_at(start, first));
        let mut end = first;
        while self.byte(end) == b'.' {
            match self.ident_end(end + 1) {
                Some(e) => {
                    segs.push(self.ident_at(end + 1, e));
                    end = e;
                }
                None => break,
            }
        }
        self.token(end);
        Expr::Path(segs, self.span(start, end))
    }

    /// `name(args)`: the name runs from `start` to `name_end`, `(` follows.
    fn call(&mut self, start: usize, name_end: usize) -> Option<Expr> {
        let name = self.ident_at(start, name_end);
        self.token(name_end + 1);
        let args = self.until(b")", Self::call_arg)?;
        Some(Expr::Call {
            name,
            args,
            span: self.span(start, self.end),
        })
    }

    /// `[label:] expr`.
    fn call_arg(&mut self) -> Option<(Option<Ident>, Expr)> {
        if self.ident_end(self.pos).is_some() {
            let saved = (self.pos, self.end);
            let label = self.ident()?;
            if self.lit(b":") {
                return Some((Some(label), self.expr()?));
            }
            (self.pos, self.end) = saved;
        }
        Some((None, self.expr()?))
    }

    fn digits(&self, i: usize, n: usize) -> bool {
        (i..i + n).all(|j| self.byte(j).is_ascii_digit())
    }

    fn digits_from(&self, mut i: usize) -> usize {
        while self.byte(i).is_ascii_digit() {
            i += 1;
        }
        i
    }

    /// `subdivision`: `US-CA`, no name character or `-` after it.
    fn subdivision_end(&self, i: usize) -> Option<usize> {
        let upper = |j: usize| self.byte(j).is_ascii_uppercase();
        if !(upper(i) && upper(i + 1) && self.byte(i + 2) == b'-') {
            return None;
        }
        let mut j = i + 3;
        while j < i + 6 && (upper(j) || self.byte(j).is_ascii_digit()) {
            j += 1;
        }
        let after = self.byte(j);
        (j > i + 3 && !ident_char(after) && after != b'-').then_some(j)
    }

    /// `time`: RFC 3339 with seconds, an optional fraction and a zone.
    fn time_end(&self, i: usize) -> Option<usize> {
        let at = |j: usize, c: u8| self.byte(j) == c;
        let ok = self.digits(i, 4)
            && at(i + 4, b'-')
            && self.digits(i + 5, 2)
            && at(i + 7, b'-')
            && self.digits(i + 8, 2)
            && at(i + 10, b'T')
            && self.digits(i + 11, 2)
            && at(i + 13, b':')
            && self.digits(i + 14, 2)
            && at(i + 16, b':')
            && self.digits(i + 17, 2);
        if !ok {
            return None;
        }
        let mut j = i + 19;
        if at(j, b'.') && self.byte(j + 1).is_ascii_digit() {
            j = self.digits_from(j + 1);
        }
        match self.byte(j) {
            b'Z' => Some(j + 1),
            b'+' | b'-' if self.digits(j + 1, 2) && at(j + 3, b':') && self.digits(j + 4, 2) => {
                Some(j + 6)
            }
            _ => None,
        }
    }

    /// `duration`: digits and a unit (`w`, `d`, `h`, `m`, `s`).
    fn duration_end(&self, i: usize) -> Option<usize> {
        let j = self.digits_from(i);
        let ok = j > i
            && matches!(self.byte(j), b'w' | b'd' | b'h' | b'm' | b's')
            && !ident_char(self.byte(j + 1));
        ok.then_some(j + 1)
    }

    /// `number`: `-`? digits, an optional fraction.
    fn number_end(&self, i: usize) -> Option<usize> {
        let s = if self.byte(i) == b'-' { i + 1 } else { i };
        let mut j = self.digits_from(s);
        if j == s {
            return None;
        }
        if self.byte(j) == b'.' && self.byte(j + 1).is_ascii_digit() {
            j = self.digits_from(j + 1);
        }
        (!ident_char(self.byte(j))).then_some(j)
    }
}

/// How the two parsers compare on `text` (one file); see [`Agreement`].
/// Run on the compile stack, as every parse is.
pub(super) fn agree(text: &str) -> Agreement {
    crate::policy::on_compile_stack(|| agree_here(text))
        .unwrap_or_else(|_| Agreement::Differ("the comparison failed".into()))
}

/// As [`agree`], for the file parsed as on several cores: cut into pieces,
/// each read by hand (or pest), against pest on the whole file.
pub(super) fn agree_in_pieces(text: &str) -> Agreement {
    crate::policy::on_compile_stack(|| {
        let at = At { file: 0, base: 0 };
        let pest = super::parse::parse_pest(at, text, true);
        match (super::parse::in_pieces(0, text, 2), pest) {
            (Err(_), pest) => Agreement::Declined {
                pest_parses: pest.is_ok(),
            },
            (Ok(hand), Ok(p)) if format!("{p:?}") == format!("{hand:?}") => Agreement::Same,
            (Ok(hand), other) => Agreement::Differ(format!("pest: {other:?}\nin pieces: {hand:?}")),
        }
    })
    .unwrap_or_else(|_| Agreement::Differ("the comparison failed".into()))
}

fn agree_here(text: &str) -> Agreement {
    let at = At { file: 0, base: 0 };
    if super::parse::too_deep(at, text).is_some() {
        return Agreement::Declined { pest_parses: false };
    }
    let pest = super::parse::parse_pest(at, text, true);
    match (parse(at, text, true), pest) {
        (None, pest) => Agreement::Declined {
            pest_parses: pest.is_ok(),
        },
        (Some(hand), Ok(p)) if format!("{p:?}") == format!("{hand:?}") => Agreement::Same,
        (Some(hand), other) => Agreement::Differ(format!("pest: {other:?}\nhand: {hand:?}")),
    }
}
