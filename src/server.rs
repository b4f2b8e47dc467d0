//! `sovra serve`: the evaluate API over HTTP (axum on tokio), using only the
//! library's public API.
//!
//! Invariants: the engine in force is an `Arc` swapped whole under a short
//! lock, so reloads and document swaps never fail or delay a request in
//! flight (it keeps the engine it started with); bad input is a 400 with the
//! field path, never a 500; without tokens the server listens on loopback only.
#![expect(
    clippy::result_large_err,
    reason = "handlers return an axum response as their error, built once per refused request"
)]

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Value};
use sovra::documents::{Grants, Regions, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};
use sovra::source::Sources;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Where the policies come from, so `reload` can read them again.
pub struct Config {
    pub policies: Vec<PathBuf>,
    pub addr: SocketAddr,
    pub tokens: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub max_body: usize,
    pub timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Evaluate,
    Admin,
}

const BUCKETS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
    0.25,
];

#[derive(Default)]
struct Metrics {
    allow: AtomicU64,
    deny: AtomicU64,
    by_rule: Mutex<BTreeMap<String, u64>>,
    latency: [AtomicU64; 13],
    latency_sum_ns: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    bad_requests: AtomicU64,
    unauthorized: AtomicU64,
}

struct AppState {
    engine: RwLock<Arc<Engine>>,
    policies: Vec<PathBuf>,
    tokens: Option<Vec<(String, Scope)>>,
    log: Option<Mutex<sovra::audit::LogWriter>>,
    metrics: Metrics,
}

type St = Arc<AppState>;

fn error(status: StatusCode, message: impl Into<String>, path: Option<&str>) -> Response {
    let mut body = json!({ "error": message.into() });
    if let Some(p) = path {
        body["path"] = json!(p);
    }
    (status, axum::Json(body)).into_response()
}

fn load_tokens(path: &PathBuf) -> Result<Vec<(String, Scope)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (scope, token) = line.split_once(char::is_whitespace).ok_or_else(|| {
            format!(
                "{}:{}: write `evaluate TOKEN` or `admin TOKEN`",
                path.display(),
                i + 1
            )
        })?;
        let scope = match scope {
            "evaluate" => Scope::Evaluate,
            "admin" => Scope::Admin,
            other => {
                return Err(format!(
                    "{}:{}: unknown scope `{other}` (evaluate or admin)",
                    path.display(),
                    i + 1
                ))
            }
        };
        out.push((token.trim().to_string(), scope));
    }
    Ok(out)
}

impl AppState {
    fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn swap(&self, e: Engine) {
        match self.engine.write() {
            Ok(mut g) => *g = Arc::new(e),
            Err(p) => *p.into_inner() = Arc::new(e),
        }
    }

    /// `Ok` when the bearer token has the scope (admin includes evaluate).
    fn authorize(&self, headers: &HeaderMap, need: Scope) -> Result<(), Response> {
        let Some(tokens) = &self.tokens else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(given) = given else {
            self.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer TOKEN)",
                None,
            ));
        };
        match tokens.iter().find(|(t, _)| t == given) {
            Some((_, s)) if *s == Scope::Admin || *s == need => Ok(()),
            Some(_) => {
                self.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
                Err(error(
                    StatusCode::FORBIDDEN,
                    "this token may evaluate but not administer",
                    None,
                ))
            }
            None => {
                self.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
                Err(error(StatusCode::UNAUTHORIZED, "unknown token", None))
            }
        }
    }

    /// Counts one request's time to decide in the latency histogram.
    fn latency(&self, started: Instant) {
        let m = &self.metrics;
        let secs = started.elapsed().as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = m.latency.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        m.latency_sum_ns
            .fetch_add((secs * 1e9) as u64, Ordering::Relaxed);
    }
}

fn parse_request(body: &[u8]) -> Result<Request, Response> {
    let text = std::str::from_utf8(body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "the body is not UTF-8", None))?;
    let mut req = Request::default();
    req.read_json(text)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.message.clone(), Some(&e.path)))?;
    Ok(req)
}

#[derive(serde::Deserialize)]
struct ExplainQuery {
    explain: Option<String>,
}

