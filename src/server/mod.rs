//! `sovra serve`: the evaluate API over HTTP (axum on tokio, behind the
//! server's own hyper accept loop), using only the library's public API.
//!
//! Invariants:
//! - the engine in force is an `Arc` swapped whole; every change to it
//!   (a document swap, a reload) is made under one update lock, reading the
//!   engine in force *inside* the lock, so no change undoes another
//!   (no lost update); requests in flight keep the engine they started with;
//! - nothing unauthenticated costs memory or time: the guard checks the token
//!   from the headers before a handler reads the body; a connection that has
//!   not sent its headers within the header timeout (idle keep-alive ones
//!   too) is closed; connections beyond the limit are refused at accept;
//! - decisions that may take more than microseconds (a large body, a trace,
//!   a batch, a placement, a logged decision, a document swap, a reload) run
//!   on the blocking pool, never on the async workers, and stop at the
//!   request's deadline;
//! - a live server decides at its own clock: a request's `time` more than
//!   five minutes from it is refused, unless the token has the `historic`
//!   scope or the server trusts request times (`--trust-request-time`);
//! - bad input is a 4xx with the JSON error object, never a 500 or a panic.

#![expect(
    clippy::result_large_err,
    reason = "handlers return an axum response as their error, built once per refused request"
)]

mod guard;
mod metrics;
mod state;
mod ui;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Router;
use guard::{Caller, Deadline, Token};
use metrics::{Metrics, Tally};
use serde_json::{json, Value};
use sovra::documents::{Grants, Regions, Request};
use sovra::eval::{Engine, Scratch, TraceLevel};
use sovra::source::Sources;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How the server runs.
pub struct Config {
    /// Where the policies come from, so `reload` can read them again.
    pub policies: Vec<PathBuf>,
    pub addr: SocketAddr,
    pub tokens: Option<PathBuf>,
    pub log: Option<PathBuf>,
    /// Request fields stored as keyed hashes in the log.
    pub mask: Vec<String>,
    pub max_body: usize,
    pub timeout: Duration,
    /// Decide at a request's own `time` (replays and tests), not at the clock.
    pub trust_request_time: bool,
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers, and may
    /// stay idle between requests.
    pub header_timeout: Duration,
    /// The most requests in one batch.
    pub max_batch: usize,
    /// The state store the server keeps regions and grants in, if any.
    pub state: Option<String>,
}

/// How far a request's `time` may be from the server's clock.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Bodies up to this size are decided on the async worker that read them
/// (a few microseconds); larger ones on the blocking pool.
const INLINE_BODY: usize = 16 * 1024;

struct AppState {
    engine: RwLock<Arc<Engine>>,
    /// Held across every read-modify-swap of the engine.
    update: Mutex<()>,
    policies: Vec<PathBuf>,
    tokens: Option<Vec<Token>>,
    /// Without tokens: the Host values this server answers to.
    hosts: Option<Vec<String>>,
    log: Option<Mutex<sovra::audit::LogWriter>>,
    trust_request_time: bool,
    max_batch: usize,
    metrics: Metrics,
    /// The state store, with `--state`: regions and grants change through it.
    store: state::Kept,
    /// The registered datasets (an in-memory copy of the store's, swapped
    /// after each change): requests naming only `resource.id` are filled in.
    registry: RwLock<Arc<Vec<sovra::state::Dataset>>>,
    /// The approvers' page's signed-in sessions.
    ui: ui::Sessions,
}

type St = Arc<AppState>;

fn error(status: StatusCode, message: impl Into<String>, path: Option<&str>) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("error".into(), json!(message.into()));
    if let Some(p) = path {
        body.insert("path".into(), json!(p));
    }
    (status, axum::Json(body)).into_response()
}

fn timed_out() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the request took longer than the server's limit (--timeout-ms)",
        None,
    )
}

