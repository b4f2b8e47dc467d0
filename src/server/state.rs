//! The state endpoints (`sovra serve --state URL`): regions and the grant
//! workflow, changed through the store.
//!
//! Invariants: every change is made under the update lock, committed to the
//! store, and only then put in force (an engine built from the store's
//! documents after the commit), so the answer comes after the commit, the
//! next decision sees it, and no concurrent change is lost; who made a
//! change is the caller's token identity, never a field of the body.

use super::guard::Caller;
use super::{blocking, error, St};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use sovra::eval::Engine;
use sovra::state::{GrantRequest, GrantState, StateError, Store};
use std::sync::Mutex;

fn no_store() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this server keeps no state: start it with --state sqlite:PATH (or postgres://…) to change regions and grants here",
        None,
    )
}

fn refused(e: StateError) -> Response {
    let status = match &e {
        StateError::NotFound(_) => StatusCode::NOT_FOUND,
        StateError::Forbidden(_) => StatusCode::FORBIDDEN,
        StateError::Refused(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string(), None)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body: {e}"),
            Some("(body)"),
        )
    })
}

/// Makes one change through the store and puts the state after it in force.
fn change<T>(
    s: &St,
    op: impl FnOnce(&mut Store) -> Result<T, StateError>,
) -> Result<(T, i64), Response> {
    let Some(store) = &s.store else {
        return Err(no_store());
    };
    let mut made = None;
    let mut failed = None;
    s.update(|e| {
        let mut db = store.lock().unwrap_or_else(|p| p.into_inner());
        // The state after the change, read in one snapshot after its commit:
        // this change and every one committed before it, here or elsewhere.
        match op(&mut db).and_then(|t| Ok((t, db.snapshot()?))) {
            Ok((t, now)) => {
                made = Some((t, now.version));
                // The registry's copy, swapped with the engine.
                let list = std::sync::Arc::new(now.datasets);
                match s.registry.write() {
                    Ok(mut g) => *g = list,
                    Err(p) => *p.into_inner() = list,
                }
                Engine::new(e.program().clone(), now.regions, now.grants)
                    .with_state_version(now.version)
            }
            Err(err) => {
                failed = Some(err);
                // Nothing changed: the engine in force stays.
                let same =
                    Engine::new(e.program().clone(), e.regions().clone(), e.grants().clone());
                match e.state_version() {
                    Some(v) => same.with_state_version(v),
                    None => same,
                }
            }
        }
    });
    match (made, failed) {
        (Some(m), _) => Ok(m),
        (None, Some(e)) => Err(refused(e)),
        (None, None) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the change was neither made nor refused (a defect)",
            None,
        )),
    }
}

/// Puts in force the changes another process committed (another replica
/// on the same PostgreSQL database, or `sovra grants … --state` on the
/// same SQLite file): when the store is at a newer version than the engine
/// in force, the engine is rebuilt from a snapshot, under the update lock
/// like any change. Returns the version in force after.
pub(super) fn refresh(s: &St) -> Result<Option<i64>, String> {
    let Some(store) = &s.store else {
        return Ok(None);
    };
    let stored = store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .version()
        .map_err(|e| e.to_string())?;
    if s.engine().state_version().is_some_and(|v| v >= stored) {
        return Ok(Some(stored));
    }
    match change(s, |_| Ok(())) {
        Ok(((), v)) => Ok(Some(v)),
        Err(r) => Err(format!(
            "the store's state at version {stored} could not be put in force ({})",
            r.status()
        )),
    }
}

/// Reads the store without changing it.
fn read<T>(s: &St, op: impl FnOnce(&mut Store) -> Result<T, StateError>) -> Result<T, Response> {
    let Some(store) = &s.store else {
        return Err(no_store());
    };
    let mut db = store.lock().unwrap_or_else(|p| p.into_inner());
    op(&mut db).map_err(refused)
}

fn answer(r: Result<Value, Response>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => r,
    }
}

