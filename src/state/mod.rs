//! The state store: regions and cross-border grants kept in a database
//! (SQLite, embedded), with the grant workflow (request → approve or reject
//! → expire or revoke) and a hash-chained history of every change.
//!
//! Input: a store URL (`sqlite:PATH` or `postgres://…`) and changes, each made by an identity
//! at an instant. Output: the regions and grants documents of today's state
//! ([`Store::documents`]), which the engine, the offline CLI, the Rego bridge
//! and replay read unchanged; and the history ([`Store::history`],
//! [`Store::verify`]).
//!
//! Invariants: every change is one transaction, committed before it is
//! answered, and appends one history entry (who, when, what, why, the value
//! before and after) whose hash chains to the one before, so a changed,
//! removed or reordered entry fails [`Store::verify`]; the state version is
//! the last entry's sequence number; schema migrations are numbered
//! (`PRAGMA user_version`) and run when a store is opened; an approver is
//! never the requester (compared after trimming and case-folding); a grant
//! document is checked by the same reader as the grants document, so the
//! store never holds a grant the engine would refuse to read.

use crate::documents::{Grants, Regions};
use chrono::{DateTime, SecondsFormat, Utc};
use db::{Arg, Db, Tx};
use serde::Serialize;
use serde_json::{json, Map, Value};

mod datasets;
mod db;
mod grants;

pub use datasets::{failover, fill, Dataset};
pub use grants::{GrantRequest, GrantState};

/// A failed store operation, in words that name what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store URL is not one Sovra reads.
    #[error("`{0}` is not a state store URL: write `sqlite:PATH` (such as `sqlite:state.db`) or `postgres://USER@HOST/DATABASE`")]
    Url(String),
    /// The database refused.
    #[error("the state store: {0}")]
    Db(String),
    /// The store was made by a newer Sovra.
    #[error("the state store is at schema version {found}; this build knows up to {known}: upgrade Sovra")]
    Newer {
        /// The store's version.
        found: i64,
        /// This build's.
        known: i64,
    },
    /// A change that cannot be made (a wrong state, an invalid document).
    #[error("{0}")]
    Refused(String),
    /// No region or grant with that id.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not make this change (an approver who requested it).
    #[error("{0}")]
    Forbidden(String),
    /// A stored document that does not read (a tampered or broken store).
    #[error("the state store holds an invalid {what}: {why}")]
    Corrupt {
        /// What (`region eu-west-1`).
        what: String,
        /// Why.
        why: String,
    },
}

type R<T> = Result<T, StateError>;

/// The schema, one migration a version: never edited once released, only
/// appended to. SQLite's and PostgreSQL's say the same in each dialect
/// (PostgreSQL has no implicit `rowid`, so its tables declare one).
const MIGRATIONS: [&str; 2] = [
    "
    CREATE TABLE regions (id TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_at TEXT NOT NULL
    );
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        what TEXT NOT NULL,
        subject TEXT NOT NULL,
        why TEXT,
        before TEXT,
        after TEXT,
        hash TEXT NOT NULL
    );
",
    "
    CREATE TABLE datasets (id TEXT PRIMARY KEY, body TEXT NOT NULL);
",
];

/// [`MIGRATIONS`] for PostgreSQL.
const PG_MIGRATIONS: [&str; 2] = [
    "
    CREATE TABLE regions (rowid BIGSERIAL, id TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE grants (
        rowid BIGSERIAL,
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_at TEXT NOT NULL
    );
    CREATE TABLE history (
        seq BIGINT PRIMARY KEY,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        what TEXT NOT NULL,
        subject TEXT NOT NULL,
        why TEXT,
        before TEXT,
        after TEXT,
        hash TEXT NOT NULL
    );
",
    "
    CREATE TABLE datasets (rowid BIGSERIAL, id TEXT PRIMARY KEY, body TEXT NOT NULL);
",
];

/// One change in the history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// Its place in the history (the state version it made).
    pub seq: i64,
    /// When it was committed.
    pub at: String,
    /// The identity that made it.
    pub who: String,
    /// What was done (`grant.request`, `grant.approve`, `region.status`, `init`).
    pub what: String,
    /// What it was done to (a grant or region id, or `*`).
    pub subject: String,
    /// Why, when the caller said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The value before, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// `sha256:` of the previous entry's hash and this entry (its canonical JSON).
    pub hash: String,
}