fn level(q: &ExplainQuery) -> Result<TraceLevel, Response> {
    match q.explain.as_deref() {
        None => Ok(TraceLevel::Off),
        Some(l) => l
            .parse()
            .map_err(|e: String| error(StatusCode::BAD_REQUEST, e, Some("explain"))),
    }
}

async fn evaluate(
    State(s): State<St>,
    headers: HeaderMap,
    q: Query<ExplainQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = s.authorize(&headers, Scope::Evaluate) {
        return r;
    }
    let started = Instant::now();
    let level = match level(&q) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(r) => {
            s.metrics.bad_requests.fetch_add(1, Ordering::Relaxed);
            return r;
        }
    };
    let engine = s.engine();
    if level == TraceLevel::Off && s.log.is_none() {
        // The usual case: the decision written straight as JSON, as a batch's.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        let mut buf = Vec::with_capacity(1024);
        let mut tally = Tally::default();
        SCRATCH.with_borrow_mut(|scratch| {
            tally.verdict(engine.decide_json(&req, scratch, &mut buf));
        });
        tally.merge(&engine, &s.metrics);
        s.latency(started);
        return ([(header::CONTENT_TYPE, "application/json")], buf).into_response();
    }
    let d = engine.decide(&req, level);
    let mut tally = Tally::default();
    tally.decision(&d);
    tally.merge(&engine, &s.metrics);
    s.latency(started);
    if let Some(log) = &s.log {
        let s2 = s.clone();
        let (engine2, req2, d2) = (engine.clone(), req.clone(), d.clone());
        let logged = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let Some(log) = &s2.log else { return Ok(()) };
            let mut w = log
                .lock()
                .map_err(|_| "the log writer failed before".to_string())?;
            w.append(&engine2, &req2, &d2).map_err(|e| e.to_string())?;
            w.sync().map_err(|e| e.to_string())
        })
        .await;
        let _ = log;
        if !matches!(logged, Ok(Ok(()))) {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the decision could not be logged, so it is not returned",
                None,
            );
        }
    }
    axum::Json(d).into_response()
}

/// Decisions of one request or batch, counted locally and added to the
/// metrics once.
#[derive(Default)]
struct Tally {
    allow: u64,
    deny: u64,
    /// By rule index; `u32::MAX` counts default denies.
    by_rule: rustc_hash::FxHashMap<u32, u64>,
    /// Decisions counted by name (those built whole, with a trace or for the log).
    by_name: BTreeMap<String, u64>,
    bad: u64,
}

impl Tally {
    fn verdict(&mut self, v: sovra::Verdict<'_>) {
        if v.allow {
            self.allow += 1;
        } else {
            self.deny += 1;
        }
        let slots: &[u32] = if !v.allow && v.rules.is_empty() {
            &[u32::MAX]
        } else {
            v.rules
        };
        for &r in slots {
            *self.by_rule.entry(r).or_default() += 1;
        }
    }

    fn decision(&mut self, d: &sovra::eval::Decision) {
        if d.allowed() {
            self.allow += 1;
        } else {
            self.deny += 1;
        }
        for r in &d.reasons {
            *self.by_name.entry(r.rule.clone()).or_default() += 1;
        }
    }

    fn merge(self, engine: &Engine, m: &Metrics) {
        m.allow.fetch_add(self.allow, Ordering::Relaxed);
        m.deny.fetch_add(self.deny, Ordering::Relaxed);
        m.bad_requests.fetch_add(self.bad, Ordering::Relaxed);
        let Ok(mut by) = m.by_rule.lock() else { return };
        let rules = &engine.program().rules;
        for (&i, &n) in &self.by_rule {
            let name = rules
                .get(i as usize)
                .map_or("default_deny", |r| r.id.as_str());
            match by.get_mut(name) {
                Some(c) => *c += n,
                None => {
                    by.insert(name.to_string(), n);
                }
            }
        }
        for (name, n) in self.by_name {
            *by.entry(name).or_default() += n;
        }
    }
}

