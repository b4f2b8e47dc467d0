//! The approvers' page, `/ui/grants`: the pending grant requests, each with
//! what it would allow (the policy's own decisions on the requests it
//! covers, made without the grant and with it), approve and reject buttons,
//! and the active grants by expiry with a revoke button. Server-rendered
//! HTML, no script, no build step.
//!
//! Invariants: a person signs in with their token, checked like a bearer
//! token (constant time, the same tokens file), and gets a session: a random
//! id in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/ui`, kept in
//! memory for at most [`TTL`] and [`MAX_SESSIONS`] at once. Every form
//! carries the session's random CSRF token, compared in constant time, and a
//! cross-site POST (its `Origin` or `Sec-Fetch-Site`) is refused before
//! anything is read. A button does what the API call does, under the same
//! scope rule ([`guard::may`]) and through the same code ([`state::act`]),
//! so the page can do nothing the caller's token could not. Every value
//! shown is HTML-escaped; the page forbids scripts, frames and foreign form
//! targets (its Content-Security-Policy).

use super::guard::{self, Caller};
use super::{blocking, state, St};
use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sovra::documents::{Grants, Request, Status};
use sovra::eval::{Engine, TraceLevel};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a sign-in lasts.
pub const TTL: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at once; signing in beyond it ends the oldest.
pub const MAX_SESSIONS: usize = 1024;
const COOKIE: &str = "sovra_ui";
/// Pending requests shown with their previews (the oldest first).
const SHOWN: usize = 50;
/// Datasets previewed for one request.
const PREVIEWED: usize = 3;

#[derive(Clone)]
struct Session {
    caller: Caller,
    csrf: String,
    until: Instant,
}

/// The signed-in sessions, by id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    fn get(&self, id: &str) -> Option<Session> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).filter(|s| s.until > Instant::now()).cloned()
    }

    fn start(&self, caller: Caller) -> Option<(String, Session)> {
        let (id, csrf) = (random()?, random()?);
        let session = Session {
            caller,
            csrf,
            until: Instant::now() + TTL,
        };
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.until > now);
        if map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.until)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    fn end(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// 32 bytes from the OS's generator, as hex.
fn random() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    }))
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("sovra_ui="))
        .map(str::to_string)
}

fn session(s: &St, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers)?;
    let found = s.ui.get(&id)?;
    Some((id, found))
}

use sovra::report::escape_html as esc;

