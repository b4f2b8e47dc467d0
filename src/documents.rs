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
use sha2::Digest as _;
use std::fmt;
use std::sync::Arc;

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
            Some(s) => Country::parse_assigned(&s)
                .map(Some)
                .map_err(|e| DocError::new(&self.p(k), e)),
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
}

/// A JSON value like [`Value`], except that an object with the same key
/// twice is an error (serde_json keeps the last silently): every document
/// has one reading.
struct Strict;

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if out.contains_key(k.as_ref()) {
                return Err(duplicate_key(&k));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(k.into_owned(), v);
        }
        Ok(Value::Object(out))
    }
}

fn duplicate_key<E: serde::de::Error>(k: &str) -> E {
    E::custom(format!(
        "the key `{}` appears twice in one object: write each key once",
        k.escape_debug()
    ))
}

fn parse_json(text: &str, what: &str) -> R<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let v = serde::de::DeserializeSeed::deserialize(
        Strict,
        serde_path_to_error::Deserializer::new(&mut de, &mut track),
    );
    match v {
        Ok(v) => de.end().map(|()| v).map_err(|e| json_error(&e, what)),
        Err(e) if e.is_syntax() || e.is_eof() => Err(json_error(&e, what)),
        Err(e) => Err(serde_error(&track.path().to_string(), &e.to_string())),
    }
}

// ---- requests ----------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Principal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_country: Option<Country>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_regions: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One decision request (contract.md, "Request").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Request {
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<FixedOffset>>,
    pub principal: Principal,
    pub resource: Resource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Request {
    /// Parses a request from JSON text, straight into the typed request (no
    /// intermediate JSON tree); errors name the JSON path.
    pub fn from_json(text: &str) -> R<Request> {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut track = serde_path_to_error::Track::new();
        let mut r = Request::default();
        let read = serde::de::DeserializeSeed::deserialize(
            Fill(&mut r),
            serde_path_to_error::Deserializer::new(&mut de, &mut track),
        );
        match read {
            Ok(()) => {
                de.end().map_err(|e| json_error(&e, "request"))?;
                Ok(r)
            }
            Err(e) if e.is_syntax() || e.is_eof() => Err(json_error(&e, "request")),
            Err(e) => Err(serde_error(&track.path().to_string(), &e.to_string())),
        }
    }

    /// Reads a request from JSON text into `self`, reusing its buffers: for
    /// reading many requests one after another (`sovra eval --requests`).
    /// The same result and errors as [`Request::from_json`].
    pub fn read_json(&mut self, text: &str) -> R<()> {
        let mut de = serde_json::Deserializer::from_str(text);
        let read = serde::de::DeserializeSeed::deserialize(Fill(&mut *self), &mut de);
        if read.is_ok() && de.end().is_ok() {
            return Ok(());
        }
        // Read again with the JSON path tracked, for the error.
        *self = Request::from_json(text)?;
        Ok(())
    }

    /// Reads a JSON array of requests in one pass and calls `each` with them
    /// in order, a run of up to 64 at a time (the batch path). The runs are
    /// read into the same reused requests, so nothing is allocated per
    /// request once the first run has been read; reading a run before
    /// deciding it keeps the parser and the engine each warm in the cache.
    ///
    /// Returns `false` at the first element that is not a valid request, or
    /// when the text is not such an array; `each` has then been called for
    /// the runs before it. Read those one by one for their errors.
    pub fn each_from_json(text: &[u8], mut each: impl FnMut(&mut [Request])) -> bool {
        const RUN: usize = 64;
        struct Seq<'f, F>(&'f mut F);
        impl<'de, F: FnMut(&mut [Request])> serde::de::Visitor<'de> for Seq<'_, F> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of requests")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let mut run: Vec<Request> = Vec::new();
                let mut n = 0;
                loop {
                    if n == run.len() {
                        if n == RUN {
                            (self.0)(&mut run);
                            n = 0;
                            continue;
                        }
                        run.push(Request::default());
                    }
                    let Some(slot) = run.get_mut(n) else { break };
                    if seq.next_element_seed(Fill(slot))?.is_none() {
                        break;
                    }
                    n += 1;
                }
                (self.0)(run.get_mut(..n).unwrap_or_default());
                Ok(())
            }
        }
        // UTF-8 checked once for the whole text, not string by string.
        let Ok(text) = std::str::from_utf8(text) else {
            return false;
        };
        let mut de = serde_json::Deserializer::from_str(text);
        serde::Deserializer::deserialize_seq(&mut de, Seq(&mut each)).is_ok() && de.end().is_ok()
    }

    /// Parses a request from a JSON value.
    pub fn from_value(v: &Value) -> R<Request> {
        let mut track = serde_path_to_error::Track::new();
        let mut r = Request::default();
        serde::de::DeserializeSeed::deserialize(
            Fill(&mut r),
            serde_path_to_error::Deserializer::new(v, &mut track),
        )
        .map(|()| r)
        .map_err(|e| serde_error(&track.path().to_string(), &e.to_string()))
    }

    /// The canonical JSON of the request: the contract's fields in the
    /// contract's order, then extra fields sorted by key.
    ///
    /// Absent and `null` fields are left out, so both spellings hash alike.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_canonical(&mut out);
        out
    }

    /// Appends the canonical JSON (see [`Request::canonical`]) to `out`,
    /// written by hand: it is hashed for every decision.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        use crate::json::string as text;
        // A field name: the contract's own names need no escaping.
        fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
            if !*first {
                out.push(b',');
            }
            *first = false;
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
        }
        fn opt(out: &mut Vec<u8>, first: &mut bool, k: &str, v: Option<&str>) {
            if let Some(v) = v {
                key(out, first, k);
                text(out, v);
            }
        }
        fn country(out: &mut Vec<u8>, first: &mut bool, k: &str, c: Option<Country>) {
            if let Some(c) = c {
                key(out, first, k);
                let [a, b] = c.letters();
                out.extend_from_slice(&[b'"', a, b, b'"']);
            }
        }
        fn list(out: &mut Vec<u8>, first: &mut bool, k: &str, v: &[String]) {
            if !v.is_empty() {
                key(out, first, k);
                out.push(b'[');
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    text(out, s);
                }
                out.push(b']');
            }
        }
        fn extras(out: &mut Vec<u8>, first: &mut bool, m: &Map<String, Value>) {
            for (k, v) in m {
                if !*first {
                    out.push(b',');
                }
                *first = false;
                text(out, k);
                out.push(b':');
                let _ = serde_json::to_writer(&mut *out, v);
            }
        }
        let mut f = true;
        out.push(b'{');
        key(out, &mut f, "action");
        text(out, &self.action);
        if let Some(t) = &self.time {
            key(out, &mut f, "time");
            text(out, &t.to_rfc3339());
        }
        key(out, &mut f, "principal");
        out.push(b'{');
        let p = &self.principal;
        let mut g = true;
        opt(out, &mut g, "id", p.id.as_deref());
        country(out, &mut g, "country", p.country);
        list(out, &mut g, "roles", &p.roles);
        extras(out, &mut g, &p.extra);
        out.push(b'}');
        key(out, &mut f, "resource");
        out.push(b'{');
        let r = &self.resource;
        let mut g = true;
        opt(out, &mut g, "id", r.id.as_deref());
        opt(out, &mut g, "classification", r.classification.as_deref());
        opt(out, &mut g, "residency", r.residency.as_deref());
        country(out, &mut g, "home_country", r.home_country);
        list(out, &mut g, "client_regions", &r.client_regions);
        extras(out, &mut g, &r.extra);
        out.push(b'}');
        opt(out, &mut f, "source_region", self.source_region.as_deref());
        opt(out, &mut f, "target_region", self.target_region.as_deref());
        opt(out, &mut f, "purpose", self.purpose.as_deref());
        extras(out, &mut f, &self.extra);
        out.push(b'}');
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