/// `GET /v1/regions`: the regions in force.
pub(super) async fn regions(State(s): State<St>) -> Response {
    blocking(move || {
        // The regions in force and the state version they are at (what the
        // next decision uses), read from one engine.
        let e = s.engine();
        axum::Json(json!({ "regions": e.regions().regions, "version": e.state_version() }))
            .into_response()
    })
    .await
}

/// `POST /v1/regions`: a region the provider opened, added to the catalog.
pub(super) async fn add_region(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let region: Value = match json_body(&body) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let now = chrono::Utc::now();
        match change(&s, |db| db.add_region(&region, &caller.identity, now)) {
            Ok((_, version)) => (
                StatusCode::CREATED,
                axum::Json(
                    json!({ "id": region.get("id"), "version": version, "by": &*caller.identity }),
                ),
            )
                .into_response(),
            Err(r) => r,
        }
    })
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `PATCH /v1/regions/{id}`: `{status, reason}`.
pub(super) async fn patch_region(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let c: StatusChange = match json_body(&body) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let now = chrono::Utc::now();
        let reason = c.reason.unwrap_or_default();
        answer(
            change(&s, |db| {
                db.set_region_status(&id, &c.status, &reason, &caller.identity, now)
            })
            .map(|(_, version)| json!({ "ok": true, "id": id, "status": c.status, "version": version, "by": &*caller.identity })),
        )
    })
    .await
}

