//! The documents: requests, the regions catalog and the grants.
//!
//! Input: JSON text (contract.md). Output: typed values with load-time
//! indexes (regions by id, grants by principal). Invariants: a document that
//! parses holds only valid values (country codes are two upper-case letters,
//! times are RFC 3339 with an offset, region ids are unique); every error names
//! the JSON path and what would fix it; `null` means the same as absent.

use crate::country::Country;
use chrono::{DateTime, FixedOffset, Utc};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// A problem with an input document: where and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DocError {
    /// The JSON path (`grants[3].expires_at`), or `line N` context added by callers.
    pub path: String,
    pub message: String,
}

impl DocError {
    fn new(path: &str, message: impl Into<String>) -> Self {
        DocError {
            path: if path.is_empty() {
                "(document)".into()
            } else {
                path.into()
            },
            message: message.into(),
        }
    }
}

type R<T> = Result<T, DocError>;

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads fields of one JSON object, tracking the path for errors.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str) -> R<Obj<'a>> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
            }),
            other => Err(DocError::new(
                path,
                format!("expected an object, found {}", kind(other)),
            )),
        }
    }
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }
    fn p(&self, k: &str) -> String {
        join(&self.path, k)
    }
    fn opt_str(&self, k: &str) -> R<Option<String>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(o) => Err(DocError::new(
                &self.p(k),
                format!("expected a string, found {}", kind(o)),
            )),
        }
    }
    fn req_str(&self, k: &str) -> R<String> {
        self.opt_str(k)?
            .ok_or_else(|| DocError::new(&self.p(k), "required field is missing"))
    }
    fn opt_bool(&self, k: &str) -> R<Option<bool>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(o) => Err(DocError::new(
                &self.p(k),
                format!("expected true or false, found {}", kind(o)),
            )),
        }
    }
    fn opt_country(&self, k: &str) -> R<Option<Country>> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) => Country::parse(&s).map(Some).ok_or_else(|| {
                DocError::new(&self.p(k), format!("`{s}` is not a country code (two upper-case letters, ISO 3166-1 alpha-2, such as `DE`)"))
            }),
        }
    }
    fn opt_time(&self, k: &str) -> R<Option<DateTime<FixedOffset>>> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(&s).map(Some).map_err(|_| {
                DocError::new(
                    &self.p(k),
                    format!("`{s}` is not an RFC 3339 time (write it like `2026-03-01T12:00:00Z`)"),
                )
            }),
        }
    }
    fn str_list(&self, k: &str) -> R<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    o => Err(DocError::new(
                        &format!("{}[{i}]", self.p(k)),
                        format!("expected a string, found {}", kind(o)),
                    )),
                })
                .collect(),
            Some(o) => Err(DocError::new(
                &self.p(k),
                format!("expected an array of strings, found {}", kind(o)),
            )),
        }
    }
    fn extras(&self, known: &[&str]) -> Map<String, Value> {
        self.map
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn parse_json(text: &str, what: &str) -> R<Value> {
    serde_json::from_str(text).map_err(|e| {
        DocError::new(
            &format!("line {} column {}", e.line(), e.column()),
            format!("the {what} is not valid JSON: {e}"),
        )
    })
}

// ---- requests ----------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Principal {
    pub id: Option<String>,
    pub country: Option<Country>,
    pub roles: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resource {
    pub id: Option<String>,
    pub classification: Option<String>,
    pub residency: Option<String>,
    pub home_country: Option<Country>,
    pub client_regions: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One decision request (contract.md, "Request").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Request {
    pub action: String,
    pub time: Option<DateTime<FixedOffset>>,
    pub principal: Principal,
    pub resource: Resource,
    pub source_region: Option<String>,
    pub target_region: Option<String>,
    pub purpose: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Request {
    /// Parses a request from JSON text.
    pub fn from_json(text: &str) -> R<Request> {
        Request::from_value(&parse_json(text, "request")?)
    }

    /// Parses a request from a JSON value.
    pub fn from_value(v: &Value) -> R<Request> {
        let o = Obj::new(v, "")?;
        let action = o.req_str("action")?;
        let principal = match o.get("principal") {
            None => Principal::default(),
            Some(p) => {
                let p = Obj::new(p, "principal")?;
                Principal {
                    id: p.opt_str("id")?,
                    country: p.opt_country("country")?,
                    roles: p.str_list("roles")?,
                    extra: p.extras(&["id", "country", "roles"]),
                }
            }
        };
        let resource = match o.get("resource") {
            None => Resource::default(),
            Some(r) => {
                let r = Obj::new(r, "resource")?;
                Resource {
                    id: r.opt_str("id")?,
                    classification: r.opt_str("classification")?,
                    residency: r.opt_str("residency")?,
                    home_country: r.opt_country("home_country")?,
                    client_regions: r.str_list("client_regions")?,
                    extra: r.extras(&[
                        "id",
                        "classification",
                        "residency",
                        "home_country",
                        "client_regions",
                    ]),
                }
            }
        };
        Ok(Request {
            action,
            time: o.opt_time("time")?,
            principal,
            resource,
            source_region: o.opt_str("source_region")?,
            target_region: o.opt_str("target_region")?,
            purpose: o.opt_str("purpose")?,
            extra: o.extras(&[
                "action",
                "time",
                "principal",
                "resource",
                "source_region",
                "target_region",
                "purpose",
            ]),
        })
    }

    /// The canonical JSON of the request (keys sorted, nulls dropped).
    pub fn canonical(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        serde_json::to_vec(&strip_nulls(v)).unwrap_or_default()
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        o => o,
    }
}

// ---- regions ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Degraded,
    Draining,
    Offline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Degraded => "degraded",
            Status::Draining => "draining",
            Status::Offline => "offline",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Region {
    pub id: String,
    pub provider: Option<String>,
    pub country: Country,
    pub location: Option<String>,
    pub status: Status,
    pub sovereign: bool,
    pub zones: Vec<String>,
}

/// The regions document, indexed by id.
#[derive(Clone, Debug, Default)]
pub struct Regions {
    pub regions: Vec<Region>,
    index: FxHashMap<String, u32>,
    /// sha256 of the document's canonical JSON.
    pub hash: String,
}

impl Regions {
    pub fn from_json(text: &str) -> R<Regions> {
        let v = parse_json(text, "regions document")?;
        let top = Obj::new(&v, "")?;
        let list = match top.get("regions") {
            Some(Value::Array(a)) => a,
            Some(o) => {
                return Err(DocError::new(
                    "regions",
                    format!("expected an array of regions, found {}", kind(o)),
                ))
            }
            None => {
                return Err(DocError::new(
                    "regions",
                    "required field is missing (the document is `{\"regions\": [...]}`)",
                ))
            }
        };
        let mut regions = Vec::with_capacity(list.len());
        for (i, r) in list.iter().enumerate() {
            let path = format!("regions[{i}]");
            let o = Obj::new(r, &path)?;
            let status = match o.opt_str("status")?.as_deref() {
                None | Some("active") => Status::Active,
                Some("degraded") => Status::Degraded,
                Some("draining") => Status::Draining,
                Some("offline") => Status::Offline,
                Some(other) => {
                    return Err(DocError::new(
                        &o.p("status"),
                        format!("`{other}` is not a region status (one of active, degraded, draining, offline)"),
                    ))
                }
            };
            let country = o
                .opt_country("country")?
                .ok_or_else(|| DocError::new(&o.p("country"), "required field is missing"))?;
            regions.push(Region {
                id: o.req_str("id")?,
                provider: o.opt_str("provider")?,
                country,
                location: o.opt_str("location")?,
                status,
                sovereign: o.opt_bool("sovereign")?.unwrap_or(false),
                zones: o.str_list("zones")?,
            });
        }
        Regions::new(regions)
    }

    /// Builds the index; a duplicate id is an error.
    pub fn new(regions: Vec<Region>) -> R<Regions> {
        let mut index = FxHashMap::default();
        for (i, r) in regions.iter().enumerate() {
            if let Some(first) = index.insert(r.id.clone(), i as u32) {
                return Err(DocError::new(
                    &format!("regions[{i}].id"),
                    format!(
                        "duplicate region id `{}` (first at regions[{first}]); ids must be unique",
                        r.id
                    ),
                ));
            }
        }
        let hash = crate::ir::sha256_hex(&serde_json::to_vec(&regions).unwrap_or_default());
        Ok(Regions {
            regions,
            index,
            hash,
        })
    }

    #[inline]
    pub fn get(&self, id: &str) -> Option<&Region> {
        self.index
            .get(id)
            .and_then(|i| self.regions.get(*i as usize))
    }
}

// ---- grants ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grant {
    pub id: String,
    pub principal: String,
    pub resource: Option<String>,
    pub classifications: Vec<String>,
    pub to_country: Country,
    pub purpose: Option<String>,
    pub mechanism: Option<String>,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The grants document, indexed by principal.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    pub grants: Vec<Grant>,
    by_principal: FxHashMap<String, Vec<u32>>,
    pub hash: String,
}

const GRANT_FIELDS: [&str; 12] = [
    "id",
    "principal",
    "resource",
    "classifications",
    "to_country",
    "purpose",
    "mechanism",
    "requested_by",
    "approved_by",
    "valid_from",
    "expires_at",
    "revoked_at",
];

impl Grants {
    pub fn from_json(text: &str) -> R<Grants> {
        let v = parse_json(text, "grants document")?;
        let top = Obj::new(&v, "")?;
        let list = match top.get("grants") {
            Some(Value::Array(a)) => a,
            Some(o) => {
                return Err(DocError::new(
                    "grants",
                    format!("expected an array of grants, found {}", kind(o)),
                ))
            }
            None => {
                return Err(DocError::new(
                    "grants",
                    "required field is missing (the document is `{\"grants\": [...]}`)",
                ))
            }
        };
        let mut grants = Vec::with_capacity(list.len());
        for (i, g) in list.iter().enumerate() {
            let o = Obj::new(g, &format!("grants[{i}]"))?;
            let utc = |t: Option<DateTime<FixedOffset>>| t.map(|t| t.with_timezone(&Utc));
            grants.push(Grant {
                id: o.req_str("id")?,
                principal: o.req_str("principal")?,
                resource: o.opt_str("resource")?,
                classifications: o.str_list("classifications")?,
                to_country: o.opt_country("to_country")?.ok_or_else(|| {
                    DocError::new(&o.p("to_country"), "required field is missing")
                })?,
                purpose: o.opt_str("purpose")?,
                mechanism: o.opt_str("mechanism")?,
                requested_by: o.req_str("requested_by")?,
                approved_by: o.opt_str("approved_by")?,
                valid_from: utc(o.opt_time("valid_from")?),
                expires_at: utc(o.opt_time("expires_at")?).ok_or_else(|| {
                    DocError::new(&o.p("expires_at"), "required field is missing")
                })?,
                revoked_at: utc(o.opt_time("revoked_at")?),
                extra: o.extras(&GRANT_FIELDS),
            });
        }
        Ok(Grants::new(grants))
    }

    pub fn new(grants: Vec<Grant>) -> Grants {
        let mut by_principal: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        for (i, g) in grants.iter().enumerate() {
            by_principal
                .entry(g.principal.clone())
                .or_default()
                .push(i as u32);
        }
        let hash = crate::ir::sha256_hex(&serde_json::to_vec(&grants).unwrap_or_default());
        Grants {
            grants,
            by_principal,
            hash,
        }
    }

    /// The indexes of a principal's grants, in document order.
    #[inline]
    pub fn of_principal(&self, principal: &str) -> &[u32] {
        self.by_principal.get(principal).map_or(&[], Vec::as_slice)
    }

    #[inline]
    pub fn get(&self, i: u32) -> Option<&Grant> {
        self.grants.get(i as usize)
    }
}

/// The bundled catalog: the real AWS, Azure and GCP regions, all active.
pub fn bundled_regions() -> Regions {
    const CATALOG: &str = include_str!("../policies/catalog/cloud-regions.json");
    Regions::from_json(CATALOG).unwrap_or_default()
}
