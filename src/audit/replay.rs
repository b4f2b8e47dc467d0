//! Replay: every record decided again, from its stored policy and documents
//! or from a new policy (impact analysis).

use super::{io, records, AuditError, Record};
use crate::documents::{Grants, Regions, Request};
use crate::eval::{Engine, Outcome, TraceLevel};
use crate::ir::Program;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Engines rebuilt from stored objects, one per (policy, regions, grants).
pub struct Objects {
    dir: PathBuf,
    programs: HashMap<String, Program>,
    engines: HashMap<(String, String, String), Engine>,
}

impl Objects {
    /// Engines for the log in `dir`, built as records need them.
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
        let pid = match policy {
            Some(p) => format!("new:{}", p.hash()),
            None => rec.policy.clone(),
        };
        let key = (pid.clone(), rec.regions.clone(), rec.grants.clone());
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
    /// The record's number.
    pub seq: u64,
    /// The logged outcome and determining rules (sorted).
    pub was: (Outcome, Vec<String>),
    /// The replayed outcome and determining rules (sorted).
    pub now: (Outcome, Vec<String>),
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
        let mut req_value = rec.request.clone();
        let mut masked = false;
        for m in &rec.masked {
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
        out.push(Redecided {
            seq: rec.seq,
            was: (rec.decision, rec.rules_sorted()),
            now: (d.decision, d.rule_ids()),
            masked,
        });
    }
    progress(total, total);
    Ok(out)
}