/// One grant. Strings that repeat across grants (principals, approvers,
/// mechanisms, purposes, resources) are shared (`Arc<str>`), so a million
/// grants fit in a few hundred megabytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grant {
    pub id: Box<str>,
    pub principal: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classifications: Vec<String>,
    pub to_country: Country,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Arc<str>>,
    pub requested_by: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The grants document, indexed by principal.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    /// The grants in document order, in the pieces they were read in (a
    /// million grants are never copied into one allocation).
    chunks: Vec<Vec<Grant>>,
    /// The index of the first grant of each chunk.
    starts: Vec<u32>,
    len: usize,
    by_principal: FxHashMap<Arc<str>, Vec<u32>>,
    pub hash: String,
}

impl Grants {
    /// Parses the grants document from JSON text.
    pub fn from_json(text: &str) -> R<Grants> {
        let mut de = serde_json::Deserializer::from_str(text);
        let grants = Grants::from_deserializer(&mut de)?;
        Grants::checked(vec![grants], crate::ir::sha256_hex(text.as_bytes()))
    }

    /// Streams the grants document from a reader (a file of a million grants
    /// is never held in memory as text or as a JSON tree). The hash is taken
    /// over the bytes as they stream by, as [`Grants::from_json`] takes it.
    pub fn from_reader(reader: impl std::io::Read) -> R<Grants> {
        let mut hashing = HashingReader {
            inner: reader,
            hasher: sha2::Sha256::new(),
        };
        let grants = {
            let buffered = std::io::BufReader::with_capacity(1 << 16, &mut hashing);
            let mut de = serde_json::Deserializer::from_reader(buffered);
            Grants::from_deserializer(&mut de)?
        };
        let hash = crate::ir::hex_digest(&hashing.hasher.finalize());
        Grants::checked(vec![grants], hash)
    }

    fn from_deserializer<'de, Rd: serde_json::de::Read<'de>>(
        de: &mut serde_json::Deserializer<Rd>,
    ) -> R<Vec<Grant>> {
        let mut track = serde_path_to_error::Track::new();
        let doc = serde::Deserialize::deserialize(serde_path_to_error::Deserializer::new(
            &mut *de, &mut track,
        ));
        let doc: GrantsDoc = match doc {
            Ok(d) => d,
            Err(e) => return Err(serde_error(&track.path().to_string(), &e.to_string())),
        };
        de.end().map_err(|e| serde_error("", &e.to_string()))?;
        Ok(doc.0)
    }

