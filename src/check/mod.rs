//! Checking: parsed files to a resolved, typed [`Program`].
//!
//! Input: [`Sources`] (every file of a policy set). Output: the decision IR,
//! or every diagnostic found (parse errors of all files; then unknown names,
//! wrong types, unknown classifications, profiles and values, invalid country
//! codes, duplicates, cycles and rules that can never apply). The checker
//! lowers as it resolves: each expression is typed and emitted into the IR
//! arena in one walk, so no name survives into the IR. Invariants: it never
//! stops at the first problem; a returned program has passed every check.

use crate::country::{Country, CountrySet};
use crate::diag::{Code, Diagnostic};
use crate::ir::*;
use crate::source::{Sources, Span};
use crate::syntax::{
    self, AddOp, CmpOp, Expr, Ident, IsWhat, Item, Lit, MessagePart as SynPart, Mode, SetExpr,
};
pub use error::CheckError;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeSet;
use suggest::{is_symbol, looks_like_country, suggest};

mod calls;
mod declare;
mod error;
pub mod index;
mod lints;
mod lower;
mod paths;
mod phrase;
mod scope;
mod suggest;
mod types;

/// Region statuses the regions document may hold.
pub const STATUSES: [&str; 4] = ["active", "degraded", "draining", "offline"];
/// The sensitivity scale of classifications.
pub const SENSITIVITIES: [&str; 5] = ["low", "medium", "high", "critical", "variable"];

/// Checks a policy set and lowers it to the IR (its warnings dropped; see
/// [`check_all`]).
pub fn check(sources: &Sources) -> Result<Program, Vec<Diagnostic>> {
    let checked = crate::policy::compile_all(sources);
    match checked.program {
        Some(p) => Ok(p),
        None => Err(checked.errors),
    }
}

/// What checking a policy set found.
#[derive(Debug)]
pub struct Checked {
    /// The program, when there is no error.
    pub program: Option<Program>,
    /// Every error.
    pub errors: Vec<Diagnostic>,
    /// Every warning (found only once the set parses).
    pub warnings: Vec<Diagnostic>,
}

/// Checks a policy set: the program, or every error; and every warning.
/// The parser and checker recurse once a nesting level: on a thread of
/// small stack, call [`crate::policy::compile_all`], which runs this on a
/// thread with room for it.
pub fn check_all(sources: &Sources) -> Checked {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for (i, f) in sources.files.iter().enumerate() {
        match syntax::parse(i as u32, &f.text) {
            Ok(file) => files.push(file),
            Err(mut e) => diags.append(&mut e),
        }
    }
    if !diags.is_empty() {
        return Checked {
            program: None,
            errors: diags,
            warnings: Vec::new(),
        };
    }
    let mut c = Checker::new(sources);
    c.run(&files);
    dedupe(&mut c.warnings);
    if c.diags.is_empty() {
        Checked {
            program: Some(c.prog),
            errors: Vec::new(),
            warnings: c.warnings,
        }
    } else {
        dedupe(&mut c.diags);
        Checked {
            program: None,
            errors: c.diags,
            warnings: c.warnings,
        }
    }
}

/// Diagnostics with the same span and message, once: the message is only
/// written out where two share a span (thousands of warnings have spans of
/// their own, and writing each out was 1 % of compiling 10,000 rules).
fn dedupe(diags: &mut Vec<Diagnostic>) {
    let mut spans: HashMap<Span, u32> = HashMap::default();
    for d in diags.iter() {
        *spans.entry(d.span).or_default() += 1;
    }
    let mut seen = HashSet::default();
    diags.retain(|d| spans.get(&d.span) == Some(&1) || seen.insert((d.span, d.message())));
}

/// The static type of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Bool,
    Num,
    Str(Kind),
    Country,
    Time,
    Duration,
    Region,
    Profile,
    ProfilePrimary,
    Set(Elem),
    List,
    Any,
    Grant,
    Subdivision,
}

