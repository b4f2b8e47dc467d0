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

use crate::documents::{Grants, Regions, Request};
use crate::eval::{Decision, Engine, TraceLevel};
use crate::ir::{hex_digest, sha256_hex, Program};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

pub const LOG: &str = "decisions.jsonl";
const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const HASH_KEY: &[u8] = b",\"hash\":\"";

/// A problem with a log folder.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{0}` is locked by another writer: one writer at a time")]
    Locked(String),
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The request paths of the contract that `--mask` may name.
const MASKABLE: [&str; 11] = [
    "principal.id",
    "principal.country",
    "principal.roles",
    "resource.id",
    "resource.classification",
    "resource.residency",
    "resource.home_country",
    "resource.client_regions",
    "source_region",
    "target_region",
    "purpose",
];

/// Refuses a mask path that is not a request path the policy could read (a
/// typo such as `principal.idd` would mask nothing and leak everything), and
/// `action` and `time`, without which a decision cannot be replayed.
pub fn check_mask(mask: &[String], program: &Program) -> Result<(), AuditError> {
    for m in mask {
        if m == "action" || m == "time" {
            return Err(AuditError::Invalid(format!(
                "`--mask {m}` is refused: a decision cannot be replayed without its `{m}`"
            )));
        }
        let extra = program.extras.iter().any(|x| {
            let root = match x.root {
                crate::ir::ExtraRoot::Request => None,
                crate::ir::ExtraRoot::Principal => Some("principal"),
                crate::ir::ExtraRoot::Resource => Some("resource"),
                crate::ir::ExtraRoot::Grant => return false,
            };
            let path = root.into_iter().chain(x.path.iter().map(String::as_str));
            path.collect::<Vec<_>>().join(".") == *m
        });
        if !MASKABLE.contains(&m.as_str()) && !extra {
            return Err(AuditError::Invalid(format!(
                "`--mask {m}` names no request field the policy could read: use one of {} or an extra field a rule reads",
                MASKABLE.join(", ")
            )));
        }
    }
    Ok(())
}