impl AppState {
    fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Builds a new engine from the one in force and puts it in force, under
    /// the update lock: two changes never both start from the same engine.
    fn update(&self, change: impl FnOnce(&Engine) -> Engine) -> Arc<Engine> {
        let _serial = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let new = Arc::new(change(&self.engine()));
        match self.engine.write() {
            Ok(mut g) => *g = new.clone(),
            Err(p) => *p.into_inner() = new.clone(),
        }
        new
    }

    /// Fills a request naming a registered dataset from the registry (an
    /// input error, path and words, when it contradicts it).
    fn fill(&self, req: &mut Request) -> Result<(), (String, String)> {
        if self.store.is_none() {
            return Ok(());
        }
        let registry = self
            .registry
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        sovra::state::fill(req, &registry)
    }

    /// Puts the request at the server's clock, or refuses a `time` too far
    /// from it (see the module's invariants).
    fn clock(&self, caller: &Caller, req: &mut Request) -> Result<(), String> {
        if self.trust_request_time || caller.scopes.historic {
            return Ok(());
        }
        let now = chrono::Utc::now();
        if let Some(t) = req.time {
            let off = t.with_timezone(&chrono::Utc) - now;
            if off.abs() > CLOCK_SKEW {
                return Err(format!(
                    "`time` is {} minutes {} the server's clock ({}): a live server decides at its own clock; leave `time` out, or use a token with the `historic` scope to decide at another instant",
                    off.num_minutes().abs(),
                    if off < chrono::TimeDelta::zero() { "behind" } else { "ahead of" },
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
            }
        }
        req.time = Some(now.fixed_offset());
        Ok(())
    }
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, Response> {
    let text = std::str::from_utf8(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8",
            Some("(body)"),
        )
    })?;
    Request::from_json(text)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.message.clone(), Some(&e.path)))
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

/// Runs blocking work on the blocking pool.
async fn blocking(work: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|_| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request could not be decided",
            None,
        )
    })
}

async fn evaluate(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    q: Query<ExplainQuery>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let level = match level(&q) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if level == TraceLevel::Off && s.log.is_none() && body.len() <= INLINE_BODY {
        return decide_one(&s, caller, level, &body, started);
    }
    blocking(move || decide_one(&s, caller, level, &body, started)).await
}

fn decide_one(
    s: &St,
    caller: Caller,
    level: TraceLevel,
    body: &[u8],
    started: Instant,
) -> Response {
    let mut req = match parse_request(body) {
        Ok(r) => r,
        Err(r) => {
            s.metrics.bad_requests.fetch_add(1, Ordering::Relaxed);
            return r;
        }
    };
    if let Err(why) = s.clock(&caller, &mut req) {
        s.metrics.bad_requests.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::BAD_REQUEST, why, Some("time"));
    }
    if let Err((path, why)) = s.fill(&mut req) {
        s.metrics.bad_requests.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::BAD_REQUEST, why, Some(&path));
    }
    let engine = s.engine();
    if let Err(m) = engine.check_request(&req) {
        s.metrics.bad_requests.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::BAD_REQUEST, m.message, Some(&m.field));
    }
    if s.log.is_none() {
        // The usual case: the decision (and its trace, when asked for)
        // written straight as JSON, as a batch's.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        let mut buf = Vec::with_capacity(1024);
        let mut tally = Tally::default();
        SCRATCH.with_borrow_mut(|scratch| {
            tally.verdict(engine.decide_json_traced(&req, level, scratch, &mut buf));
        });
        tally.merge(&engine, &s.metrics);
        s.metrics.latency(started);
        return ([(header::CONTENT_TYPE, "application/json")], buf).into_response();
    }
    let d = engine.decide(&req, level);
    let mut tally = Tally::default();
    tally.decision(&d);
    tally.merge(&engine, &s.metrics);
    s.metrics.latency(started);
    if let Some(log) = &s.log {
        let logged = log
            .lock()
            .map_err(|_| "the log writer failed before".to_string())
            .and_then(|mut w| {
                w.append(&engine, &req, &d).map_err(|e| e.to_string())?;
                w.sync().map_err(|e| e.to_string())
            });
        if let Err(e) = logged {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the decision could not be logged, so it is not returned: {e}"),
                None,
            );
        }
    }
    axum::Json(d).into_response()
}

