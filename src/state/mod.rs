//! The state store: regions and cross-border grants kept in a database
//! (SQLite, embedded), with the grant workflow (request → approve or reject
//! → expire or revoke) and a hash-chained history of every change.
//!
//! Input: a store URL (`sqlite:PATH`) and changes, each made by an identity
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
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::{json, Map, Value};

mod datasets;
mod grants;

pub use datasets::{failover, fill, Dataset};
pub use grants::{GrantRequest, GrantState};

/// A failed store operation, in words that name what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store URL is not one Sovra reads.
    #[error("`{0}` is not a state store URL: write `sqlite:PATH` (such as `sqlite:state.db`)")]
    Url(String),
    /// The database refused.
    #[error("the state store: {0}")]
    Db(#[from] rusqlite::Error),
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
/// appended to.
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
    db: Connection,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl Store {
    /// Opens (creating if need be) the store at `url` and brings its schema
    /// up to date.
    pub fn open(url: &str) -> R<Store> {
        let path = url
            .strip_prefix("sqlite:")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StateError::Url(url.to_string()))?;
        let db = Connection::open(path)?;
        // Durable on commit; readers do not block the writer.
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut s = Store { db };
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&mut self) -> R<()> {
        let found: i64 = self.db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(StateError::Newer { found, known });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.db.transaction()?;
            tx.execute_batch(m)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The schema version (the number of migrations applied).
    pub fn schema_version(&self) -> R<i64> {
        Ok(self.db.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// The state version: the sequence number of the last change (0 for a
    /// store never changed).
    pub fn version(&self) -> R<i64> {
        Ok(self
            .db
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM history", [], |r| {
                r.get(0)
            })?)
    }

    /// Seeds an empty store with a regions and a grants document (checked
    /// by the documents' own readers). A store that holds anything is refused.
    pub fn init(&mut self, regions: &str, grants: &str, who: &str, now: DateTime<Utc>) -> R<()> {
        let r = Regions::from_json(regions)
            .map_err(|e| StateError::Refused(format!("the regions document: {e}")))?;
        Grants::from_json(grants)
            .map_err(|e| StateError::Refused(format!("the grants document: {e}")))?;
        let tx = self.db.transaction()?;
        let held: i64 = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM regions) + (SELECT COUNT(*) FROM history)",
            [],
            |row| row.get(0),
        )?;
        if held > 0 {
            return Err(StateError::Refused(
                "the store is not empty: `sovra state init` seeds a new store only".into(),
            ));
        }
        for region in &r.regions {
            let body =
                serde_json::to_string(region).map_err(|e| StateError::Refused(e.to_string()))?;
            tx.execute(
                "INSERT INTO regions (id, body) VALUES (?1, ?2)",
                params![region.id, body],
            )?;
        }
        let gdoc: Value =
            serde_json::from_str(grants).map_err(|e| StateError::Refused(e.to_string()))?;
        for g in gdoc
            .get("grants")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = g.get("id").and_then(Value::as_str).unwrap_or_default();
            let state = if g.get("revoked_at").is_some_and(|v| !v.is_null()) {
                "revoked"
            } else if g.get("approved_by").is_some_and(|v| !v.is_null()) {
                "approved"
            } else {
                "pending"
            };
            tx.execute(
                "INSERT INTO grants (id, body, state, requested_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, g.to_string(), state, time(now)],
            )?;
        }
        let after = json!({ "regions": r.regions.len(), "grants": gdoc.get("grants").and_then(Value::as_array).map_or(0, Vec::len) });
        append(&tx, now, who, "init", "*", None, None, Some(after))?;
        tx.commit()?;
        Ok(())
    }

    /// Today's regions document.
    pub fn regions_document(&self) -> R<Value> {
        let mut stmt = self
            .db
            .prepare("SELECT id, body FROM regions ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(parse(&body, || format!("region {id}"))?);
        }
        Ok(json!({ "regions": out }))
    }

    /// Today's grants document: the approved and the revoked grants (a
    /// pending or rejected request is workflow, never a grant).
    pub fn grants_document(&self) -> R<Value> {
        let mut stmt = self.db.prepare(
            "SELECT id, body FROM grants WHERE state IN ('approved', 'revoked') ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(parse(&body, || format!("grant {id}"))?);
        }
        Ok(json!({ "grants": out }))
    }

    /// Today's documents, read by the documents' own readers: what an engine
    /// over this store decides on.
    pub fn documents(&self) -> R<(Regions, Grants)> {
        let regions = Regions::from_json(&self.regions_document()?.to_string()).map_err(|e| {
            StateError::Corrupt {
                what: "regions document".into(),
                why: e.to_string(),
            }
        })?;
        let grants = Grants::from_json(&self.grants_document()?.to_string()).map_err(|e| {
            StateError::Corrupt {
                what: "grants document".into(),
                why: e.to_string(),
            }
        })?;
        Ok((regions, grants))
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
        let tx = self.db.transaction()?;
        let seq = set_field(
            &tx,
            Table::Regions,
            id,
            ("status", json!(status)),
            ("region.status", Some(reason), who, now),
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// The history, oldest first.
    pub fn history(&self) -> R<Vec<Change>> {
        let mut stmt = self.db.prepare(
            "SELECT seq, at, who, what, subject, why, before, after, hash FROM history ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, who, what, subject, why, before, after, hash) = row?;
            let value = |t: Option<String>| -> R<Option<Value>> {
                t.map(|t| parse(&t, || format!("history entry {seq}")))
                    .transpose()
            };
            out.push(Change {
                seq,
                at,
                who,
                what,
                subject,
                why,
                before: value(before)?,
                after: value(after)?,
                hash,
            });
        }
        Ok(out)
    }

    /// Checks the history's chain: every entry's hash is that of the one
    /// before and itself, and the sequence has no gap. `Err` names the first
    /// entry that fails.
    pub fn verify(&self) -> R<usize> {
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
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    who: &str,
    what: &str,
    subject: &str,
    why: Option<&str>,
    before: Option<Value>,
    after: Option<Value>,
) -> R<i64> {
    let (seq, prev): (i64, String) = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1, COALESCE((SELECT hash FROM history ORDER BY seq DESC LIMIT 1), '') FROM history",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
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
    let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    tx.execute(
        "INSERT INTO history (seq, at, who, what, subject, why, before, after, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![c.seq, c.at, c.who, c.what, c.subject, c.why, text(&c.before), text(&c.after), c.hash],
    )?;
    Ok(seq)
}

/// A table whose rows are JSON documents by id.
#[derive(Clone, Copy)]
pub(super) enum Table {
    Regions,
    Datasets,
}

/// Sets one field of a stored document in the change's transaction and
/// appends the change (`what`, why, who, when) with the document before and
/// after; an unknown id is `NotFound`.
pub(super) fn set_field(
    tx: &Transaction<'_>,
    table: Table,
    id: &str,
    (key, value): (&str, Value),
    (what, why, who, now): (&str, Option<&str>, &str, DateTime<Utc>),
) -> R<i64> {
    let (select, update, noun) = match table {
        Table::Regions => (
            "SELECT body FROM regions WHERE id = ?1",
            "UPDATE regions SET body = ?2 WHERE id = ?1",
            "region",
        ),
        Table::Datasets => (
            "SELECT body FROM datasets WHERE id = ?1",
            "UPDATE datasets SET body = ?2 WHERE id = ?1",
            "dataset",
        ),
    };
    let body: Option<String> = tx.query_row(select, [id], |r| r.get(0)).optional()?;
    let Some(body) = body else {
        return Err(StateError::NotFound(format!(
            "no {noun} `{id}` in the store"
        )));
    };
    let before = parse(&body, || format!("{noun} {id}"))?;
    let mut after = before.clone();
    if let Some(o) = after.as_object_mut() {
        o.insert(key.into(), value);
    }
    tx.execute(update, params![id, after.to_string()])?;
    append(tx, now, who, what, id, why, Some(before), Some(after))
}

/// An object's field as text.
fn field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}
