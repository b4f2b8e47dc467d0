//! Requests: read in place (a reused `Request`, no intermediate JSON value),
//! every field checked as it is read. A request's strings are `Cow`s
//! borrowed from the JSON text where they need no unescaping (so reading a
//! plain request allocates none, by [`Request::from_json`] or into a reused
//! one by [`Request::read_json`]), and owned where serde unescaped them.

use super::*;
use std::borrow::Cow;

/// Who asks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Principal<'a> {
    /// Their id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    /// The country they are in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// Their roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Cow<'a, str>>,
    /// Fields the contract does not name, readable as `principal.<field>`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The data asked about.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resource<'a> {
    /// Its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    /// Its classification (declared by the policies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Cow<'a, str>>,
    /// Its residency profile (declared by the policies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residency: Option<Cow<'a, str>>,
    /// The country of its data subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_country: Option<Country>,
    /// The regions the client chose (for client-owned residency).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_regions: Vec<Cow<'a, str>>,
    /// Fields the contract does not name, readable as `resource.<field>`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One decision request (contract.md, "Request").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Request<'a> {
    /// `store`, `replicate`, `access`, or another action a policy names.
    pub action: Cow<'a, str>,
    /// The instant to decide at (absent: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<FixedOffset>>,
    /// Who asks.
    pub principal: Principal<'a>,
    /// The data.
    pub resource: Resource<'a>,
    /// Where the data is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_region: Option<Cow<'a, str>>,
    /// Where the data would go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_region: Option<Cow<'a, str>>,
    /// Why it is asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Cow<'a, str>>,
    /// Fields the contract does not name, readable as `request.<field>`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'a> Request<'a> {
    /// Parses a request from JSON text, straight into the typed request (no
    /// intermediate JSON tree); errors name the JSON path. Its strings
    /// borrow from `text` where they need no unescaping, so a request of
    /// the plain shape allocates nothing; [`Request::into_owned`] makes one
    /// that outlives `text`.
    pub fn from_json(text: &'a str) -> R<Request<'a>> {
        let mut r = Request::default();
        r.read_json(text)?;
        Ok(r)
    }

    /// The same request, every string its own.
    pub fn into_owned(self) -> Request<'static> {
        fn own(t: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(t.into_owned())
        }
        fn all(v: Vec<Cow<'_, str>>) -> Vec<Cow<'static, str>> {
            v.into_iter().map(own).collect()
        }
        let (p, r) = (self.principal, self.resource);
        Request {
            action: own(self.action),
            time: self.time,
            principal: Principal {
                id: p.id.map(own),
                country: p.country,
                roles: all(p.roles),
                extra: p.extra,
            },
            resource: Resource {
                id: r.id.map(own),
                classification: r.classification.map(own),
                residency: r.residency.map(own),
                home_country: r.home_country,
                client_regions: all(r.client_regions),
                extra: r.extra,
            },
            source_region: self.source_region.map(own),
            target_region: self.target_region.map(own),
            purpose: self.purpose.map(own),
            extra: self.extra,
        }
    }

    /// [`Request::from_json`] with the JSON path tracked, for the error:
    /// tracking costs more than the rest of the read, so a request is first
    /// read without it, and read again with it only when it is refused.
    fn from_json_tracked(text: &str) -> R<Request<'static>> {
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

    /// Reads a request from JSON text into `self`, reusing its lists and
    /// maps: for reading many requests one after another (`sovra eval
    /// --requests`, a block of lines at a time). Its strings borrow from
    /// `text` as [`Request::from_json`]'s do; the same result and errors.
    pub fn read_json(&mut self, text: &'a str) -> R<()> {
        // The plain shape by hand; the rest (and every error) by serde,
        // which overwrites every field (what the plain reader left half
        // read does not matter).
        if super::plain::read(self, text).is_some() {
            return Ok(());
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let read = serde::de::DeserializeSeed::deserialize(Fill(&mut *self), &mut de);
        if read.is_ok() && de.end().is_ok() {
            return Ok(());
        }
        // Read again with the JSON path tracked, for the error.
        *self = Request::from_json_tracked(text)?;
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
    pub fn each_from_json(text: &[u8], mut each: impl FnMut(&mut [Request<'static>])) -> bool {
        const RUN: usize = 64;
        struct Seq<'f, F>(&'f mut F);
        impl<'de, F: FnMut(&mut [Request<'static>])> serde::de::Visitor<'de> for Seq<'_, F> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of requests")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let mut run: Vec<Request<'static>> = Vec::new();
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
    pub fn from_value(v: &Value) -> R<Request<'static>> {
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
        fn list(out: &mut Vec<u8>, first: &mut bool, k: &str, v: &[Cow<'_, str>]) {
            if !v.is_empty() {
                key(out, first, k);
                crate::json::write_list(out, v, |out, s| text(out, s));
            }
        }
        // In key order in any build (json::in_key_order).
        use crate::json::write_members as extras;
        let mut f = true;
        out.push(b'{');
        key(out, &mut f, "action");
        text(out, &self.action);
        if let Some(t) = &self.time {
            key(out, &mut f, "time");
            crate::json::rfc3339(out, t);
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

    /// Appends the request's compact form, the bytes its input hash is
    /// taken of: each field [`Request::canonical`] writes, in the same
    /// order, as a tag byte and its value, strings as their length and
    /// bytes, lists and extra fields as their count and items, the instant
    /// as seconds, nanoseconds and offset. Every value delimits itself and
    /// the tags only rise, so two requests have the same compact form
    /// exactly when they have the same canonical JSON (`tests/engine.rs`
    /// holds the two to each other). It is about half as long, and sha256
    /// runs once per 64 bytes: the bundled library's requests take two
    /// blocks instead of five.
    pub fn write_compact(&self, out: &mut Vec<u8>) {
        fn len(out: &mut Vec<u8>, mut n: usize) {
            while n >= 0x80 {
                out.push((n & 0x7f) as u8 | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        fn text(out: &mut Vec<u8>, s: &str) {
            len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        fn opt(out: &mut Vec<u8>, tag: u8, v: Option<&str>) {
            if let Some(v) = v {
                out.push(tag);
                text(out, v);
            }
        }
        fn country(out: &mut Vec<u8>, tag: u8, c: Option<Country>) {
            if let Some(c) = c {
                let [a, b] = c.letters();
                out.extend_from_slice(&[tag, a, b]);
            }
        }
        fn list(out: &mut Vec<u8>, tag: u8, v: &[Cow<'_, str>]) {
            if !v.is_empty() {
                out.push(tag);
                len(out, v.len());
                for s in v {
                    text(out, s);
                }
            }
        }
        // A value's JSON text, after its length as four bytes (written
        // once the text is).
        fn extras(out: &mut Vec<u8>, tag: u8, m: &Map<String, Value>) {
            if m.is_empty() {
                return;
            }
            out.push(tag);
            len(out, m.len());
            for (k, v) in crate::json::in_key_order(m) {
                text(out, k);
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                crate::json::write_sorted(out, v);
                let n = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
                if let Some(room) = out.get_mut(at..at + 4) {
                    room.copy_from_slice(&n.to_le_bytes());
                }
            }
        }
        out.push(1);
        text(out, &self.action);
        if let Some(t) = &self.time {
            out.push(2);
            out.extend_from_slice(&t.timestamp().to_le_bytes());
            out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
            out.extend_from_slice(&t.offset().local_minus_utc().to_le_bytes());
        }
        let p = &self.principal;
        opt(out, 3, p.id.as_deref());
        country(out, 4, p.country);
        list(out, 5, &p.roles);
        extras(out, 6, &p.extra);
        let r = &self.resource;
        opt(out, 7, r.id.as_deref());
        opt(out, 8, r.classification.as_deref());
        opt(out, 9, r.residency.as_deref());
        country(out, 10, r.home_country);
        list(out, 11, &r.client_regions);
        extras(out, 12, &r.extra);
        opt(out, 13, self.source_region.as_deref());
        opt(out, 14, self.target_region.as_deref());
        opt(out, 15, self.purpose.as_deref());
        extras(out, 16, &self.extra);
    }
}

/// Reads JSON into an existing value, reusing its buffers: a batch reads
/// every request into the same [`Request`], so a field's string is reused
/// from one request to the next (a field the request before left out is
/// `None`, so a new string). Every field the JSON leaves out is reset, so
/// the result is the same as reading into a fresh value.
struct Fill<'r, T>(&'r mut T);

/// Copies `s` into `slot`, reusing the string already there when it owns
/// one.
pub(super) fn put(slot: &mut Cow<'_, str>, s: &str) {
    match slot {
        Cow::Owned(x) => {
            x.clear();
            x.push_str(s);
        }
        Cow::Borrowed(_) => *slot = Cow::Owned(s.to_owned()),
    }
}

/// [`put`] into a field that may be absent.
pub(super) fn put_some(slot: &mut Option<Cow<'_, str>>, s: &str) {
    match slot {
        Some(x) => put(x, s),
        None => *slot = Some(Cow::Owned(s.to_owned())),
    }
}

/// Copies `s` into item `n` of a list (the next one to fill), reusing the
/// string already there.
pub(super) fn put_at(list: &mut Vec<Cow<'_, str>>, n: usize, s: &str) {
    match list.get_mut(n) {
        Some(x) => put(x, s),
        None => list.push(Cow::Owned(s.to_owned())),
    }
}

/// A string field; `null` is absent.
impl<'de> serde::de::DeserializeSeed<'de> for Fill<'_, Option<Cow<'_, str>>> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'r, 'a>(&'r mut Option<Cow<'a, str>>);
        impl<'de> serde::de::Visitor<'de> for V<'_, '_> {
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
                put_some(self.0, s);
                Ok(())
            }
        }
        d.deserialize_option(V(self.0))
    }
}

/// A list of strings; `null` is empty.
impl<'de> serde::de::DeserializeSeed<'de> for Fill<'_, Vec<Cow<'_, str>>> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        /// The string at one index of the list, reusing the one there.
        struct Item<'r, 'a>(&'r mut Vec<Cow<'a, str>>, usize);
        impl<'de> serde::de::DeserializeSeed<'de> for Item<'_, '_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_str(self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Item<'_, '_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
                put_at(self.0, self.1, s);
                Ok(())
            }
        }
        struct V<'r, 'a>(&'r mut Vec<Cow<'a, str>>);
        impl<'de> serde::de::Visitor<'de> for V<'_, '_> {
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
pub(super) trait Fields: Default {
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

impl Fields for Principal<'_> {
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

impl Fields for Resource<'_> {
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

impl Request<'_> {
    /// Resets the fields a request left out (which of `time`, `principal`,
    /// `resource`, `source_region`, `target_region`, `purpose` it had).
    pub(super) fn reset(
        &mut self,
        [time, principal, resource, source, target, purpose]: [bool; 6],
    ) {
        if !time {
            self.time = None;
        }
        if !principal {
            self.principal = Principal::default();
        }
        if !resource {
            self.resource = Resource::default();
        }
        if !source {
            self.source_region = None;
        }
        if !target {
            self.target_region = None;
        }
        if !purpose {
            self.purpose = None;
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Fill<'_, Request<'_>> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'r, 'a>(&'r mut Request<'a>);
        impl<'de> serde::de::Visitor<'de> for V<'_, '_> {
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
                r.reset([time, principal, resource, source, target, purpose]);
                Ok(())
            }
        }
        d.deserialize_map(V(self.0))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A request made its own equals the one read, and none of its strings
    /// lies in the text any more.
    /// Every string of `r`, each field and list item.
    pub(in crate::documents) fn strings<'r>(r: &'r Request<'_>) -> Vec<&'r Cow<'r, str>> {
        let (p, res) = (&r.principal, &r.resource);
        let ones = [&r.purpose, &r.source_region, &r.target_region, &p.id];
        let ones = ones
            .into_iter()
            .chain([&res.id, &res.classification, &res.residency]);
        let lists = p.roles.iter().chain(&res.client_regions);
        ones.flatten().chain(lists).chain([&r.action]).collect()
    }

    #[test]
    fn a_request_made_its_own_keeps_every_field_and_no_borrow() {
        let text = r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"p","country":"DE","roles":["a"],"team":"x"},"resource":{"id":"r","classification":"c","residency":"eea","home_country":"DE","client_regions":["eu-west-1"]},"source_region":"s","target_region":"t","purpose":"q","ticket":1}"#;
        let read = Request::from_json(text).unwrap();
        let owned = read.clone().into_owned();
        assert_eq!(owned, read);
        let inside = |s: &str| text.as_bytes().as_ptr_range().contains(&s.as_ptr());
        let all = strings(&read);
        assert_eq!(all.len(), 10);
        assert!(all.iter().all(|s| inside(s)), "from_json borrows");
        for s in strings(&owned) {
            assert!(
                matches!(s, Cow::Owned(_)) && !inside(s),
                "{s} still borrowed"
            );
        }
    }
    use crate::ir::schema::{FieldType, REQUEST};
    use crate::ir::Field;

    /// The hand-written reader and canonical writer know every field of the
    /// schema that a request document holds (the rest are derived from the
    /// policies' declarations: the sensitivity, the profile's mode, country
    /// and primary rule, and `now`).
    #[test]
    fn the_reader_and_the_canonical_writer_know_every_schema_field() {
        for s in REQUEST.iter().filter(|s| {
            !matches!(
                s.field,
                Field::Now | Field::Sensitivity | Field::ResidencyMode | Field::ResidencyCountry
            ) && s.ty != FieldType::ProfilePrimary
        }) {
            let value = match s.ty {
                FieldType::Country => serde_json::json!("DE"),
                FieldType::List => serde_json::json!(["a"]),
                _ => serde_json::json!("x"),
            };
            let mut doc = serde_json::json!({"action": "store"});
            let mut at = &mut doc;
            let mut keys = s.path.split('.').peekable();
            while let Some(k) = keys.next() {
                let obj = at.as_object_mut().unwrap();
                if keys.peek().is_none() {
                    obj.insert(k.to_string(), value.clone());
                    break;
                }
                at = obj.entry(k).or_insert_with(|| serde_json::json!({}));
            }
            let text = doc.to_string();
            for r in [
                Request::from_json(&text).unwrap(),
                Request::from_value(&doc).unwrap(),
            ] {
                assert!(
                    r.extra.is_empty()
                        && r.principal.extra.is_empty()
                        && r.resource.extra.is_empty(),
                    "{}: read as an extra field",
                    s.path
                );
                let mut canonical = Vec::new();
                r.write_canonical(&mut canonical);
                let canonical = String::from_utf8(canonical).unwrap();
                let last = s.path.rsplit('.').next().unwrap();
                assert!(
                    canonical.contains(&format!("\"{last}\":")),
                    "{}: not in the canonical request {canonical}",
                    s.path
                );
            }
        }
    }
}
