//! The language's vocabulary, shared by the syntax tree and the compiled
//! program: a rule's effect, the comparison operators and the `is` tests.
//!
//! It lives apart from both so that what runs a program (the IR, eval, the
//! Rego bridge, the log, the server) never depends on the syntax tree. The
//! serde forms are part of the stored program and of the policy hash: never
//! rename a variant.

/// Whether a rule allows or refuses what it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allows what it applies to, unless a forbid applies too.
    Permit,
    /// Refuses what it applies to, whatever permits it.
    Forbid,
}

impl Effect {
    /// `permit` or `forbid`, as policies and decisions spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        }
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `not in`
    NotIn,
    /// `satisfies` (a region and a residency profile).
    Satisfies,
    /// `any in`: some member of a list is in the set.
    AnyIn,
    /// `all in`: every member of a list is in the set (true for an empty list).
    AllIn,
    /// `none in`: no member of a list is in the set (true for an empty list).
    NoneIn,
    /// `starts_with`: a string begins with another.
    StartsWith,
    /// `ends_with`: a string ends with another.
    EndsWith,
    /// `matches`: a string matches a glob (`*` any run of characters, `?` one).
    Matches,
}

impl CmpOp {
    /// The operator as a policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
            CmpOp::NotIn => "not in",
            CmpOp::Satisfies => "satisfies",
            CmpOp::AnyIn => "any in",
            CmpOp::AllIn => "all in",
            CmpOp::NoneIn => "none in",
            CmpOp::StartsWith => "starts_with",
            CmpOp::EndsWith => "ends_with",
            CmpOp::Matches => "matches",
        }
    }
}

/// What an `is` test asks of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IsWhat {
    /// `is declared`: the value names something the policies declare.
    Declared,
    /// `is present`: the request or documents give the value.
    Present,
    /// `is missing`: they do not.
    Missing,
}

impl IsWhat {
    /// The test as a policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            IsWhat::Declared => "declared",
            IsWhat::Present => "present",
            IsWhat::Missing => "missing",
        }
    }
}

/// The seconds in one unit of a duration as the language writes it (`w`,
/// `d`, `h`, `m`, `s`): policies (`90d`) and the grants workflow share it.
pub fn duration_unit(unit: &str) -> Option<i64> {
    Some(match unit {
        "w" => 604_800,
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return None,
    })
}