    /// Reads a grants file, parsing it on every core: the file streams through
    /// in blocks, complete grant objects are cut out of the `grants` array and
    /// parsed in parallel, in order. A file this fast path does not expect (no
    /// top-level object, `grants` not an array of objects, a syntax error) is
    /// read again by [`Grants::from_reader`], whose error names the place.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<R<Grants>> {
        let file = std::fs::File::open(path)?;
        // A small file is read faster in one piece than by threads.
        if file.metadata()?.len() >= 1 << 20 {
            if let Some(g) = parallel::read(file) {
                return Ok(g);
            }
        }
        Ok(Grants::from_reader(std::fs::File::open(path)?))
    }

    /// The parallel reader behind [`Grants::from_file`] on any input, for
    /// the fuzzers and tests that hold it to the small-file reader: `None`
    /// when it hands the input to the streaming reader instead.
    #[doc(hidden)]
    pub fn from_reader_parallel(reader: impl std::io::Read) -> Option<R<Grants>> {
        parallel::read(reader)
    }

    /// Grants built in code; the hash is over their canonical JSON.
    pub fn new(grants: Vec<Grant>) -> Grants {
        let bytes =
            serde_json::to_vec(&serde_json::json!({ "grants": grants })).unwrap_or_default();
        let hash = crate::ir::sha256_hex(&bytes);
        Grants::build(grants, hash)
    }

    /// Builds a document read from input, refusing what no reader may
    /// accept: a grant id used twice, and a grant that expires at or before
    /// it becomes valid.
    fn checked(chunks: Vec<Vec<Grant>>, hash: String) -> R<Grants> {
        let total = chunks.iter().map(Vec::len).sum();
        let mut ids: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
        ids.reserve(total);
        for (i, g) in chunks.iter().flatten().enumerate() {
            if !ids.insert(&g.id) {
                let first = chunks
                    .iter()
                    .flatten()
                    .position(|x| x.id == g.id)
                    .unwrap_or(i);
                return Err(DocError::new(
                    &format!("grants[{i}].id"),
                    format!(
                        "duplicate grant id `{}` (first at grants[{first}]); ids must be unique",
                        g.id.escape_debug()
                    ),
                ));
            }
            if g.valid_from.is_some_and(|from| g.expires_at <= from) {
                return Err(DocError::new(
                    &format!("grants[{i}].expires_at"),
                    "the grant expires at or before it becomes valid: `expires_at` must be after `valid_from`",
                ));
            }
        }
        drop(ids);
        Ok(Grants::from_chunks(chunks, hash))
    }

    fn build(grants: Vec<Grant>, hash: String) -> Grants {
        Grants::from_chunks(vec![grants], hash)
    }

    fn from_chunks(chunks: Vec<Vec<Grant>>, hash: String) -> Grants {
        let mut by_principal: FxHashMap<Arc<str>, Vec<u32>> = FxHashMap::default();
        let mut starts = Vec::with_capacity(chunks.len());
        let mut i = 0u32;
        for chunk in &chunks {
            starts.push(i);
            for g in chunk {
                by_principal.entry(g.principal.clone()).or_default().push(i);
                i += 1;
            }
        }
        Grants {
            len: i as usize,
            chunks,
            starts,
            by_principal,
            hash,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every grant, in document order.
    pub fn iter(&self) -> impl Iterator<Item = &Grant> {
        self.chunks.iter().flatten()
    }

    /// The indexes of a principal's grants, in document order.
    #[inline]
    pub fn of_principal(&self, principal: &str) -> &[u32] {
        self.by_principal.get(principal).map_or(&[], Vec::as_slice)
    }

    #[inline]
    pub fn get(&self, i: u32) -> Option<&Grant> {
        let c = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        let start = *self.starts.get(c)?;
        self.chunks.get(c)?.get((i - start) as usize)
    }
}

/// A serde error as a [`DocError`]: the path, and the message in our words.
fn serde_error(path: &str, msg: &str) -> DocError {
    let path = if path == "." { "" } else { path };
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        return DocError::new(&join(path, field), "required field is missing");
    }
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    let words = |t: &str| -> String {
        match t {
            "a sequence" => "an array".into(),
            "a borrowed string" => "a string".into(),
            "a map" => "an object".into(),
            other => other.to_string(),
        }
    };
    let msg = match msg
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    {
        Some((found, expected)) => {
            let found = match found.split_whitespace().next().unwrap_or("") {
                "integer" | "floating" => "a number",
                "string" => "a string",
                "boolean" => "a boolean",
                "map" => "an object",
                "sequence" => "an array",
                "null" => "null",
                _ => found,
            };
            format!("expected {}, found {found}", words(expected))
        }
        None => msg.to_string(),
    };
    if path.is_empty() && msg.contains("line") {
        return DocError::new("(document)", format!("not valid JSON: {msg}"));
    }
    DocError::new(path, msg)
}

