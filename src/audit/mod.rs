//! The decision log: append-only, hash-chained, replayable.
//!
//! Input: decisions as they are made (with the request, the compiled policy
//! and the documents behind them). Output: a folder that an auditor can check
//! and replay years later:
//!
//! - `decisions.jsonl`: one record a line. A record ends with
//!   `"prev":"sha256:…","hash":"sha256:…"}`; `hash` is the sha256 of the
//!   line's bytes before `"hash"`, and `prev` the hash of the record before
//!   (zeros for the first), so changing, deleting, inserting or reordering
//!   records breaks the chain where it happened;
//! - `objects/<hex>.json`: the compiled policy (its canonical IR) and each
//!   regions and grants document, stored once under the sha256 of their bytes;
//! - `head`: the sequence number and hash of the last record (anchor it
//!   elsewhere to detect truncation of the tail);
//! - `mask.key`: the key of the keyed hashes that replace masked fields.
//!
//! Invariants:
//! - one writer at a time: it holds an OS lock (`flock`) on the folder itself,
//!   which no file deletion releases;
//! - a record is whole in the log or not there: each line is written with one
//!   `write`; a failed write (a full disk) is cut off again and consumes no
//!   sequence number; the log, `head` and the objects are fsynced, with their
//!   folder, before a decision is returned;
//! - only an incomplete last line is a torn write (moved to `torn/` with a
//!   warning when the next writer opens the log); a complete line whose hash
//!   or sequence is wrong, anywhere, and a `head` naming a later record than
//!   the log holds, are tampering: the writer refuses the folder;
//! - a masked request field's value is nowhere in the folder: the request
//!   holds its keyed hash, and the reasons and trace have every occurrence of
//!   it replaced by that hash; with `principal.id` masked, the grants
//!   document's `principal`, `requested_by` and `approved_by` are masked too
//!   (approvers as trimmed, case-folded identities, so separation of duties
//!   replays), and the record's `input_hash` is a keyed hash of the decision's;
//! - every record carries `logged_at`, the writer's clock.

mod mask;
mod query;
mod replay;
mod verify;
mod writer;

pub use mask::{check_mask, masked};
pub use query::{impact, Filter};
pub use replay::{replay, Objects, Redecided};
pub use verify::{verify, Verdict};
pub use writer::LogWriter;

use crate::eval::{Decision, Outcome, Reason, Trace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::File;
use std::io::BufRead;

use std::path::Path;

/// The log file in a log folder.
pub const LOG: &str = "decisions.jsonl";
/// The `prev` of the first record.
const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// What precedes a record's hash.
const HASH_KEY: &[u8] = b",\"hash\":\"";

/// A problem with a log folder.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The folder or a file in it could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another writer holds the folder (one writer at a time).
    #[error("`{0}` is locked by another writer: one writer at a time")]
    Locked(String),
    /// The folder holds something that is not a log Sovra wrote (named in the message).
    #[error("{0}")]
    Invalid(String),
}

/// An I/O error, with the path it concerns.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One logged decision: a line of `decisions.jsonl`.
///
/// The fields are written in this order, `seq` first and `prev` last, with
/// `hash` (the sha256 of the bytes before it) after `prev`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Its number: 1, 2, 3… with no gaps.
    pub seq: u64,
    /// Allow or deny.
    pub decision: Outcome,
    /// The stored grants document's id (`sha256:…`).
    pub grants: String,
    /// The decision id: `d-<seq>-<first 12 hex digits of input_hash>`.
    pub id: String,
    /// The decision's input hash, or its keyed hash (`mask:…`) when a field
    /// was masked.
    pub input_hash: String,
    /// The writer's clock when it was written (absent in records written
    /// before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_at: Option<String>,
    /// The request fields masked (their values replaced by keyed hashes).
    pub masked: Vec<String>,
    /// The decision's obligations.
    pub obligations: Vec<String>,
    /// The stored policy's id (the sha256 of its canonical IR, debug info
    /// included; before December 2026 that was also the policy hash).
    pub policy: String,
    /// The policy hash the decision reported (absent in records written
    /// before it was recorded, whose `policy` is it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// The decision's reasons.
    pub reasons: Vec<Reason>,
    /// The stored regions document's id.
    pub regions: String,
    /// The request as decided, masked fields replaced by their keyed hashes
    /// (so it need not be a valid request).
    pub request: Value,
    /// The determining rules' ids, in the order of `reasons`.
    pub rules: Vec<String>,
    /// The state store's version the regions and grants were read at, when
    /// the engine decided on a store (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_version: Option<i64>,
    /// The decision's instant (`evaluated_at`).
    pub time: String,
    /// The decision's trace, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
    /// The hash of the record before (zeros for the first).
    pub prev: String,
    /// The sha256 of the line's bytes before `,"hash"`.
    pub hash: String,
}

impl Record {
    /// The determining rules' ids, sorted.
    pub fn rules_sorted(&self) -> Vec<String> {
        let mut r = self.rules.clone();
        r.sort();
        r
    }

    /// The policy hash the decision reported.
    pub fn policy_hash(&self) -> &str {
        self.policy_hash.as_deref().unwrap_or(&self.policy)
    }

    /// The decision document as `sovra eval` printed it.
    pub fn as_decision(&self) -> Decision {
        Decision {
            decision: self.decision,
            reasons: self.reasons.clone(),
            obligations: self.obligations.clone(),
            trace: self.trace.clone(),
            policy_hash: self.policy_hash().to_string(),
            input_hash: self.input_hash.clone(),
            evaluated_at: self.time.clone(),
        }
    }

    /// When it was written: `logged_at`, or for a record written before
    /// `logged_at` existed, its decision time.
    pub fn logged_at(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        [self.logged_at.as_deref(), Some(self.time.as_str())]
            .into_iter()
            .flatten()
            .find_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    }

    /// When it was decided.
    pub fn decided_at(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(&self.time).ok()
    }
}

/// A log read back: its records, and the lines that are not records.
#[derive(Debug, Default)]
pub struct Log {
    /// The records, in order.
    pub records: Vec<Record>,
    /// Lines that do not read as a record (a log that does not verify):
    /// line number and why. Never dropped silently: readers show them.
    pub unreadable: Vec<(usize, String)>,
}

/// Every line of a log read as a record (verify first: this only reads).
pub fn read(dir: &Path) -> Result<Log, AuditError> {
    let path = dir.join(LOG);
    let f = File::open(&path).map_err(io(&path))?;
    let mut log = Log::default();
    for (n, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
        let line = line.map_err(io(&path))?;
        match serde_json::from_slice::<Record>(&line) {
            Ok(rec) => log.records.push(rec),
            Err(e) => log.unreadable.push((n + 1, e.to_string())),
        }
    }
    Ok(log)
}

/// Every record of a log; a line that is not a record is an error naming it.
pub fn records(dir: &Path) -> Result<Vec<Record>, AuditError> {
    let log = read(dir)?;
    match log.unreadable.first() {
        None => Ok(log.records),
        Some((line, why)) => Err(AuditError::Invalid(format!(
            "{} line {line}: not a decision record: {why}",
            dir.join(LOG).display()
        ))),
    }
}