/// What a string names, so literals compared with it can be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Class,
    Status,
    Mode,
    Sensitivity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    Countries,
    Strings,
    Empty,
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Bool => "a boolean",
        Ty::Num => "a number",
        Ty::Str(Kind::Class) => "a classification",
        Ty::Str(Kind::Status) => "a region status",
        Ty::Str(_) => "a string",
        Ty::Country => "a country",
        Ty::Time => "a time",
        Ty::Duration => "a duration",
        Ty::Region => "a region",
        Ty::Profile | Ty::ProfilePrimary => "a residency profile",
        Ty::Set(Elem::Countries) => "a set of countries",
        Ty::Set(_) => "a set of strings",
        Ty::List => "a list",
        Ty::Any => "a request value",
        Ty::Grant => "a grant",
        Ty::Subdivision => "a subdivision",
    }
}

/// A resolved set with the span of each string member (to point at bad ones).
#[derive(Clone, Debug)]
enum SetVal {
    Countries(CountrySet),
    Strings(Vec<(String, Span)>),
    Empty,
}

enum SetState {
    Todo,
    Active,
    Done(Option<(SetVal, u32)>),
}

struct SetDecl {
    qname: String,
    file: usize,
    span: Span,
    state: SetState,
}

/// The longest text or phrase a condition keeps for the trace.
const CAP: usize = 400;

/// `s` cut to at most `n` characters (with `…` when cut).
fn cap_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or("")),
        None => s.to_string(),
    }
}

/// `s` cut to at most [`CAP`] characters (with `…` when cut).
fn cap(s: String) -> String {
    match s.char_indices().nth(CAP) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or("")),
        None => s,
    }
}

struct Checker<'s> {
    sources: &'s Sources,
    diags: Vec<Diagnostic>,
    /// The span of each rule's name, by rule index.
    rule_spans: Vec<Span>,
    /// Paths some forbid tests with `is present/missing/declared`.
    guarded: Vec<String>,
    warnings: Vec<Diagnostic>,
    /// (file, set declaration) pairs: a set used from a file.
    used: HashSet<(usize, usize)>,
    /// Names of failed imports, by file: reported at the import only.
    failed_imports: HashSet<(usize, String)>,
    /// Imports: (file, the name as imported, its declaration).
    imported: Vec<(usize, Ident, usize)>,
    prog: Program,
    syms: HashMap<String, Sym>,
    /// package → set name → index into `set_decls`.
    pkg_sets: HashMap<String, HashMap<String, usize>>,
    set_decls: Vec<SetDecl>,
    /// The sets being resolved, outermost first (a cycle's members).
    resolving: Vec<usize>,
    /// per file: visible set names (own package plus imports).
    scopes: Vec<HashMap<String, usize>>,
    classes: HashMap<String, Span>,
    profiles: HashMap<String, Span>,
    extras: HashMap<ExtraPath, u32>,
    /// Sets by name and content, so equal literals share one table entry.
    set_index: HashMap<(String, SetValue), u32>,
    grant_var: Option<String>,
    /// The line of the last location asked for (`Sources::location_near`).
    line_hint: usize,
    /// The buffer each phrase is written in (`phrase.rs`).
    scratch: std::cell::Cell<String>,
    /// Named conditions, by index; package → name → index; per file, those in scope.
    cond_decls: Vec<calls::CondDecl>,
    pkg_conds: HashMap<String, HashMap<String, usize>>,
    cond_scopes: Vec<HashMap<String, usize>>,
    /// The conditions being expanded, outermost first (a cycle's members).
    expanding: Vec<usize>,
    /// Per expansion, what its parameters stand for (innermost last).
    bindings: Vec<HashMap<String, calls::Binding>>,
    /// An expansion went past the limit (reported once).
    expansion_failed: bool,
    /// Per node, how deep it nests (kept by `push`): an expansion of named
    /// conditions must stay within [`MAX_DEPTH`].
    depths: Vec<usize>,
    /// Declared fields: where → (index into `prog.fields`, span).
    field_decls: HashMap<ExtraPath, (usize, Span)>,
    /// `root.field` names in the schema, or outside it with no field of it
    /// close (paths::near_miss): looked at once.
    far_fields: HashSet<String>,
    /// `actions [...]` and `obligations [...]`, once any are declared.
    declared_actions: Option<Vec<String>>,
    declared_obligations: Option<Vec<String>>,
}

