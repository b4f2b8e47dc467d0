//! Parsing: policy text to a typed syntax tree.
//!
//! Input: one source file. Output: a [`File`] (package, imports, items), or
//! every syntax error found in it as [`Diagnostic`]s. The pest grammar lives in
//! `grammar/sovra.pest`; one small function per grammar rule turns pest pairs
//! into typed nodes, so no `Pair` leaves this module. Invariants: every node
//! carries the [`Span`] of its text; pest rule names never reach a user (errors
//! are translated into the words of docs/language.md).

use crate::diag::Diagnostic;
use crate::source::Span;
pub use crate::vocab::{CmpOp, Effect, IsWhat};
use pest::iterators::Pair;
use pest::Parser as _;

mod build;
mod error;
mod hand;
mod parse;

pub use error::ParseError;
pub(crate) use parse::parse;
pub use parse::MAX_NESTING;

/// How the hand-written parser and pest compare on one file's text.
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub enum Agreement {
    /// The hand-written parser gives a tree, and pest gives the same.
    Same,
    /// The hand-written parser declines: pest alone parses such text (and
    /// finds it well formed, or not).
    Declined {
        /// Whether pest parses it.
        pest_parses: bool,
    },
    /// The hand-written parser gives a tree that pest does not (a defect):
    /// both, for the report.
    Differ(String),
}

/// How the hand-written parser and pest compare on one file's text. For
/// the fuzz target `policy` and the parser tests.
#[doc(hidden)]
pub fn parsers_agree(text: &str) -> Agreement {
    hand::agree(text)
}

/// As [`parsers_agree`], for a large file parsed as on several cores (cut
/// at declarations into pieces, each read by hand or by pest), against
/// pest on the whole file.
#[doc(hidden)]
pub fn parsers_agree_in_pieces(text: &str) -> Agreement {
    hand::agree_in_pieces(text)
}

/// The pest grammar (`grammar/sovra.pest`) and its generated `Rule`s: no
/// `Rule` leaves the syntax module.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/sovra.pest"]
    pub(super) struct Grammar;
}
use grammar::{Grammar, Rule};

type P<'a> = Pair<'a, Rule>;

/// A name with its place in the source.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed policy file.
#[derive(Clone, Debug)]
pub(crate) struct File {
    pub package: Ident,
    pub uses: Vec<Use>,
    pub items: Vec<Item>,
}

/// `use pkg.{A, B}` or `use pkg.A`.
#[derive(Clone, Debug)]
pub(crate) struct Use {
    pub package: Ident,
    pub names: Vec<Ident>,
}

#[derive(Clone, Debug)]
pub(crate) enum Item {
    Set {
        name: Ident,
        value: SetExpr,
    },
    Classification {
        name: Ident,
        sensitivity: Ident,
    },
    Profile {
        name: Ident,
        mode: Mode,
    },
    Condition(ConditionDecl),
    /// `field root.path: type` (`list`: `[type]`).
    Field {
        path: Vec<Ident>,
        ty: Ident,
        list: bool,
    },
    /// `actions [...]`.
    Actions(Vec<Ident>),
    /// `obligations [...]`.
    Obligations(Vec<Ident>),
    /// `grants [of CLASS] last at most DURATION` (seconds).
    GrantBound {
        class: Option<Ident>,
        seconds: i64,
    },
    /// `grants [of CLASS] need approver role ROLE`.
    ApproverRole {
        class: Option<Ident>,
        role: Ident,
    },
    Rule(RuleDecl),
    Assert(AssertDecl),
}

/// `assert NAME: never|always allow [under any grants] when CONDITION`.
#[derive(Clone, Debug)]
pub(crate) struct AssertDecl {
    pub name: Ident,
    /// `always` (else `never`).
    pub always: bool,
    /// `under any grants`: whatever grants exist.
    pub any_grants: bool,
    pub cond: Expr,
    pub span: Span,
}