/// One batch being decided: the decisions written into `buf` as a JSON array.
struct Batch<'e> {
    state: &'e AppState,
    caller: Caller,
    engine: &'e Engine,
    level: TraceLevel,
    deadline: Deadline,
    tally: Tally,
    log: Option<std::sync::MutexGuard<'e, sovra::audit::LogWriter>>,
    /// The first failure to log, if any.
    logged: Result<(), String>,
    scratch: Scratch,
    buf: Vec<u8>,
    /// Elements read so far.
    n: usize,
    /// Why the batch stopped early: too long, or out of time.
    stop: Option<Response>,
}

impl Batch<'_> {
    /// Decides element `self.n` (or writes its error), unless the batch stopped.
    fn element(&mut self, req: Result<&mut Request, sovra::DocError>) {
        let i = self.n;
        self.n += 1;
        if self.stop.is_some() {
            return;
        }
        if self.n > self.state.max_batch {
            self.stop = Some(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the batch has more than {} requests (--max-batch): send it in parts",
                    self.state.max_batch
                ),
                Some("(body)"),
            ));
            return;
        }
        if i.is_multiple_of(64) && self.deadline.passed() {
            self.stop = Some(timed_out());
            return;
        }
        if i > 0 {
            self.buf.push(b',');
        }
        let checked = req.and_then(|r| {
            self.state
                .clock(&self.caller, r)
                .map(|()| r)
                .map_err(|message| sovra::DocError {
                    path: "time".into(),
                    message,
                })
                .and_then(|r| {
                    self.state
                        .fill(r)
                        .map(|()| r)
                        .map_err(|(path, message)| sovra::DocError { path, message })
                })
        });
        match checked {
            Ok(req) => self.decide(req),
            Err(e) => {
                self.tally.bad += 1;
                let _ = serde_json::to_writer(
                    &mut self.buf,
                    &json!({"index": i, "error": e.to_string(), "path": e.path}),
                );
            }
        }
    }

    fn decide(&mut self, req: &Request) {
        if self.log.is_none() {
            let v =
                self.engine
                    .decide_json_traced(req, self.level, &mut self.scratch, &mut self.buf);
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
    Extension(caller): Extension<Caller>,
    Extension(deadline): Extension<Deadline>,
    q: Query<ExplainQuery>,
    body: Bytes,
) -> Response {
    let level = match level(&q) {
        Ok(l) => l,
        Err(r) => return r,
    };
    blocking(move || decide_batch(&s, caller, deadline, level, &body)).await
}

fn decide_batch(
    s: &St,
    caller: Caller,
    deadline: Deadline,
    level: TraceLevel,
    body: &[u8],
) -> Response {
    let engine = s.engine();
    let log = match &s.log {
        Some(l) => match l.lock() {
            Ok(g) => Some(g),
            Err(_) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the log writer failed before",
                    None,
                )
            }
        },
        None => None,
    };
    let mut b = Batch {
        state: s,
        caller,
        engine: &engine,
        level,
        deadline,
        tally: Tally::default(),
        log,
        logged: Ok(()),
        scratch: Scratch::default(),
        buf: Vec::with_capacity(body.len().min(1 << 20) * 2),
        n: 0,
        stop: None,
    };
    b.buf.push(b'[');
    // One streaming pass when every element is a valid request (the usual
    // case; a logged batch is never undone, so it takes the second way) ...
    let streamed = b.log.is_none()
        && Request::each_from_json(body, |run| {
            for req in run {
                b.element(Ok(req));
            }
        });
    if !streamed && b.stop.is_none() {
        // ... else each element as raw JSON, so a bad one gets its own
        // error and the rest are still decided.
        b.buf.truncate(1);
        (b.tally, b.n) = (Tally::default(), 0);
        let items: Vec<&serde_json::value::RawValue> = match serde_json::from_slice(body) {
            Ok(a) => a,
            Err(e) if e.is_data() => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "expected an array of requests",
                    Some("(body)"),
                )
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid JSON: {e}"),
                    Some("(body)"),
                )
            }
        };
        let mut req = Request::default();
        for item in items {
            let read = req.read_json(item.get()).map(|()| &mut req);
            b.element(read);
        }
    }
    if let Some(stop) = b.stop.take() {
        return stop;
    }
    b.buf.push(b']');
    // Decisions are returned only once they are durably logged.
    if let Some(w) = b.log.as_mut() {
        b.logged = std::mem::replace(&mut b.logged, Ok(()))
            .and_then(|()| w.sync().map_err(|e| e.to_string()));
    }
    b.tally.merge(&engine, &s.metrics);
    match b.logged {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], b.buf).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the batch could not be logged, so it is not returned: {e}"),
            None,
        ),
    }
}