/// HMAC-SHA256 (RFC 2104), for masking.
fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    #[cfg_attr(
        not(test),
        expect(
            clippy::expect_used,
            reason = "HMAC-SHA256 takes a key of any length: new_from_slice cannot fail"
        )
    )]
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("a key of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    /// RFC 4231, test case 2.
    #[test]
    fn hmac_sha256_is_rfc_4231() {
        let mac = super::hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::ir::hex_digest(&mac),
            "sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

/// A value as `--mask` stores it in the log in `dir` (to look masked values up).
pub fn masked(dir: &Path, value: &str) -> Option<String> {
    let key = std::fs::read(dir.join("mask.key")).ok()?;
    Some(mask_token(&key, value))
}

/// `mask:<hex>`: the keyed hash that stands for a masked text.
fn mask_token(key: &[u8], text: &str) -> String {
    format!(
        "mask:{}",
        hex_digest(&hmac(key, text.as_bytes())).trim_start_matches("sha256:")
    )
}

/// The hash recorded for a line: sha256 of the bytes before `,"hash":"`.
fn body_and_hash(line: &str) -> Option<(&str, &str)> {
    let at = line.rfind(",\"hash\":\"")?;
    let body = line.get(..at)?;
    let rest = line.get(at + HASH_KEY.len()..)?;
    let hash = rest.strip_suffix("\"}")?;
    Some((body, hash))
}

/// Appends decisions to a log folder.
pub struct LogWriter {
    dir: PathBuf,
    file: File,
    /// The folder itself, held with an OS lock while the writer lives.
    _lock: File,
    /// The log's length up to its last good record.
    len: u64,
    seq: u64,
    prev: String,
    key: Vec<u8>,
    mask: Vec<String>,
    stored: std::collections::HashSet<String>,
    /// Object ids by (policy hash, regions hash, grants hash) of the engines seen.
    ids: HashMap<(String, String, String), [String; 3]>,
    /// Warnings from opening (a torn record moved aside).
    pub warnings: Vec<String>,
}

impl LogWriter {
    /// Opens (creating) a log folder for appending; refuses a second writer;
    /// moves a torn last record aside.
    pub fn open(dir: &Path, mask: &[String]) -> Result<LogWriter, AuditError> {
        std::fs::create_dir_all(dir.join("objects")).map_err(io(dir))?;
        let lock = File::open(dir).map_err(io(dir))?;
        if lock.try_lock().is_err() {
            return Err(AuditError::Locked(dir.display().to_string()));
        }
        let key_path = dir.join("mask.key");
        let key = match std::fs::read(&key_path) {
            Ok(k) if !k.is_empty() => k,
            _ => {
                let mut k = vec![0u8; 32];
                File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut k))
                    .map_err(io(Path::new("/dev/urandom")))?;
                std::fs::write(&key_path, &k).map_err(io(&key_path))?;
                sync_dir(dir)?;
                k
            }
        };
        let path = dir.join(LOG);
        let mut warnings = Vec::new();
        let (seq, prev, good_len) = scan_tail(&path)?;
        check_head(dir, seq, &prev)?;
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if good_len < len {
            // Move the torn tail aside, then cut it off.
            let mut f = File::open(&path).map_err(io(&path))?;
            let mut tail = Vec::new();
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(good_len)).map_err(io(&path))?;
            f.read_to_end(&mut tail).map_err(io(&path))?;
            std::fs::create_dir_all(dir.join("torn")).map_err(io(dir))?;
            let aside = dir.join("torn").join(format!(
                "after-{seq}-{}.jsonl",
                chrono::Utc::now().timestamp_millis()
            ));
            std::fs::write(&aside, &tail).map_err(io(&aside))?;
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            f.set_len(good_len).map_err(io(&path))?;
            f.sync_all().map_err(io(&path))?;
            warnings.push(format!(
                "the log ended in a torn record ({} bytes after record {seq}, an interrupted write); it was moved to {}",
                tail.len(),
                aside.display()
            ));
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        sync_dir(dir)?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            file,
            _lock: lock,
            len: good_len,
            seq,
            prev,
            key,
            mask: mask.to_vec(),
            stored: Default::default(),
            ids: HashMap::new(),
            warnings,
        })
    }

    /// Stores an object once, under the sha256 of its bytes; returns its id.
    fn store(&mut self, bytes: &[u8]) -> Result<String, AuditError> {
        let id = sha256_hex(bytes);
        if self.stored.insert(id.clone()) {
            let path = self
                .dir
                .join("objects")
                .join(format!("{}.json", id.trim_start_matches("sha256:")));
            if !path.exists() {
                let tmp = path.with_extension("tmp");
                let mut f = File::create(&tmp).map_err(io(&tmp))?;
                f.write_all(bytes).map_err(io(&tmp))?;
                f.sync_all().map_err(io(&tmp))?;
                std::fs::rename(&tmp, &path).map_err(io(&path))?;
                sync_dir(&self.dir.join("objects"))?;
            }
        }
        Ok(id)
    }

    /// The keyed hash that stands for a masked value: equal values still match.
    pub fn mask_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => json!(mask_token(&self.key, s)),
            other => json!(mask_token(&self.key, &other.to_string())),
        }
    }

    /// The request with each masked field replaced by its keyed hash; the
    /// fields masked; and each masked text with its hash (every string of
    /// the value, so that it can be scrubbed from messages and traces too).
    fn masked_request(&self, req: &Request) -> (Value, Vec<String>, Vec<(String, String)>) {
        let mut v = serde_json::to_value(req).unwrap_or(Value::Null);
        let mut done = Vec::new();
        let mut secrets = Vec::new();
        for path in &self.mask {
            let pointer: String = path.split('.').map(|p| format!("/{p}")).collect();
            if let Some(slot) = v.pointer_mut(&pointer) {
                let masked = self.mask_value(slot);
                let token = masked.as_str().unwrap_or_default().to_string();
                let mut texts = Vec::new();
                strings(slot, &mut texts);
                if !slot.is_string() {
                    texts.push(slot.to_string());
                }
                secrets.extend(texts.into_iter().map(|t| (t, token.clone())));
                *slot = masked;
                done.push(path.clone());
            }
        }
        // Longest first, so a value inside another is not left half replaced.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        secrets.retain(|(t, _)| !t.is_empty());
        (v, done, secrets)
    }

    /// The keyed hash of an identity as separation of duties compares it:
    /// trimmed and case-folded, so that equal identities still match.
    fn mask_identity(&self, v: &mut Value) {
        if let Value::String(s) = v {
            let folded: String = s.trim().chars().flat_map(char::to_lowercase).collect();
            *v = json!(mask_token(&self.key, &folded));
        }
    }

    /// The grants document as stored: masked like requests when
    /// `principal.id` is masked, so that replay still finds each principal's grants.
    fn grants_object(&self, grants: &Grants) -> Vec<u8> {
        let mask_principal = self.mask.iter().any(|m| m == "principal.id");
        let list: Vec<Value> = grants
            .iter()
            .map(|g| {
                let mut v = serde_json::to_value(g).unwrap_or(Value::Null);
                if mask_principal {
                    if let Some(p) = v.get_mut("principal") {
                        *p = self.mask_value(p);
                    }
                    for who in ["requested_by", "approved_by"] {
                        if let Some(p) = v.get_mut(who) {
                            self.mask_identity(p);
                        }
                    }
                }
                v
            })
            .collect();
        serde_json::to_vec(&json!({ "grants": list })).unwrap_or_default()
    }

    /// Appends one decision (without fsync; see [`LogWriter::sync`]).
    pub fn append(
        &mut self,
        engine: &Engine,
        req: &Request,
        d: &Decision,
    ) -> Result<u64, AuditError> {
        let key = (
            engine.policy_hash().to_string(),
            engine.regions().hash.clone(),
            engine.grants().hash.clone(),
        );
        let [policy, regions, grants] = match self.ids.get(&key) {
            Some(ids) => ids.clone(),
            None => {
                let policy = self.store(&engine.program().canonical())?;
                let regions = serde_json::to_vec(&json!({ "regions": engine.regions().regions }))
                    .unwrap_or_default();
                let regions = self.store(&regions)?;
                let grants = self.grants_object(engine.grants());
                let grants = self.store(&grants)?;
                let ids = [policy, regions, grants];
                self.ids.insert(key, ids.clone());
                ids
            }
        };
        let (request, masked, secrets) = self.masked_request(req);
        let seq = self.seq + 1;
        let mut rec = Map::new();
        rec.insert("seq".into(), json!(seq));
        // The decision id: the record's number and the start of its input hash.
        // With a field masked, the plain hash of the request would let anyone
        // confirm a guessed value; the record keeps a keyed hash of it instead
        // (equal inputs still have equal ones).
        let input_hash = if masked.is_empty() {
            d.input_hash.clone()
        } else {
            mask_token(&self.key, &d.input_hash)
        };
        let short = input_hash
            .trim_start_matches("sha256:")
            .trim_start_matches("mask:")
            .get(..12)
            .unwrap_or("");
        rec.insert("id".into(), json!(format!("d-{seq}-{short}")));
        rec.insert("time".into(), json!(d.evaluated_at));
        rec.insert(
            "logged_at".into(),
            json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        rec.insert("request".into(), request);
        rec.insert("decision".into(), json!(d.decision));
        rec.insert(
            "rules".into(),
            json!(d
                .reasons
                .iter()
                .map(|r| r.rule.as_str())
                .collect::<Vec<_>>()),
        );
        rec.insert(
            "reasons".into(),
            serde_json::to_value(&d.reasons).unwrap_or(Value::Null),
        );
        rec.insert("obligations".into(), json!(d.obligations));
        if let Some(t) = &d.trace {
            rec.insert("trace".into(), t.clone());
        }
        rec.insert("policy".into(), json!(policy));
        rec.insert("regions".into(), json!(regions));
        rec.insert("grants".into(), json!(grants));
        rec.insert("input_hash".into(), json!(input_hash));
        rec.insert("masked".into(), json!(masked));
        if !secrets.is_empty() {
            for key in ["reasons", "trace", "obligations"] {
                if let Some(v) = rec.get_mut(key) {
                    scrub(v, &secrets);
                }
            }
        }
        // `seq` first and `prev` last, by hand: the map sorts its keys.
        let mut body = format!("{{\"seq\":{seq}");
        for (k, v) in &rec {
            if k == "seq" {
                continue;
            }
            body.push(',');
            body.push_str(&serde_json::to_string(k).unwrap_or_default());
            body.push(':');
            body.push_str(&v.to_string());
        }
        body.push_str(&format!(",\"prev\":\"{}\"", self.prev));
        let hash = sha256_hex(body.as_bytes());
        let line = format!("{body},\"hash\":\"{hash}\"}}\n");
        let path = self.dir.join(LOG);
        if let Err(e) = self.file.write_all(line.as_bytes()) {
            // A part of the line may be on disk: cut it off, so the log still
            // ends at its last good record and the number is not used up.
            let _ = self.file.set_len(self.len);
            let _ = self.file.sync_data();
            return Err(io(&path)(e));
        }
        self.len += line.len() as u64;
        self.seq = seq;
        self.prev = hash;
        Ok(seq)
    }

    /// Makes every appended record durable (fsync) and updates `head`.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        let path = self.dir.join(LOG);
        self.file.sync_data().map_err(io(&path))?;
        let head = self.dir.join("head");
        let tmp = head.with_extension("tmp");
        std::fs::write(
            &tmp,
            format!("{{\"seq\":{},\"hash\":\"{}\"}}\n", self.seq, self.prev),
        )
        .map_err(io(&tmp))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &head).map_err(io(&head))?;
        sync_dir(&self.dir)
    }
}