/// A JSON syntax error: where, and that the document is not JSON.
fn json_error(e: &serde_json::Error, what: &str) -> DocError {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    DocError::new(
        &format!("line {} column {}", e.line(), e.column()),
        format!("the {what} is not valid JSON: {msg}"),
    )
}

/// Reads JSON into an existing value, reusing its buffers: a batch reads
/// every request into the same [`Request`], so its strings are allocated
/// once, not once per request. Every field the JSON leaves out is reset, so
/// the result is the same as reading into a fresh value.
struct Fill<'r, T>(&'r mut T);

/// Copies `s` into `slot`, reusing the string already there.
fn put(slot: &mut Option<String>, s: &str) {
    match slot {
        Some(x) => {
            x.clear();
            x.push_str(s);
        }
        None => *slot = Some(s.to_owned()),
    }
}

/// A string field; `null` is absent.
impl<'de> serde::de::DeserializeSeed<'de> for Fill<'_, Option<String>> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'r>(&'r mut Option<String>);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
                self.visit_none()
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_str(self)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
                put(self.0, s);
                Ok(())
            }
        }
        d.deserialize_option(V(self.0))
    }
}

/// A list of strings; `null` is empty.
impl<'de> serde::de::DeserializeSeed<'de> for Fill<'_, Vec<String>> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        /// The string at one index of the list, reusing the one there.
        struct Item<'r>(&'r mut Vec<String>, usize);
        impl<'de> serde::de::DeserializeSeed<'de> for Item<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_str(self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Item<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
                match self.0.get_mut(self.1) {
                    Some(x) => {
                        x.clear();
                        x.push_str(s);
                    }
                    None => self.0.push(s.to_owned()),
                }
                Ok(())
            }
        }
        struct V<'r>(&'r mut Vec<String>);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
                self.0.clear();
                Ok(())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let mut n = 0;
                while seq.next_element_seed(Item(self.0, n))?.is_some() {
                    n += 1;
                }
                self.0.truncate(n);
                Ok(())
            }
        }
        d.deserialize_any(V(self.0))
    }
}

/// A time with its offset, checked while it is read.
struct OffsetTime(DateTime<FixedOffset>);

impl<'de> serde::Deserialize<'de> for OffsetTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        with_str(d, |s| parse_time(s).map(OffsetTime))
    }
}

/// An RFC 3339 time with its offset, within the years 0001 to 9999 both as
/// written and in UTC (so every time, and every `evaluated_at` written from
/// it, is RFC 3339 again).
pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    use chrono::Datelike as _;
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| {
        format!(
            "`{}` is not an RFC 3339 time (write it like `2026-03-01T12:00:00Z`)",
            s.escape_debug()
        )
    })?;
    let years = 1..=9999;
    if !years.contains(&t.year()) || !years.contains(&t.naive_utc().year()) {
        return Err(format!(
            "`{}` is outside the years 0001 to 9999 (in UTC too)",
            s.escape_debug()
        ));
    }
    Ok(t)
}

/// A field name, borrowed from the text when it has no escapes (serde's own
/// `Cow<str>` always allocates).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads one object's fields into `extra` (cleared first): `known` reads the
/// fields it names and says whether it did; the rest are extras.
fn visit_object<'de, A, F>(
    mut map: A,
    extra: &mut Map<String, Value>,
    mut known: F,
) -> Result<(), A::Error>
where
    A: serde::de::MapAccess<'de>,
    F: FnMut(&str, &mut A) -> Result<bool, A::Error>,
{
    extra.clear();
    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
        if !known(&key, &mut map)? {
            let v: Value = map.next_value_seed(Strict)?;
            if extra.contains_key(key.as_ref()) {
                return Err(duplicate_key(&key));
            }
            if !v.is_null() {
                extra.insert(key.into_owned(), v);
            }
        }
    }
    Ok(())
}

/// An object of the request (`principal`, `resource`) read in place: its
/// own fields by name, the rest kept as extras; `null` is the empty object.
trait Fields: Default {
    /// Reads field `k` if it is one of ours and says which it was (its
    /// place in `reset`'s list); `None` for an extra.
    fn field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        k: &str,
        m: &mut A,
    ) -> Result<Option<usize>, A::Error>;
    /// Resets the fields the object left out.
    fn reset(&mut self, seen: [bool; 5]);
    fn extra(&mut self) -> &mut Map<String, Value>;
}

impl Fields for Principal {
    fn field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        k: &str,
        m: &mut A,
    ) -> Result<Option<usize>, A::Error> {
        Ok(Some(match k {
            "id" => {
                m.next_value_seed(Fill(&mut self.id))?;
                0
            }
            "country" => {
                self.country = m.next_value::<Option<CountryField>>()?.map(|c| c.0);
                1
            }
            "roles" => {
                m.next_value_seed(Fill(&mut self.roles))?;
                2
            }
            _ => return Ok(None),
        }))
    }
    fn reset(&mut self, [id, country, roles, ..]: [bool; 5]) {
        if !id {
            self.id = None;
        }
        if !country {
            self.country = None;
        }
        if !roles {
            self.roles.clear();
        }
    }
    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

