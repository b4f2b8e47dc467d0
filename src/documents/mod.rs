//! The documents: requests, the regions catalog and the grants.
//!
//! Input: JSON text (contract.md). Output: typed values with load-time
//! indexes (regions by id, grants by principal). Invariants: a document that
//! parses holds only valid values (country codes are two upper-case letters,
//! times are RFC 3339 with an offset, region ids are unique); every error names
//! the JSON path and what would fix it; `null` means the same as absent.

use crate::country::Country;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Digest as _;
use std::fmt;
use std::sync::Arc;

mod grants;
mod parallel;
mod plain;
mod pool;
mod regions;
mod request;

use grants::GrantList;
pub use grants::{Grant, Grants, GRANT_FIELDS};
use pool::{PieceReader, Pool};
pub use regions::{Region, Regions, Status};
pub use request::{Principal, Request, Resource};

/// A problem with an input document: where and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DocError {
    /// The JSON path (`grants[3].expires_at`), or `line N` context added by callers.
    pub path: String,
    /// What is wrong and what would fix it.
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

/// The bundled catalog: the real AWS, Azure and GCP regions, all active.
pub fn bundled_regions() -> Regions {
    const CATALOG: &str = include_str!("../../policies/catalog/cloud-regions.json");
    #[cfg_attr(
        not(test),
        expect(
            clippy::expect_used,
            reason = "the catalog is compiled in and a test reads it: a catalog that does not load is a build defect, never an empty catalog"
        )
    )]
    Regions::from_json(CATALOG).expect("the bundled catalog loads")
}

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