/// fsyncs a folder, so that the names created or renamed in it last.
fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Every string inside a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// `text` with every occurrence of `secret`, in any ASCII case, replaced by
/// `token` (`None` when there is none): an identity written `Alice` is the
/// same person as `alice`.
fn replace_any_case(text: &str, secret: &str, token: &str) -> Option<String> {
    let hay = text.to_ascii_lowercase();
    let needle = secret.to_ascii_lowercase();
    if needle.is_empty() || !hay.contains(&needle) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (i, _) in hay.match_indices(&needle) {
        if i < at {
            continue;
        }
        out.push_str(text.get(at..i)?);
        out.push_str(token);
        at = i + needle.len();
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

/// Replaces every occurrence of each secret (in any ASCII case) in the
/// strings of `v`, keys too, by its keyed hash.
fn scrub(v: &mut Value, secrets: &[(String, String)]) {
    let clean = |s: &str| -> Option<String> {
        let mut out = None::<String>;
        for (secret, token) in secrets {
            let cur = out.as_deref().unwrap_or(s);
            if let Some(c) = replace_any_case(cur, secret, token) {
                out = Some(c);
            }
        }
        out
    };
    match v {
        Value::String(s) => {
            if let Some(c) = clean(s) {
                *s = c;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, secrets)),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut x) in old {
                scrub(&mut x, secrets);
                o.insert(clean(&k).unwrap_or(k), x);
            }
        }
        _ => {}
    }
}