impl<'s> Checker<'s> {
    pub(super) fn new(sources: &'s Sources) -> Self {
        Checker {
            sources,
            diags: Vec::new(),
            warnings: Vec::new(),
            guarded: Vec::new(),
            rule_spans: Vec::new(),
            used: HashSet::default(),
            imported: Vec::new(),
            failed_imports: HashSet::default(),
            prog: Program {
                format: crate::ir::FORMAT,
                files: sources.files.iter().map(|f| f.name.clone()).collect(),
                symbols: Vec::new(),
                sets: Vec::new(),
                classifications: Vec::new(),
                profiles: Vec::new(),
                nodes: Vec::new(),
                args: Vec::new(),
                atoms: Vec::new(),
                extras: Vec::new(),
                fields: Vec::new(),
                grant_bounds: Vec::new(),
                approver_roles: Vec::new(),
                messages: Vec::new(),
                rules: Vec::new(),
                actions: Vec::new(),
                by_action: Vec::new(),
                assertions: Vec::new(),
            },
            syms: HashMap::default(),
            pkg_sets: HashMap::default(),
            set_decls: Vec::new(),
            resolving: Vec::new(),
            scopes: Vec::new(),
            classes: HashMap::default(),
            profiles: HashMap::default(),
            extras: HashMap::default(),
            set_index: HashMap::default(),
            grant_var: None,
            line_hint: 0,
            scratch: std::cell::Cell::default(),
            cond_decls: Vec::new(),
            pkg_conds: HashMap::default(),
            cond_scopes: Vec::new(),
            expanding: Vec::new(),
            bindings: Vec::new(),
            expansion_failed: false,
            depths: Vec::new(),
            field_decls: HashMap::default(),
            far_fields: HashSet::default(),
            declared_actions: None,
            declared_obligations: None,
        }
    }

    pub(super) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    pub(super) fn intern(&mut self, s: &str) -> Sym {
        if let Some(&i) = self.syms.get(s) {
            return i;
        }
        let i = self.prog.symbols.len() as Sym;
        self.prog.symbols.push(s.to_string());
        self.syms.insert(s.to_string(), i);
        i
    }

    pub(super) fn push(&mut self, n: Node) -> NodeId {
        let d = |id: &NodeId| self.depths.get(*id as usize).copied().unwrap_or(0);
        let below = match &n {
            Node::Const(_) | Node::Load(_) => 0,
            Node::And { start, len } | Node::Or { start, len } => {
                let s = *start as usize;
                self.prog
                    .args
                    .get(s..s + *len as usize)
                    .unwrap_or(&[])
                    .iter()
                    .map(d)
                    .max()
                    .unwrap_or(0)
            }
            Node::Not { expr, .. }
            | Node::Is { expr, .. }
            | Node::Count { expr }
            | Node::CountryOf { expr }
            | Node::Named { expr, .. } => d(expr),
            Node::Cmp { lhs, rhs, .. } | Node::Arith { lhs, rhs, .. } => d(lhs).max(d(rhs)),
            Node::Satisfies {
                region, profile, ..
            } => d(region).max(d(profile)),
            Node::InCountry {
                region, country, ..
            } => d(region).max(d(country)),
            Node::Exists { cond, .. } => cond.as_ref().map_or(0, d),
        };
        self.depths.push(below + 1);
        self.prog.nodes.push(n);
        (self.prog.nodes.len() - 1) as NodeId
    }

    /// How deep a node nests (a leaf is 1).
    pub(super) fn depth(&self, id: NodeId) -> usize {
        self.depths.get(id as usize).copied().unwrap_or(0)
    }

