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
/// caller decide at a `time` of its choosing (replays, back-tests);
/// `request` asks for cross-border grants and `approve` decides on others'
/// requests (never implied by `admin`: separation of duties is explicit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    pub evaluate: bool,
    pub admin: bool,
    pub historic: bool,
    pub request: bool,
    pub approve: bool,
}

/// The scopes a tokens file may give, in the words it uses.
pub const SCOPES: [&str; 5] = ["evaluate", "request", "approve", "admin", "historic"];

/// A token, kept only as its sha256, with who holds it and what it may do.
pub struct Token {
    hash: [u8; 32],
    scopes: Scopes,
    identity: std::sync::Arc<str>,
    roles: std::sync::Arc<[String]>,
}

fn parse_scopes(words: &str, at: &dyn Fn() -> String) -> Result<Scopes, String> {
    let mut s = Scopes::default();
    for scope in words.split(',') {
        match scope {
            "evaluate" => s.evaluate = true,
            "admin" => (s.admin, s.evaluate) = (true, true),
            "historic" => (s.historic, s.evaluate) = (true, true),
            "request" => s.request = true,
            "approve" => s.approve = true,
            other => {
                return Err(format!(
                    "{}: unknown scope `{other}` ({})",
                    at(),
                    SCOPES.join(", ")
                ))
            }
        }
    }
    Ok(s)
}

/// Reads the tokens file: one token a line, `IDENTITY TOKEN SCOPE[,SCOPE...]`
/// (scopes: evaluate, request, approve, admin, historic). The two-word lines
/// of earlier versions, `SCOPE[,SCOPE...] TOKEN`, still read; their identity
/// is `token-` and the first 8 hex digits of the token's sha256 (a name that
/// does not reveal the token). The same token twice is an error.
pub fn load_tokens(path: &Path) -> Result<Vec<Token>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut out: Vec<Token> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (identity, token, scopes, roles) = match words.as_slice() {
            [identity, token, scopes, roles] => {
                let Some(roles) = roles.strip_prefix("roles=") else {
                    return Err(format!(
                        "{}: the fourth word gives the identity's roles: `roles=dpo,legal`",
                        at()
                    ));
                };
                (Some(*identity), *token, *scopes, roles)
            }
            [identity, token, scopes] => (Some(*identity), *token, *scopes, ""),
            [scopes, token] => (None, *token, *scopes, ""),
            _ => {
                return Err(format!(
                    "{}: write `IDENTITY TOKEN SCOPES [roles=ROLE,…]`, such as `alice 3f9c1e… evaluate,request` (scopes: {})",
                    at(),
                    SCOPES.join(", ")
                ))
            }
        };
        let s = parse_scopes(scopes, &at)?;
        if token.len() < 16 {
            return Err(format!(
                "{}: a token must be at least 16 characters (use a random one)",
                at()
            ));
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if out.iter().any(|t| t.hash == hash) {
            return Err(format!(
                "{}: this token is given twice: each token names one identity",
                at()
            ));
        }
        let identity = match identity {
            Some(id) => id.to_string(),
            None => {
                // `sha256:` and the first 8 hex digits.
                let hex = sovra::ir::hex_digest(&hash);
                format!("token-{}", hex.get(7..15).unwrap_or(""))
            }
        };
        let roles: Vec<String> = roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        out.push(Token {
            hash,
            scopes: s,
            identity: identity.into(),
            roles: roles.into(),
        });
    }
    Ok(out)
}

/// The caller of a request that passed the guard: what it may do, and who
/// it is (the token's identity; `local` for a server without tokens). Who
/// did a thing is always this, never a field of the body.
#[derive(Clone, Debug)]
pub struct Caller {
    pub scopes: Scopes,
    pub identity: std::sync::Arc<str>,
    /// The roles the tokens file gives the identity (`roles=dpo`).
    pub roles: std::sync::Arc<[String]>,
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
    /// Ask for a grant.
    Request,
    /// Approve or reject another's request.
    Approve,
    /// Revoke a grant: an approver or an administrator.
    Revoke,
    /// Read grants and their histories: anyone of the workflow.
    ReadGrants,
}