impl Fields for Resource {
    fn field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        k: &str,
        m: &mut A,
    ) -> Result<Option<usize>, A::Error> {
        Ok(Some(match k {
            "id" => {
                m.next_value_seed(Fill(&mut self.id))?;
                0
            }
            "classification" => {
                m.next_value_seed(Fill(&mut self.classification))?;
                1
            }
            "residency" => {
                m.next_value_seed(Fill(&mut self.residency))?;
                2
            }
            "home_country" => {
                let c = m.next_value::<Option<CountryField>>()?;
                self.home_country = c.map(|c| c.0);
                3
            }
            "client_regions" => {
                m.next_value_seed(Fill(&mut self.client_regions))?;
                4
            }
            _ => return Ok(None),
        }))
    }
    fn reset(&mut self, [id, classification, residency, home, regions]: [bool; 5]) {
        if !id {
            self.id = None;
        }
        if !classification {
            self.classification = None;
        }
        if !residency {
            self.residency = None;
        }
        if !home {
            self.home_country = None;
        }
        if !regions {
            self.client_regions.clear();
        }
    }
    fn extra(&mut self) -> &mut Map<String, Value> {
        &mut self.extra
    }
}

impl<'de, T: Fields> serde::de::DeserializeSeed<'de> for Fill<'_, T> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'r, T>(&'r mut T);
        impl<'de, T: Fields> serde::de::Visitor<'de> for V<'_, T> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
                *self.0 = T::default();
                Ok(())
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
                self.visit_none()
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
                let t = self.0;
                let mut seen = [false; 5];
                let mut extra = std::mem::take(t.extra());
                visit_object(map, &mut extra, |k, m| {
                    let i = t.field(k, m)?;
                    if let Some(s) = i.and_then(|i| seen.get_mut(i)) {
                        if *s {
                            return Err(duplicate_key(k));
                        }
                        *s = true;
                    }
                    Ok(i.is_some())
                })?;
                *t.extra() = extra;
                t.reset(seen);
                Ok(())
            }
        }
        d.deserialize_option(V(self.0))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Fill<'_, Request> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'r>(&'r mut Request);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
                let r = self.0;
                // `action` is required; `null` counts as missing.
                let mut action = Some(std::mem::take(&mut r.action));
                let mut seen = [false; 8];
                visit_object(map, &mut r.extra, |k, m| {
                    let slot = match k {
                        "action" => {
                            m.next_value_seed(Fill(&mut action))?;
                            0
                        }
                        "time" => {
                            r.time = m.next_value::<Option<OffsetTime>>()?.map(|t| t.0);
                            1
                        }
                        "principal" => {
                            m.next_value_seed(Fill(&mut r.principal))?;
                            2
                        }
                        "resource" => {
                            m.next_value_seed(Fill(&mut r.resource))?;
                            3
                        }
                        "source_region" => {
                            m.next_value_seed(Fill(&mut r.source_region))?;
                            4
                        }
                        "target_region" => {
                            m.next_value_seed(Fill(&mut r.target_region))?;
                            5
                        }
                        "purpose" => {
                            m.next_value_seed(Fill(&mut r.purpose))?;
                            6
                        }
                        _ => return Ok(false),
                    };
                    // A key written twice is an error (the value just read is dropped).
                    match seen.get_mut(slot) {
                        Some(s) if *s => Err(duplicate_key(k)),
                        Some(s) => {
                            *s = true;
                            Ok(true)
                        }
                        None => Ok(true),
                    }
                })?;
                let [has_action, time, principal, resource, source, target, purpose, _] = seen;
                match action {
                    Some(a) if has_action => r.action = a,
                    _ => return Err(serde::de::Error::missing_field("action")),
                }
                if !time {
                    r.time = None;
                }
                if !principal {
                    r.principal = Principal::default();
                }
                if !resource {
                    r.resource = Resource::default();
                }
                if !source {
                    r.source_region = None;
                }
                if !target {
                    r.target_region = None;
                }
                if !purpose {
                    r.purpose = None;
                }
                Ok(())
            }
        }
        d.deserialize_map(V(self.0))
    }
}

/// Feeds every byte read through sha256.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }
}

/// A grant's keys, read without allocating (only unknown keys are kept).
enum GrantKey {
    Id,
    Principal,
    Resource,
    Classifications,
    ToCountry,
    Purpose,
    Mechanism,
    RequestedBy,
    ApprovedBy,
    ValidFrom,
    ExpiresAt,
    RevokedAt,
    Other(String),
}

impl GrantKey {
    /// The place of a known key in [`GRANT_FIELDS`] (`None` for the rest).
    fn index(&self) -> Option<usize> {
        Some(match self {
            GrantKey::Id => 0,
            GrantKey::Principal => 1,
            GrantKey::Resource => 2,
            GrantKey::Classifications => 3,
            GrantKey::ToCountry => 4,
            GrantKey::Purpose => 5,
            GrantKey::Mechanism => 6,
            GrantKey::RequestedBy => 7,
            GrantKey::ApprovedBy => 8,
            GrantKey::ValidFrom => 9,
            GrantKey::ExpiresAt => 10,
            GrantKey::RevokedAt => 11,
            GrantKey::Other(_) => return None,
        })
    }