    pub(super) fn node(&self, id: NodeId) -> Option<&Node> {
        self.prog.nodes.get(id as usize)
    }

    pub(super) fn konst(&self, id: NodeId) -> Option<&Const> {
        match self.node(id) {
            Some(Node::Const(c)) => Some(c),
            _ => None,
        }
    }

    /// The text of a span, its runs of white space as one space.
    pub(super) fn text(&self, span: Span) -> String {
        one_space(self.sources.text(span))
    }

    /// [`Checker::text`] written at the end of `out`.
    pub(super) fn text_to(&self, span: Span, out: &mut String) {
        one_space_to(self.sources.text(span), out);
    }

    /// The text of a span as [`Checker::text`], reading at most about
    /// [`CAP`] characters of it.
    pub(super) fn text_prefix(&self, span: Span) -> String {
        let end = span.end.min(span.start.saturating_add(4 * CAP as u32));
        let short = Span { end, ..span };
        let t = self.text(short);
        if end < span.end {
            cap(t + " …")
        } else {
            t
        }
    }

    pub(super) fn run(&mut self, files: &[syntax::File]) {
        self.declare(files);
        self.declare_conditions(files);
        self.declare_fields(files);
        self.imports(files);
        for i in 0..self.set_decls.len() {
            self.resolve_set_decl(i, files);
        }
        self.declare_classes_and_profiles(files);
        // A bound names a declared classification.
        for f in files {
            for item in &f.items {
                if let Item::GrantBound { class: Some(c), .. }
                | Item::ApproverRole { class: Some(c), .. } = item
                {
                    self.check_value(Kind::Class, &c.name, c.span);
                }
            }
        }
        self.guarded = lints::guards(files);
        self.rules(files);
        self.unused();
    }
}

/// Whether `b` is ASCII with no white space but single spaces between
/// words, none at either end: what [`one_space`] copies whole. Eight bytes
/// at a time (a byte's test was a twentieth of checking 10,000 rules):
/// in each word of eight ASCII bytes, adding a constant to every byte
/// sets its high bit exactly when the byte is at least some value, and no
/// sum carries into the next byte.
fn already_spaced(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let ws = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    if b.first().is_some_and(ws) || b.last().is_some_and(ws) {
        return false;
    }
    // The spaces of eight bytes (a high bit each), or `None` when one is
    // not ASCII or a white space other than a space, or two spaces touch.
    let eight = |w: u64| {
        // Bytes from tab (9) to carriage return (13).
        let control = w.wrapping_add((0x80 - 9) * ONES) & !w.wrapping_add((0x80 - 14) * ONES);
        // Spaces: the bytes that are zero once a space is taken away.
        let spaces = !(w ^ (0x20 * ONES)).wrapping_add(0x7f * ONES) & HIGH;
        let fine = w & HIGH == 0 && control & HIGH == 0 && spaces & (spaces >> 8) == 0;
        fine.then_some(spaces)
    };
    let word = |w: &[u8]| <[u8; 8]>::try_from(w).map_or(0, u64::from_le_bytes);
    if b.len() < 8 {
        // Padded with zeros, which are neither spaces nor white space.
        let mut padded = [0u8; 8];
        if let Some(head) = padded.get_mut(..b.len()) {
            head.copy_from_slice(b);
        }
        return eight(u64::from_le_bytes(padded)).is_some();
    }
    // Whether the byte before the current eight is a space.
    let mut after_space = false;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        match eight(word(w)) {
            Some(spaces) if !(after_space && spaces & 0x80 != 0) => after_space = spaces >> 63 != 0,
            _ => return false,
        }
    }
    // The last eight bytes, which overlap the words before them and so
    // hold the pair across the last boundary.
    words.remainder().is_empty() || eight(word(b.get(b.len() - 8..).unwrap_or_default())).is_some()
}

