//! Verification: the chain, the hashes, the sequence and the stored objects.

use super::{io, AuditError, GENESIS, HASH_KEY, LOG};
use crate::ir::sha256_hex;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The hash recorded for a line: sha256 of the bytes before `,"hash":"`.
pub(super) fn body_and_hash(line: &str) -> Option<(&str, &str)> {
    let at = line.rfind(",\"hash\":\"")?;
    let body = line.get(..at)?;
    let rest = line.get(at + HASH_KEY.len()..)?;
    let hash = rest.strip_suffix("\"}")?;
    Some((body, hash))
}

/// What `verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every record, link, number and object checks out.
    Clean {
        /// How many records.
        records: u64,
        /// The hash of the last record (the genesis hash for an empty log).
        head: String,
    },
    /// The first record that does not check out.
    Tampered {
        /// Its number (the one due there).
        record: u64,
        /// Its line in the log.
        line: usize,
        /// What is wrong, in words.
        why: String,
    },
}

/// Checks the chain, the hashes, the sequence and the stored objects.
pub fn verify(dir: &Path) -> Result<Verdict, AuditError> {
    let path = dir.join(LOG);
    if !dir.is_dir() {
        return Err(AuditError::Invalid(format!(
            "`{}` is not a log folder",
            dir.display()
        )));
    }
    // A folder whose first writer has not written yet holds no records.
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&path)(e)),
    };
    let mut prev = GENESIS.to_string();
    let mut seq = 0u64;
    let mut objects: HashMap<String, bool> = HashMap::new();
    let mut line_no = 0;
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    for raw in &lines {
        line_no += 1;
        let bad = |why: String| {
            Ok(Verdict::Tampered {
                record: seq + 1,
                line: line_no,
                why,
            })
        };
        let Ok(line) = std::str::from_utf8(raw) else {
            return bad("the line is not UTF-8 text".into());
        };
        let Some(line) = line.strip_suffix('\n') else {
            return bad("the last line is incomplete (a torn write, or the tail was cut)".into());
        };
        let Some((body, hash)) = body_and_hash(line) else {
            return bad("the record has no hash at its end".into());
        };
        if sha256_hex(body.as_bytes()) != hash {
            return bad("the record's bytes do not match its hash: it was changed".into());
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return bad("the record is not valid JSON".into());
        };
        let this = v.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let p = v.get("prev").and_then(Value::as_str).unwrap_or("");
        if p != prev {
            let why = if this > seq + 1 {
                format!("record {} follows record {seq}: records were deleted", this)
            } else if this <= seq {
                format!("record {this} appears again after record {seq}: records were inserted or reordered")
            } else {
                "its link to the record before is broken: a record before it was changed, deleted, inserted or moved".into()
            };
            return bad(why);
        }
        if this != seq + 1 {
            return bad(format!("sequence number {this} where {} was due", seq + 1));
        }
        for key in ["policy", "regions", "grants"] {
            let id = v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
            let ok = *objects.entry(id.clone()).or_insert_with(|| {
                let p = dir
                    .join("objects")
                    .join(format!("{}.json", id.trim_start_matches("sha256:")));
                std::fs::read(p).is_ok_and(|b| sha256_hex(&b) == id)
            });
            if !ok {
                return bad(format!(
                    "its stored {key} object {id} is missing or was changed"
                ));
            }
        }
        seq = this;
        prev = hash.to_string();
    }
    // The head file, when there, must agree with the last record.
    if let Ok(head) = std::fs::read_to_string(dir.join("head")) {
        let h: Value = serde_json::from_str(&head).unwrap_or(Value::Null);
        let (hs, hh) = (
            h.get("seq").and_then(Value::as_u64),
            h.get("hash").and_then(Value::as_str),
        );
        if hs.is_some_and(|s| s > seq) || (hs == Some(seq) && hh != Some(prev.as_str())) {
            return Ok(Verdict::Tampered {
                record: seq + 1,
                line: line_no + 1,
                why: format!("the head names record {} but the log ends at record {seq}: records were cut from the end", hs.unwrap_or(0)),
            });
        }
    }
    Ok(Verdict::Clean {
        records: seq,
        head: prev,
    })
}