const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8em 1.5em;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:1.15em;margin:0}header form{display:inline}
main{max-width:64em;margin:0 auto;padding:1em 1.5em}
h2{font-size:1.05em;margin:1.6em 0 .6em}
.grant{background:#fff;border:1px solid #d7dbe2;border-radius:6px;padding:.8em 1.1em;margin:0 0 1em}
.grant h3{margin:0 0 .4em;font-size:1em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.3em 0 .8em}dt{color:#5b6475}dd{margin:0}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #e4e7ec;vertical-align:top}
th{font-weight:600;color:#5b6475}
.allow{color:#0b6b2f;font-weight:600}.deny{color:#a3151b;font-weight:600}
.why{display:block;color:#5b6475;font-size:.9em}
.actions{display:flex;gap:.6em;align-items:center;margin-top:.8em;flex-wrap:wrap}.actions form{display:flex;gap:.4em}
button{font:inherit;padding:.3em .9em;border-radius:4px;border:1px solid #8a93a5;background:#fff;cursor:pointer}
button.approve{background:#0b6b2f;border-color:#0b6b2f;color:#fff}button.reject,button.revoke{border-color:#a3151b;color:#a3151b}
input[type=text],input[type=password]{font:inherit;padding:.3em .5em;border:1px solid #b8bfcc;border-radius:4px}
.note{color:#5b6475}.flash{background:#e7f4ec;border:1px solid #9fd3b2;padding:.5em .9em;border-radius:4px}
.error{background:#fbeaea;border:1px solid #e3a5a8;padding:.5em .9em;border-radius:4px}
";

/// A whole page, with the headers every page carries.
fn page(status: StatusCode, title: &str, head: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style></head>\n<body><header><h1>Sovra: cross-border grants</h1>{head}</header>\n<main>{body}</main></body></html>\n",
        title = esc(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    // Not `no-referrer`: under it a browser sends `Origin: null` with the
    // page's own forms, which the cross-site check refuses.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    r
}

fn sign_in(status: StatusCode, problem: Option<&str>) -> Response {
    let mut body = String::new();
    if let Some(p) = problem {
        let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(p));
    }
    body.push_str(
        "<h2>Sign in</h2><p class=\"note\">With your Sovra token (the tokens file names whose it is and what it may do).</p>\
         <form method=\"post\" action=\"/ui/login\"><input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required> <button type=\"submit\" id=\"sign-in\">Sign in</button></form>",
    );
    page(status, "Sign in: Sovra grants", "", &body)
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// What a pending request would allow: one request it covers, decided now
/// without the grant and with it.
struct Preview {
    what: String,
    without: sovra::eval::Decision,
    with: sovra::eval::Decision,
}

/// The requests a pending grant covers, among the registered datasets: a
/// read of each from the grant's country, and a copy of it to a region
/// there; decided by the engine in force and by one that also holds the
/// grant as if approved now. `Err` says why there is nothing to show.
fn previews(s: &St, g: &Value) -> Result<Vec<Preview>, String> {
    let e = s.engine();
    let text = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_string);
    let to = text("to_country").unwrap_or_default();
    let principal = text("principal").unwrap_or_default();
    let classes: Vec<&str> = g
        .get("classifications")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let registry = s
        .registry
        .read()
        .map(|r| r.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    let covered: Vec<_> = registry
        .iter()
        .filter(|d| match text("resource") {
            Some(r) => d.id == r,
            None => classes.contains(&d.classification.as_str()),
        })
        .filter(|d| !d.placements.is_empty())
        .take(PREVIEWED)
        .collect();
    if covered.is_empty() {
        return Err("no registered dataset with a copy is covered by this request: register it (POST /v1/datasets) to see what approving would allow".into());
    }
    let mut as_approved = g.clone();
    if let Some(o) = as_approved.as_object_mut() {
        o.insert("approved_by".into(), json!("(if approved)"));
        o.insert("valid_from".into(), json!(now_text()));
    }
    let grant = Grants::from_json(&json!({ "grants": [as_approved] }).to_string())
        .map_err(|e| format!("the request does not read as a grant: {e}"))?;
    let all: Vec<_> = e.grants().iter().chain(grant.iter()).cloned().collect();
    let with = Engine::new(e.program().clone(), e.regions().clone(), Grants::new(all));
    let target = sovra::country::Country::parse(&to).and_then(|c| {
        e.regions()
            .regions
            .iter()
            .find(|r| r.country == c && r.status == Status::Active)
            .map(|r| r.id.clone())
    });
    let purpose = text("purpose");
    let mut out = Vec::new();
    for d in covered {
        let source = d.placements.first().cloned().unwrap_or_default();
        let mut asks = vec![(
            format!("{principal} reads {} (in {source}) from {to}", d.id),
            json!({ "action": "access", "principal": { "id": principal, "country": to },
                    "resource": { "id": d.id }, "source_region": source }),
        )];
        if let Some(t) = &target {
            asks.push((
                format!("{principal} copies {} from {source} to {t}", d.id),
                json!({ "action": "replicate", "principal": { "id": principal },
                        "resource": { "id": d.id }, "source_region": source, "target_region": t }),
            ));
        }
        for (what, mut ask) in asks {
            if let (Some(p), Some(o)) = (&purpose, ask.as_object_mut()) {
                o.insert("purpose".into(), json!(p));
            }
            if let Some(o) = ask.as_object_mut() {
                o.insert("time".into(), json!(now_text()));
            }
            let ask = ask.to_string();
            let mut req = Request::from_json(&ask).map_err(|e| e.to_string())?;
            s.fill(&mut req).map_err(|(p, m)| format!("{p}: {m}"))?;
            out.push(Preview {
                what,
                without: e.decide(&req, TraceLevel::Off),
                with: with.decide(&req, TraceLevel::Off),
            });
        }
    }
    Ok(out)
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn outcome(d: &sovra::eval::Decision) -> String {
    let class = if d.allowed() { "allow" } else { "deny" };
    let why: Vec<String> = d.reasons.iter().map(|r| esc(&r.message)).collect();
    format!(
        "<span class=\"{class}\">{class}</span><span class=\"why\">{}</span>",
        why.join("<br>")
    )
}

/// What a grant covers, in words.
fn covers(g: &Value) -> String {
    if let Some(r) = g.get("resource").and_then(Value::as_str) {
        return r.to_string();
    }
    let classes: Vec<&str> = g
        .get("classifications")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!("any {} data", classes.join(", "))
}

fn field(g: &Value, k: &str) -> String {
    esc(g.get(k).and_then(Value::as_str).unwrap_or("—"))
}

/// A time field as a person reads it (`2027-01-01 09:59 UTC`).
fn when(g: &Value, k: &str) -> String {
    match g
        .get(k)
        .and_then(Value::as_str)
        .map(|t| (t, chrono::DateTime::parse_from_rfc3339(t)))
    {
        Some((_, Ok(t))) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        Some((t, Err(_))) => esc(t),
        None => "—".into(),
    }
}

fn hidden(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// The page for a signed-in person.
fn grants_page(s: &St, who: &Session, flash: Option<String>, problem: Option<String>) -> Response {
    let me = &who.caller;
    let now = chrono::Utc::now();
    let listed = match &s.store {
        None => Err(
            "this server keeps no state: start it with --state to approve grants here".to_string(),
        ),
        Some(store) => store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .grants(None, now)
            .map_err(|e| e.to_string()),
    };
    let head = format!(
        "<form method=\"post\" action=\"/ui/logout\"><span>{}{}</span> {}<button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
        esc(&me.identity),
        if me.roles.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&me.roles.join(", ")))
        },
        hidden(&who.csrf)
    );
    let mut body = String::new();
    if let Some(f) = flash {
        let _ = write!(
            body,
            "<p class=\"flash\" role=\"status\" id=\"flash\">{}</p>",
            esc(&f)
        );
    }
    if let Some(p) = problem {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\" id=\"problem\">{}</p>",
            esc(&p)
        );
    }
    let list = match listed {
        Ok(l) => l,
        Err(e) => {
            let _ = write!(body, "<p class=\"error\">{}</p>", esc(&e));
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Grants: Sovra",
                &head,
                &body,
            );
        }
    };
    let pending: Vec<_> = list
        .iter()
        .filter(|(_, st)| *st == sovra::state::GrantState::Pending)
        .collect();
    let may_approve = guard::may(me, &Method::POST, "/v1/grants/x/approve").is_ok();
    let may_revoke = guard::may(me, &Method::POST, "/v1/grants/x/revoke").is_ok();
    let _ = write!(body, "<h2>Awaiting approval ({})</h2>", pending.len());
    if pending.is_empty() {
        body.push_str("<p class=\"note\">No request is waiting.</p>");
    }
    for (g, _) in pending.iter().take(SHOWN) {
        let id = g.get("id").and_then(Value::as_str).unwrap_or_default();
        let requester = g
            .get("requested_by")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = write!(
            body,
            "<article class=\"grant\" id=\"{id}\"><h3>{id}: {principal} → {to}</h3><dl>\
             <dt>covers</dt><dd>{covers}</dd><dt>purpose</dt><dd>{purpose}</dd><dt>mechanism</dt><dd>{mechanism}</dd>\
             <dt>requested by</dt><dd>{requester}</dd><dt>would end</dt><dd>{ends}</dd></dl>",
            id = esc(id),
            principal = field(g, "principal"),
            to = field(g, "to_country"),
            covers = esc(&covers(g)),
            purpose = field(g, "purpose"),
            mechanism = field(g, "mechanism"),
            requester = esc(requester),
            ends = when(g, "expires_at"),
        );
        match previews(s, g) {
            Ok(list) => {
                body.push_str("<table class=\"preview\"><tr><th>what it would allow</th><th>without the grant</th><th>with it</th></tr>");
                for p in list {
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&p.what),
                        outcome(&p.without),
                        outcome(&p.with)
                    );
                }
                body.push_str("</table>");
            }
            Err(why) => {
                let _ = write!(body, "<p class=\"note\">{}</p>", esc(&why));
            }
        }
        body.push_str("<div class=\"actions\">");
        if sovra::eval::same_identity(requester, &me.identity) {
            body.push_str("<span class=\"note\">You asked for this grant: another person approves or rejects it.</span>");
        } else if !may_approve {
            body.push_str(
                "<span class=\"note\">Your token may not approve or reject grants.</span>",
            );
        } else {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/ui/grants/{id}/approve\">{h}<button type=\"submit\" class=\"approve\" id=\"approve-{id}\">Approve</button></form>\
                 <form method=\"post\" action=\"/ui/grants/{id}/reject\">{h}<input type=\"text\" name=\"reason\" placeholder=\"why (for the history)\" aria-label=\"reason to reject {id}\"><button type=\"submit\" class=\"reject\" id=\"reject-{id}\">Reject</button></form>",
                id = esc(id),
                h = hidden(&who.csrf)
            );
        }
        body.push_str("</div></article>");
    }
    if pending.len() > SHOWN {
        let _ = write!(
            body,
            "<p class=\"note\">{} more, oldest first: GET /v1/grants?state=pending lists them all.</p>",
            pending.len() - SHOWN
        );
    }
    let mut active: Vec<_> = list
        .iter()
        .filter(|(_, st)| *st == sovra::state::GrantState::Active)
        .map(|(g, _)| g)
        .collect();
    active.sort_by_key(|g| {
        g.get("expires_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    });
    let _ = write!(
        body,
        "<h2>Active grants, soonest to end first ({})</h2>",
        active.len()
    );
    if active.is_empty() {
        body.push_str("<p class=\"note\">No grant is active.</p>");
    } else {
        body.push_str("<table id=\"active\"><tr><th>grant</th><th>principal</th><th>covers</th><th>to</th><th>approved by</th><th>ends</th><th></th></tr>");
        for g in active {
            let id = g.get("id").and_then(Value::as_str).unwrap_or_default();
            let revoke = if may_revoke {
                format!(
                    "<form method=\"post\" action=\"/ui/grants/{id}/revoke\">{}<button type=\"submit\" class=\"revoke\" id=\"revoke-{id}\">Revoke</button></form>",
                    hidden(&who.csrf),
                    id = esc(id)
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr id=\"active-{id}\"><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
                field(g, "principal"),
                esc(&covers(g)),
                field(g, "to_country"),
                field(g, "approved_by"),
                when(g, "expires_at"),
                id = esc(id)
            );
        }
        body.push_str("</table>");
    }
    page(StatusCode::OK, "Grants: Sovra", &head, &body)
}

#[derive(serde::Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// `GET /ui/grants`: the page, or the sign-in form.
pub(super) async fn show(
    State(s): State<St>,
    headers: HeaderMap,
    Query(q): Query<Done>,
) -> Response {
    blocking(move || {
        let Some((_, who)) = session(&s, &headers) else {
            return sign_in(StatusCode::OK, None);
        };
        let flash = match (q.done.as_deref(), q.id) {
            (Some("approve"), Some(id)) => Some(format!("Approved {id}: it counts from now.")),
            (Some("reject"), Some(id)) => Some(format!("Rejected {id}.")),
            (Some("revoke"), Some(id)) => Some(format!("Revoked {id}: it no longer counts.")),
            _ => None,
        };
        grants_page(&s, &who, flash, None)
    })
    .await
}

fn cross_site() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Refused: Sovra",
        "",
        "<p class=\"error\">A form sent from another site is refused.</p>",
    )
}

#[derive(serde::Deserialize)]
pub(super) struct Login {
    token: String,
}

/// `POST /ui/login`: a token in, a session cookie out.
pub(super) async fn login(
    State(s): State<St>,
    headers: HeaderMap,
    Form(f): Form<Login>,
) -> Response {
    if guard::cross_site(&headers) {
        return cross_site();
    }
    let Some(tokens) = &s.tokens else {
        return sign_in(
            StatusCode::FORBIDDEN,
            Some("this server has no tokens file: the approvers' page signs people in with their tokens (start it with --tokens FILE)"),
        );
    };
    let caller = match guard::lookup(tokens, f.token.trim()) {
        Ok(c) => c,
        Err(_) => {
            s.metrics
                .unauthorized
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return sign_in(StatusCode::UNAUTHORIZED, Some("unknown token"));
        }
    };
    if let Err(why) = guard::may(&caller, &Method::GET, "/v1/grants") {
        return sign_in(StatusCode::FORBIDDEN, Some(&why));
    }
    let Some((id, _)) = s.ui.start(caller) else {
        return sign_in(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("the server could not make a session (no randomness from the OS)"),
        );
    };
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    let mut r = see_other("/ui/grants");
    let value = format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(serde::Deserialize)]
pub(super) struct Act {
    csrf: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The session a form came with, when its CSRF token is the session's.
fn checked(s: &St, headers: &HeaderMap, csrf: &str) -> Result<(String, Session), Response> {
    if guard::cross_site(headers) {
        return Err(cross_site());
    }
    let Some((id, who)) = session(s, headers) else {
        return Err(sign_in(
            StatusCode::UNAUTHORIZED,
            Some("your session has ended: sign in again"),
        ));
    };
    if !bool::from(who.csrf.as_bytes().ct_eq(csrf.as_bytes())) {
        return Err(page(
            StatusCode::FORBIDDEN,
            "Refused: Sovra",
            "",
            "<p class=\"error\">This form is not from your session (its CSRF token does not match): reload the page.</p>",
        ));
    }
    Ok((id, who))
}

/// `POST /ui/logout`.
pub(super) async fn logout(
    State(s): State<St>,
    headers: HeaderMap,
    Form(f): Form<Act>,
) -> Response {
    let (id, _) = match checked(&s, &headers, &f.csrf) {
        Ok(x) => x,
        Err(r) => return r,
    };
    s.ui.end(&id);
    let mut r = see_other("/ui/grants");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sovra_ui=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

/// `POST /ui/grants/{id}/{approve|reject|revoke}`: what the API call does,
/// as the signed-in person; back to the page.
pub(super) async fn act(
    State(s): State<St>,
    headers: HeaderMap,
    UrlPath((id, verb)): UrlPath<(String, String)>,
    Form(f): Form<Act>,
) -> Response {
    let (_, who) = match checked(&s, &headers, &f.csrf) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !matches!(verb.as_str(), "approve" | "reject" | "revoke") {
        return super::not_found_now();
    }
    if let Err(why) = guard::may(
        &who.caller,
        &Method::POST,
        &format!("/v1/grants/{id}/{verb}"),
    ) {
        let st = s.clone();
        return blocking(move || {
            let mut r = grants_page(&st, &who, None, Some(why));
            *r.status_mut() = StatusCode::FORBIDDEN;
            r
        })
        .await;
    }
    let (st, caller) = (s.clone(), who.caller.clone());
    let (id2, verb2) = (id.clone(), verb.clone());
    let reason = f.reason.filter(|r| !r.trim().is_empty());
    let made = tokio::task::spawn_blocking(move || {
        state::act(&st, &caller, &id2, &verb2, reason.as_deref()).map(drop)
    })
    .await;
    match made {
        Ok(Ok(())) => see_other(&format!("/ui/grants?done={verb}&id={}", url_part(&id))),
        Ok(Err(refused)) => {
            let status = refused.status();
            let bytes = axum::body::to_bytes(refused.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            let why = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| status.to_string());
            blocking(move || {
                let mut r = grants_page(&s, &who, None, Some(why));
                *r.status_mut() = status;
                r
            })
            .await
        }
        Err(_) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Error: Sovra",
            "",
            "<p class=\"error\">The change could not be made.</p>",
        ),
    }
}

/// An id as one URL query value.
fn url_part(text: &str) -> String {
    text.bytes().fold(String::new(), |mut s, b| {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_cookies() {
        assert_eq!(
            esc("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sovra_ui=abc; b=2"),
        );
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
        assert_eq!(url_part("g-1 &x"), "g-1%20%26x");
        let (a, b) = (random().unwrap(), random().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
