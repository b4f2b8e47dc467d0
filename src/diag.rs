//! Diagnostics about policy files, shared by the parser and the checker.
//!
//! A [`Diagnostic`] is a span, a lowercase one-sentence message, a label for
//! the underlined text and a hint at the fix. [`render`] turns a list of them
//! into the text `sovra check` prints (miette's graphical report, no colour, so
//! the output is the same on every terminal and in snapshots).

use crate::check::CheckError;
use crate::source::{Sources, Span};
use crate::syntax::ParseError;
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use std::fmt;
use std::sync::Arc;

/// What kind of problem a diagnostic reports; stable names for tests and tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Text that does not parse.
    Syntax,
    /// A name that is not declared or imported.
    UnknownName,
    /// Operands of types that do not compare, or a value where a condition is due.
    Type,
    /// A classification that is not declared.
    UnknownClassification,
    /// A residency profile that is not declared.
    UnknownProfile,
    /// A literal a field cannot hold (a status, mode or sensitivity).
    UnknownValue,
    /// Not an ISO 3166-1 alpha-2 country code.
    InvalidCountry,
    /// A name declared twice.
    Duplicate,
    /// A rule whose condition can never hold.
    NeverApplies,
    /// Sets that are defined in terms of each other.
    Cycle,
    /// An import of a package or name that does not exist.
    Import,
    /// An expression nested deeper than the limit.
    TooDeep,
    /// A number that does not fit.
    Number,
    /// A warning: a path outside the schema close to one in it, or under `request.`.
    SuspiciousPath,
    /// A warning: a `{hole}` in a message that names no value.
    HoleNamesNothing,
    /// A warning: a forbid whose `!=`/`not in` is false on a missing value.
    FailsOpen,
    /// A warning: a set or import never used.
    Unused,
    /// Obligations on a forbid rule (they would never reach a caller).
    ObligationOnForbid,
    /// A warning: a permit an unconditional forbid always overrides.
    Shadowed,
    /// A broken invariant inside Sovra (a bug), reported instead of being
    /// turned into a plausible value.
    Internal,
}

impl Code {
    /// The stable name (`sovra::unknown_name`), as `sovra check` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "sovra::syntax",
            Code::UnknownName => "sovra::unknown_name",
            Code::Type => "sovra::type",
            Code::UnknownClassification => "sovra::unknown_classification",
            Code::UnknownProfile => "sovra::unknown_profile",
            Code::UnknownValue => "sovra::unknown_value",
            Code::InvalidCountry => "sovra::invalid_country",
            Code::Duplicate => "sovra::duplicate",
            Code::NeverApplies => "sovra::never_applies",
            Code::Cycle => "sovra::cycle",
            Code::Import => "sovra::import",
            Code::TooDeep => "sovra::too_deep",
            Code::Number => "sovra::number",
            Code::Internal => "sovra::internal",
            Code::SuspiciousPath => "sovra::suspicious_path",
            Code::HoleNamesNothing => "sovra::hole_names_nothing",
            Code::FailsOpen => "sovra::fails_open",
            Code::Unused => "sovra::unused",
            Code::ObligationOnForbid => "sovra::obligation_on_forbid",
            Code::Shadowed => "sovra::shadowed",
        }
    }
}

/// What went wrong, typed by the phase that found it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Found while parsing a file.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Found while checking the policy set.
    #[error(transparent)]
    Check(#[from] CheckError),
}