    /// A bit for each known key, to find one written twice (0 for the rest).
    fn bit(&self) -> u16 {
        self.index().map_or(0, |i| 1 << i)
    }

    fn name(&self) -> &str {
        match (self, self.index()) {
            (GrantKey::Other(o), _) => o,
            (_, i) => i.and_then(|i| GRANT_FIELDS.get(i)).copied().unwrap_or(""),
        }
    }
}

/// The fields of a grant (contract.md), in the contract's order.
pub const GRANT_FIELDS: [&str; 12] = [
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

impl<'de> serde::Deserialize<'de> for GrantKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = GrantKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<GrantKey, E> {
                Ok(match s {
                    "id" => GrantKey::Id,
                    "principal" => GrantKey::Principal,
                    "resource" => GrantKey::Resource,
                    "classifications" => GrantKey::Classifications,
                    "to_country" => GrantKey::ToCountry,
                    "purpose" => GrantKey::Purpose,
                    "mechanism" => GrantKey::Mechanism,
                    "requested_by" => GrantKey::RequestedBy,
                    "approved_by" => GrantKey::ApprovedBy,
                    "valid_from" => GrantKey::ValidFrom,
                    "expires_at" => GrantKey::ExpiresAt,
                    "revoked_at" => GrantKey::RevokedAt,
                    other => GrantKey::Other(other.to_string()),
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// An optional string, shared through the interner without a copy when seen before.
struct Shared<'p>(&'p mut Interner);

impl<'de> serde::de::DeserializeSeed<'de> for Shared<'_> {
    type Value = Option<Arc<str>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V<'p>(&'p mut Interner);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = Option<Arc<str>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                d.deserialize_str(self)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Some(self.0.get(s)))
            }
        }
        d.deserialize_option(V(self.0))
    }
}

/// `{"grants": [...]}`, deserialized grant by grant.
struct GrantsDoc(Vec<Grant>);

impl<'de> serde::Deserialize<'de> for GrantsDoc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = GrantsDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object `{\"grants\": [...]}`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<GrantsDoc, A::Error> {
                let mut grants = None;
                let mut pool = Interner::default();
                let mut keys = std::collections::HashSet::new();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if !keys.insert(key.clone().into_owned()) {
                        return Err(duplicate_key(&key));
                    }
                    if key == "grants" {
                        grants = Some(map.next_value_seed(GrantList(&mut pool))?);
                    } else {
                        map.next_value_seed(Strict)?;
                    }
                }
                grants
                    .map(GrantsDoc)
                    .ok_or_else(|| serde::de::Error::missing_field("grants"))
            }
        }
        d.deserialize_map(V)
    }
}

/// Shares equal strings across grants.
#[derive(Default)]
struct Interner(rustc_hash::FxHashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }
}

struct GrantList<'p>(&'p mut Interner);

impl<'de> serde::de::DeserializeSeed<'de> for GrantList<'_> {
    type Value = Vec<Grant>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Grant>, D::Error> {
        struct V<'p>(&'p mut Interner);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = Vec<Grant>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of grants")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<Grant>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(g) = seq.next_element_seed(GrantSeed(&mut *self.0))? {
                    out.push(g);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V(self.0))
    }
}

struct GrantSeed<'p>(&'p mut Interner);

/// A string, a time or a country, read with the contract's words on failure.
fn de_time<E: serde::de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
    parse_time(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(E::custom)
}

fn de_country<E: serde::de::Error>(s: &str) -> Result<Country, E> {
    Country::parse_assigned(s).map_err(E::custom)
}

/// Reads a string without copying it and converts it, so a failure carries
/// the field's path.
fn with_str<'de, D: serde::Deserializer<'de>, T>(
    d: D,
    f: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct V<T>(fn(&str) -> Result<T, String>);
    impl<T> serde::de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
            (self.0)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(V(f))
}

/// A time checked while it is read.
struct TimeField(DateTime<Utc>);

impl<'de> serde::Deserialize<'de> for TimeField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        with_str(d, |s| {
            de_time::<serde_json::Error>(s)
                .map(TimeField)
                .map_err(|e| e.to_string())
        })
    }
}

/// A country code checked while it is read.
struct CountryField(Country);