/// Refuses a folder whose `head` names a later record than the log holds
/// (records were cut from the end), or the last record with another hash.
fn check_head(dir: &Path, seq: u64, last: &str) -> Result<(), AuditError> {
    let Ok(text) = std::fs::read_to_string(dir.join("head")) else {
        return Ok(());
    };
    let h: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let hs = h.get("seq").and_then(Value::as_u64);
    let hh = h.get("hash").and_then(Value::as_str);
    let ok = match hs {
        Some(s) if s > seq => false,
        Some(s) if s == seq => hh == Some(last),
        Some(_) => true,
        None => false,
    };
    if ok {
        return Ok(());
    }
    Err(AuditError::Invalid(format!(
        "{}: the head names record {} but the log ends at record {seq}: records were cut from the end or changed; run `sovra audit verify` on the folder",
        dir.display(),
        hs.map_or("?".to_string(), |s| s.to_string())
    )))
}

/// The last good record's sequence number and hash, and the length of the
/// file up to it (a shorter length than the file's means a torn tail).
fn scan_tail(path: &Path) -> Result<(u64, String, u64), AuditError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, GENESIS.into(), 0)),
        Err(e) => return Err(io(path)(e)),
    };
    let mut r = std::io::BufReader::new(f);
    let (mut seq, mut prev, mut good) = (0u64, GENESIS.to_string(), 0u64);
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(io(path))?;
        if n == 0 {
            break;
        }
        let whole = line.ends_with('\n');
        let text = line.trim_end_matches('\n');
        let record = serde_json::from_str::<Value>(text).ok();
        let field = |k: &str| record.as_ref().and_then(|v| v.get(k)).cloned();
        let ok = whole
            && body_and_hash(text).is_some_and(|(body, hash)| sha256_hex(body.as_bytes()) == hash)
            && field("seq").and_then(|v| v.as_u64()) == Some(seq + 1)
            && field("prev").as_ref().and_then(Value::as_str) == Some(prev.as_str());
        if !ok {
            // Only an incomplete last line is a torn write; a complete line
            // that does not check, anywhere, was changed.
            if !whole {
                break;
            }
            return Err(AuditError::Invalid(format!(
                "{}: record {} is complete but its hash, link or number is wrong: the log was changed; run `sovra audit verify` on the folder",
                path.display(),
                seq + 1
            )));
        }
        seq += 1;
        prev = body_and_hash(text)
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        good += n as u64;
    }
    Ok((seq, prev, good))
}