impl Problem {
    /// Its kind: the variant's name (`DuplicateRule`), one per message.
    pub fn kind(&self) -> &'static str {
        use CheckError as C;
        match self {
            Problem::Parse(p) => match p {
                ParseError::Unexpected { .. } => "Unexpected",
                ParseError::TooDeep { .. } => "TooDeep",
                ParseError::ParserFailed { .. } => "ParserFailed",
            },
            Problem::Check(c) => match c {
                C::DuplicateRule { .. } => "DuplicateRule",
                C::DuplicateAssertion { .. } => "DuplicateAssertion",
                C::DuplicateSet { .. } => "DuplicateSet",
                C::DuplicateClassification { .. } => "DuplicateClassification",
                C::DuplicateProfile { .. } => "DuplicateProfile",
                C::NeverApplies { .. } => "NeverApplies",
                C::NotACondition { .. } => "NotACondition",
                C::EmptyHole => "EmptyHole",
                C::Internal { .. } => "Internal",
                C::CompilerFailed => "CompilerFailed",
                C::NestedExists => "NestedExists",
                C::NotDeclarable { .. } => "NotDeclarable",
                C::NumberTooLarge { .. } => "NumberTooLarge",
                C::InvalidTime { .. } => "InvalidTime",
                C::Arithmetic { .. } => "Arithmetic",
                C::CountryWithString => "CountryWithString",
                C::Incomparable { .. } => "Incomparable",
                C::NoField { .. } => "NoField",
                C::WholeRecord { .. } => "WholeRecord",
                C::WholeGrant { .. } => "WholeGrant",
                C::UnknownName { .. } => "UnknownName",
                C::UnknownSetOrName { .. } => "UnknownSetOrName",
                C::NoPackage { .. } => "NoPackage",
                C::NoSetInPackage { .. } => "NoSetInPackage",
                C::Cycle { .. } => "Cycle",
                C::UnknownSet { .. } => "UnknownSet",
                C::MixedSets => "MixedSets",
                C::NotAListValue { .. } => "NotAListValue",
                C::NotALiteral => "NotALiteral",
                C::MixedList => "MixedList",
                C::InvalidCountry { .. } => "InvalidCountry",
                C::UnknownSensitivity { .. } => "UnknownSensitivity",
                C::ProfileNeedsCountries => "ProfileNeedsCountries",
                C::UnknownClassification { .. } => "UnknownClassification",
                C::UnknownValue { .. } => "UnknownValue",
                C::UnknownProfile { .. } => "UnknownProfile",
                C::SuspiciousPath { .. } => "SuspiciousPath",
                C::RequestPath { .. } => "RequestPath",
                C::HoleNamesNothing { .. } => "HoleNamesNothing",
                C::FailsOpen { .. } => "FailsOpen",
                C::UnusedSet { .. } => "UnusedSet",
                C::UnusedImport { .. } => "UnusedImport",
                C::ObligationOnForbid { .. } => "ObligationOnForbid",
                C::ShadowedPermit { .. } => "ShadowedPermit",
                C::SuspiciousAction { .. } => "SuspiciousAction",
                C::InvalidSubdivision { .. } => "InvalidSubdivision",
                C::UndeclaredAction { .. } => "UndeclaredAction",
                C::UndeclaredField { .. } => "UndeclaredField",
                C::UnknownType { .. } => "UnknownType",
                C::DuplicateField { .. } => "DuplicateField",
                C::ExpansionLimit { .. } => "ExpansionLimit",
                C::WrongArguments { .. } => "WrongArguments",
                C::UnknownFunction { .. } => "UnknownFunction",
                C::ConditionCycle { .. } => "ConditionCycle",
                C::DuplicateCondition { .. } => "DuplicateCondition",
                C::PatternNotLiteral => "PatternNotLiteral",
                C::RepeatedClause { .. } => "RepeatedClause",
            },
        }
    }

    /// Its kind, by stable name.
    pub fn code(&self) -> Code {
        use CheckError as C;
        match self {
            Problem::Parse(ParseError::Unexpected { .. } | ParseError::ParserFailed { .. }) => {
                Code::Syntax
            }
            Problem::Parse(ParseError::TooDeep { .. }) => Code::TooDeep,
            Problem::Check(c) => match c {
                C::DuplicateRule { .. }
                | C::DuplicateAssertion { .. }
                | C::DuplicateSet { .. }
                | C::DuplicateClassification { .. }
                | C::DuplicateProfile { .. } => Code::Duplicate,
                C::NeverApplies { .. } => Code::NeverApplies,
                C::NotACondition { .. }
                | C::NestedExists
                | C::NotDeclarable { .. }
                | C::InvalidTime { .. }
                | C::Arithmetic { .. }
                | C::CountryWithString
                | C::Incomparable { .. }
                | C::WholeRecord { .. }
                | C::WholeGrant { .. }
                | C::MixedSets
                | C::NotALiteral
                | C::MixedList
                | C::ProfileNeedsCountries => Code::Type,
                C::EmptyHole
                | C::NoField { .. }
                | C::UnknownName { .. }
                | C::UnknownSetOrName { .. }
                | C::NoSetInPackage { .. }
                | C::UnknownSet { .. }
                | C::NotAListValue { .. } => Code::UnknownName,
                C::Internal { .. } => Code::Internal,
                C::CompilerFailed => Code::Syntax,
                C::NumberTooLarge { .. } => Code::Number,
                C::NoPackage { .. } => Code::Import,
                C::Cycle { .. } => Code::Cycle,
                C::InvalidCountry { .. } => Code::InvalidCountry,
                C::UnknownSensitivity { .. } | C::UnknownValue { .. } => Code::UnknownValue,
                C::UnknownClassification { .. } => Code::UnknownClassification,
                C::UnknownProfile { .. } => Code::UnknownProfile,
                C::SuspiciousPath { .. } | C::RequestPath { .. } | C::SuspiciousAction { .. } => {
                    Code::SuspiciousPath
                }
                C::HoleNamesNothing { .. } => Code::HoleNamesNothing,
                C::FailsOpen { .. } => Code::FailsOpen,
                C::UnusedSet { .. } | C::UnusedImport { .. } => Code::Unused,
                C::ObligationOnForbid { .. } => Code::ObligationOnForbid,
                C::ShadowedPermit { .. } => Code::Shadowed,
                C::InvalidSubdivision { .. } => Code::InvalidCountry,
                C::UndeclaredAction { .. } => Code::UnknownName,
                C::UndeclaredField { .. } => Code::UnknownName,
                C::UnknownType { .. } => Code::UnknownName,
                C::DuplicateField { .. } => Code::Duplicate,
                C::ExpansionLimit { .. } => Code::TooDeep,
                C::WrongArguments { .. } => Code::Type,
                C::UnknownFunction { .. } => Code::UnknownName,
                C::ConditionCycle { .. } => Code::Cycle,
                C::DuplicateCondition { .. } => Code::Duplicate,
                C::PatternNotLiteral => Code::Type,
                C::RepeatedClause { .. } => Code::Duplicate,
            },
        }
    }
}