/// One batch being decided: the decisions written into `buf` as a JSON array.
struct Batch<'e> {
    engine: &'e Engine,
    level: TraceLevel,
    tally: Tally,
    log: Option<std::sync::MutexGuard<'e, sovra::audit::LogWriter>>,
    /// The first failure to log, if any.
    logged: Result<(), String>,
    scratch: Scratch,
    buf: Vec<u8>,
}

impl Batch<'_> {
    fn decide(&mut self, req: &Request) {
        if self.level == TraceLevel::Off && self.log.is_none() {
            let v = self
                .engine
                .decide_json(req, &mut self.scratch, &mut self.buf);
            self.tally.verdict(v);
            return;
        }
        let d = self.engine.decide(req, self.level);
        self.tally.decision(&d);
        if let (Some(w), Ok(())) = (self.log.as_mut(), &self.logged) {
            self.logged = w
                .append(self.engine, req, &d)
                .map(drop)
                .map_err(|e| e.to_string());
        }
        let _ = serde_json::to_writer(&mut self.buf, &d);
    }
}

async fn evaluate_batch(
    State(s): State<St>,
    headers: HeaderMap,
    q: Query<ExplainQuery>,
    body: Bytes,
) -> Response {
    if let Err(r) = s.authorize(&headers, Scope::Evaluate) {
        return r;
    }
    let level = match level(&q) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let engine = s.engine();
    let s2 = s.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Response> {
        let log = match &s2.log {
            Some(l) => Some(l.lock().map_err(|_| {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the log writer failed before",
                    None,
                )
            })?),
            None => None,
        };
        let mut b = Batch {
            tally: Tally::default(),
            engine: &engine,
            level,
            log,
            logged: Ok(()),
            scratch: Scratch::default(),
            buf: Vec::with_capacity(body.len() * 2),
        };
        b.buf.push(b'[');
        // One streaming pass when every element is a valid request (the usual
        // case; a logged batch is never undone, so it takes the second way) ...
        let streamed = b.log.is_none()
            && Request::each_from_json(&body, |run| {
                for req in run {
                    if b.buf.len() > 1 {
                        b.buf.push(b',');
                    }
                    b.decide(req);
                }
            });
        if !streamed {
            // ... else each element as raw JSON, so a bad one gets its own
            // error and the rest are still decided.
            b.buf.truncate(1);
            b.tally = Tally::default();
            let items: Vec<Box<serde_json::value::RawValue>> = match serde_json::from_slice(&body) {
                Ok(a) => a,
                Err(e) if e.is_data() => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "expected an array of requests",
                        Some("(body)"),
                    ))
                }
                Err(e) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not valid JSON: {e}"),
                        Some("(body)"),
                    ))
                }
            };
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    b.buf.push(b',');
                }
                match Request::from_json(item.get()) {
                    Ok(req) => b.decide(&req),
                    Err(e) => {
                        b.tally.bad += 1;
                        let _ = serde_json::to_writer(
                            &mut b.buf,
                            &json!({"index": i, "error": e.to_string(), "path": e.path}),
                        );
                    }
                }
            }
        }
        b.buf.push(b']');
        // Decisions are returned only once they are durably logged.
        if let Some(w) = b.log.as_mut() {
            b.logged = std::mem::replace(&mut b.logged, Ok(()))
                .and_then(|()| w.sync().map_err(|e| e.to_string()));
        }
        b.tally.merge(&engine, &s2.metrics);
        match b.logged {
            Ok(()) => Ok(b.buf),
            Err(e) => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the batch could not be logged, so it is not returned: {e}"),
                None,
            )),
        }
    })
    .await;
    match out {
        Ok(Ok(buf)) => ([(header::CONTENT_TYPE, "application/json")], buf).into_response(),
        Ok(Err(r)) => r,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the batch could not be decided",
            None,
        ),
    }
}

async fn placement(State(s): State<St>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = s.authorize(&headers, Scope::Evaluate) {
        return r;
    }
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    axum::Json(place(&s.engine(), &req)).into_response()
}