impl Change {
    /// The hash of an entry given the one before it.
    fn digest(&self, prev: &str) -> String {
        let body = json!({
            "seq": self.seq, "at": self.at, "who": self.who, "what": self.what,
            "subject": self.subject, "why": self.why, "before": self.before, "after": self.after,
        });
        let mut bytes = prev.as_bytes().to_vec();
        bytes.push(b'\n');
        bytes.extend_from_slice(body.to_string().as_bytes());
        crate::ir::sha256_hex(&bytes)
    }
}

/// A state store.
pub struct Store {
    db: Db,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What an engine over a store decides on, read in one snapshot: the
/// documents, the registered datasets and the state version they are at.
pub struct Snapshot {
    /// Today's regions.
    pub regions: Regions,
    /// Today's grants (approved and revoked).
    pub grants: Grants,
    /// The registered datasets.
    pub datasets: Vec<Dataset>,
    /// The state version (the last change's sequence number).
    pub version: i64,
}

impl Store {
    /// Opens (creating if need be) the store at `url` (`sqlite:PATH` or
    /// `postgres://…`) and brings its schema up to date.
    pub fn open(url: &str) -> R<Store> {
        let mut s = Store { db: Db::open(url)? };
        s.db.migrate(&MIGRATIONS, &PG_MIGRATIONS)?;
        Ok(s)
    }

    /// The database the store is in: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.db.kind()
    }

    /// The schema version (the number of migrations applied).
    pub fn schema_version(&mut self) -> R<i64> {
        self.db.schema_version()
    }

    /// The state version: the sequence number of the last change (0 for a
    /// store never changed).
    pub fn version(&mut self) -> R<i64> {
        self.db.read(version)
    }

    /// Seeds an empty store with a regions and a grants document (checked
    /// by the documents' own readers). A store that holds anything is refused.
    pub fn init(&mut self, regions: &str, grants: &str, who: &str, now: DateTime<Utc>) -> R<()> {
        let r = Regions::from_json(regions)
            .map_err(|e| StateError::Refused(format!("the regions document: {e}")))?;
        Grants::from_json(grants)
            .map_err(|e| StateError::Refused(format!("the grants document: {e}")))?;
        let gdoc: Value =
            serde_json::from_str(grants).map_err(|e| StateError::Refused(e.to_string()))?;
        self.db.write(|tx| {
            let held = tx.int(
                "SELECT (SELECT COUNT(*) FROM regions) + (SELECT COUNT(*) FROM history)",
                &[],
            )?;
            if held > 0 {
                return Err(StateError::Refused(
                    "the store is not empty: `sovra state init` seeds a new store only".into(),
                ));
            }
            for region in &r.regions {
                let body = serde_json::to_string(region)
                    .map_err(|e| StateError::Refused(e.to_string()))?;
                tx.exec(
                    "INSERT INTO regions (id, body) VALUES ($1, $2)",
                    &[Arg::Text(&region.id), Arg::Text(&body)],
                )?;
            }
            let list = gdoc.get("grants").and_then(Value::as_array);
            for g in list.into_iter().flatten() {
                let id = g.get("id").and_then(Value::as_str).unwrap_or_default();
                let state = if g.get("revoked_at").is_some_and(|v| !v.is_null()) {
                    "revoked"
                } else if g.get("approved_by").is_some_and(|v| !v.is_null()) {
                    "approved"
                } else {
                    "pending"
                };
                tx.exec(
                    "INSERT INTO grants (id, body, state, requested_at) VALUES ($1, $2, $3, $4)",
                    &[
                        id.into(),
                        Arg::Text(&g.to_string()),
                        state.into(),
                        Arg::Text(&time(now)),
                    ],
                )?;
            }
            let after = json!({ "regions": r.regions.len(), "grants": list.map_or(0, Vec::len) });
            append(tx, now, who, "init", "*", None, None, Some(after))?;
            Ok(())
        })
    }

    /// Today's regions document.
    pub fn regions_document(&mut self) -> R<Value> {
        self.db.read(regions_document)
    }

    /// Today's grants document: the approved and the revoked grants (a
    /// pending or rejected request is workflow, never a grant).
    pub fn grants_document(&mut self) -> R<Value> {
        self.db.read(grants_document)
    }

    /// Today's documents, read by the documents' own readers: what an engine
    /// over this store decides on.
    pub fn documents(&mut self) -> R<(Regions, Grants)> {
        let s = self.snapshot()?;
        Ok((s.regions, s.grants))
    }