/// Every kind of problem, as [`Problem::kind`] names it (a test requires a
/// case for each; a unit test checks the list against the match).
pub const KINDS: [&str; 60] = [
    "Unexpected",
    "TooDeep",
    "ParserFailed",
    "DuplicateRule",
    "DuplicateAssertion",
    "DuplicateSet",
    "DuplicateClassification",
    "DuplicateProfile",
    "NeverApplies",
    "NotACondition",
    "EmptyHole",
    "Internal",
    "CompilerFailed",
    "NestedExists",
    "NotDeclarable",
    "NumberTooLarge",
    "InvalidTime",
    "Arithmetic",
    "CountryWithString",
    "Incomparable",
    "NoField",
    "WholeRecord",
    "WholeGrant",
    "UnknownName",
    "UnknownSetOrName",
    "NoPackage",
    "NoSetInPackage",
    "Cycle",
    "UnknownSet",
    "MixedSets",
    "NotAListValue",
    "NotALiteral",
    "MixedList",
    "InvalidCountry",
    "UnknownSensitivity",
    "ProfileNeedsCountries",
    "UnknownClassification",
    "UnknownValue",
    "UnknownProfile",
    "SuspiciousPath",
    "RequestPath",
    "HoleNamesNothing",
    "FailsOpen",
    "UnusedSet",
    "UnusedImport",
    "ObligationOnForbid",
    "ShadowedPermit",
    "SuspiciousAction",
    "InvalidSubdivision",
    "UndeclaredAction",
    "UndeclaredField",
    "UnknownType",
    "DuplicateField",
    "ExpansionLimit",
    "WrongArguments",
    "UnknownFunction",
    "ConditionCycle",
    "DuplicateCondition",
    "PatternNotLiteral",
    "RepeatedClause",
];

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Severity {
    /// The policy set does not compile.
    #[default]
    Error,
    /// It compiles, but probably not as meant (`sovra check` exits 0, or 2
    /// with `--deny-warnings`).
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in a policy file: what went wrong, where, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// What went wrong.
    pub problem: Problem,
    /// Where.
    pub span: Span,
    /// The words under the underlined text.
    pub label: String,
    /// What would fix it.
    pub help: Option<String>,
    /// Other places that matter, with their words: the first declaration
    /// of a duplicate, every member of a cycle.
    pub also: Vec<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic without label or help.
    pub fn new(problem: impl Into<Problem>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            problem: problem.into(),
            span,
            label: String::new(),
            help: None,
            also: Vec::new(),
        }
    }
    /// A warning.
    pub fn warning(problem: impl Into<Problem>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::new(problem, span)
        }
    }
    /// With the words under the underlined text.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// With what would fix it.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// With another place that matters.
    pub fn also(mut self, span: Span, label: impl Into<String>) -> Self {
        self.also.push((span, label.into()));
        self
    }
    /// Its kind, by stable name.
    pub fn code(&self) -> Code {
        self.problem.code()
    }
    /// What went wrong, one lowercase sentence.
    pub fn message(&self) -> String {
        self.problem.to_string()
    }
}

