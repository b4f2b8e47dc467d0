//! What can go wrong while parsing: the parse phase's errors.
//!
//! Each variant holds what the message needs; where it happened (and the
//! label and hint for a person) is the [`Diagnostic`](crate::diag::Diagnostic)
//! that carries it.

/// A problem found while parsing one file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ParseError {
    /// Text the grammar does not allow here.
    #[error("unexpected {found}: expected {expected}")]
    #[diagnostic(code("sovra::syntax"))]
    Unexpected {
        /// What was found (`` `=` ``, `end of file`).
        found: String,
        /// What the grammar allows here, in the language's words.
        expected: String,
    },
    /// A condition nested deeper than the limit.
    #[error("this condition nests deeper than {limit} levels")]
    #[diagnostic(code("sovra::too_deep"))]
    TooDeep {
        /// The limit ([`MAX_NESTING`](super::MAX_NESTING)).
        limit: u32,
    },
    /// A parser thread failed (a bug in Sovra), reported instead of being
    /// taken for a file without problems.
    #[error("the parser {why} on this part of the file (a defect: please report it)")]
    #[diagnostic(code("sovra::syntax"))]
    ParserFailed {
        /// What happened to it.
        why: String,
    },
}