async fn placement(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    Extension(deadline): Extension<Deadline>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let mut req = match parse_request(&body) {
            Ok(r) => r,
            Err(r) => return r,
        };
        if let Err(why) = s.clock(&caller, &mut req) {
            return error(StatusCode::BAD_REQUEST, why, Some("time"));
        }
        match sovra::placement::place(&s.engine(), &req, Some(deadline.0)) {
            Some(v) => axum::Json(v).into_response(),
            None => timed_out(),
        }
    })
    .await
}

async fn policies(State(s): State<St>) -> Response {
    let e = s.engine();
    let p = e.program();
    let rules: Vec<Value> = p
        .rules
        .iter()
        .map(|r| json!({"id": r.id, "effect": if r.effect == sovra::vocab::Effect::Forbid { "forbid" } else { "permit" }, "location": r.location, "cites": r.cites}))
        .collect();
    axum::Json(json!({ "policy_hash": e.policy_hash(), "files": p.files, "rules": rules }))
        .into_response()
}

/// Validates a document, then puts in force an engine built with it from
/// the engine in force (under the update lock); a bad document is refused
/// with 400 and the old one stays.
async fn swap_document<D: Send + 'static>(
    s: St,
    caller: Caller,
    body: Bytes,
    parse: fn(&str) -> Result<D, sovra::documents::DocError>,
    build: fn(&Engine, D) -> Engine,
    count: fn(&Engine) -> usize,
    what: &'static str,
) -> Response {
    blocking(move || {
        if s.store.is_some() {
            return error(
                StatusCode::CONFLICT,
                format!("this server keeps its {what} in a state store: change them through /v1/regions and /v1/grants, which record who and why"),
                None,
            );
        }
        let Ok(text) = std::str::from_utf8(&body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "the body is not UTF-8",
                Some("(body)"),
            );
        };
        match parse(text) {
            Ok(doc) => {
                let e = s.update(|e| build(e, doc));
                let n = count(&e);
                eprintln!(
                    "sovra: the {what} document replaced by {} ({n})",
                    caller.identity
                );
                axum::Json(json!({"ok": true, what: n, "by": &*caller.identity})).into_response()
            }
            Err(e) => error(StatusCode::BAD_REQUEST, e.message, Some(&e.path)),
        }
    })
    .await
}

async fn put_regions(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    swap_document(
        s,
        caller,
        body,
        Regions::from_json,
        |e, regions| Engine::new(e.program().clone(), regions, e.grants().clone()),
        |e| e.regions().regions.len(),
        "regions",
    )
    .await
}

async fn put_grants(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    swap_document(
        s,
        caller,
        body,
        Grants::from_json,
        |e, grants| Engine::new(e.program().clone(), e.regions().clone(), grants),
        |e| e.grants().len(),
        "grants",
    )
    .await
}