/// A set expression in a declaration or a profile: lists, names, `+` and `-`.
#[derive(Clone, Debug)]
pub(crate) enum SetExpr {
    List(Vec<Expr>, Span),
    Name(Ident),
    Union(Box<SetExpr>, Box<SetExpr>),
    Difference(Box<SetExpr>, Box<SetExpr>),
}

impl SetExpr {
    pub fn span(&self) -> Span {
        match self {
            SetExpr::List(_, s) => *s,
            SetExpr::Name(i) => i.span,
            SetExpr::Union(a, b) | SetExpr::Difference(a, b) => a.span().to(b.span()),
        }
    }
}

/// The five residency modes, plus unrestricted.
#[derive(Clone, Debug)]
pub(crate) enum Mode {
    SingleCountry(Ident),
    Regional(SetExpr),
    Sovereign(Ident),
    Hybrid {
        primary: SetExpr,
        secondary: SetExpr,
    },
    ClientOwned,
    Unrestricted,
}

/// `condition name(params) = body`.
#[derive(Clone, Debug)]
pub(crate) struct ConditionDecl {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Expr,
}

#[derive(Clone, Debug)]
pub(crate) struct RuleDecl {
    pub effect: Effect,
    pub name: Ident,
    pub when: Option<Expr>,
    pub obligations: Vec<Ident>,
    pub because: Option<Message>,
    pub cites: Option<String>,
    /// Clauses given a second time (`because` twice): the checker reports them.
    pub repeated: Vec<(&'static str, Span)>,
    pub span: Span,
}

/// A `because` message: text pieces and `{path}` holes.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub parts: Vec<MessagePart>,
}

#[derive(Clone, Debug)]
pub(crate) enum MessagePart {
    Text(String),
    Hole(Vec<Ident>, Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddOp {
    Add,
    Sub,
}

/// A literal value as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Bool(bool),
    Number(f64),
    Str(String),
    /// A time, as seconds and nanoseconds since the Unix epoch (UTC).
    Time(chrono::DateTime<chrono::Utc>),
    /// A duration in seconds.
    Duration(i64),
    /// Text shaped like a time that is not one (month 13, say); the checker reports it.
    InvalidTime(String),
    /// An ISO 3166-2 subdivision (`US-CA`), as written.
    Subdivision(String),
}

/// A path's names: one inline, more on the heap (the expression is no
/// larger for it).
pub(crate) type Segments = smallvec::SmallVec<[Ident; 1]>;

#[derive(Clone, Debug)]
pub(crate) enum Expr {
    And(Vec<Expr>, Span),
    Or(Vec<Expr>, Span),
    Not(Box<Expr>, Span),
    Exists {
        var: Ident,
        cond: Option<Box<Expr>>,
        span: Span,
    },
    Cmp {
        op: CmpOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    Is {
        expr: Box<Expr>,
        negated: bool,
        what: IsWhat,
        span: Span,
    },
    Arith {
        op: AddOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    /// A dotted name: a request path, a set, a country code or a symbol.
    /// One name (a list's members, mostly) is kept inline.
    Path(Segments, Span),
    Lit(Lit, Span),
    List(Vec<Expr>, Span),
    /// `name(args)`: `count(x)`, a named condition, or a residency mode
    /// after `satisfies`; an argument may be labelled (`primary: DE`).
    Call {
        name: Ident,
        args: Vec<(Option<Ident>, Expr)>,
        span: Span,
    },
    /// A shape the grammar cannot produce, named by what was being built (a
    /// bug in Sovra): the checker reports it as an internal error, so the
    /// policy set does not compile. Never a plausible value such as `false`.
    Unexpected(&'static str, Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::And(_, s)
            | Expr::Or(_, s)
            | Expr::Not(_, s)
            | Expr::Exists { span: s, .. }
            | Expr::Cmp { span: s, .. }
            | Expr::Is { span: s, .. }
            | Expr::Arith { span: s, .. }
            | Expr::Path(_, s)
            | Expr::Lit(_, s)
            | Expr::List(_, s)
            | Expr::Call { span: s, .. }
            | Expr::Unexpected(_, s) => *s,
        }
    }
}