/// Every region of the catalog where the action would be allowed, and for
/// each refused region the determining rules.
pub fn place(engine: &Engine, req: &Request) -> Value {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    let mut scratch = Scratch::default();
    let mut r = req.clone();
    for region in &engine.regions().regions {
        r.target_region = Some(region.id.clone());
        let v = engine.verdict(&r, &mut scratch);
        if v.allow {
            allowed.push(json!({"region": region.id, "country": region.country}));
        } else {
            let rules: Vec<&str> = v
                .rules
                .iter()
                .filter_map(|i| engine.program().rules.get(*i as usize))
                .map(|d| d.id.as_str())
                .collect();
            let rules = if rules.is_empty() {
                vec![sovra::eval::DEFAULT_DENY]
            } else {
                rules
            };
            refused.push(json!({"region": region.id, "country": region.country, "rules": rules}));
        }
    }
    json!({ "action": req.action, "allowed": allowed, "refused": refused })
}

async fn policies(State(s): State<St>) -> Response {
    let e = s.engine();
    let p = e.program();
    let rules: Vec<Value> = p
        .rules
        .iter()
        .map(|r| json!({"id": r.id, "effect": if r.effect == sovra::syntax::Effect::Forbid { "forbid" } else { "permit" }, "location": r.location, "cites": r.cites}))
        .collect();
    axum::Json(json!({ "policy_hash": e.policy_hash(), "files": p.files, "rules": rules }))
        .into_response()
}

/// Validates a document, then swaps in an engine built with it; a bad
/// document is refused with 400 and the old one stays.
fn swap_document<D>(
    s: &St,
    headers: &HeaderMap,
    body: &[u8],
    parse: fn(&str) -> Result<D, sovra::documents::DocError>,
    build: fn(&Engine, D) -> Engine,
    count: fn(&Engine) -> usize,
    what: &str,
) -> Response {
    if let Err(r) = s.authorize(headers, Scope::Admin) {
        return r;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8",
            Some("(body)"),
        );
    };
    match parse(text) {
        Ok(doc) => {
            s.swap(build(&s.engine(), doc));
            axum::Json(json!({"ok": true, what: count(&s.engine())})).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.message, Some(&e.path)),
    }
}

async fn put_regions(State(s): State<St>, headers: HeaderMap, body: Bytes) -> Response {
    swap_document(
        &s,
        &headers,
        &body,
        Regions::from_json,
        |e, regions| Engine::new(e.program().clone(), regions, e.grants().clone()),
        |e| e.regions().regions.len(),
        "regions",
    )
}

async fn put_grants(State(s): State<St>, headers: HeaderMap, body: Bytes) -> Response {
    swap_document(
        &s,
        &headers,
        &body,
        Grants::from_json,
        |e, grants| Engine::new(e.program().clone(), e.regions().clone(), grants),
        |e| e.grants().len(),
        "grants",
    )
}

fn compile(paths: &[PathBuf]) -> Result<sovra::ir::Program, String> {
    let src: Sources = if paths.is_empty() {
        sovra::policy::bundled()
    } else {
        sovra::policy::load(paths).map_err(|e| e.to_string())?
    };
    sovra::policy::compile(&src).map_err(|d| sovra::diag::render(&d, &src))
}

async fn reload(State(s): State<St>, headers: HeaderMap) -> Response {
    if let Err(r) = s.authorize(&headers, Scope::Admin) {
        return r;
    }
    let paths = s.policies.clone();
    match tokio::task::spawn_blocking(move || compile(&paths)).await {
        Ok(Ok(program)) => {
            let e = s.engine();
            s.swap(Engine::new(
                program,
                e.regions().clone(),
                e.grants().clone(),
            ));
            s.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
            axum::Json(json!({"ok": true, "policy_hash": s.engine().policy_hash()})).into_response()
        }
        Ok(Err(diagnostics)) => {
            s.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
            error(
                StatusCode::BAD_REQUEST,
                format!("the policies do not compile; the old policy stays\n{diagnostics}"),
                None,
            )
        }
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "reload failed", None),
    }
}