/// A diagnostic joined to its source, in the shape miette renders: the
/// places in its own file as labels, those in other files as related
/// reports of their own.
struct Report {
    /// A second place, shown after the problem (not a problem itself).
    secondary: bool,
    /// A warning, not an error.
    warning: bool,
    message: String,
    code: Option<String>,
    help: Option<String>,
    src: Excerpt,
    labels: Vec<(Span, Option<String>)>,
    related: Vec<Report>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &Sources) -> Report {
        // The places in the diagnostic's own file are shown together.
        let (lo, hi) = d
            .also
            .iter()
            .map(|(s, _)| s)
            .filter(|s| s.file == d.span.file)
            .fold((d.span.start, d.span.end), |(lo, hi), s| {
                (lo.min(s.start), hi.max(s.end))
            });
        let src = |span: Span, lo: u32, hi: u32| Excerpt::new(sources, span, lo, hi);
        let label = (!d.label.is_empty()).then(|| d.label.clone());
        let mut labels = vec![(d.span, label)];
        let mut related = Vec::new();
        for (span, words) in &d.also {
            if span.file == d.span.file {
                labels.push((*span, Some(words.clone())));
            } else {
                related.push(Report {
                    secondary: true,
                    warning: false,
                    message: words.clone(),
                    code: None,
                    help: None,
                    src: src(*span, span.start, span.end),
                    labels: vec![(*span, Some(words.clone()))],
                    related: Vec::new(),
                });
            }
        }
        Report {
            secondary: false,
            warning: d.severity == Severity::Warning,
            message: d.message(),
            code: Some(d.code().as_str().to_string()),
            help: d.help.clone(),
            src: src(d.span, lo, hi),
            labels,
            related,
        }
    }
}

/// The lines of a file around a diagnostic's places, for miette: it finds
/// a span's line by counting from the start of the text it is given, so
/// given the whole file, rendering many diagnostics of a large file costs
/// the file's length for each one (10,000 rules with 5,000 warnings took
/// 17 s to check). The excerpt answers with the file's own offsets and line
/// numbers, so the rendering is the same.
struct Excerpt {
    name: String,
    text: Arc<str>,
    /// The excerpt, as a byte range of `text`.
    start: usize,
    end: usize,
    /// The 0-based number of the excerpt's first line.
    line: usize,
}

impl Excerpt {
    /// Lines of context either side of the places (miette shows one).
    const MARGIN: usize = 3;

