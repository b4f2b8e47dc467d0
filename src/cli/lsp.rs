//! `sovra lsp`: a language server over standard input and output.
//!
//! Diagnostics as you type (the open file checked with the other `.sov`
//! files of its folder), hover on a name, go to definition, and formatting
//! through `sovra fmt`. The answers come from `sovra::ide`; this file only
//! speaks the protocol (rust-analyzer's `lsp-server`).

use super::*;
use lsp_server::{Connection, Message, Notification, Request as LspRequest, Response};
use lsp_types::{
    Diagnostic as LspDiagnostic, DiagnosticSeverity, GotoDefinitionResponse, Hover, HoverContents,
    Location, MarkupContent, MarkupKind, NumberOrString, Position, PublishDiagnosticsParams, Range,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};
use sovra::source::Span;
use std::collections::HashMap;

/// The language server's options.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  sovra lsp        # started by an editor, speaking JSON-RPC on stdin/stdout")]
pub(super) struct Args {}

/// The open documents, by URI.
#[derive(Default)]
struct Docs(HashMap<String, String>);

pub(super) fn run(_: Args) -> Result<u8, Fail> {
    let (connection, io) = Connection::stdio();
    let caps = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp_types::OneOf::Left(true)),
        document_formatting_provider: Some(lsp_types::OneOf::Left(true)),
        ..ServerCapabilities::default()
    };
    connection
        .initialize(serde_json::to_value(caps)?)
        .map_err(|e| Fail(format!("lsp: initialize: {e}")))?;
    let mut docs = Docs::default();
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| Fail(format!("lsp: {e}")))?
                {
                    break;
                }
                let resp = answer(&docs, req);
                connection
                    .sender
                    .send(Message::Response(resp))
                    .map_err(|e| Fail(format!("lsp: {e}")))?;
            }
            Message::Notification(n) => {
                if let Some(uri) = docs.update(&n) {
                    let params = docs.publish(&uri);
                    let note =
                        Notification::new("textDocument/publishDiagnostics".to_string(), params);
                    connection
                        .sender
                        .send(Message::Notification(note))
                        .map_err(|e| Fail(format!("lsp: {e}")))?;
                }
            }
            Message::Response(_) => {}
        }
    }
    // The writer ends when the connection's sender is gone.
    drop(connection);
    io.join().map_err(|e| Fail(format!("lsp: {e}")))?;
    Ok(0)
}

impl Docs {
    /// Applies an open, change or close; the URI to publish diagnostics for.
    fn update(&mut self, n: &Notification) -> Option<String> {
        let p = &n.params;
        let uri = p.pointer("/textDocument/uri")?.as_str()?.to_string();
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let text = p.pointer("/textDocument/text")?.as_str()?;
                self.0.insert(uri.clone(), text.to_string());
            }
            "textDocument/didChange" => {
                // Full sync: the last change is the whole text.
                let text = p.pointer("/contentChanges")?.as_array()?.last()?;
                let text = text.get("text")?.as_str()?;
                self.0.insert(uri.clone(), text.to_string());
            }
            "textDocument/didClose" => {
                self.0.remove(&uri);
            }
            _ => return None,
        }
        Some(uri)
    }

    /// The policy set of a document: it, with the other `.sov` files of its
    /// folder (open ones as the editor holds them); and its index.
    fn sources(&self, uri: &str) -> Option<(Sources, u32)> {
        let text = self.0.get(uri)?;
        let path = uri.strip_prefix("file://").map(PathBuf::from);
        let mut s = Sources::default();
        let own = match &path {
            Some(p) => s.add_file(name(p), name(p), text.clone()),
            None => s.add(uri, text.clone()),
        };
        if let Some(dir) = path.as_ref().and_then(|p| p.parent()) {
            let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sov"))
                .filter(|p| Some(p) != path.as_ref())
                .collect();
            others.sort();
            for p in others {
                let key = format!("file://{}", p.display());
                let text = match self.0.get(&key) {
                    Some(t) => t.clone(),
                    None => std::fs::read_to_string(&p).unwrap_or_default(),
                };
                s.add_file(name(&p), name(&p), text);
            }
        }
        Some((s, own))
    }

    /// The diagnostics of a document (none once it is closed).
    fn publish(&self, uri: &str) -> PublishDiagnosticsParams {
        let diagnostics = match self.sources(uri) {
            None => Vec::new(),
            Some((s, own)) => sovra::ide::diagnostics(&s)
                .iter()
                .filter(|d| d.span.file == own)
                .map(|d| LspDiagnostic {
                    range: range(&s, d.span),
                    severity: Some(match d.severity {
                        sovra::diag::Severity::Error => DiagnosticSeverity::ERROR,
                        sovra::diag::Severity::Warning => DiagnosticSeverity::WARNING,
                    }),
                    code: Some(NumberOrString::String(d.code().as_str().to_string())),
                    source: Some("sovra".to_string()),
                    message: match &d.help {
                        Some(h) => format!("{}\nhelp: {h}", d.message()),
                        None => d.message(),
                    },
                    ..LspDiagnostic::default()
                })
                .collect(),
        };
        PublishDiagnosticsParams {
            uri: uri.parse().unwrap_or_else(|_| fallback_uri()),
            diagnostics,
            version: None,
        }
    }
}