    /// Today's documents, datasets and state version, read in one snapshot
    /// (a change another replica commits meanwhile is in all of them or in
    /// none).
    pub fn snapshot(&mut self) -> R<Snapshot> {
        let (r, g, datasets, version) = self.db.read(|tx| {
            Ok((
                regions_document(tx)?,
                grants_document(tx)?,
                datasets::all(tx)?,
                version(tx)?,
            ))
        })?;
        let regions = Regions::from_json(&r.to_string()).map_err(|e| StateError::Corrupt {
            what: "regions document".into(),
            why: e.to_string(),
        })?;
        let grants = Grants::from_json(&g.to_string()).map_err(|e| StateError::Corrupt {
            what: "grants document".into(),
            why: e.to_string(),
        })?;
        Ok(Snapshot {
            regions,
            grants,
            datasets,
            version,
        })
    }

    /// Adds a region to the catalog (a provider opened it), checked by the
    /// regions document's own reader; a region already there is refused
    /// (its status changes through [`Store::set_region_status`]).
    pub fn add_region(&mut self, region: &Value, who: &str, now: DateTime<Utc>) -> R<i64> {
        let doc = Regions::from_json(&json!({ "regions": [region] }).to_string())
            .map_err(|e| StateError::Refused(e.to_string().replace("regions[0].", "")))?;
        let Some(r) = doc.regions.first() else {
            return Err(StateError::Refused("a region is needed".into()));
        };
        let body = serde_json::to_value(r).map_err(|e| StateError::Refused(e.to_string()))?;
        self.db.write(|tx| {
            let held = tx.int("SELECT COUNT(*) FROM regions WHERE id = $1", &[(&r.id).into()])?;
            if held > 0 {
                return Err(StateError::Refused(format!(
                    "region `{}` is in the catalog already: change its status instead (PATCH /v1/regions/{})",
                    r.id, r.id
                )));
            }
            tx.exec(
                "INSERT INTO regions (id, body) VALUES ($1, $2)",
                &[(&r.id).into(), Arg::Text(&body.to_string())],
            )?;
            append(tx, now, who, "region.add", &r.id, None, None, Some(body.clone()))
        })
    }

    /// Sets a region's status (`active`, `degraded`, `draining`, `offline`),
    /// saying why.
    pub fn set_region_status(
        &mut self,
        id: &str,
        status: &str,
        reason: &str,
        who: &str,
        now: DateTime<Utc>,
    ) -> R<i64> {
        if !crate::check::STATUSES.contains(&status) {
            return Err(StateError::Refused(format!(
                "`{status}` is not a region status (one of {})",
                crate::check::STATUSES.join(", ")
            )));
        }
        self.db.write(|tx| {
            set_field(
                tx,
                Table::Regions,
                id,
                ("status", json!(status)),
                ("region.status", Some(reason), who, now),
            )
        })
    }

    /// The history, oldest first.
    pub fn history(&mut self) -> R<Vec<Change>> {
        self.db.read(history)
    }

    /// Checks the history's chain: every entry's hash is that of the one
    /// before and itself, and the sequence has no gap. `Err` names the first
    /// entry that fails.
    pub fn verify(&mut self) -> R<usize> {
        let mut prev = String::new();
        let history = self.history()?;
        for (i, c) in history.iter().enumerate() {
            if c.seq != i as i64 + 1 {
                return Err(StateError::Refused(format!(
                    "history entry {}: expected sequence number {} (an entry is missing or moved)",
                    c.seq,
                    i + 1
                )));
            }
            if c.digest(&prev) != c.hash {
                return Err(StateError::Refused(format!(
                    "history entry {} ({} of {} by {}): its hash does not match: it was changed, or an entry before it was",
                    c.seq, c.what, c.subject, c.who
                )));
            }
            prev.clone_from(&c.hash);
        }
        Ok(history.len())
    }
}

fn version(tx: &mut Tx<'_>) -> R<i64> {
    tx.int("SELECT COALESCE(MAX(seq), 0) FROM history", &[])
}

/// Rows of `(id, body)` as documents, `noun id` naming a broken one.
fn bodies(tx: &mut Tx<'_>, sql: &str, noun: &str) -> R<Vec<Value>> {
    let mut out = Vec::new();
    for row in tx.rows(sql, &[])? {
        let id = row.text(0)?;
        out.push(parse(&row.text(1)?, || format!("{noun} {id}"))?);
    }
    Ok(out)
}

fn regions_document(tx: &mut Tx<'_>) -> R<Value> {
    let list = bodies(tx, "SELECT id, body FROM regions ORDER BY rowid", "region")?;
    Ok(json!({ "regions": list }))
}