/// What `verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean {
        records: u64,
        /// The hash of the last record (the genesis hash for an empty log).
        head: String,
    },
    Tampered {
        record: u64,
        line: usize,
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

/// One logged decision, read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u64,
    pub value: Value,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key)
    }
    pub fn decision(&self) -> &str {
        self.get("decision").and_then(Value::as_str).unwrap_or("")
    }
    pub fn rules(&self) -> Vec<String> {
        let mut r: Vec<String> = self
            .get("rules")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        r.sort();
        r
    }
    /// The decision document as `sovra eval` printed it.
    pub fn as_decision(&self) -> Decision {
        let s = |k: &str| {
            self.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Decision {
            decision: s("decision"),
            reasons: self
                .get("reasons")
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or_default(),
            obligations: self
                .get("obligations")
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or_default(),
            trace: self.get("trace").cloned(),
            policy_hash: s("policy"),
            input_hash: s("input_hash"),
            evaluated_at: s("time"),
        }
    }
}

/// Every record of a log (verify first: this only reads).
pub fn records(dir: &Path) -> Result<Vec<Record>, AuditError> {
    let path = dir.join(LOG);
    let f = File::open(&path).map_err(io(&path))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(io(&path))?;
        let Ok(value) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let seq = value.get("seq").and_then(Value::as_u64).unwrap_or(0);
        out.push(Record { seq, value });
    }
    Ok(out)
}

/// Engines rebuilt from stored objects, one per (policy, regions, grants).
pub struct Objects {
    dir: PathBuf,
    programs: HashMap<String, Program>,
    engines: HashMap<(String, String, String), Engine>,
}

impl Objects {
    pub fn new(dir: &Path) -> Objects {
        Objects {
            dir: dir.to_path_buf(),
            programs: HashMap::new(),
            engines: HashMap::new(),
        }
    }

    fn read(&self, id: &str) -> Result<Vec<u8>, AuditError> {
        let p = self
            .dir
            .join("objects")
            .join(format!("{}.json", id.trim_start_matches("sha256:")));
        std::fs::read(&p).map_err(io(&p))
    }