impl<'de> serde::Deserialize<'de> for CountryField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        with_str(d, |s| {
            de_country::<serde_json::Error>(s)
                .map(CountryField)
                .map_err(|e| e.to_string())
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for GrantSeed<'_> {
    type Value = Grant;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Grant, D::Error> {
        struct V<'p>(&'p mut Interner);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = Grant;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a grant object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Grant, A::Error> {
                use serde::de::Error;
                type S<'a> = Option<std::borrow::Cow<'a, str>>;
                let pool = self.0;
                let (mut id, mut principal, mut resource, mut classifications) =
                    (None, None, None, Vec::new());
                let (mut to_country, mut purpose, mut mechanism, mut requested_by) =
                    (None, None, None, None);
                let (mut approved_by, mut valid_from, mut expires_at, mut revoked_at) =
                    (None, None, None, None);
                let mut extra = Map::new();
                let mut seen = 0u16;
                while let Some(key) = map.next_key::<GrantKey>()? {
                    let bit = key.bit();
                    if seen & bit != 0 {
                        return Err(duplicate_key(key.name()));
                    }
                    seen |= bit;
                    match key {
                        GrantKey::Id => id = map.next_value::<S>()?.map(|s| Box::from(s.as_ref())),
                        GrantKey::Principal => principal = map.next_value_seed(Shared(pool))?,
                        GrantKey::Resource => resource = map.next_value_seed(Shared(pool))?,
                        GrantKey::Classifications => {
                            classifications =
                                map.next_value::<Option<Vec<String>>>()?.unwrap_or_default()
                        }
                        GrantKey::ToCountry => {
                            to_country = map.next_value::<Option<CountryField>>()?.map(|c| c.0)
                        }
                        GrantKey::Purpose => purpose = map.next_value_seed(Shared(pool))?,
                        GrantKey::Mechanism => mechanism = map.next_value_seed(Shared(pool))?,
                        GrantKey::RequestedBy => {
                            requested_by = map.next_value_seed(Shared(pool))?
                        }
                        GrantKey::ApprovedBy => approved_by = map.next_value_seed(Shared(pool))?,
                        GrantKey::ValidFrom => {
                            valid_from = map.next_value::<Option<TimeField>>()?.map(|t| t.0)
                        }
                        GrantKey::ExpiresAt => {
                            expires_at = map.next_value::<Option<TimeField>>()?.map(|t| t.0)
                        }
                        GrantKey::RevokedAt => {
                            revoked_at = map.next_value::<Option<TimeField>>()?.map(|t| t.0)
                        }
                        GrantKey::Other(other) => {
                            let v: Value = map.next_value_seed(Strict)?;
                            if extra.contains_key(&other) {
                                return Err(duplicate_key(&other));
                            }
                            if !v.is_null() {
                                extra.insert(other, v);
                            }
                        }
                    }
                }
                Ok(Grant {
                    id: id.ok_or_else(|| A::Error::missing_field("id"))?,
                    principal: principal.ok_or_else(|| A::Error::missing_field("principal"))?,
                    resource,
                    classifications,
                    to_country: to_country.ok_or_else(|| A::Error::missing_field("to_country"))?,
                    purpose,
                    mechanism,
                    requested_by: requested_by
                        .ok_or_else(|| A::Error::missing_field("requested_by"))?,
                    approved_by,
                    valid_from,
                    expires_at: expires_at.ok_or_else(|| A::Error::missing_field("expires_at"))?,
                    revoked_at,
                    extra,
                })
            }
        }
        d.deserialize_map(V(self.0))
    }
}

/// The bundled catalog: the real AWS, Azure and GCP regions, all active.
pub fn bundled_regions() -> Regions {
    const CATALOG: &str = include_str!("../policies/catalog/cloud-regions.json");
    Regions::from_json(CATALOG).unwrap_or_default()
}

/// The parallel reader behind [`Grants::from_file`].
mod parallel {
    use super::*;
    use std::io::Read;
    use std::sync::mpsc;

    /// Grant objects of one piece, as a JSON array.
    struct Piece {
        json: Vec<u8>,
    }

    /// Cuts the `grants` array of a document into pieces of whole objects.
    #[derive(Default)]
    struct Scanner {
        depth: u32,
        in_str: bool,
        escaped: bool,
        /// The last complete string at depth 1 (a key candidate).
        key: Vec<u8>,
        key_buf: Option<Vec<u8>>,
        state: State,
        piece: Vec<u8>,
        count: usize,
        /// Every byte outside the `grants` array, the array written `[]`:
        /// parsed at the end, so the rest of the document is held to the
        /// same reading as the small-file reader's.
        outer: Vec<u8>,
        /// Between elements: one just closed (a `,` or `]` is due) ...
        need_sep: bool,
        /// ... or a `,` was read (a `{` is due).
        need_elem: bool,
    }

    #[derive(Default, PartialEq)]
    enum State {
        #[default]
        Top,
        /// Seen `"grants"` then `:`; the array comes next.
        AfterKey,
        ArrayWaiting,
        Element,
        Done,
    }

    const PIECE: usize = 4 << 20;

