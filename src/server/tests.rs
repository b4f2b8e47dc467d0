//! The router driven in-process (no socket): every route, status and error
//! shape. What needs a socket (timeouts, connection limits, shutdown, a
//! slow client) is in tests/server.rs and tests/server_attacks.rs.

use super::*;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use sovra::documents::bundled_regions;
use tower::ServiceExt as _;

const DENY: &str = include_str!("../../docs/examples/store-us.json");
const ALLOW: &str = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#;
const HOST: &str = "127.0.0.1:8181";

/// The router over the bundled library and catalog, as `sovra serve
/// --trust-request-time` on loopback builds it.
fn app() -> Router {
    app_over(Vec::new())
}

/// The router over the policies at `policies` (none: the bundled library).
fn app_over(policies: Vec<PathBuf>) -> Router {
    let engine = Engine::new(
        compile(&policies).unwrap_or_else(|e| panic!("{e}")),
        bundled_regions(),
        Grants::default(),
    );
    let state = Arc::new(AppState {
        engine: RwLock::new(Arc::new(engine)),
        update: Mutex::new(()),
        policies,
        tokens: None,
        hosts: Some(own_hosts(HOST.parse().unwrap())),
        log: None,
        trust_request_time: true,
        max_batch: 10_000,
        metrics: Metrics::default(),
        store: None,
        registry: RwLock::new(Arc::new(Vec::new())),
        ui: super::ui::Sessions::default(),
    });
    router(state, 64 << 20, Duration::from_secs(10))
}

/// One request: the status and the body.
async fn call(app: &Router, method: &str, path: &str, body: &str) -> (u16, String) {
    send(app, method, path, None, body).await
}