/// Why a policy set does not compile: in words, and (for diagnostics) the
/// records tools read.
struct CompileError {
    message: String,
    diagnostics: Vec<sovra::diag::Record>,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn compile(paths: &[PathBuf]) -> Result<sovra::ir::Program, CompileError> {
    let src: Sources = if paths.is_empty() {
        sovra::policy::bundled()
    } else {
        sovra::policy::load(paths).map_err(|e| CompileError {
            message: e.to_string(),
            diagnostics: Vec::new(),
        })?
    };
    sovra::policy::compile(&src).map_err(|d| CompileError {
        message: sovra::diag::render(&d, &src),
        diagnostics: sovra::diag::records(&d, &src),
    })
}

async fn reload(State(s): State<St>, Extension(caller): Extension<Caller>) -> Response {
    blocking(move || match compile(&s.policies) {
        Ok(program) => {
            let e = s.update(|e| {
                let new = Engine::new(program, e.regions().clone(), e.grants().clone());
                match e.state_version() {
                    Some(v) => new.with_state_version(v),
                    None => new,
                }
            });
            s.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "sovra: policies reloaded by {} ({})",
                caller.identity,
                e.policy_hash()
            );
            let by = &*caller.identity;
            axum::Json(json!({"ok": true, "policy_hash": e.policy_hash(), "by": by}))
                .into_response()
        }
        Err(e) => {
            s.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
            let n = e.diagnostics.len();
            let message = if n == 0 {
                format!(
                    "the policies do not load; the old policy stays: {}",
                    e.message
                )
            } else {
                format!(
                    "the policies do not compile ({n} problem{}); the old policy stays",
                    if n == 1 { "" } else { "s" }
                )
            };
            let body = json!({ "error": message, "diagnostics": e.diagnostics });
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
    })
    .await
}

async fn not_found() -> Response {
    not_found_now()
}

fn not_found_now() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint (see docs/openapi.yaml)",
        None,
    )
}

/// Without tokens, the Host values a request may carry: the address the
/// server listens on, and `localhost` with its port.
fn own_hosts(addr: SocketAddr) -> Vec<String> {
    let mut v = vec![addr.to_string(), format!("localhost:{}", addr.port())];
    if addr.ip().is_loopback() && addr.is_ipv4() {
        v.push(format!("[::1]:{}", addr.port()));
    }
    v
}

/// Runs the server until SIGTERM or Ctrl-C, finishing requests in flight.
pub fn run(cfg: Config, regions: Regions, grants: Grants) -> Result<(), String> {
    let tokens = cfg.tokens.as_deref().map(guard::load_tokens).transpose()?;
    if tokens.is_none() && !cfg.addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {} without tokens: give --tokens FILE, or listen on loopback (127.0.0.1)",
            cfg.addr
        ));
    }
    let program = compile(&cfg.policies).map_err(|e| e.message)?;
    sovra::audit::check_mask(&cfg.mask, &program).map_err(|e| e.to_string())?;
    let log = match &cfg.log {
        None => None,
        Some(dir) => {
            let w = sovra::audit::LogWriter::open(dir, &cfg.mask).map_err(|e| e.to_string())?;
            for warning in &w.warnings {
                eprintln!("sovra: warning: {warning}");
            }
            Some(Mutex::new(w))
        }
    };
    let store = cfg
        .state
        .as_deref()
        .map(|url| sovra::state::Store::open(url).map(Mutex::new))
        .transpose()
        .map_err(|e| e.to_string())?;
    let mut engine = Engine::new(program, regions, grants);
    let mut registry = Vec::new();
    if let Some(st) = &store {
        let mut db = st
            .lock()
            .map_err(|_| "the state store's lock is poisoned".to_string())?;
        engine = engine.with_state_version(db.version().map_err(|e| e.to_string())?);
        registry = db.datasets(None).map_err(|e| e.to_string())?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.addr))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(AppState {
            engine: RwLock::new(Arc::new(engine)),
            update: Mutex::new(()),
            policies: cfg.policies.clone(),
            hosts: tokens.is_none().then(|| own_hosts(addr)),
            tokens,
            log,
            trust_request_time: cfg.trust_request_time,
            max_batch: cfg.max_batch,
            metrics: Metrics::default(),
            store,
            registry: RwLock::new(Arc::new(registry)),
            ui: ui::Sessions::default(),
        });
        if state.store.is_some() {
            tokio::spawn(follow_store(state.clone()));
        }
        let app = router(state.clone(), cfg.max_body, cfg.timeout);
        let auth = if state.tokens.is_some() {
            "bearer tokens required"
        } else {
            "no tokens: loopback only"
        };
        eprintln!("sovra: listening on http://{addr} ({auth})");
        serve(listener, app, cfg.max_connections, cfg.header_timeout).await;
        eprintln!("sovra: shut down after the requests in flight");
        Ok(())
    })
}