/// What a call needs; a method the endpoint does not take needs nothing
/// (the router answers it 405).
fn need(method: &Method, path: &str) -> Need {
    let grant_verb = path
        .strip_prefix("/v1/grants/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, verb)| verb);
    match (method.as_str(), path) {
        ("POST", "/v1/evaluate" | "/v1/evaluate/batch" | "/v1/placement")
        | ("GET", "/v1/regions" | "/v1/datasets" | "/v1/failover") => Need::Evaluate,
        ("POST", "/v1/datasets" | "/v1/regions") => Need::Admin,
        ("PUT", p) if p.starts_with("/v1/datasets/") => Need::Admin,
        ("PUT", "/v1/documents/regions" | "/v1/documents/grants") | ("POST", "/v1/reload") => {
            Need::Admin
        }
        ("PATCH", p) if p.starts_with("/v1/regions/") => Need::Admin,
        ("POST", "/v1/grants") => Need::Request,
        ("GET", p) if p == "/v1/grants" || p.starts_with("/v1/grants/") => Need::ReadGrants,
        ("POST", _) => match grant_verb {
            Some("revoke") => Need::Revoke,
            // Approve, reject, and any other word (answered 404 once allowed).
            Some(_) => Need::Approve,
            None => Need::Nothing,
        },
        _ => Need::Nothing,
    }
}

/// The caller the bearer token names, compared in constant time against
/// every token (no early exit, no length leak: both sides are sha256 digests).
fn token_caller(tokens: &[Token], headers: &HeaderMap) -> Result<Caller, &'static str> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("a bearer token is required (Authorization: Bearer TOKEN)")?;
    lookup(tokens, given)
}

/// The caller a token names (see [`token_caller`]): also how the
/// approvers' page signs a person in.
pub fn lookup(tokens: &[Token], given: &str) -> Result<Caller, &'static str> {
    let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    let mut found = None;
    let mut any = subtle::Choice::from(0);
    for t in tokens {
        let hit = t.hash.ct_eq(&digest);
        any |= hit;
        if bool::from(hit) {
            found = Some(Caller {
                scopes: t.scopes,
                identity: t.identity.clone(),
                roles: t.roles.clone(),
            });
        }
    }
    match found {
        Some(c) if bool::from(any) => Ok(c),
        _ => Err("unknown token"),
    }
}