/// One request, with a bearer token when given.
async fn send(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut req = HttpRequest::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test]
async fn every_endpoint_and_error_status() {
    let app = app();
    let a = &app;
    let (st, b) = call(a, "POST", "/v1/evaluate", DENY).await;
    assert_eq!(st, 200);
    assert_eq!(json(&b)["decision"], "deny");
    let (st, b) = call(a, "POST", "/v1/evaluate?explain=full", ALLOW).await;
    assert_eq!(st, 200);
    assert_eq!(json(&b)["trace"]["level"], "full");
    let bad = r#"{"action":"store","principal":{"country":"Germany"}}"#;
    let (st, b) = call(a, "POST", "/v1/evaluate", bad).await;
    assert_eq!(st, 400);
    assert_eq!(json(&b)["path"], "principal.country");
    assert_eq!(call(a, "POST", "/v1/evaluate", "{nope").await.0, 400);
    let (st, b) = call(a, "POST", "/v1/evaluate?explain=loud", ALLOW).await;
    assert_eq!(st, 400);
    assert!(
        json(&b)["error"].is_string(),
        "every error is the JSON object"
    );
    let batch = format!("[{ALLOW}, 7, {DENY}]");
    let (st, b) = call(a, "POST", "/v1/evaluate/batch", &batch).await;
    assert_eq!(st, 200);
    let v = json(&b);
    assert_eq!(v[0]["decision"], "allow");
    assert_eq!(v[1]["index"], 1);
    assert_eq!(v[2]["decision"], "deny");
    assert_eq!(call(a, "POST", "/v1/evaluate/batch", "{}").await.0, 400);
    let (st, b) = call(a, "POST", "/v1/placement", DENY).await;
    assert_eq!(st, 200);
    let v = json(&b);
    let allowed: Vec<&str> = v["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert!(allowed.contains(&"eu-central-1") && !allowed.contains(&"us-east-1"));
    assert!(v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["region"] == "us-east-1" && r["rules"][0] == "gdpr.transfer_outside_eea"));
    let (st, b) = call(a, "GET", "/v1/policies", "").await;
    assert_eq!(st, 200);
    assert_eq!(json(&b)["rules"].as_array().unwrap().len(), 15);
    assert_eq!(call(a, "GET", "/health", "").await.0, 200);
    assert_eq!(call(a, "GET", "/ready", "").await.0, 200);
    let (st, b) = call(a, "GET", "/metrics", "").await;
    assert_eq!(st, 200);
    // One decision and a batch of two decided; two bodies and one batch
    // element refused.
    for line in [
        "sovra_decisions_total{outcome=\"allow\"} 2",
        "sovra_decisions_total{outcome=\"deny\"} 2",
        "sovra_decisions_by_rule_total{rule=\"gdpr.transfer_outside_eea\"} 2",
        "sovra_errors_total{kind=\"bad_request\"} 3",
    ] {
        assert!(b.lines().any(|l| l == line), "no `{line}` in\n{b}");
    }
    assert!(b.contains("sovra_decision_seconds_bucket"));
    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("GET", "/v1/evaluate", 405),
        ("DELETE", "/v1/policies", 405),
    ] {
        let (st, b) = call(a, method, path, "").await;
        assert_eq!(st, status, "{method} {path}");
        assert!(json(&b)["error"].is_string(), "{method} {path}: {b}");
    }

    // Document swaps: a bad document is refused and the old one stays.
    let bad = r#"{"regions":[{"id":"x","country":"de"}]}"#;
    let (st, b) = call(a, "PUT", "/v1/documents/regions", bad).await;
    assert_eq!(st, 400);
    assert_eq!(json(&b)["path"], "regions[0].country");
    let (_, b) = call(a, "POST", "/v1/evaluate", ALLOW).await;
    assert_eq!(json(&b)["decision"], "allow");
    let offline = r#"{"regions":[{"id":"eu-central-1","country":"DE","status":"offline"}]}"#;
    let (st, b) = call(a, "PUT", "/v1/documents/regions", offline).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        json(&b)["by"],
        "local",
        "who changed it: no tokens, the local caller"
    );
    let (_, b) = call(a, "POST", "/v1/evaluate", ALLOW).await;
    assert_eq!(
        json(&b)["reasons"][0]["rule"],
        "residency.inactive_target",
        "the new regions are in force"
    );
    let grants = include_str!("../../docs/examples/grants.json");
    assert_eq!(call(a, "PUT", "/v1/documents/grants", grants).await.0, 200);
    let bad = r#"{"grants":[{"id":1}]}"#;
    assert_eq!(call(a, "PUT", "/v1/documents/grants", bad).await.0, 400);
    // Reload with the bundled library (no --policies) works.
    assert_eq!(call(a, "POST", "/v1/reload", "").await.0, 200);
}

#[tokio::test]
async fn a_foreign_host_or_a_cross_site_origin_is_refused_before_the_body_is_read() {
    let app = app();
    for (header, value) in [
        ("host", "evil.example:8181"),
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let mut req = HttpRequest::builder()
            .method("POST")
            .uri("/v1/evaluate")
            .header("content-type", "application/json");
        if header != "host" {
            req = req.header("host", HOST);
        }
        let req = req.header(header, value).body(Body::from(ALLOW)).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{header}: {value}");
    }
}

#[tokio::test]
async fn a_declared_field_of_another_type_is_a_400_naming_the_field() {
    let policies = vec![PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cases/constructs/policy"
    ))];
    let app = app_over(policies);
    let (status, body) = call(
        &app,
        "POST",
        "/v1/evaluate",
        r#"{"action":"store","resource":{"home_region":"California"}}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let body = json(&body);
    assert_eq!(body["path"], "resource.home_region", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("declares it subdivision")),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        "/v1/evaluate",
        r#"{"action":"store","resource":{"home_region":"US-CA"},"target_region":"eu-central-1"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["decision"], "deny", "{body}");
}

/// One request with a bearer token.
async fn call_as(app: &Router, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    send(app, method, path, Some(token), body).await
}

/// A router over a fresh state store (the bundled catalog, no grants), with
/// the tokens alice (evaluate, request), ben (approve) and ops (admin).
fn state_app(name: &str) -> (Router, std::path::PathBuf) {
    state_app_over(name, &[])
}