fn grants_document(tx: &mut Tx<'_>) -> R<Value> {
    let list = bodies(
        tx,
        "SELECT id, body FROM grants WHERE state IN ('approved', 'revoked') ORDER BY rowid",
        "grant",
    )?;
    Ok(json!({ "grants": list }))
}

fn history(tx: &mut Tx<'_>) -> R<Vec<Change>> {
    let mut out = Vec::new();
    for r in tx.rows(
        "SELECT seq, at, who, what, subject, why, before, after, hash FROM history ORDER BY seq",
        &[],
    )? {
        let seq = r.int(0)?;
        let value = |t: Option<String>| -> R<Option<Value>> {
            t.map(|t| parse(&t, || format!("history entry {seq}")))
                .transpose()
        };
        out.push(Change {
            seq,
            at: r.text(1)?,
            who: r.text(2)?,
            what: r.text(3)?,
            subject: r.text(4)?,
            why: r.opt_text(5)?,
            before: value(r.opt_text(6)?)?,
            after: value(r.opt_text(7)?)?,
            hash: r.text(8)?,
        });
    }
    Ok(out)
}

fn parse(text: &str, what: impl Fn() -> String) -> R<Value> {
    serde_json::from_str(text).map_err(|e| StateError::Corrupt {
        what: what(),
        why: e.to_string(),
    })
}

/// Appends one history entry inside the change's transaction; its sequence
/// number is the new state version.
#[allow(
    clippy::too_many_arguments,
    reason = "one private helper, every field of an entry"
)]
fn append(
    tx: &mut Tx<'_>,
    now: DateTime<Utc>,
    who: &str,
    what: &str,
    subject: &str,
    why: Option<&str>,
    before: Option<Value>,
    after: Option<Value>,
) -> R<i64> {
    let row = tx
        .row(
            "SELECT COALESCE(MAX(seq), 0) + 1, COALESCE((SELECT hash FROM history ORDER BY seq DESC LIMIT 1), '') FROM history",
            &[],
        )?
        .ok_or_else(|| StateError::Db("the history's end has no row".into()))?;
    let (seq, prev) = (row.int(0)?, row.text(1)?);
    let mut c = Change {
        seq,
        at: time(now),
        who: who.to_string(),
        what: what.to_string(),
        subject: subject.to_string(),
        why: why.map(str::to_string),
        before,
        after,
        hash: String::new(),
    };
    c.hash = c.digest(&prev);
    let before = c.before.as_ref().map(Value::to_string);
    let after = c.after.as_ref().map(Value::to_string);
    tx.exec(
        "INSERT INTO history (seq, at, who, what, subject, why, before, after, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            c.seq.into(),
            (&c.at).into(),
            (&c.who).into(),
            (&c.what).into(),
            (&c.subject).into(),
            c.why.as_deref().into(),
            before.as_deref().into(),
            after.as_deref().into(),
            (&c.hash).into(),
        ],
    )?;
    Ok(seq)
}

/// A table whose rows are JSON documents by id.
#[derive(Clone, Copy)]
enum Table {
    Regions,
    Datasets,
}

/// Sets one field of a stored document in the change's transaction and
/// appends the change (`what`, why, who, when) with the document before and
/// after; an unknown id is `NotFound`.
fn set_field(
    tx: &mut Tx<'_>,
    table: Table,
    id: &str,
    (key, value): (&str, Value),
    (what, why, who, now): (&str, Option<&str>, &str, DateTime<Utc>),
) -> R<i64> {
    let (select, update, noun) = match table {
        Table::Regions => (
            "SELECT body FROM regions WHERE id = $1",
            "UPDATE regions SET body = $2 WHERE id = $1",
            "region",
        ),
        Table::Datasets => (
            "SELECT body FROM datasets WHERE id = $1",
            "UPDATE datasets SET body = $2 WHERE id = $1",
            "dataset",
        ),
    };
    let Some(body) = tx.row(select, &[id.into()])? else {
        return Err(StateError::NotFound(format!(
            "no {noun} `{id}` in the store"
        )));
    };
    let before = parse(&body.text(0)?, || format!("{noun} {id}"))?;
    let mut after = before.clone();
    if let Some(o) = after.as_object_mut() {
        o.insert(key.into(), value);
    }
    tx.exec(update, &[id.into(), Arg::Text(&after.to_string())])?;
    append(tx, now, who, what, id, why, Some(before), Some(after))
}

/// An object's field as text.
fn field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}