/// How often a server with a state store asks it for changes other
/// processes committed (the bound on how stale a replica can be, plus the
/// time to rebuild the engine).
const STATE_POLL: Duration = Duration::from_millis(100);

/// Follows the store: puts in force, within [`STATE_POLL`], every change
/// another replica (or `sovra grants … --state`) commits. While the store
/// cannot be read, the server decides on the state version in force and
/// says so once.
async fn follow_store(s: St) {
    let mut tick = tokio::time::interval(STATE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let st = s.clone();
        match tokio::task::spawn_blocking(move || state::refresh(&st)).await {
            Ok(Ok(_)) if failing => {
                eprintln!("sovra: the state store answers again");
                failing = false;
            }
            Ok(Err(e)) if !failing => {
                eprintln!(
                    "sovra: warning: {e}; deciding on the state version in force until it answers"
                );
                failing = true;
            }
            _ => {}
        }
    }
}

/// The HTTP API: every route, behind the guard (host, token, content
/// type), the time limit and the JSON error mapping. The socket (accept
/// loop, header timeout, connection limit) is [`serve`]'s.
fn router(state: St, max_body: usize, timeout: Duration) -> Router {
    Router::new()
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/evaluate/batch", post(evaluate_batch))
        .route("/v1/placement", post(placement))
        .route("/v1/policies", get(policies))
        .route("/v1/documents/regions", put(put_regions))
        .route("/v1/documents/grants", put(put_grants))
        .route("/v1/reload", post(reload))
        .route("/v1/regions", get(state::regions).post(state::add_region))
        .route("/v1/regions/{id}", patch(state::patch_region))
        .route(
            "/v1/grants",
            post(state::request_grant).get(state::list_grants),
        )
        .route("/v1/grants/{id}", get(state::show_grant))
        .route("/v1/grants/{id}/{verb}", post(state::decide_grant))
        .route(
            "/v1/datasets",
            post(state::register_dataset).get(state::list_datasets),
        )
        .route("/v1/datasets/{id}/placements", put(state::put_placements))
        .route("/v1/failover", get(state::failover))
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::to("/ui/grants") }),
        )
        .route("/ui/grants", get(ui::show))
        .route("/ui/login", post(ui::login))
        .route("/ui/logout", post(ui::logout))
        .route("/ui/grants/{id}/{verb}", post(ui::act))
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route(
            "/ready",
            get(|| async { axum::Json(json!({"status": "ready"})) }),
        )
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            guard::time_limit,
        ))
        .layer(axum::middleware::map_response_with_state(
            max_body,
            guard::json_errors,
        ))
        .with_state(state)
}

/// Resolves at SIGTERM or Ctrl-C.
async fn shutdown_signal() {
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
}

/// The accept loop: at most `max_connections` at once (more are closed at
/// accept), each with the header timeout, all finished gracefully at shutdown.
async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    max_connections: usize,
    header_timeout: Duration,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests;