    fn new(sources: &Sources, span: Span, lo: u32, hi: u32) -> Excerpt {
        let Some(f) = sources.file(span) else {
            return Excerpt {
                name: "<unknown>".to_string(),
                text: Arc::from(""),
                start: 0,
                end: 0,
                line: 0,
            };
        };
        let (start, end, line) = f
            .excerpt(lo, hi, Self::MARGIN)
            .unwrap_or((0, f.text.len(), 0));
        Excerpt {
            name: f.path.clone(),
            text: f.text.clone(),
            start,
            end,
            line,
        }
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inside = span.offset() >= self.start && span.offset() + span.len() <= self.end;
        let (text, base, line) = match self.text.get(self.start..self.end) {
            Some(t) if inside => (t, self.start, self.line),
            _ => (&*self.text, 0, 0),
        };
        let local = SourceSpan::new((span.offset() - base).into(), span.len());
        let c = text.read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            SourceSpan::new((c.span().offset() + base).into(), c.span().len()),
            c.line() + line,
            c.column(),
            c.line_count() + line,
        )))
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        if self.secondary {
            Some(miette::Severity::Advice)
        } else if self.warning {
            Some(miette::Severity::Warning)
        } else {
            None
        }
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().map(|(span, label)| {
            let len = (span.end.saturating_sub(span.start)) as usize;
            LabeledSpan::new_with_span(
                label.clone(),
                SourceSpan::new((span.start as usize).into(), len),
            )
        })))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

/// Renders diagnostics as `sovra check` prints them.
pub fn render(diags: &[Diagnostic], sources: &Sources) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let report = Report::new(d, sources);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!(
                "{}: {}\n",
                sources.path_location(d.span),
                d.message()
            ));
        }
        out.push('\n');
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let errors = diags.len() - warnings;
    let summary = match (errors, warnings) {
        (n, 0) => format!("{n} problem{} found", s(n)),
        (0, w) => format!("{w} warning{} found", s(w)),
        (e, w) => format!("{e} problem{} and {w} warning{} found", s(e), s(w)),
    };
    out.push_str(&summary);
    out.push('\n');
    out
}

/// One diagnostic as tools read it (`sovra check --format json`, the
/// server's reload errors): where, how severe, what and what to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// `error` or `warning`.
    pub severity: String,
    /// The stable name (`sovra::unknown_name`).
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The file, as the policy set names it (its path as given).
    pub file: String,
    /// 1-based line of the start.
    pub line: usize,
    /// 1-based column (in characters) of the start.
    pub column: usize,
    /// 1-based line of the end.
    pub end_line: usize,
    /// 1-based column of the end (exclusive).
    pub end_column: usize,
    /// The words under the underlined text.
    pub label: String,
    /// What would fix it.
    pub help: Option<String>,
}

/// The diagnostics as [`Record`]s.
pub fn records(diags: &[Diagnostic], sources: &Sources) -> Vec<Record> {
    diags
        .iter()
        .map(|d| {
            let (line, column) = sources.line_col(d.span);
            let end = Span {
                start: d.span.end,
                ..d.span
            };
            let (end_line, end_column) = sources.line_col(end);
            Record {
                severity: d.severity.as_str().into(),
                code: d.code().as_str().into(),
                message: d.message(),
                file: sources
                    .file(d.span)
                    .map_or_else(|| "<unknown>".into(), |f| f.path.clone()),
                line,
                column,
                end_line,
                end_column,
                label: d.label.clone(),
                help: d.help.clone(),
            }
        })
        .collect()
}

/// The diagnostics as a SARIF 2.1.0 log (what code-scanning services read):
/// one run of the tool `sovra`, a rule per code, a result per diagnostic.
pub fn sarif(diags: &[Diagnostic], sources: &Sources) -> serde_json::Value {
    use serde_json::json;
    let records = records(diags, sources);
    let mut codes: Vec<&str> = records.iter().map(|r| r.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| json!({ "id": c, "name": c.trim_start_matches("sovra::") }))
        .collect();
    let results: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let mut text = r.message.clone();
            if let Some(h) = &r.help {
                text.push_str(&format!(" (help: {h})"));
            }
            json!({
                "ruleId": r.code,
                "level": r.severity,
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": r.file },
                        "region": {
                            "startLine": r.line, "startColumn": r.column,
                            "endLine": r.end_line, "endColumn": r.end_column
                        }
                    }
                }]
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "sovra",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "results": results
        }]
    })
}
