//! Declared fields at the engine's door: a request, region or grant whose
//! declared field has another type is refused, never read as "missing"
//! (which would make a forbid silently not apply).
//!
//! [`Engine::check_request`] says which field and why (the CLI and the
//! server answer an input error with it); the hot path asks
//! [`Engine::request_fits`], which allocates nothing, and denies a request
//! that does not fit. Regions and grants are checked once, when the engine
//! is built: a misfit denies every request, saying which document and field.

use super::Engine;
use crate::country::Country;
use crate::documents::{Grants, Regions, Request};
use crate::ir::{ExtraRoot, FieldDecl, Program, ValueType};
use serde_json::{Map, Value};

/// A request field whose type is not the declared one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Misfit {
    /// The field as a policy reads it (`resource.home_region`).
    pub field: String,
    /// What was declared and what was found.
    pub message: String,
}

/// Whether a (present, non-null) value has a declared field's type.
fn fits(d: &FieldDecl, v: &Value) -> bool {
    fn one(t: ValueType, v: &Value) -> bool {
        match (t, v) {
            (ValueType::String, Value::String(_))
            | (ValueType::Number, Value::Number(_))
            | (ValueType::Boolean, Value::Bool(_)) => true,
            (ValueType::Country, Value::String(s)) => {
                Country::parse(s).is_some_and(Country::is_assigned)
            }
            (ValueType::Subdivision, Value::String(s)) => {
                Country::of_subdivision(s).is_some_and(Country::is_assigned)
            }
            (ValueType::Time, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            _ => false,
        }
    }
    match (d.list, v) {
        (true, Value::Array(items)) => items.iter().all(|x| one(d.ty, x)),
        (true, _) => false,
        (false, v) => one(d.ty, v),
    }
}

/// The value at a declared field's path in `map` (`None`: absent or null).
fn at<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let mut it = path.iter();
    let mut v = map.get(it.next()?.as_str())?;
    for k in it {
        v = v.get(k.as_str())?;
    }
    (!v.is_null()).then_some(v)
}

/// What a misfit says: `resource.home_region: expected a subdivision …, found 42`.
fn misfit(d: &FieldDecl, where_: &str, v: &Value) -> String {
    let ty = if d.list {
        format!("a list of {}", d.ty.as_str())
    } else {
        d.ty.as_str().to_string()
    };
    let hint = match d.ty {
        ValueType::Country => " (an ISO 3166-1 code such as `DE`)",
        ValueType::Subdivision => " (an ISO 3166-2 code such as `US-CA`)",
        ValueType::Time => " (an RFC 3339 time such as `2026-01-01T00:00:00Z`)",
        _ => "",
    };
    let text = v.to_string();
    let found = match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or("")),
        None => text,
    };
    format!(
        "{where_}.{}: the policy declares it {ty}{hint}, but it is {found}",
        d.at.path.join(".")
    )
}

fn request_map<'r>(req: &'r Request<'_>, root: ExtraRoot) -> Option<&'r Map<String, Value>> {
    match root {
        ExtraRoot::Request => Some(&req.extra),
        ExtraRoot::Principal => Some(&req.principal.extra),
        ExtraRoot::Resource => Some(&req.resource.extra),
        _ => None,
    }
}

impl Engine {
    /// Whether every declared request field the request gives has its
    /// declared type (the hot path: allocates nothing).
    #[inline]
    pub fn request_fits(&self, req: &Request) -> bool {
        self.program.fields.iter().all(|d| {
            request_map(req, d.at.root)
                .and_then(|m| at(m, &d.at.path))
                .is_none_or(|v| fits(d, v))
        })
    }

    /// The first declared request field the request gives with another
    /// type, named as a policy reads it, with what was expected and found.
    pub fn check_request(&self, req: &Request) -> Result<(), Misfit> {
        for d in &self.program.fields {
            let Some(v) = request_map(req, d.at.root).and_then(|m| at(m, &d.at.path)) else {
                continue;
            };
            if !fits(d, v) {
                let root = match d.at.root {
                    ExtraRoot::Request => "request",
                    r => r.name(),
                };
                return Err(Misfit {
                    field: format!("{root}.{}", d.at.path.join(".")),
                    message: misfit(d, root, v),
                });
            }
        }
        Ok(())
    }
}

/// The first region attribute or grant field of the documents that has
/// another type than the policy declares.
pub(super) fn check_documents(p: &Program, regions: &Regions, grants: &Grants) -> Option<String> {
    for d in &p.fields {
        match d.at.root {
            ExtraRoot::Source => {
                for (i, r) in regions.regions.iter().enumerate() {
                    if let Some(v) = at(&r.attributes, &d.at.path) {
                        if !fits(d, v) {
                            let m = misfit(d, &format!("regions[{i}] ({}) attributes", r.id), v);
                            return Some(format!("the regions document: {m}"));
                        }
                    }
                }
            }
            ExtraRoot::Grant => {
                for g in grants.iter() {
                    if let Some(v) = at(g.extra(), &d.at.path) {
                        if !fits(d, v) {
                            let m = misfit(d, &format!("grant {}", g.id), v);
                            return Some(format!("the grants document: {m}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    None
}
