//! A hand-written reader for requests of the plain shape: strings without
//! escapes, `null`s, lists of strings, and extra fields of a string, whole
//! number or boolean. It reads such a request into a reused one, every
//! string borrowed from the text, with the same result as the serde
//! reader, and answers `None` for anything else (an escape, an extra
//! object, list or fraction, a duplicate key, a bad country or time, any
//! error), which the serde reader then reads from the
//! start: it overwrites every field, so what this one left half read does
//! not matter. serde_json's general machinery (finding each string's end,
//! each key's visitor) was most of reading a request: 6,450 instructions for
//! the reference pack's first.
//!
//! The same scanner reads pieces of a grants file ([`grants`]) of that
//! shape, for the parallel grants reader; a piece it refuses is read by
//! serde from the start, with a fresh [`PieceReader`].

use super::grants::{grant_field, grant_field_at, key_named, GrantParts};
use super::pool::PieceReader;
use super::request::Fields;
use super::*;
use crate::ir::GrantField;
use std::borrow::Cow;

/// What [`Scan::object`]'s `member` answers for a field it kept as an extra.
const EXTRA: usize = usize::MAX;

/// The bytes of the text, and where the reader is.
struct Scan<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Scan<'t> {
    /// The next byte that is not JSON white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        let b = self.text.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(self.at) {
            self.at += 1;
        }
        b.get(self.at).copied()
    }

    /// Consumes `c`, the next byte after white space.
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// A string with no escape and no control character.
    fn string(&mut self) -> Option<&'t str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        // Eight bytes at a time, the first that ends the string or is
        // refused found in its word; byte by byte in the text's last seven.
        let mut len = 0;
        loop {
            let Some(word) = rest.get(len..len + 8) else {
                len += rest
                    .get(len..)?
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
                break;
            };
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let m = crate::json::escaped(u64::from_le_bytes(w));
            if m != 0 {
                len += (m.trailing_zeros() / 8) as usize;
                break;
            }
            len += 8;
        }
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// An object's key: what `known` makes of the text after its opening
    /// quote (a key it names, and the key's length: the key's closing
    /// quote follows, so no escape is in it), or else the key read as a
    /// string.
    fn key<K>(
        &mut self,
        known: &impl Fn(&[u8]) -> Option<(K, usize)>,
    ) -> Option<Result<K, &'t str>> {
        if self.peek()? == b'"' {
            if let Some((k, len)) = self.text.as_bytes().get(self.at + 1..).and_then(known) {
                self.at += len + 2;
                return Some(Ok(k));
            }
        }
        self.string().map(Err)
    }

    /// `null`, consumed; `false` (nothing consumed) for anything else.
    fn null(&mut self) -> bool {
        let here = self.peek().is_some()
            && self.text.as_bytes().get(self.at..self.at + 4) == Some(&b"null"[..]);
        if here {
            self.at += 4;
        }
        here
    }

    /// A string or `null`.
    fn nullable(&mut self) -> Option<Option<&'t str>> {
        if self.null() {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// A string or `null` into `slot`, borrowed from the text.
    fn text_into(&mut self, slot: &mut Option<Cow<'t, str>>) -> Option<()> {
        *slot = self.nullable()?.map(Cow::Borrowed);
        Some(())
    }

    /// A country code or `null`.
    fn country(&mut self) -> Option<Option<Country>> {
        match self.nullable()? {
            Some(s) => Country::parse_assigned(s).ok().map(Some),
            None => Some(None),
        }
    }

    /// A list of strings (`null` is empty) into `out` (its room reused),
    /// borrowed from the text.
    fn list_into(&mut self, out: &mut Vec<Cow<'t, str>>) -> Option<()> {
        if self.null() {
            out.clear();
            return Some(());
        }
        self.eat(b'[')?;
        out.clear();
        if self.peek()? != b']' {
            loop {
                out.push(Cow::Borrowed(self.string()?));
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.at += 1;
        Some(())
    }

    /// A field the contract does not name, into `extra`, as serde reads it:
    /// a string, a whole number from 0 to 10^18, `true`, `false` or `null`
    /// (left out, as serde leaves it); a key already there is `None`, and
    /// so is any other value.
    fn extra(&mut self, key: &str, extra: &mut Map<String, Value>) -> Option<usize> {
        if extra.contains_key(key) {
            return None;
        }
        let b = self.text.as_bytes();
        let v = match self.peek()? {
            b'"' => Value::String(self.string()?.to_owned()),
            b'n' if self.null() => return Some(EXTRA),
            b't' if b.get(self.at..self.at + 4) == Some(&b"true"[..]) => {
                self.at += 4;
                Value::Bool(true)
            }
            b'f' if b.get(self.at..self.at + 5) == Some(&b"false"[..]) => {
                self.at += 5;
                Value::Bool(false)
            }
            b'0'..=b'9' => {
                let digits = b
                    .get(self.at..)?
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let text = self.text.get(self.at..self.at + digits)?;
                // No leading zero, no fraction or exponent after it.
                let leading_zero = digits > 1 && text.starts_with('0');
                let after = b.get(self.at + digits);
                if digits > 18 || leading_zero || matches!(after, Some(b'.' | b'e' | b'E')) {
                    return None;
                }
                self.at += digits;
                Value::from(text.parse::<u64>().ok()?)
            }
            _ => return None,
        };
        extra.insert(key.to_owned(), v);
        Some(EXTRA)
    }

    /// An object: its keys read by [`Scan::key`] with `known`; `member`
    /// reads the value of each key and says which of `N` fields it was (or
    /// [`EXTRA`]); a key written twice, or one `member` does not read, is
    /// `None`.
    fn object<const N: usize, K>(
        &mut self,
        known: impl Fn(&[u8]) -> Option<(K, usize)>,
        mut member: impl FnMut(&mut Self, Result<K, &'t str>) -> Option<usize>,
    ) -> Option<[bool; N]> {
        let mut seen = [false; N];
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(seen);
        }
        loop {
            let key = self.key(&known)?;
            self.eat(b':')?;
            let read = member(self, key)?;
            if read != EXTRA {
                let slot = seen.get_mut(read)?;
                if *slot {
                    return None;
                }
                *slot = true;
            }
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(seen);
                }
                _ => return None,
            }
        }
    }

    /// The principal or the resource (`null`: empty): `field` reads a field
    /// of it, an extra one included, and says which of its fields it was.
    fn part<T: Fields>(
        &mut self,
        t: &mut T,
        known: impl Fn(&[u8]) -> Option<(usize, usize)>,
        mut field: impl FnMut(&mut Self, &mut T, Result<usize, &'t str>) -> Option<usize>,
    ) -> Option<()> {
        if self.null() {
            *t = T::default();
            return Some(());
        }
        if !t.extra().is_empty() {
            t.extra().clear();
        }
        let seen = self.object(known, |s, k| field(s, t, k))?;
        t.reset(seen);
        Some(())
    }

    fn principal(&mut self, p: &mut Principal<'t>) -> Option<()> {
        self.part(p, principal_key, |s, p, k| match k {
            Ok(0) => s.text_into(&mut p.id).map(|()| 0),
            Ok(1) => {
                p.country = s.country()?;
                Some(1)
            }
            Ok(_) => s.list_into(&mut p.roles).map(|()| 2),
            Err(k) => s.extra(k, &mut p.extra),
        })
    }

    fn resource(&mut self, r: &mut Resource<'t>) -> Option<()> {
        self.part(r, resource_key, |s, r, k| match k {
            Ok(0) => s.text_into(&mut r.id).map(|()| 0),
            Ok(1) => s.text_into(&mut r.classification).map(|()| 1),
            Ok(2) => s.text_into(&mut r.residency).map(|()| 2),
            Ok(3) => {
                r.home_country = s.country()?;
                Some(3)
            }
            Ok(_) => s.list_into(&mut r.client_regions).map(|()| 4),
            Err(k) => s.extra(k, &mut r.extra),
        })
    }
}

// The keys of a request's objects: which field the text after a key's
// opening quote names, the key's closing quote right after it (no escape
// can be in it), and the key's length; [`Scan::key`]'s `known`. Told apart
// by a byte or two, then compared as arrays of fixed size (a scan of the
// names in a row was a fifth of reading a request).

/// The request's own keys, numbered as [`read`] reads them.
fn request_key(k: &[u8]) -> Option<(usize, usize)> {
    Some(match (k.first()?, k.get(1)) {
        (b'a', _) => (0, key_named(k, b"action", true)?),
        (b't', Some(b'i')) => (1, key_named(k, b"time", true)?),
        (b'p', Some(b'r')) => (2, key_named(k, b"principal", true)?),
        (b'r', _) => (3, key_named(k, b"resource", true)?),
        (b's', _) => (4, key_named(k, b"source_region", true)?),
        (b't', _) => (5, key_named(k, b"target_region", true)?),
        (b'p', _) => (6, key_named(k, b"purpose", true)?),
        _ => return None,
    })
}

/// The principal's keys, numbered as [`Scan::principal`] reads them.
fn principal_key(k: &[u8]) -> Option<(usize, usize)> {
    Some(match k.first()? {
        b'i' => (0, key_named(k, b"id", true)?),
        b'c' => (1, key_named(k, b"country", true)?),
        b'r' => (2, key_named(k, b"roles", true)?),
        _ => return None,
    })
}

/// The resource's keys, numbered as [`Scan::resource`] reads them.
fn resource_key(k: &[u8]) -> Option<(usize, usize)> {
    Some(match (k.first()?, k.get(2)) {
        (b'i', _) => (0, key_named(k, b"id", true)?),
        (b'c', Some(b'a')) => (1, key_named(k, b"classification", true)?),
        (b'r', _) => (2, key_named(k, b"residency", true)?),
        (b'h', _) => (3, key_named(k, b"home_country", true)?),
        (b'c', _) => (4, key_named(k, b"client_regions", true)?),
        _ => return None,
    })
}

/// Reads `text` into `r` when it is a request of the plain shape, its
/// strings borrowed from `text`; `None` (with `r` half read) otherwise.
pub(super) fn read<'t>(r: &mut Request<'t>, text: &'t str) -> Option<()> {
    let mut s = Scan { text, at: 0 };
    if !r.extra.is_empty() {
        r.extra.clear();
    }
    let seen: [bool; 7] = s.object(request_key, |s, k| match k {
        Ok(0) => {
            r.action = Cow::Borrowed(s.string()?);
            Some(0)
        }
        Ok(1) => {
            r.time = match s.nullable()? {
                Some(t) => Some(match plain_time(t) {
                    Some(t) => t.fixed_offset(),
                    None => parse_time(t).ok()?,
                }),
                None => None,
            };
            Some(1)
        }
        Ok(2) => s.principal(&mut r.principal).map(|()| 2),
        Ok(3) => s.resource(&mut r.resource).map(|()| 3),
        Ok(4) => s.text_into(&mut r.source_region).map(|()| 4),
        Ok(5) => s.text_into(&mut r.target_region).map(|()| 5),
        Ok(_) => s.text_into(&mut r.purpose).map(|()| 6),
        Err(k) => s.extra(k, &mut r.extra),
    })?;
    // Nothing but white space after the request.
    if s.peek().is_some() {
        return None;
    }
    let [action, time, principal, resource, source, target, purpose] = seen;
    if !action {
        return None;
    }
    r.reset([time, principal, resource, source, target, purpose]);
    Some(())
}