async fn metrics(State(s): State<St>) -> Response {
    use std::fmt::Write as _;
    let m = &s.metrics;
    let mut o = String::new();
    o.push_str("# HELP sovra_decisions_total Decisions made, by outcome.\n# TYPE sovra_decisions_total counter\n");
    let _ = writeln!(
        o,
        "sovra_decisions_total{{outcome=\"allow\"}} {}",
        m.allow.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "sovra_decisions_total{{outcome=\"deny\"}} {}",
        m.deny.load(Ordering::Relaxed)
    );
    o.push_str("# HELP sovra_decisions_by_rule_total Decisions by determining rule.\n# TYPE sovra_decisions_by_rule_total counter\n");
    if let Ok(by) = m.by_rule.lock() {
        for (rule, n) in by.iter() {
            let _ = writeln!(o, "sovra_decisions_by_rule_total{{rule=\"{rule}\"}} {n}");
        }
    }
    o.push_str("# HELP sovra_decision_seconds Time to decide one request.\n# TYPE sovra_decision_seconds histogram\n");
    let mut cumulative = 0;
    for (i, b) in BUCKETS.iter().enumerate() {
        cumulative += m.latency.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
        let _ = writeln!(
            o,
            "sovra_decision_seconds_bucket{{le=\"{b}\"}} {cumulative}"
        );
    }
    cumulative += m
        .latency
        .get(BUCKETS.len())
        .map_or(0, |c| c.load(Ordering::Relaxed));
    let _ = writeln!(
        o,
        "sovra_decision_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        o,
        "sovra_decision_seconds_sum {}",
        m.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
    );
    let _ = writeln!(o, "sovra_decision_seconds_count {cumulative}");
    o.push_str("# HELP sovra_reloads_total Policy reloads, by result.\n# TYPE sovra_reloads_total counter\n");
    let _ = writeln!(
        o,
        "sovra_reloads_total{{result=\"ok\"}} {}",
        m.reloads_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "sovra_reloads_total{{result=\"failed\"}} {}",
        m.reloads_failed.load(Ordering::Relaxed)
    );
    o.push_str(
        "# HELP sovra_errors_total Requests refused, by kind.\n# TYPE sovra_errors_total counter\n",
    );
    let _ = writeln!(
        o,
        "sovra_errors_total{{kind=\"bad_request\"}} {}",
        m.bad_requests.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "sovra_errors_total{{kind=\"unauthorized\"}} {}",
        m.unauthorized.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], o).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint (see docs/openapi.yaml)",
        None,
    )
}

async fn with_timeout(
    State(limit): State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took longer than the server's limit",
            None,
        ),
    }
}

/// Runs the server until SIGTERM or Ctrl-C, finishing requests in flight.
pub fn run(cfg: Config, regions: Regions, grants: Grants) -> Result<(), String> {
    let tokens = cfg.tokens.as_ref().map(load_tokens).transpose()?;
    if tokens.is_none() && !cfg.addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {} without tokens: give --tokens FILE, or listen on loopback (127.0.0.1)",
            cfg.addr
        ));
    }
    let program = compile(&cfg.policies)?;
    let log = match &cfg.log {
        None => None,
        Some(dir) => {
            let w = sovra::audit::LogWriter::open(dir, &[]).map_err(|e| e.to_string())?;
            for warning in &w.warnings {
                eprintln!("sovra: warning: {warning}");
            }
            Some(Mutex::new(w))
        }
    };
    let state = Arc::new(AppState {
        engine: RwLock::new(Arc::new(Engine::new(program, regions, grants))),
        policies: cfg.policies.clone(),
        tokens,
        log,
        metrics: Metrics::default(),
    });
    let app = Router::new()
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/evaluate/batch", post(evaluate_batch))
        .route("/v1/placement", post(placement))
        .route("/v1/policies", get(policies))
        .route("/v1/documents/regions", put(put_regions))
        .route("/v1/documents/grants", put(put_grants))
        .route("/v1/reload", post(reload))
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route(
            "/ready",
            get(|| async { axum::Json(json!({"status": "ready"})) }),
        )
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(cfg.max_body))
        .layer(axum::middleware::from_fn_with_state(
            cfg.timeout,
            with_timeout,
        ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let auth = if state.tokens.is_some() {
            "bearer tokens required"
        } else {
            "no tokens: loopback only"
        };
        eprintln!("sovra: listening on http://{addr} ({auth})");
        let shutdown = async {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            eprintln!("sovra: shutting down after the requests in flight");
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| e.to_string())
    })
}
