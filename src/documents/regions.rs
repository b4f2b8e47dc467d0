//! The regions catalog: region ids, countries, statuses, indexed by id.

use super::*;

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
    /// `attributes`: an object of strings, numbers, booleans and lists of them.
    fn attributes(&self) -> R<Map<String, Value>> {
        let k = "attributes";
        let map = match self.get(k) {
            None => return Ok(Map::new()),
            Some(Value::Object(m)) => m,
            Some(o) => {
                return Err(DocError::new(
                    &self.p(k),
                    format!("expected an object of attributes, found {}", kind(o)),
                ))
            }
        };
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        for (name, v) in map {
            let ok = match v {
                Value::Array(items) => items.iter().all(scalar),
                Value::Null => true,
                v => scalar(v),
            };
            if !ok {
                return Err(DocError::new(
                    &join(&self.p(k), name),
                    format!(
                        "expected a string, number, boolean or a list of them, found {}",
                        kind(v)
                    ),
                ));
            }
        }
        let mut out = map.clone();
        out.retain(|_, v| !v.is_null());
        Ok(out)
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

/// Whether a region takes data now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Serving.
    Active,
    /// Serving with problems.
    Degraded,
    /// Being emptied: no new data.
    Draining,
    /// Down.
    Offline,
}

impl Status {
    /// The status as the document spells it.
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

/// One region of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Region {
    /// Its id (`eu-west-3`), unique in the document.
    pub id: String,
    /// Its cloud provider, if given.
    pub provider: Option<String>,
    /// The country it is in.
    pub country: Country,
    /// Its city or area, if given.
    pub location: Option<String>,
    /// Whether it takes data now (absent: active).
    pub status: Status,
    /// Whether it is a sovereign-cloud region.
    pub sovereign: bool,
    /// Its availability zones.
    pub zones: Vec<String>,
    /// The provider's partition it belongs to (`aws`, `aws-cn`,
    /// `aws-us-gov`, `aws-eusc`, `azure-china`, …), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// What else the catalog says of it (`certifications`, `regime`): read
    /// by policies that declare them (`field region.certifications: [string]`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

/// The regions document, indexed by id.
#[derive(Clone, Debug, Default)]
pub struct Regions {
    /// The regions, in the document's order.
    pub regions: Vec<Region>,
    index: crate::names::Index<Box<str>>,
    /// sha256 of the document's canonical JSON.
    pub hash: String,
}

impl Regions {
    /// Reads and checks a regions document.
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
                partition: o.opt_str("partition")?,
                attributes: o.attributes()?,
            });
        }
        Regions::new(regions)
    }

    /// Builds the index; a duplicate id is an error. Attributes are put in
    /// key order first, so that the hash is the same in every build
    /// (see `json::in_key_order`).
    pub fn new(mut regions: Vec<Region>) -> R<Regions> {
        for r in &mut regions {
            crate::json::sort_members(&mut r.attributes);
        }
        let mut index = crate::names::Index::with_capacity(regions.len());
        for (i, r) in regions.iter().enumerate() {
            if let Some(first) = index.insert_new(r.id.clone().into_boxed_str(), i as u32) {
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

    /// The region with an id.
    #[inline]
    pub fn get(&self, id: &str) -> Option<&Region> {
        self.index
            .get(id)
            .and_then(|i| self.regions.get(i as usize))
    }

    /// Where `r` stands in [`Regions::regions`], when it is one of them:
    /// found by its address (no lookup), for tables kept in region order.
    pub fn position(&self, r: &Region) -> Option<usize> {
        let size = std::mem::size_of::<Region>().max(1);
        let from = self.regions.as_ptr() as usize;
        let at = (r as *const Region as usize).checked_sub(from)? / size;
        self.regions
            .get(at)
            .filter(|x| std::ptr::eq(*x, r))
            .map(|_| at)
    }
}
