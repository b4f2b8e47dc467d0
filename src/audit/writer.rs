//! The writer: appends records, stores objects, keeps `head`, and refuses a
//! folder that was tampered with.

use super::mask::{mask_token, scrub_record, strings};
use super::verify::body_and_hash;
use super::{io, AuditError, Record, GENESIS, LOG};
use crate::documents::{Grants, Request};
use crate::eval::{Decision, Engine};
use crate::ir::sha256_hex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

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
        // With a field masked, the plain hash of the request would let anyone
        // confirm a guessed value; the record keeps a keyed hash of it instead
        // (equal inputs still have equal ones).
        let input_hash = if masked.is_empty() {
            d.input_hash.clone()
        } else {
            mask_token(&self.key, &d.input_hash)
        };
        // The decision id: the record's number and the start of its input hash.
        let short = input_hash
            .trim_start_matches("sha256:")
            .trim_start_matches("mask:")
            .get(..12)
            .unwrap_or("");
        let mut rec = Record {
            seq,
            decision: d.decision,
            grants,
            id: format!("d-{seq}-{short}"),
            input_hash,
            logged_at: Some(
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
            masked,
            obligations: d.obligations.clone(),
            policy,
            policy_hash: Some(d.policy_hash.clone()),
            reasons: d.reasons.clone(),
            regions,
            request,
            rules: d.reasons.iter().map(|r| r.rule.clone()).collect(),
            state_version: engine.state_version(),
            time: d.evaluated_at.clone(),
            trace: d.trace.clone(),
            prev: self.prev.clone(),
            hash: String::new(),
        };
        if !secrets.is_empty() {
            scrub_record(&mut rec, &secrets);
        }
        // Serialised with an empty `hash`, last: the body is what comes
        // before it, and the hash of the body goes in its place.
        let whole = serde_json::to_string(&rec)
            .map_err(|e| AuditError::Invalid(format!("the record does not serialise: {e}")))?;
        let body = whole
            .strip_suffix(",\"hash\":\"\"}")
            .ok_or_else(|| AuditError::Invalid("the record does not end with its hash".into()))?;
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