/// `text` with its runs of white space as one space, none at either end.
/// ASCII text (nearly every policy) byte by byte: for ASCII, white space
/// is exactly what [`char::is_whitespace`] says (tab to carriage return,
/// and the space), and most texts have nothing to change, so are copied
/// whole; decoding each character for `split_whitespace` cost a tenth of
/// checking 10,000 rules (callgrind). Other text by `split_whitespace`.
fn one_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    one_space_to(text, &mut out);
    out
}

/// [`one_space`] written at the end of `out`.
fn one_space_to(text: &str, out: &mut String) {
    let b = text.as_bytes();
    // Most texts are already so and are copied whole.
    if already_spaced(b) {
        return out.push_str(text);
    }
    let ascii = text.is_ascii();
    let ws = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    let mut first = true;
    let mut word = |w: &str| {
        if !w.is_empty() {
            if !first {
                out.push(' ');
            }
            first = false;
            out.push_str(w);
        }
    };
    if ascii {
        let mut start = 0;
        for (i, c) in b.iter().enumerate() {
            if ws(c) {
                word(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
        }
        word(text.get(start..).unwrap_or_default());
    } else {
        text.split_whitespace().for_each(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White space runs become one space as `split_whitespace` makes them,
    /// in ASCII text (vertical tab and form feed included) and in other.
    #[test]
    fn one_space_is_split_whitespace_joined() {
        for t in [
            "",
            "   ",
            "a",
            " a  b\t\tc\n",
            "x\u{b}y\u{c}z\r\nw",
            "action  in\n   [store,\treplicate] ",
            "caf\u{e9}\u{a0}ol\u{2003}\u{85}x  y",
            "a b c",
            "a  b",
            "a\u{c}b",
            "a b ",
            " a b",
            "a \tb",
            "a\t b",
            "a\nb",
            "caf\u{e9} ol",
        ] {
            let want = t.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(one_space(t), want, "{t:?}");
        }
    }

    /// Eight bytes at a time, a text is already spaced exactly when a test
    /// of each byte says so: every text of up to 19 characters drawn from
    /// letters, spaces, tabs, line breaks, a vertical tab, a carriage
    /// return, a form feed, the bytes either side of them, DEL and
    /// characters that are not ASCII (one of them white space), at each
    /// place in an eight-byte word.
    #[test]
    fn a_text_is_already_spaced_as_each_byte_says() {
        let naive = |t: &str| {
            let b = t.as_bytes();
            let ws = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
            t.is_ascii()
                && !b.first().is_some_and(ws)
                && !b.last().is_some_and(ws)
                && !b.iter().any(|c| matches!(c, b'\t'..=b'\r'))
                && !t.contains("  ")
        };
        let alphabet = [
            'a', ' ', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{e}', '!', '\u{e9}', '\u{2003}',
            '\u{7f}', '\u{8}',
        ];
        let mut rng = crate::gen::Rng::new(1);
        for _ in 0..200_000 {
            let len = rng.below(20);
            // Mostly letters and single spaces, so that long texts that
            // are already spaced are drawn too.
            let t: String = (0..len)
                .map(|_| match rng.below(8) {
                    0..=3 => 'a',
                    4 => ' ',
                    _ => *rng.pick(&alphabet),
                })
                .collect();
            assert_eq!(already_spaced(t.as_bytes()), naive(&t), "{t:?}");
            let want = t.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(one_space(&t), want, "{t:?}");
        }
    }

    #[test]
    fn a_shape_the_grammar_cannot_produce_is_an_internal_error_not_false() {
        let mut s = Sources::default();
        s.add(
            "t.sov",
            "package t\npermit p when action == store because \"m\"\n",
        );
        let mut file = syntax::parse(0, &s.files[0].text).expect("parses");
        let Some(Item::Rule(r)) = file.items.first_mut() else {
            panic!("one rule");
        };
        let span = r.span;
        r.when = Some(Expr::Unexpected("a condition", span));
        let mut c = Checker::new(&s);
        c.run(&[file]);
        assert_eq!(c.diags.len(), 1, "{:?}", c.diags);
        assert_eq!(c.diags[0].code(), Code::Internal);
        assert!(c.diags[0].message().contains("a condition"));
    }
}