/// [`state_app`] over the policies at `policies`, with `carol`, an approver
/// who holds the role `dpo`.
fn state_app_over(name: &str, policies: &[PathBuf]) -> (Router, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sovra-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("state.db").display());
    let mut store = sovra::state::Store::open(&url).unwrap();
    store
        .init(
            include_str!("../../policies/catalog/cloud-regions.json"),
            r#"{"grants":[]}"#,
            "ops",
            chrono::Utc::now(),
        )
        .unwrap();
    let (regions, grants) = store.documents().unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(
        &tokens,
        "alice alice-0123456789abcdef evaluate,request\n\
         ben   ben-0123456789abcdefgh approve\n\
         ops   ops-0123456789abcdefgh admin,evaluate\n\
         carol carol-0123456789abcdef approve roles=dpo,legal\n",
    )
    .unwrap();
    let state = Arc::new(AppState {
        engine: RwLock::new(Arc::new(Engine::new(
            compile(policies).unwrap_or_else(|e| panic!("{e}")),
            regions,
            grants,
        ))),
        update: Mutex::new(()),
        policies: policies.to_vec(),
        tokens: Some(guard::load_tokens(&tokens).unwrap()),
        hosts: None,
        log: None,
        trust_request_time: true,
        max_batch: 10_000,
        metrics: Metrics::default(),
        store: Some(Mutex::new(store)),
        registry: RwLock::new(Arc::new(Vec::new())),
        ui: super::ui::Sessions::default(),
    });
    (router(state, 64 << 20, Duration::from_secs(10)), dir)
}