    impl Scanner {
        /// Feeds bytes; full pieces go to `out`. `None`: not the expected shape.
        fn feed(&mut self, bytes: &[u8], out: &mut Vec<Piece>) -> Option<()> {
            for &b in bytes {
                match self.state {
                    State::Element => self.piece.push(b),
                    State::ArrayWaiting => match b {
                        b' ' | b'\t' | b'\n' | b'\r' => continue,
                        b',' if self.need_sep => {
                            (self.need_sep, self.need_elem) = (false, true);
                            continue;
                        }
                        b'{' if !self.need_sep => self.need_elem = false,
                        b']' if !self.need_elem => self.outer.push(b),
                        // Anything else between grants is not the array of
                        // objects this path reads: the slow path says why.
                        _ => return None,
                    },
                    _ => self.outer.push(b),
                }
                if self.in_str {
                    if let Some(k) = self.key_buf.as_mut() {
                        k.push(b);
                    }
                    if self.escaped {
                        self.escaped = false;
                    } else if b == b'\\' {
                        self.escaped = true;
                    } else if b == b'"' {
                        self.in_str = false;
                        if let Some(mut k) = self.key_buf.take() {
                            k.pop();
                            self.key = k;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => {
                        self.in_str = true;
                        if self.depth == 1 && self.state == State::Top {
                            self.key_buf = Some(Vec::new());
                        }
                    }
                    b':' if self.depth == 1
                        && self.state == State::Top
                        && self.key == b"grants" =>
                    {
                        self.state = State::AfterKey;
                    }
                    b'{' | b'[' => {
                        self.depth += 1;
                        match (&self.state, b, self.depth) {
                            (State::Top, b'{', 1)
                            | (State::Top, _, 3..)
                            | (State::Element, _, _) => {}
                            (State::Top, b'[', 2) => {}
                            (State::Top, _, _) => return None,
                            (State::AfterKey, b'[', 2) => {
                                self.state = State::ArrayWaiting;
                                self.piece.push(b'[');
                            }
                            (State::AfterKey, _, _) => return None,
                            (State::ArrayWaiting, b'{', 3) => {
                                self.state = State::Element;
                                if self.piece.len() > 1 {
                                    self.piece.push(b',');
                                }
                                self.piece.push(b'{');
                            }
                            (State::ArrayWaiting, _, _) | (State::Done, _, _) => return None,
                        }
                    }
                    b'}' | b']' => {
                        self.depth = self.depth.checked_sub(1)?;
                        match self.state {
                            State::Element if self.depth == 2 => {
                                self.state = State::ArrayWaiting;
                                self.need_sep = true;
                                self.count += 1;
                                if self.piece.len() >= PIECE {
                                    self.piece.push(b']');
                                    out.push(Piece {
                                        json: std::mem::take(&mut self.piece),
                                    });
                                    self.piece.push(b'[');
                                }
                            }
                            State::ArrayWaiting if self.depth == 1 => {
                                self.piece.push(b']');
                                out.push(Piece {
                                    json: std::mem::take(&mut self.piece),
                                });
                                self.state = State::Done;
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Some(())
        }
    }

    fn parse_piece(p: &Piece) -> Option<Vec<Grant>> {
        let mut pool = Interner::default();
        let mut de = serde_json::Deserializer::from_slice(&p.json);
        let mut out =
            serde::de::DeserializeSeed::deserialize(GrantList(&mut pool), &mut de).ok()?;
        de.end().ok()?;
        out.shrink_to_fit();
        Some(out)
    }

    /// The grants, or `None` when the slow path must read the file instead.
    pub(super) fn read(mut file: impl Read) -> Option<R<Grants>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let mut hasher = sha2::Sha256::new();
        let mut scanner = Scanner::default();
        let (to_workers, from_main) = mpsc::sync_channel::<(usize, Piece)>(threads * 2);
        let from_main = std::sync::Mutex::new(from_main);
        let (to_main, results) = mpsc::channel::<(usize, Option<Vec<Grant>>)>();
        let ok = std::thread::scope(|s| {
            for _ in 0..threads {
                let (rx, tx) = (&from_main, to_main.clone());
                s.spawn(move || loop {
                    let job = rx.lock().ok().and_then(|r| r.recv().ok());
                    let Some((n, piece)) = job else { break };
                    if tx.send((n, parse_piece(&piece))).is_err() {
                        break;
                    }
                });
            }
            drop(to_main);
            let mut buf = vec![0u8; 8 << 20];
            let mut pieces = Vec::new();
            let mut sent = 0;
            let ok = loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => n,
                    Err(_) => break false,
                };
                let bytes = buf.get(..n).unwrap_or(&[]);
                hasher.update(bytes);
                if scanner.feed(bytes, &mut pieces).is_none() {
                    break false;
                }
                for p in pieces.drain(..) {
                    if to_workers.send((sent, p)).is_err() {
                        return false;
                    }
                    sent += 1;
                }
            };
            drop(to_workers);
            ok && scanner.state == State::Done && scanner.depth == 0
        });
        if !ok {
            return None;
        }
        // The document around the array must read as the slow path reads it.
        let mut de = serde_json::Deserializer::from_slice(&scanner.outer);
        if !Grants::from_deserializer(&mut de).ok()?.is_empty() {
            return None;
        }
        let mut parts: Vec<(usize, Option<Vec<Grant>>)> = results.into_iter().collect();
        parts.sort_by_key(|(n, _)| *n);
        let chunks = parts
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Option<Vec<_>>>()?;
        let hash = crate::ir::hex_digest(&hasher.finalize());
        Some(Grants::checked(chunks, hash))
    }
}