/// An answer to a request (an error response for one it does not know).
fn answer(docs: &Docs, req: LspRequest) -> Response {
    let at = || -> Option<(Sources, u32, usize)> {
        let uri = req.params.pointer("/textDocument/uri")?.as_str()?;
        let (s, own) = docs.sources(uri)?;
        let pos: Position = serde_json::from_value(req.params.get("position")?.clone()).ok()?;
        let offset = offset(&s, own, pos)?;
        Some((s, own, offset))
    };
    let result = match req.method.as_str() {
        "textDocument/hover" => at()
            .and_then(|(s, own, off)| {
                let (text, span) = sovra::ide::hover(&s, own, off)?;
                Some(Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::PlainText,
                        value: text,
                    }),
                    range: Some(range(&s, span)),
                })
            })
            .map_or(serde_json::Value::Null, |h| {
                serde_json::to_value(h).unwrap_or_default()
            }),
        "textDocument/definition" => at()
            .and_then(|(s, own, off)| {
                let span = sovra::ide::definition(&s, own, off)?;
                let file = s.file(span)?;
                let uri: Uri = format!("file://{}", absolute(&file.path)).parse().ok()?;
                Some(GotoDefinitionResponse::Scalar(Location {
                    uri,
                    range: range(&s, span),
                }))
            })
            .map_or(serde_json::Value::Null, |d| {
                serde_json::to_value(d).unwrap_or_default()
            }),
        "textDocument/formatting" => {
            let uri = req
                .params
                .pointer("/textDocument/uri")
                .and_then(|u| u.as_str())
                .unwrap_or("");
            match docs.0.get(uri).map(|t| (t, sovra::format::format(t))) {
                Some((text, Ok(formatted))) if formatted != *text => {
                    let lines = text.lines().count() as u32 + 1;
                    let edit = TextEdit {
                        range: Range::new(Position::new(0, 0), Position::new(lines, 0)),
                        new_text: formatted,
                    };
                    serde_json::to_value(vec![edit]).unwrap_or_default()
                }
                Some(_) => serde_json::json!([]),
                None => serde_json::Value::Null,
            }
        }
        other => {
            return Response::new_err(
                req.id,
                lsp_server::ErrorCode::MethodNotFound as i32,
                format!("sovra lsp does not answer {other}"),
            )
        }
    };
    Response::new_ok(req.id, result)
}

/// A path as a `file://` URI names it.
fn absolute(path: &str) -> String {
    std::fs::canonicalize(path).map_or_else(|_| path.to_string(), |p| p.display().to_string())
}

fn fallback_uri() -> Uri {
    #[expect(
        clippy::expect_used,
        reason = "a constant URI that parses: a test of the server would fail at once"
    )]
    "file:///".parse().expect("a valid URI")
}

/// A byte span as the protocol's range (lines from 0, UTF-16 columns).
fn range(s: &Sources, span: Span) -> Range {
    let pos = |at: u32| {
        let Some(f) = s.file(span) else {
            return Position::new(0, 0);
        };
        let before = f.text.get(..at as usize).unwrap_or("");
        let line = before.matches('\n').count() as u32;
        let col = before
            .rsplit('\n')
            .next()
            .map_or(0, |l| l.encode_utf16().count()) as u32;
        Position::new(line, col)
    };
    Range::new(pos(span.start), pos(span.end))
}

/// The byte offset of a protocol position in a file.
fn offset(s: &Sources, file: u32, pos: Position) -> Option<usize> {
    let text = &s.files.get(file as usize)?.text;
    let mut at = 0usize;
    for (i, line) in text.split('\n').enumerate() {
        if i == pos.line as usize {
            let mut units = 0u32;
            for (b, c) in line.char_indices() {
                if units >= pos.character {
                    return Some(at + b);
                }
                units += c.len_utf16() as u32;
            }
            return Some(at + line.len());
        }
        at += line.len() + 1;
    }
    None
}