/// Reads a piece of the grants array (`[{...}, ...]`, `count` grants)
/// when every grant in it is of the plain shape, as the serde reader
/// ([`super::grants`]) would; `None` otherwise, and the piece is read by
/// serde from the start with a fresh `reader` (this one may have seen part
/// of it). serde's visitor, its keys and strings were a quarter of loading
/// a million grants.
pub(super) fn grants(text: &str, reader: &mut PieceReader, count: usize) -> Option<Vec<Grant>> {
    let mut s = Scan { text, at: 0 };
    let mut out = Vec::with_capacity(count);
    s.eat(b'[')?;
    if s.peek()? != b']' {
        loop {
            out.push(grant(&mut s, reader)?);
            match s.peek()? {
                b',' => s.at += 1,
                b']' => break,
                _ => return None,
            }
        }
    }
    s.at += 1;
    s.peek().is_none().then_some(out)
}

fn grant(s: &mut Scan, reader: &mut PieceReader) -> Option<Grant> {
    let mut g = GrantParts::default();
    let time = |s: &mut Scan| -> Option<Option<DateTime<Utc>>> {
        match s.nullable()? {
            Some(t) => Some(Some(utc_time(t)?)),
            None => Some(None),
        }
    };
    let _: [bool; 12] = s.object(grant_field_at, |s, key| {
        let field = match key {
            Ok(field) => field,
            Err(key) => match grant_field(key) {
                Some(field) => field,
                None => return s.extra(key, &mut g.extra),
            },
        };
        match field {
            GrantField::Id => g.id = s.nullable()?.map(Box::<str>::from),
            // Principals and resources are shared when the piece joins the
            // document.
            GrantField::Principal => g.principal = s.nullable()?.map(Arc::from),
            GrantField::Resource => g.resource = s.nullable()?.map(Arc::from),
            GrantField::Classifications => g.classifications = s.names(reader)?,
            GrantField::ToCountry => g.to_country = s.country()?,
            GrantField::Purpose => g.purpose = s.nullable()?.map(|x| reader.get(x)),
            GrantField::Mechanism => g.mechanism = s.nullable()?.map(|x| reader.get(x)),
            GrantField::RequestedBy => g.requested_by = s.nullable()?.map(|x| reader.get(x)),
            GrantField::ApprovedBy => g.approved_by = s.nullable()?.map(|x| reader.get(x)),
            GrantField::ValidFrom => g.valid_from = time(s)?,
            GrantField::ExpiresAt => g.expires_at = time(s)?,
            GrantField::RevokedAt => g.revoked_at = time(s)?,
        }
        Some(field.index())
    })?;
    // A required field missing: serde's reading says which.
    g.finish(reader).ok()
}

