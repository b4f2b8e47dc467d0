//! What every request passes before a handler reads its body: the host
//! check, the bearer token, the content type and origin of state-changing
//! requests, and the time limit; and the one shape of every error answer.
//!
//! Invariants: nothing of an unauthenticated request's body is read (the
//! token is checked from the headers, and the body is read only by the
//! handler behind this layer); tokens are compared in constant time (sha256
//! of each, compared with `subtle`, every token looked at); every 4xx or 5xx
//! answer is the JSON error object of docs/api.md, whichever layer made it.

use super::{error, St};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// What a token may do. `admin` includes `evaluate`; `historic` lets a
/// caller decide at a `time` of its choosing (replays, back-tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    pub evaluate: bool,
    pub admin: bool,
    pub historic: bool,
}

/// A token, kept only as its sha256.
pub struct Token {
    hash: [u8; 32],
    scopes: Scopes,
}

/// Reads the tokens file: one token a line, `SCOPE[,SCOPE...] TOKEN`, with
/// the scopes `evaluate`, `admin` and `historic`.
pub fn load_tokens(path: &Path) -> Result<Vec<Token>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (scopes, token) = line.split_once(char::is_whitespace).ok_or_else(|| {
            format!(
                "{}: write `evaluate TOKEN`, `admin TOKEN` or `evaluate,historic TOKEN`",
                at()
            )
        })?;
        let mut s = Scopes::default();
        for scope in scopes.split(',') {
            match scope {
                "evaluate" => s.evaluate = true,
                "admin" => (s.admin, s.evaluate) = (true, true),
                "historic" => (s.historic, s.evaluate) = (true, true),
                other => {
                    return Err(format!(
                        "{}: unknown scope `{other}` (evaluate, admin or historic)",
                        at()
                    ))
                }
            }
        }
        let token = token.trim();
        if token.len() < 16 {
            return Err(format!(
                "{}: a token must be at least 16 characters (use a random one)",
                at()
            ));
        }
        out.push(Token {
            hash: Sha256::digest(token.as_bytes()).into(),
            scopes: s,
        });
    }
    Ok(out)
}

/// The caller of a request that passed the guard.
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller {
    pub scopes: Scopes,
}

/// When the work of a request must stop: its time limit from arrival.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Instant);

impl Deadline {
    pub fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    Evaluate,
    Admin,
}

/// What a call needs; a method the endpoint does not take needs nothing
/// (the router answers it 405).
fn need(method: &Method, path: &str) -> Need {
    match (method.as_str(), path) {
        ("POST", "/v1/evaluate" | "/v1/evaluate/batch" | "/v1/placement") => Need::Evaluate,
        ("PUT", "/v1/documents/regions" | "/v1/documents/grants") | ("POST", "/v1/reload") => {
            Need::Admin
        }
        _ => Need::Nothing,
    }
}

/// The scopes of the bearer token, compared in constant time against every
/// token (no early exit, no length leak: both sides are sha256 digests).
fn token_scopes(tokens: &[Token], headers: &HeaderMap) -> Result<Scopes, &'static str> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("a bearer token is required (Authorization: Bearer TOKEN)")?;
    let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    let mut found = Scopes::default();
    let mut any = subtle::Choice::from(0);
    for t in tokens {
        let hit = t.hash.ct_eq(&digest);
        any |= hit;
        if bool::from(hit) {
            found = t.scopes;
        }
    }
    if bool::from(any) {
        Ok(found)
    } else {
        Err("unknown token")
    }
}

/// A state-changing request sent by a browser page of another site: a
/// `Sec-Fetch-Site` other than same-origin (or none), or an `Origin` that is
/// not this server.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |h| {
        headers
            .get(h)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => {
            let origin = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            origin != Some(host)
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// Host, token, content type and origin, checked from the headers alone.
pub async fn guard(State(s): State<St>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    if let Some(allowed) = &s.hosts {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !host.is_some_and(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h))) {
            return error(
                StatusCode::FORBIDDEN,
                format!(
                    "the Host header must name this server ({}): a server without tokens answers only requests sent to it by name, never through another name that points at it",
                    allowed.join(" or ")
                ),
                None,
            );
        }
    }
    let need = need(req.method(), req.uri().path());
    if need == Need::Nothing {
        return next.run(req).await;
    }
    let scopes = match &s.tokens {
        None => Scopes {
            evaluate: true,
            admin: true,
            historic: false,
        },
        Some(tokens) => match token_scopes(tokens, headers) {
            Ok(scopes) => scopes,
            Err(why) => {
                s.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
                return error(StatusCode::UNAUTHORIZED, why, None);
            }
        },
    };
    let allowed = match need {
        Need::Admin => scopes.admin,
        _ => scopes.evaluate,
    };
    if !allowed {
        s.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
        return error(
            StatusCode::FORBIDDEN,
            "this token may evaluate but not administer",
            None,
        );
    }
    if req.method() != Method::GET && cross_site(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "a cross-site request (its Origin or Sec-Fetch-Site names another site) is refused",
            None,
        );
    }
    if need == Need::Admin {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| {
                c.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "an admin request needs `Content-Type: application/json`",
                None,
            );
        }
    }
    req.extensions_mut().insert(Caller { scopes });
    next.run(req).await
}

/// Answers 503 when a request outlives the limit, and hands the handler its
/// deadline so that the work itself stops too.
pub async fn time_limit(State(limit): State<Duration>, mut req: Request, next: Next) -> Response {
    req.extensions_mut()
        .insert(Deadline(Instant::now() + limit));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took longer than the server's limit (--timeout-ms)",
            None,
        ),
    }
}

/// Every error answer as the JSON error object, whichever layer made it
/// (axum's own rejections are plain text: a body too large, a method not
/// allowed, a query string that does not parse).
pub async fn json_errors(State(max_body): State<usize>, resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is larger than the server's limit of {max_body} bytes (--max-body)")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            format!("this endpoint does not take that method (it takes {allow})")
        }
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut out = error(status, message, None);
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
