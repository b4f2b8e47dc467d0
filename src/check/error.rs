//! What the checker can find wrong: the check phase's errors, one variant
//! per kind of problem.
//!
//! Each variant holds what its message needs; where it happened, the label,
//! the hint and any second place that matters (the first declaration of a
//! duplicate, every member of a cycle) are the
//! [`Diagnostic`](crate::diag::Diagnostic) that carries it.

/// A problem the checker found in a policy set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum CheckError {
    /// A rule name used twice in a package.
    #[error("rule `{id}` is declared twice")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateRule {
        /// The rule's id (`package.name`).
        id: String,
    },
    /// An assertion name used twice in a package.
    #[error("assertion `{id}` is declared twice")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateAssertion {
        /// The assertion's id (`package.name`).
        id: String,
    },
    /// A set name used twice in a package.
    #[error("set `{name}` is declared twice in package `{package}`")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateSet {
        /// The set.
        name: String,
        /// Its package.
        package: String,
    },
    /// A classification declared twice (they are global).
    #[error("classification `{name}` is declared twice")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateClassification {
        /// The classification.
        name: String,
    },
    /// A residency profile declared twice (they are global).
    #[error("profile `{name}` is declared twice")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateProfile {
        /// The profile.
        name: String,
    },
    /// A rule whose condition is always false.
    #[error("rule `{id}` can never apply: {why}")]
    #[diagnostic(code("sovra::never_applies"))]
    NeverApplies {
        /// The rule's id.
        id: String,
        /// Why, in words.
        why: String,
    },
    /// A value where a condition is due.
    #[error("a condition must be true or false, but this is {found}")]
    #[diagnostic(code("sovra::type"))]
    NotACondition {
        /// What it is (`a country`).
        found: &'static str,
    },
    /// `{}` in a message.
    #[error("an empty `{{}}` in a message")]
    #[diagnostic(code("sovra::unknown_name"))]
    EmptyHole,
    /// A shape the grammar cannot produce (a bug in Sovra).
    #[error("internal error: the parser built an unexpected shape for {what}")]
    #[diagnostic(code("sovra::internal"))]
    Internal {
        /// What was being built.
        what: &'static str,
    },
    /// The compiler thread failed (a bug in Sovra).
    #[error("the compiler failed on this policy set (a defect: please report it)")]
    #[diagnostic(code("sovra::syntax"))]
    CompilerFailed,
    /// `exists grant` inside another.
    #[error("`exists grant` cannot be nested in another")]
    #[diagnostic(code("sovra::type"))]
    NestedExists,
    /// `is declared` on something that is neither a classification nor a profile.
    #[error("`is declared` asks about a classification or a residency profile, not {found}")]
    #[diagnostic(code("sovra::type"))]
    NotDeclarable {
        /// What it was asked of.
        found: &'static str,
    },
    /// A number literal that is not a finite 64-bit number.
    #[error("the number `{text}` is too large to compute with")]
    #[diagnostic(code("sovra::number"))]
    NumberTooLarge {
        /// The literal (cut to 16 characters).
        text: String,
    },
    /// A time literal that is not a real instant.
    #[error("`{text}` is not a valid time")]
    #[diagnostic(code("sovra::type"))]
    InvalidTime {
        /// The literal.
        text: String,
    },
    /// `+` or `-` on operands it does not join.
    #[error("cannot apply `{op}` to {left} and {right}")]
    #[diagnostic(code("sovra::type"))]
    Arithmetic {
        /// `+` or `-`.
        op: &'static str,
        /// The left operand's type.
        left: &'static str,
        /// The right operand's type.
        right: &'static str,
    },
    /// A country compared with a string literal.
    #[error("cannot compare a country with a string")]
    #[diagnostic(code("sovra::type"))]
    CountryWithString,
    /// Operands of types that do not compare.
    #[error("cannot compare {left} with {right}")]
    #[diagnostic(code("sovra::type"))]
    Incomparable {
        /// The left operand's type.
        left: &'static str,
        /// The right operand's type.
        right: &'static str,
    },
    /// A field a record does not have.
    #[error("`{record}` has no field `{field}`")]
    #[diagnostic(code("sovra::unknown_name"))]
    NoField {
        /// The record (`target`, `resource.residency`).
        record: String,
        /// The field asked for.
        field: String,
    },
    /// A whole record where a value is due.
    #[error("`{name}` is a record; use one of its fields")]
    #[diagnostic(code("sovra::type"))]
    WholeRecord {
        /// The record.
        name: String,
    },
    /// A whole grant where a value is due.
    #[error("`{var}` is a grant; use one of its fields")]
    #[diagnostic(code("sovra::type"))]
    WholeGrant {
        /// The grant variable.
        var: String,
    },
    /// A name that is neither a request path, a set in scope, a country
    /// code nor a word.
    #[error("unknown name `{name}`")]
    #[diagnostic(code("sovra::unknown_name"))]
    UnknownName {
        /// The name.
        name: String,
    },
    /// A single word that is neither a set in scope nor a name.
    #[error("unknown set or name `{name}`")]
    #[diagnostic(code("sovra::unknown_name"))]
    UnknownSetOrName {
        /// The word.
        name: String,
    },
    /// An import from a package that declares no sets.
    #[error("no package `{package}` declares sets to import")]
    #[diagnostic(code("sovra::import"))]
    NoPackage {
        /// The package.
        package: String,
    },
    /// An import of a set its package does not declare.
    #[error("package `{package}` has no set `{name}`")]
    #[diagnostic(code("sovra::unknown_name"))]
    NoSetInPackage {
        /// The package.
        package: String,
        /// The set.
        name: String,
    },
    /// Sets defined in terms of each other.
    #[error("set `{name}` is defined in terms of itself")]
    #[diagnostic(code("sovra::cycle"))]
    Cycle {
        /// The set where the cycle was found.
        name: String,
    },
    /// A set name in a set expression that is not in scope.
    #[error("unknown set `{name}`")]
    #[diagnostic(code("sovra::unknown_name"))]
    UnknownSet {
        /// The name.
        name: String,
    },
    /// `+` or `-` between a set of countries and a set of strings.
    #[error("cannot combine a set of countries with a set of strings")]
    #[diagnostic(code("sovra::type"))]
    MixedSets,
    /// A word in a list that is not a value.
    #[error("`{name}` is not a value a list can hold")]
    #[diagnostic(code("sovra::unknown_name"))]
    NotAListValue {
        /// The word.
        name: String,
    },
    /// An expression in a list.
    #[error("list members must be literals")]
    #[diagnostic(code("sovra::type"))]
    NotALiteral,
    /// Country codes and strings in one list.
    #[error("a list mixes country codes and strings")]
    #[diagnostic(code("sovra::type"))]
    MixedList,
    /// Two upper-case letters that are not an assigned country code.
    #[error("`{text}` is not an ISO 3166-1 country code")]
    #[diagnostic(code("sovra::invalid_country"))]
    InvalidCountry {
        /// The letters.
        text: String,
    },
    /// A classification's sensitivity off the scale.
    #[error("unknown sensitivity `{name}`")]
    #[diagnostic(code("sovra::unknown_value"))]
    UnknownSensitivity {
        /// The word.
        name: String,
    },
    /// A residency profile over strings.
    #[error("a residency profile needs a set of countries")]
    #[diagnostic(code("sovra::type"))]
    ProfileNeedsCountries,
    /// A classification literal that no file declares.
    #[error("unknown classification `{value}`")]
    #[diagnostic(code("sovra::unknown_classification"))]
    UnknownClassification {
        /// The literal.
        value: String,
    },
    /// A literal a field cannot hold (a region status, residency mode or
    /// sensitivity).
    #[error("unknown {what} `{value}`")]
    #[diagnostic(code("sovra::unknown_value"))]
    UnknownValue {
        /// What the field holds (`region status`).
        what: &'static str,
        /// The literal.
        value: String,
    },
    /// A residency profile literal that no file declares.
    #[error("unknown residency profile `{name}`")]
    #[diagnostic(code("sovra::unknown_profile"))]
    UnknownProfile {
        /// The literal.
        name: String,
    },
    /// A path outside the schema one edit or two from a field of it: a
    /// typo reads a missing value, and the rule silently never applies.
    #[error("`{path}` is not a field of the schema, but `{suggestion}` is")]
    #[diagnostic(code("sovra::suspicious_path"))]
    SuspiciousPath {
        /// The path as written.
        path: String,
        /// The field it is close to.
        suggestion: String,
    },
    /// A `request.` path: a field outside the contract, read by key.
    #[error("`{path}` reads a field outside the request contract")]
    #[diagnostic(code("sovra::suspicious_path"))]
    RequestPath {
        /// The path as written.
        path: String,
    },
    /// A `{hole}` in a message that names a word, not a value.
    #[error("`{{{text}}}` in this message names no value: it prints the word `{text}`")]
    #[diagnostic(code("sovra::hole_names_nothing"))]
    HoleNamesNothing {
        /// The hole's text.
        text: String,
    },
    /// `!=` or `not in` in a forbid on a value that may be missing.
    #[error("`{condition}` is false when `{path}` is missing, so this forbid does not apply then (it fails open)")]
    #[diagnostic(code("sovra::fails_open"))]
    FailsOpen {
        /// The comparison as written.
        condition: String,
        /// The operand that may be missing.
        path: String,
    },
    /// A set no rule or set uses.
    #[error("set `{name}` is never used")]
    #[diagnostic(code("sovra::unused"))]
    UnusedSet {
        /// The set.
        name: String,
    },
    /// An imported name the file never uses.
    #[error("`{name}` is imported but never used in this file")]
    #[diagnostic(code("sovra::unused"))]
    UnusedImport {
        /// The name.
        name: String,
    },
    /// Obligations on a forbid rule: a forbid's decision is a deny, which
    /// carries no obligations, so they would be dropped.
    #[error("forbid `{id}` has obligations, which a deny never carries")]
    #[diagnostic(code("sovra::obligation_on_forbid"))]
    ObligationOnForbid {
        /// The rule.
        id: String,
    },
    /// A permit that never takes effect: a forbid without conditions
    /// (beyond `action`) covers every action it does.
    #[error(
        "permit `{permit}` never takes effect: forbid `{forbid}` applies to every request it could"
    )]
    #[diagnostic(code("sovra::shadowed"))]
    ShadowedPermit {
        /// The permit.
        permit: String,
        /// The forbid that overrides it.
        forbid: String,
    },
    /// An action one or two edits from one of the contract's (`acess`):
    /// a rule about it never meets a request.
    #[error("`{action}` is not an action of the contract, but `{suggestion}` is")]
    #[diagnostic(code("sovra::suspicious_path"))]
    SuspiciousAction {
        /// The action as written.
        action: String,
        /// The contract's action it is close to.
        suggestion: String,
    },
    /// A clause given twice in one rule (`because` twice).
    #[error("`{clause}` is given twice in rule `{id}`")]
    #[diagnostic(code("sovra::duplicate"))]
    RepeatedClause {
        /// The clause (`because`).
        clause: &'static str,
        /// The rule.
        id: String,
    },
    /// A `matches` pattern that is not a quoted string.
    #[error("the pattern of `matches` must be a quoted string")]
    #[diagnostic(code("sovra::type"))]
    PatternNotLiteral,
    /// A named condition declared twice in a package.
    #[error("condition `{name}` is declared twice")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateCondition {
        /// The condition (`package.name`).
        name: String,
    },
    /// A named condition that uses itself, directly or through others.
    #[error("condition `{name}` uses itself")]
    #[diagnostic(code("sovra::cycle"))]
    ConditionCycle {
        /// The condition.
        name: String,
    },
    /// A call of something that is neither `count` nor a condition in scope.
    #[error("`{name}` is not a condition or function in scope")]
    #[diagnostic(code("sovra::unknown_name"))]
    UnknownFunction {
        /// The name.
        name: String,
    },
    /// A call with the wrong number or kind of arguments.
    #[error("wrong arguments for `{name}`")]
    #[diagnostic(code("sovra::type"))]
    WrongArguments {
        /// What was called.
        name: String,
    },
    /// Named conditions that expand too deep or too large.
    #[error("condition `{name}` expands past the limit")]
    #[diagnostic(code("sovra::too_deep"))]
    ExpansionLimit {
        /// The condition.
        name: String,
    },
    /// A field declared twice, or declared though the schema has it.
    #[error("field `{path}` is declared twice, or is a field of the schema")]
    #[diagnostic(code("sovra::duplicate"))]
    DuplicateField {
        /// The field.
        path: String,
    },
    /// A type a field declaration names that does not exist.
    #[error("`{name}` is not a type")]
    #[diagnostic(code("sovra::unknown_name"))]
    UnknownType {
        /// The word.
        name: String,
    },
    /// An extra field read by a policy set that declares its fields.
    #[error("field `{path}` is not declared")]
    #[diagnostic(code("sovra::unknown_name"))]
    UndeclaredField {
        /// The path as written.
        path: String,
    },
    /// An action or obligation a declaring policy set does not declare.
    #[error("{what} `{name}` is not declared")]
    #[diagnostic(code("sovra::unknown_name"))]
    UndeclaredAction {
        /// The name.
        name: String,
        /// `action` or `obligation`.
        what: &'static str,
    },
    /// A subdivision literal that is not an ISO 3166-2 code.
    #[error("`{text}` is not an ISO 3166-2 subdivision code")]
    #[diagnostic(code("sovra::invalid_country"))]
    InvalidSubdivision {
        /// The text.
        text: String,
    },
}