#[tokio::test]
async fn the_grant_workflow_over_http_changes_what_is_decided_next() {
    let (app, dir) = state_app("workflow");
    let (alice, ben, ops) = (
        "alice-0123456789abcdef",
        "ben-0123456789abcdefgh",
        "ops-0123456789abcdefgh",
    );
    let access = r#"{"action":"access","principal":{"id":"alice","country":"US"},"resource":{"id":"ds-customers","classification":"identity","residency":"eea","home_country":"DE"},"source_region":"eu-central-1","purpose":"support"}"#;
    let decide = |app: Router| async move {
        let (_, b) = call_as(&app, "POST", "/v1/evaluate", alice, access).await;
        json(&b)["decision"].as_str().unwrap().to_string()
    };
    assert_eq!(decide(app.clone()).await, "deny");
    // The requester is the token's identity, whatever the body says.
    let body = r#"{"principal":"alice","resource":"ds-customers","to_country":"US","purpose":"support","mechanism":"scc","duration":"90d"}"#;
    let (st, b) = call_as(&app, "POST", "/v1/grants", ben, body).await;
    assert_eq!(st, 403, "ben may approve, not request: {b}");
    let (st, b) = call_as(&app, "POST", "/v1/grants", alice, body).await;
    assert_eq!(st, 201, "{b}");
    let id = json(&b)["id"].as_str().unwrap().to_string();
    let (st, b) = call_as(&app, "POST", &format!("/v1/grants/{id}/approve"), alice, "").await;
    assert_eq!(st, 403, "alice has no approve scope: {b}");
    let (st, b) = call_as(&app, "POST", &format!("/v1/grants/{id}/approve"), ben, "").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["grant"]["approved_by"], "ben");
    assert_eq!(json(&b)["state"], "active");
    // In force for the very next decision.
    assert_eq!(decide(app.clone()).await, "allow");
    let (st, b) = call_as(&app, "GET", "/v1/grants?state=active", alice, "").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["grants"].as_array().unwrap().len(), 1);
    let (st, _) = call_as(&app, "GET", "/v1/grants?state=sideways", alice, "").await;
    assert_eq!(st, 400);
    let (st, b) = call_as(
        &app,
        "POST",
        &format!("/v1/grants/{id}/revoke"),
        ops,
        r#"{"reason":"ticket closed"}"#,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(decide(app.clone()).await, "deny", "revoked: denied at once");
    let (st, b) = call_as(&app, "GET", &format!("/v1/grants/{id}"), ben, "").await;
    assert_eq!(st, 200, "{b}");
    let history = json(&b)["history"].clone();
    let who: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["who"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["alice", "ben", "ops"]);
    let (st, _) = call_as(&app, "GET", "/v1/grants/g-999999", ben, "").await;
    assert_eq!(st, 404);
    // A region taken offline by an administrator, saying why.
    let (st, b) = call_as(
        &app,
        "PATCH",
        "/v1/regions/eu-central-1",
        ops,
        r#"{"status":"offline","reason":"power loss"}"#,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["by"], "ops");
    let (_, b) = call_as(&app, "GET", "/v1/regions", alice, "").await;
    let offline = json(&b)["regions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "eu-central-1" && r["status"] == "offline");
    assert!(offline);
    // Documents are not swapped behind the store's back.
    let (st, _) = call_as(&app, "PUT", "/v1/documents/grants", ops, r#"{"grants":[]}"#).await;
    assert_eq!(st, 409);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn datasets_are_classified_when_registered_and_fill_requests_and_failover() {
    let (app, dir) = state_app("datasets");
    let (alice, ops) = ("alice-0123456789abcdef", "ops-0123456789abcdefgh");
    let body = r#"{"id":"ds-7","classification":"identity","residency":"eea","home_country":"DE","owner":"crm-team","placements":["eu-central-1"]}"#;
    let (st, b) = call_as(&app, "POST", "/v1/datasets", alice, body).await;
    assert_eq!(st, 403, "registering is for administrators: {b}");
    // An unknown classification or profile is refused now, not at the first decision.
    let bad = body.replace("identity", "identty");
    let (st, b) = call_as(&app, "POST", "/v1/datasets", ops, &bad).await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(json(&b)["path"], "classification");
    let bad = body.replace(r#""eea""#, r#""eeea""#);
    let (st, b) = call_as(&app, "POST", "/v1/datasets", ops, &bad).await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = call_as(&app, "POST", "/v1/datasets", ops, body).await;
    assert_eq!(st, 201, "{b}");
    let (st, b) = call_as(
        &app,
        "GET",
        "/v1/datasets?classification=identity",
        alice,
        "",
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["datasets"][0]["owner"], "crm-team");
    // A request naming only the dataset is decided with its registered fields.
    let only_id = r#"{"action":"store","resource":{"id":"ds-7"},"target_region":"us-east-1"}"#;
    let (st, b) = call_as(&app, "POST", "/v1/evaluate", alice, only_id).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["decision"], "deny");
    assert!(
        b.contains("gdpr.transfer_outside_eea"),
        "the registered classification and home country applied: {b}"
    );
    let inside = only_id.replace("us-east-1", "eu-west-1");
    let (_, b) = call_as(&app, "POST", "/v1/evaluate", alice, &inside).await;
    assert_eq!(json(&b)["decision"], "allow", "{b}");
    // A request that contradicts the registry is an input error naming the field.
    let lying = r#"{"action":"store","resource":{"id":"ds-7","classification":"operational"},"target_region":"us-east-1"}"#;
    let (st, b) = call_as(&app, "POST", "/v1/evaluate", alice, lying).await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(json(&b)["path"], "resource.classification");
    // Failover: where may ds-7's copy in eu-central-1 go now, and with what.
    let (st, b) = call_as(&app, "GET", "/v1/failover?region=eu-central-1", alice, "").await;
    assert_eq!(st, 200, "{b}");
    let plan = json(&b);
    assert_eq!(plan["datasets"][0]["dataset"], "ds-7");
    let targets: Vec<&str> = plan["datasets"][0]["may_move_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"eu-west-1") && !targets.contains(&"us-east-1"),
        "{targets:?}"
    );
    assert!(
        !targets.contains(&"eu-central-1"),
        "not the failed region itself"
    );
    // Placements change through the API, into the history.
    let (st, b) = call_as(
        &app,
        "PUT",
        "/v1/datasets/ds-7/placements",
        ops,
        r#"{"placements":["eu-west-1"],"reason":"failover"}"#,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let (_, b) = call_as(&app, "GET", "/v1/failover?region=eu-central-1", alice, "").await;
    assert_eq!(json(&b)["datasets"].as_array().unwrap().len(), 0);
    let (st, _) = call_as(
        &app,
        "PUT",
        "/v1/datasets/ds-7/placements",
        ops,
        r#"{"placements":["mars-1"]}"#,
    )
    .await;
    assert_eq!(st, 400, "an unknown region is refused");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_policy_can_require_an_approver_role_and_bound_a_grant() {
    let policy = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cases/bounds/policy"
    ));
    let (app, dir) = state_app_over("roles", &[policy]);
    let (alice, ben, carol) = (
        "alice-0123456789abcdef",
        "ben-0123456789abcdefgh",
        "carol-0123456789abcdef",
    );
    // Longer than `grants of identity last at most 90d`: refused when asked.
    let long = r#"{"principal":"alice","classifications":["identity"],"to_country":"US","duration":"120d"}"#;
    let (st, b) = call_as(&app, "POST", "/v1/grants", alice, long).await;
    assert_eq!(st, 400, "{b}");
    assert!(b.contains("at most 90d"), "{b}");
    let ok = long.replace("120d", "60d");
    let (st, b) = call_as(&app, "POST", "/v1/grants", alice, &ok).await;
    assert_eq!(st, 201, "{b}");
    let id = json(&b)["id"].as_str().unwrap().to_string();
    // `grants of identity need approver role dpo`: ben has no such role.
    let (st, b) = call_as(&app, "POST", &format!("/v1/grants/{id}/approve"), ben, "{}").await;
    assert_eq!(st, 403, "{b}");
    assert!(b.contains("the role `dpo`"), "{b}");
    let (st, b) = call_as(
        &app,
        "POST",
        &format!("/v1/grants/{id}/approve"),
        carol,
        "{}",
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(json(&b)["grant"]["approved_by"], "carol");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A form post to the approvers' page, with a session cookie and an
/// `Origin` when given: the status, the `Set-Cookie` and the body.
async fn form(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut req = HttpRequest::builder()
        .method("POST")
        .uri(path)
        .header("host", HOST)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let set = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, set, String::from_utf8_lossy(&bytes).into_owned())
}

/// The approvers' page as the person with `cookie`: status and body.
async fn ui_page(app: &Router, cookie: &str) -> (u16, String) {
    let req = HttpRequest::builder()
        .uri("/ui/grants")
        .header("host", HOST)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let csp = resp
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The approve form of grant g-000001, sent as `form` sends it.
async fn approve_first(
    app: &Router,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    form(app, "/ui/grants/g-000001/approve", cookie, origin, body).await
}

async fn sign_in(app: &Router, token: &str) -> String {
    let (st, set, body) = form(app, "/ui/login", None, None, &format!("token={token}")).await;
    assert_eq!(st, 303, "{body}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/ui"),
        "{set}"
    );
    set.split(';').next().unwrap().to_string()
}

fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn the_approvers_page_acts_only_for_a_signed_in_session_with_its_csrf_token() {
    let (app, dir) = state_app("ui");
    let (alice, ben) = ("alice-0123456789abcdef", "ben-0123456789abcdefgh");
    // Signed out: the sign-in form; a wrong token is refused and counted.
    let (st, page) = ui_page(&app, "sovra_ui=forged").await;
    assert_eq!(st, 200);
    assert!(page.contains("name=\"token\""), "{page}");
    let (st, _, page) = form(&app, "/ui/login", None, None, "token=nope").await;
    assert_eq!(st, 401);
    assert!(page.contains("unknown token"), "{page}");
    // A request whose fields carry markup: shown as text, never as markup.
    let (st, body) = call_as(
        &app,
        "POST",
        "/v1/grants",
        alice,
        r#"{"principal":"<script>alert(1)</script>","classifications":["identity"],"to_country":"US","duration":"30d"}"#,
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let ben_in = sign_in(&app, ben).await;
    let (st, page) = ui_page(&app, &ben_in).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("id=\"approve-g-000001\""), "{page}");
    let token = csrf(&page);
    let pending = || async {
        let (_, b) = call_as(&app, "GET", "/v1/grants/g-000001", ben, "").await;
        serde_json::from_str::<Value>(&b).unwrap()["state"].clone()
    };
    // Forged forms change nothing: no session, another session's token, another site.
    let (st, _, _) = approve_first(&app, None, None, &format!("csrf={token}")).await;
    assert_eq!(st, 401);
    let (st, _, page) = approve_first(
        &app,
        Some(&ben_in),
        None,
        &format!("csrf={}", "0".repeat(64)),
    )
    .await;
    assert_eq!(st, 403);
    assert!(page.contains("CSRF"), "{page}");
    let (st, _, _) = approve_first(
        &app,
        Some(&ben_in),
        Some("http://evil.example"),
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(pending().await, "pending");
    // The requester's own session: no button, and the forced form is refused.
    let alice_in = sign_in(&app, alice).await;
    let (_, page) = ui_page(&app, &alice_in).await;
    assert!(page.contains("You asked for this grant"), "{page}");
    assert!(!page.contains("id=\"approve-g-000001\""), "{page}");
    let (st, _, page) = approve_first(
        &app,
        Some(&alice_in),
        None,
        &format!("csrf={}", csrf(&page)),
    )
    .await;
    assert_eq!(st, 403);
    assert!(page.contains("may not approve"), "{page}");
    assert_eq!(pending().await, "pending");
    // Ben's own form, from his session: approved, as ben.
    let (st, set, _) = approve_first(
        &app,
        Some(&ben_in),
        Some("http://127.0.0.1:8181"),
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(st, 303);
    assert!(set.is_empty());
    assert_eq!(pending().await, "active");
    let (_, b) = call_as(&app, "GET", "/v1/grants/g-000001", ben, "").await;
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["grant"]["approved_by"],
        "ben"
    );
    let (_, page) = ui_page(&app, &ben_in).await;
    assert!(page.contains("id=\"active-g-000001\""), "{page}");
    // Signed out: the session is gone for good.
    let (st, set, _) = form(
        &app,
        "/ui/logout",
        Some(&ben_in),
        None,
        &format!("csrf={token}"),
    )
    .await;
    assert_eq!(st, 303);
    assert!(set.contains("Max-Age=0"), "{set}");
    let (_, page) = ui_page(&app, &ben_in).await;
    assert!(page.contains("name=\"token\""), "{page}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_region_a_provider_opens_is_added_and_decided_on_at_once() {
    let (app, dir) = state_app("add-region");
    let (alice, ops) = ("alice-0123456789abcdef", "ops-0123456789abcdefgh");
    let store = ALLOW.replace("eu-central-1", "eu-new-1");
    let decide = || async {
        let (_, b) = call_as(&app, "POST", "/v1/evaluate", alice, &store).await;
        json(&b)
    };
    let before = decide().await;
    assert_eq!(before["decision"], "deny");
    assert_eq!(before["reasons"].as_array().unwrap().len(), 1, "{before}");
    assert!(
        before["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not in the regions document"),
        "{before}"
    );
    let region =
        r#"{"id":"eu-new-1","provider":"aws","country":"DE","status":"active","partition":"aws"}"#;
    let (st, b) = call_as(&app, "POST", "/v1/regions", alice, region).await;
    assert_eq!(st, 403, "only an administrator adds regions: {b}");
    let (st, b) = call_as(&app, "POST", "/v1/regions", ops, region).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(json(&b)["by"], "ops");
    assert_eq!(decide().await["decision"], "allow");
    let (st, b) = call_as(&app, "POST", "/v1/regions", ops, region).await;
    assert_eq!(st, 400);
    assert!(
        json(&b)["error"].as_str().unwrap().contains("already"),
        "{b}"
    );
    let (st, b) = call_as(
        &app,
        "POST",
        "/v1/regions",
        ops,
        r#"{"id":"xx-1","country":"XX","status":"active"}"#,
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        json(&b)["error"].as_str().unwrap().contains("country"),
        "{b}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