/// `POST /v1/grants`: a request; the requester is the caller.
pub(super) async fn request_grant(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let req: GrantRequest = match json_body(&body) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let now = chrono::Utc::now();
        let max = s
            .engine()
            .program()
            .grant_bound(req.classifications.iter().map(String::as_str));
        match change(&s, |db| db.request_grant_within(&req, &caller.identity, now, max)) {
            Ok((id, version)) => (
                StatusCode::CREATED,
                axum::Json(json!({ "id": id, "state": "pending", "version": version, "by": &*caller.identity })),
            )
                .into_response(),
            Err(r) => r,
        }
    })
    .await
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Why {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /v1/grants/{id}/{approve|reject|revoke}`.
pub(super) async fn decide_grant(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    UrlPath((id, verb)): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let why: Why = if body.iter().all(u8::is_ascii_whitespace) {
            Why::default()
        } else {
            match json_body(&body) {
                Ok(w) => w,
                Err(r) => return r,
            }
        };
        answer(act(&s, &caller, &id, &verb, why.reason.as_deref()))
    })
    .await
}

/// Approves, rejects or revokes grant `id` as `caller` (who has passed the
/// scope check for `verb`), and answers the grant after it: what both the
/// API and the approvers' page do.
pub(super) fn act(
    s: &St,
    caller: &Caller,
    id: &str,
    verb: &str,
    reason: Option<&str>,
) -> Result<Value, Response> {
    let now = chrono::Utc::now();
    let who = caller.identity.clone();
    let program = s.engine().program().clone();
    let made = match verb {
        "approve" => change(s, |db| {
            // The policy's approver roles for this grant's classifications.
            let (g, _, _) = db.grant(id, now)?;
            let classes: Vec<&str> = g
                .get("classifications")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let required = program.approver_roles(classes.iter().copied());
            if let Some(missing) = required
                .iter()
                .find(|r| !caller.roles.iter().any(|x| x == *r))
            {
                return Err(StateError::Forbidden(format!(
                    "grant {id} needs an approver with the role `{missing}` (the policy says so); {who} does not have it"
                )));
            }
            db.approve(id, &who, now)
        }),
        "reject" => change(s, |db| db.reject(id, &who, reason, now)),
        "revoke" => change(s, |db| db.revoke(id, &who, reason, now)),
        _ => return Err(super::not_found_now()),
    };
    made.and_then(|_| {
        read(s, |db| db.grant(id, now))
            .map(|(g, state, _)| json!({ "grant": g, "state": state.as_str(), "by": &*who }))
    })
}

#[derive(serde::Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    state: Option<String>,
}

/// `GET /v1/grants?state=…`.
pub(super) async fn list_grants(State(s): State<St>, Query(q): Query<ListQuery>) -> Response {
    blocking(move || {
        let only = match q.state.as_deref().map(|t| (t, GrantState::parse(t))) {
            None => None,
            Some((_, Some(st))) => Some(st),
            Some((t, None)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("state: `{t}` is not a grant state (pending, active, expired, rejected, revoked)"),
                    Some("state"),
                )
            }
        };
        let now = chrono::Utc::now();
        answer(read(&s, |db| db.grants(only, now)).map(|list| {
            let grants: Vec<Value> = list
                .into_iter()
                .map(|(g, st)| json!({ "grant": g, "state": st.as_str() }))
                .collect();
            json!({ "grants": grants })
        }))
    })
    .await
}

/// `GET /v1/grants/{id}`: the grant, its state and its whole history.
pub(super) async fn show_grant(State(s): State<St>, UrlPath(id): UrlPath<String>) -> Response {
    blocking(move || {
        let now = chrono::Utc::now();
        answer(read(&s, |db| db.grant(&id, now)).map(
            |(g, st, history)| json!({ "grant": g, "state": st.as_str(), "history": history }),
        ))
    })
    .await
}

/// The store a server keeps, when it was started with one.
pub(super) type Kept = Option<Mutex<Store>>;

/// `POST /v1/datasets`: register a dataset; its classification and profile
/// must be the policy's, now, not at its first decision.
pub(super) async fn register_dataset(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let d: sovra::state::Dataset = match json_body(&body) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let e = s.engine();
        let p = e.program();
        if !p
            .classifications
            .iter()
            .any(|c| p.sym(c.name) == d.classification)
        {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "classification: `{}` is not a classification the policy declares",
                    d.classification
                ),
                Some("classification"),
            );
        }
        if let Some(r) = &d.residency {
            if !p.profiles.iter().any(|x| !x.inline && p.sym(x.name) == r) {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("residency: `{r}` is not a residency profile the policy declares"),
                    Some("residency"),
                );
            }
        }
        let now = chrono::Utc::now();
        match change(&s, |db| db.register_dataset(&d, &caller.identity, now)) {
            Ok((_, version)) => (
                StatusCode::CREATED,
                axum::Json(json!({ "dataset": d, "version": version, "by": &*caller.identity })),
            )
                .into_response(),
            Err(r) => r,
        }
    })
    .await
}

#[derive(serde::Deserialize)]
pub(super) struct DatasetQuery {
    #[serde(default)]
    classification: Option<String>,
}

/// `GET /v1/datasets?classification=…`.
pub(super) async fn list_datasets(State(s): State<St>, Query(q): Query<DatasetQuery>) -> Response {
    blocking(move || {
        answer(
            read(&s, |db| db.datasets(q.classification.as_deref()))
                .map(|list| json!({ "datasets": list })),
        )
    })
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Placements {
    placements: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `PUT /v1/datasets/{id}/placements`: where its copies are now.
pub(super) async fn put_placements(
    State(s): State<St>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let p: Placements = match json_body(&body) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let now = chrono::Utc::now();
        answer(
            change(&s, |db| {
                db.set_placements(&id, &p.placements, p.reason.as_deref(), &caller.identity, now)
            })
            .map(|(_, version)| json!({ "ok": true, "id": id, "placements": p.placements, "version": version, "by": &*caller.identity })),
        )
    })
    .await
}

#[derive(serde::Deserialize)]
pub(super) struct FailoverQuery {
    region: String,
    #[serde(default)]
    action: Option<String>,
}

/// `GET /v1/failover?region=ID`: for every dataset with a copy in the
/// region, every region it may move to now, with the obligations that would
/// apply (as `place` computes them).
pub(super) async fn failover(State(s): State<St>, Query(q): Query<FailoverQuery>) -> Response {
    blocking(move || {
        let datasets = match read(&s, |db| db.datasets(None)) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let e = s.engine();
        answer(Ok(sovra::state::failover(
            &e,
            &datasets,
            &q.region,
            q.action.as_deref().unwrap_or("store"),
        )))
    })
    .await
}