/// A state-changing request sent by a browser page of another site: a
/// `Sec-Fetch-Site` other than same-origin (or none), or an `Origin` that is
/// not this server.
pub fn cross_site(headers: &HeaderMap) -> bool {
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

/// Whether `caller` may make the call `method path` (the API's scope rule,
/// which the approvers' page applies to its own forms); `Err` says which
/// scope it lacks.
pub fn may(caller: &Caller, method: &Method, path: &str) -> Result<(), String> {
    permitted(caller, need(method, path))
}

fn permitted(caller: &Caller, need: Need) -> Result<(), String> {
    let sc = caller.scopes;
    let (allowed, lacking) = match need {
        Need::Nothing => (true, ""),
        Need::Admin => (sc.admin, "administer (the `admin` scope)"),
        Need::Request => (sc.request, "ask for grants (the `request` scope)"),
        Need::Approve => (sc.approve, "approve or reject grants (the `approve` scope)"),
        Need::Revoke => (
            sc.approve || sc.admin,
            "revoke grants (the `approve` or `admin` scope)",
        ),
        Need::ReadGrants => (
            sc.request || sc.approve || sc.admin,
            "read grants (the `request`, `approve` or `admin` scope)",
        ),
        Need::Evaluate => (sc.evaluate, "evaluate (the `evaluate` scope)"),
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "this token ({}) may not {lacking}",
            caller.identity
        ))
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
    let caller = match &s.tokens {
        None => Caller {
            scopes: Scopes {
                evaluate: true,
                admin: true,
                historic: false,
                request: true,
                approve: true,
            },
            identity: "local".into(),
            roles: Vec::new().into(),
        },
        Some(tokens) => match token_caller(tokens, headers) {
            Ok(caller) => caller,
            Err(why) => {
                s.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
                return error(StatusCode::UNAUTHORIZED, why, None);
            }
        },
    };
    if let Err(why) = permitted(&caller, need) {
        s.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::FORBIDDEN, why, None);
    }
    if req.method() != Method::GET && cross_site(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "a cross-site request (its Origin or Sec-Fetch-Site names another site) is refused",
            None,
        );
    }
    let changes_state = matches!(
        need,
        Need::Admin | Need::Request | Need::Approve | Need::Revoke
    );
    if changes_state {
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
                "a request that changes state needs `Content-Type: application/json`",
                None,
            );
        }
    }
    req.extensions_mut().insert(caller);
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
        .is_some_and(|c| c.starts_with("application/json") || c.starts_with("text/html"));
    // The approvers' page answers its errors as pages.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Vec<Token>, String> {
        let path = std::env::temp_dir().join(format!(
            "sovra-tokens-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).unwrap();
        let t = load_tokens(&path);
        std::fs::remove_file(&path).unwrap();
        t
    }

    fn caller(tokens: &[Token], token: &str) -> Result<Caller, &'static str> {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        token_caller(tokens, &h)
    }

    #[test]
    fn each_token_names_an_identity_and_its_scopes() {
        let t = tokens(
            "# identity  token              scopes\n\
             alice       aaaaaaaaaaaaaaaaaaaa evaluate,request\n\
             dpo-ben     bbbbbbbbbbbbbbbbbbbb approve\n\
             admin       cccccccccccccccccccc\n\
             evaluate,historic dddddddddddddddddddd\n",
        );
        // `admin TOKEN` (two words) is the old form: scopes first.
        let t = t.unwrap();
        let alice = caller(&t, "aaaaaaaaaaaaaaaaaaaa").unwrap();
        assert_eq!(&*alice.identity, "alice");
        assert!(alice.scopes.evaluate && alice.scopes.request);
        assert!(!alice.scopes.approve && !alice.scopes.admin);
        let ben = caller(&t, "bbbbbbbbbbbbbbbbbbbb").unwrap();
        assert_eq!(&*ben.identity, "dpo-ben");
        assert!(ben.scopes.approve && !ben.scopes.evaluate);
        let old = caller(&t, "cccccccccccccccccccc").unwrap();
        assert!(old.scopes.admin && old.scopes.evaluate);
        // Admin never implies approving: separation of duties is explicit.
        assert!(!old.scopes.approve && !old.scopes.request);
        assert!(old.identity.starts_with("token-") && old.identity.len() == 14);
        assert!(
            !old.identity.contains("cccc"),
            "the name never shows the token"
        );
        let historic = caller(&t, "dddddddddddddddddddd").unwrap();
        assert!(historic.scopes.historic && historic.scopes.evaluate);
        assert_eq!(
            caller(&t, "eeeeeeeeeeeeeeeeeeee").err(),
            Some("unknown token")
        );
    }

    #[test]
    fn a_bad_tokens_file_names_the_line_and_the_fix() {
        let e = tokens("alice aaaaaaaaaaaaaaaaaaaa evaluate,aprove\n")
            .err()
            .unwrap();
        assert!(
            e.ends_with(":1: unknown scope `aprove` (evaluate, request, approve, admin, historic)"),
            "{e}"
        );
        let e = tokens("alice short evaluate\n").err().unwrap();
        assert!(
            e.contains(":1: a token must be at least 16 characters"),
            "{e}"
        );
        let e = tokens("a aaaaaaaaaaaaaaaaaaaa evaluate\nb aaaaaaaaaaaaaaaaaaaa approve\n")
            .err()
            .unwrap();
        assert!(e.contains(":2: this token is given twice"), "{e}");
        let e = tokens("alice\n").err().unwrap();
        assert!(
            e.contains(":1: write `IDENTITY TOKEN SCOPES [roles=ROLE,…]`"),
            "{e}"
        );
    }
}
