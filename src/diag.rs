//! Diagnostics about policy files, shared by the parser and the checker.
//!
//! A [`Diagnostic`] is a span, a lowercase one-sentence message, a label for
//! the underlined text and a hint at the fix. [`render`] turns a list of them
//! into the text `sovra check` prints (miette's graphical report, no colour, so
//! the output is the same on every terminal and in snapshots).

use crate::source::{Sources, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;

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
        }
    }
}

/// One problem in a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem.
    pub code: Code,
    /// Where.
    pub span: Span,
    /// What is wrong, one lowercase sentence.
    pub message: String,
    /// The words under the underlined text.
    pub label: String,
    /// What would fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without label or help.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            span,
            message: message.into(),
            label: String::new(),
            help: None,
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
}

/// A diagnostic joined to its source, in the shape miette renders.
struct Report<'a> {
    diag: &'a Diagnostic,
    src: NamedSource<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.as_str()))
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diag.span;
        let len = (span.end.saturating_sub(span.start)) as usize;
        let label = (!self.diag.label.is_empty()).then(|| self.diag.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label,
            SourceSpan::new((span.start as usize).into(), len),
        ))))
    }
}

/// Renders diagnostics as `sovra check` prints them.
pub fn render(diags: &[Diagnostic], sources: &Sources) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let (name, text) = sources
            .file(d.span)
            .map_or(("<unknown>".to_string(), String::new()), |f| {
                (f.path.clone(), f.text.to_string())
            });
        let report = Report {
            diag: d,
            src: NamedSource::new(name, text),
        };
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!(
                "{}: {}\n",
                sources.path_location(d.span),
                d.message
            ));
        }
        out.push('\n');
    }
    let n = diags.len();
    out.push_str(&format!(
        "{n} problem{} found\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}