/// An instant as [`parse_time`] reads it (`None` for what it refuses);
/// the common `YYYY-MM-DDTHH:MM:SSZ` read directly (chrono's general
/// parser was a twentieth of loading a million grants), anything else, a
/// leap second or year 0 included, by `parse_time`.
fn utc_time(t: &str) -> Option<DateTime<Utc>> {
    plain_time(t).or_else(|| Some(parse_time(t).ok()?.with_timezone(&Utc)))
}

/// The common `YYYY-MM-DDTHH:MM:SSZ`, read directly: what [`parse_time`]
/// makes of it, in UTC; `None` for any other text, whether `parse_time`
/// reads it or not.
fn plain_time(t: &str) -> Option<DateTime<Utc>> {
    let b = t.as_bytes();
    let num = |at: usize, len: usize| -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let shape = b.len() == 20
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':')
        && b.get(19) == Some(&b'Z');
    if !shape {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok().filter(|y| *y >= 1)?;
    let date = chrono::NaiveDate::from_ymd_opt(year, num(5, 2)?, num(8, 2)?)?;
    let at = date.and_hms_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?)?;
    Some(at.and_utc())
}

impl Scan<'_> {
    /// A grant's classifications: a list of strings (`null`: empty), each
    /// shared through the piece's interner.
    fn names(&mut self, reader: &mut PieceReader) -> Option<Box<[Arc<str>]>> {
        if self.null() {
            return Some(Box::default());
        }
        self.eat(b'[')?;
        let mut names = std::mem::take(&mut reader.names);
        names.clear();
        if self.peek()? != b']' {
            loop {
                names.push(reader.get(self.string()?));
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.at += 1;
        let out = names.drain(..).collect();
        reader.names = names;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the serde reader makes of `text`, read into a fresh request.
    fn by_serde(text: &str) -> Option<Request<'static>> {
        let v: Value = serde_json::from_str(text).ok()?;
        Request::from_value(&v).ok()
    }

    #[test]
    fn keys_are_named_only_when_the_closing_quote_follows_the_name() {
        type Known = fn(&[u8]) -> Option<(usize, usize)>;
        let objects: [(Known, &[&str]); 3] = [
            (
                request_key,
                &[
                    "action",
                    "time",
                    "principal",
                    "resource",
                    "source_region",
                    "target_region",
                    "purpose",
                ],
            ),
            (principal_key, &["id", "country", "roles"]),
            (
                resource_key,
                &[
                    "id",
                    "classification",
                    "residency",
                    "home_country",
                    "client_regions",
                ],
            ),
        ];
        for (known, names) in objects {
            for (i, name) in names.iter().enumerate() {
                let n = name.len();
                for after in ["\"", "\": 1", "\":[]"] {
                    let text = format!("{name}{after}");
                    assert_eq!(known(text.as_bytes()), Some((i, n)), "{text}");
                }
                // Longer, shorter, another case, no closing quote: not it.
                let (head, last) = name.split_at(n - 1);
                for other in [
                    format!("{name}x\""),
                    format!("{head}\""),
                    format!("{}\"", name.to_uppercase()),
                    format!("{head}{}\"", (last.as_bytes()[0] ^ 1) as char),
                    name.to_string(),
                    String::new(),
                    "\"".to_string(),
                ] {
                    assert_eq!(known(other.as_bytes()), None, "{other}");
                }
            }
        }
    }

    /// A string of a request is borrowed when it lies in the text.
    fn borrowed(s: &str, text: &str) -> bool {
        text.as_bytes().as_ptr_range().contains(&s.as_ptr())
    }

    /// Whatever the plain reader reads, it reads as serde does, into a
    /// fresh request and into one left over from another, every string
    /// borrowed from the text; what it refuses is left to serde.
    #[test]
    fn the_plain_reader_reads_as_serde_or_not_at_all() {
        let used = r#"{"action":"access","time":"2026-01-01T00:00:00+02:00","principal":{"id":"p","country":"FR","roles":["a","b","c"]},"resource":{"id":"r","classification":"c","residency":"x","home_country":"DE","client_regions":["r1","r2"],"extra":1},"source_region":"s","target_region":"t","purpose":"p","ticket":"T-1"}"#;
        let plain = [
            r#"{"action":"store"}"#,
            " \t\r\n{ \"action\" : \"store\" , \"purpose\" : null } \n",
            r#"{"action":"store","time":"2026-03-01T12:00:00Z","principal":{"id":"svc","country":"DE"},"resource":{"id":"ds","classification":"identity","residency":"eea","home_country":"DE"},"target_region":"eu-central-1"}"#,
            r#"{"purpose":"é ünïcode ✓","action":"access","principal":{"roles":[]},"resource":{"client_regions":["eu-west-1"]}}"#,
            r#"{"action":"store","principal":null,"resource":null,"time":null,"source_region":null}"#,
            r#"{"action":"store","principal":{"roles":null,"country":null},"resource":{}}"#,
            r#"{"action":"store","principal":{"roles":["x", "y"]}}"#,
            r#"{"action":"store","ticket":"T-1","priority":0,"urgent":true,"late":false,"n":123456789012345678}"#,
            r#"{"action":"store","principal":{"id":"p","clearance":3},"resource":{"tenant":"acme","x":null}}"#,
            r#"{"action":"store","x":null,"x":1}"#,
        ];
        for text in plain {
            let want = by_serde(text).expect("serde reads it");
            for start in [Request::default(), by_serde(used).expect("serde reads it")] {
                let mut r = start;
                assert_eq!(read(&mut r, text), Some(()), "{text}");
                assert_eq!(r, want, "{text}");
                for s in super::super::request::tests::strings(&r) {
                    assert!(borrowed(s, text), "{text}: {s} copied");
                }
            }
        }
        // Left to serde: what it reads differently, or refuses.
        let other = [
            r#"{"action":"st\u006fre"}"#,
            r#"{"action":"store","ticket":{"id":1}}"#,
            r#"{"action":"store","ticket":[1]}"#,
            r#"{"action":"store","ticket":1.5}"#,
            r#"{"action":"store","ticket":1e3}"#,
            r#"{"action":"store","ticket":-1}"#,
            r#"{"action":"store","ticket":01}"#,
            r#"{"action":"store","ticket":1234567890123456789}"#,
            r#"{"action":"store","ticket":truex}"#,
            r#"{"action":"store","ticket":1,"ticket":null}"#,
            r#"{"action":"store","principal":{"id":"p","clearance":3,"clearance":4}}"#,
            r#"{"action":"store","t\u0069cket":1}"#,
            r#"{"action":"store","action":"access"}"#,
            r#"{"action":"store","principal":{"id":"a","id":"b"}}"#,
            r#"{"action":null}"#,
            r#"{"purpose":"x"}"#,
            r#"{"action":"store","principal":{"country":"UK"}}"#,
            r#"{"action":"store","time":"yesterday"}"#,
            r#"{"action":"store","time":"0000-12-31T23:00:00-02:00"}"#,
            r#"{"action":"store","purpose":5}"#,
            "{\"action\":\"st\tore\"}",
            r#"{"action":"store"} x"#,
            r#"{"action":"store"}{}"#,
            r#"{"action":"store",}"#,
            r#"{"action":"store""purpose":"x"}"#,
            r#"{"action":"store","principal":{"roles":["a",]}}"#,
            r#"{"action":"store","principal":{"roles":["a" "b"]}}"#,
            r#"{"action":"store","principal":nul}"#,
            r#"{"action":"store","principal":nullx}"#,
            r#"{"action":"store""#,
            "",
            "[]",
            "\u{feff}{\"action\":\"store\"}",
        ];
        for text in other {
            let mut r = Request::default();
            assert_eq!(read(&mut r, text), None, "{text}");
        }
    }

    /// What serde's reader makes of a piece of the grants array.
    fn grants_by_serde(text: &str) -> Option<Vec<Grant>> {
        let mut reader = PieceReader::default();
        let mut de = serde_json::Deserializer::from_str(text);
        let out = serde::de::DeserializeSeed::deserialize(
            super::super::GrantList(&mut reader, 0),
            &mut de,
        );
        de.end().ok()?;
        out.ok()
    }

    /// Whatever the plain grants reader reads, it reads as serde does;
    /// what it refuses is left to serde.
    #[test]
    fn the_plain_grants_reader_reads_as_serde_or_not_at_all() {
        let g = r#""id":"g-1","principal":"p","to_country":"US","requested_by":"a","expires_at":"2027-01-01T00:00:00Z""#;
        let plain = [
            "[]".to_string(),
            format!("[{{{g}}}]"),
            format!(" [ {{{g}}} , {{{}}} ] ", g.replace("g-1", "g-2")),
            format!(
                r#"[{{{g},"resource":"ds","classifications":["identity","health"],"purpose":"analytics","mechanism":"scc","approved_by":"b","valid_from":"2026-01-01T00:00:00+02:00","revoked_at":null}}]"#
            ),
            format!(
                r#"[{{{g},"classifications":null,"resource":null,"approved_by":null,"valid_from":null}}]"#
            ),
            format!(
                r#"[{{{g},"classifications":[],"ticket":"T-1","n":7,"urgent":true,"x":null}}]"#
            ),
            r#"[{"expires_at":"2027-01-01T00:00:00Z","requested_by":"a","to_country":"US","principal":"p","id":"g"}]"#.to_string(),
        ];
        for text in &plain {
            let want = grants_by_serde(text).expect("serde reads it");
            let mut reader = PieceReader::default();
            let got = grants(text, &mut reader, 1);
            assert_eq!(got.as_ref(), Some(&want), "{text}");
            assert_eq!(reader.seen.len(), want.len(), "{text}");
        }
        let other = [
            format!(r#"[{{{}}}]"#, g.replace("g-1", r"g\u002d1")),
            format!(r#"[{{{g},"ticket":{{"id":1}}}}]"#),
            format!(r#"[{{{g},"ticket":1.5}}]"#),
            format!(r#"[{{{g},"id":"again"}}]"#),
            format!(r#"[{{{g},"x":1,"x":null}}]"#),
            format!(r#"[{{{g},"classifications":"identity"}}]"#),
            format!(r#"[{{{g},"classifications":["a",1]}}]"#),
            format!(r#"[{{{g},"valid_from":"yesterday"}}]"#),
            format!(r#"[{{{}}}]"#, g.replace("US", "USA")),
            format!(r#"[{{{}}}]"#, g.replace(r#","requested_by":"a""#, "")),
            format!(
                r#"[{{{}}}]"#,
                g.replace(r#""principal":"p""#, r#""principal":null"#)
            ),
            format!("[{{{g}}}] x"),
            format!("[{{{g}}},]"),
        ];
        for text in &other {
            assert!(
                grants(text, &mut PieceReader::default(), 1).is_none(),
                "{text}"
            );
        }
        for t in [
            "2026-03-01T12:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2026-03-01T12:00:00.5Z",
            "2026-03-01t12:00:00z",
            "2026-03-01T12:00:00+02:00",
            "0000-01-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T12:60:00Z",
            "2026-03-01T12:00:00",
            "2026-3-01T12:00:00Z",
            "+2026-03-01T12:00:0Z",
            "2026-03-01 12:00:00Z",
        ] {
            let want = parse_time(t).ok().map(|x| x.with_timezone(&Utc));
            assert_eq!(utc_time(t), want, "{t}");
            // A request's time read directly is the one `parse_time` gives,
            // offset and all.
            if let Some(direct) = plain_time(t) {
                assert_eq!(Some(direct.fixed_offset()), parse_time(t).ok(), "{t}");
            }
        }
        assert!(plain_time("2026-03-01T12:00:00Z").is_some());
    }
}