    /// The engine for a record, with its own stored policy or `policy`.
    pub fn engine(
        &mut self,
        rec: &Record,
        policy: Option<&Program>,
    ) -> Result<&Engine, AuditError> {
        let s = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let pid = match policy {
            Some(p) => format!("new:{}", p.hash()),
            None => s("policy"),
        };
        let key = (pid.clone(), s("regions"), s("grants"));
        if !self.engines.contains_key(&key) {
            let program = match policy {
                Some(p) => p.clone(),
                None => match self.programs.get(&pid) {
                    Some(p) => p.clone(),
                    None => {
                        let p = Program::from_json(&self.read(&pid)?).map_err(|e| {
                            AuditError::Invalid(format!("stored policy {pid} does not load: {e}"))
                        })?;
                        self.programs.insert(pid.clone(), p.clone());
                        p
                    }
                },
            };
            let text = |bytes: Vec<u8>, what: &str, id: &str| {
                String::from_utf8(bytes).map_err(|_| {
                    AuditError::Invalid(format!("stored {what} {id} is not UTF-8 text"))
                })
            };
            let regions_text = text(self.read(&key.1)?, "regions", &key.1)?;
            let regions = Regions::from_json(&regions_text)
                .map_err(|e| AuditError::Invalid(format!("stored regions {}: {e}", key.1)))?;
            let grants_text = text(self.read(&key.2)?, "grants", &key.2)?;
            let grants = Grants::from_json(&grants_text)
                .map_err(|e| AuditError::Invalid(format!("stored grants {}: {e}", key.2)))?;
            self.engines
                .insert(key.clone(), Engine::new(program, regions, grants));
        }
        self.engines
            .get(&key)
            .ok_or_else(|| AuditError::Invalid("engine cache".into()))
    }
}

/// A logged decision decided again.
#[derive(Debug, Clone)]
pub struct Redecided {
    pub seq: u64,
    pub was: (String, Vec<String>),
    pub now: (String, Vec<String>),
    /// The record had masked fields other than `principal.id` (which replays
    /// exactly: grants are masked alike); they were left out for the replay,
    /// so a difference here means a rule reads a masked value.
    pub masked: bool,
}

/// Decides every record again, from its stored policy and documents (or from
/// `policy`, for impact analysis). `progress` is called every 10,000 records.
pub fn replay(
    dir: &Path,
    policy: Option<&Program>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Redecided>, AuditError> {
    let recs = records(dir)?;
    let mut objects = Objects::new(dir);
    let mut out = Vec::with_capacity(recs.len());
    let total = recs.len();
    for (i, rec) in recs.iter().enumerate() {
        if i % 10_000 == 0 {
            progress(i, total);
        }
        let mut req_value = rec.get("request").cloned().unwrap_or(Value::Null);
        let mut masked = false;
        for m in rec
            .get("masked")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if m == "principal.id" {
                continue;
            }
            masked = true;
            let (parent, last) = m.rsplit_once('.').unwrap_or(("", m));
            let pointer: String = parent
                .split('.')
                .filter(|p| !p.is_empty())
                .map(|p| format!("/{p}"))
                .collect();
            if let Some(Value::Object(o)) = req_value.pointer_mut(&pointer) {
                o.remove(last);
            }
        }
        let req = Request::from_value(&req_value).map_err(|e| {
            AuditError::Invalid(format!(
                "record {}: the stored request does not load: {e}",
                rec.seq
            ))
        })?;
        let engine = objects.engine(rec, policy)?;
        let d = engine.decide(&req, TraceLevel::Off);
        let mut rules: Vec<String> = d.reasons.iter().map(|r| r.rule.clone()).collect();
        rules.sort();
        out.push(Redecided {
            seq: rec.seq,
            was: (rec.decision().to_string(), rec.rules()),
            now: (d.decision, rules),
            masked,
        });
    }
    progress(total, total);
    Ok(out)
}
