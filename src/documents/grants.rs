//! Grants: time-limited cross-border exceptions, read streaming (a
//! million grants in a few hundred megabytes) and indexed by principal.

use super::pool::Seen;
use super::*;
use crate::ir::GrantField;

/// One grant. Strings that repeat across grants (principals, approvers,
/// mechanisms, purposes, resources) are shared (`Arc<str>`), so a million
/// grants fit in a few hundred megabytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grant {
    /// Unique within the document.
    pub id: Box<str>,
    /// Whose exception it is (a principal id).
    pub principal: Arc<str>,
    /// The one resource id it covers, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Arc<str>>,
    /// The classifications it covers.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub classifications: Box<[Arc<str>]>,
    /// The country the data may go to or be reached from.
    pub to_country: Country,
    /// The purpose it was granted for; a request must state the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Arc<str>>,
    /// The legal mechanism (`scc`, `bcr`, `dpf`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Arc<str>>,
    /// Who asked for it.
    pub requested_by: Arc<str>,
    /// Who approved it; empty or the requester means it never counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Arc<str>>,
    /// From when it counts (absent: from its approval).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    /// The instant it stops counting.
    pub expires_at: DateTime<Utc>,
    /// The instant it was revoked, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Fields the contract does not name, readable by policies as
    /// `g.<field>` (`None` when there are none: most grants have none, and
    /// an empty map takes 24 bytes in each of a million grants).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<Map<String, Value>>>,
}

impl Grant {
    /// Whether its approval counts: `Unapproved` when no one approved it
    /// (`approved_by` missing or blank), `SelfApproved` when its requester
    /// did (separation of duties).
    pub fn approval(&self) -> Result<(), crate::eval::GrantCheck> {
        use crate::eval::GrantCheck;
        match self.approved_by.as_deref() {
            Some(a) if a.trim().is_empty() => Err(GrantCheck::Unapproved),
            None => Err(GrantCheck::Unapproved),
            Some(a) if crate::eval::same_identity(a, &self.requested_by) => {
                Err(GrantCheck::SelfApproved)
            }
            Some(_) => Ok(()),
        }
    }

    /// The fields the contract does not name (empty when there are none).
    pub fn extra(&self) -> &Map<String, Value> {
        static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        self.extra.as_deref().unwrap_or(&NONE)
    }

    /// Whether it expires at or before it becomes valid (no reader
    /// accepts such a grant).
    pub fn ends_before_it_starts(&self) -> bool {
        self.valid_from.is_some_and(|from| self.expires_at <= from)
    }
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
    /// Each principal's number; its grants are
    /// `order[offsets[n]..offsets[n + 1]]`, in document order.
    principals: crate::names::Index<Arc<str>>,
    offsets: Vec<u32>,
    order: Vec<u32>,
    /// One bit a grant: approved by someone other than its requester
    /// (decided once here, not on every decision that looks at it).
    approved: Vec<u64>,
    /// sha256 of the document's bytes (part of every decision's input hash).
    pub hash: String,
}

impl Grants {
    /// Parses the grants document from JSON text.
    pub fn from_json(text: &str) -> R<Grants> {
        let mut reader = PieceReader::default();
        let mut de = serde_json::Deserializer::from_str(text);
        let grants = Grants::from_deserializer(&mut de, &mut reader)?;
        Grants::one_piece(grants, reader, crate::ir::sha256_hex(text.as_bytes()))
    }

    /// Streams the grants document from a reader (a file of a million grants
    /// is never held in memory as text or as a JSON tree). The hash is taken
    /// over the bytes as they stream by, as [`Grants::from_json`] takes it.
    pub fn from_reader(reader: impl std::io::Read) -> R<Grants> {
        let mut hashing = HashingReader {
            inner: reader,
            hasher: sha2::Sha256::new(),
        };
        let mut pieces = PieceReader::default();
        let grants = {
            let buffered = std::io::BufReader::with_capacity(1 << 16, &mut hashing);
            let mut de = serde_json::Deserializer::from_reader(buffered);
            Grants::from_deserializer(&mut de, &mut pieces)?
        };
        let hash = crate::ir::hex_digest(&hashing.hasher.finalize());
        Grants::one_piece(grants, pieces, hash)
    }

    /// A document read in one piece: joined, checked and indexed.
    fn one_piece(mut grants: Vec<Grant>, reader: PieceReader, hash: String) -> R<Grants> {
        let pool = Pool::default();
        let seen = pool.join(reader, &mut grants);
        Grants::checked(vec![grants], vec![seen], pool, hash)
    }

    pub(super) fn from_deserializer<'de, Rd: serde_json::de::Read<'de>>(
        de: &mut serde_json::Deserializer<Rd>,
        reader: &mut PieceReader,
    ) -> R<Vec<Grant>> {
        let mut track = serde_path_to_error::Track::new();
        let doc = serde::de::DeserializeSeed::deserialize(
            GrantsDoc(reader),
            serde_path_to_error::Deserializer::new(&mut *de, &mut track),
        );
        let grants = match doc {
            Ok(d) => d,
            Err(e) => return Err(serde_error(&track.path().to_string(), &e.to_string())),
        };
        de.end().map_err(|e| serde_error("", &e.to_string()))?;
        Ok(grants)
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

    /// The parallel reader behind [`Grants::from_file`] on any input, its
    /// grants array cut into pieces of about `piece` bytes, for the fuzzers
    /// and tests that hold it to the small-file reader: `None` when it
    /// hands the input to the streaming reader instead.
    #[doc(hidden)]
    pub fn from_reader_parallel(reader: impl std::io::Read, piece: usize) -> Option<R<Grants>> {
        parallel::read_in(reader, piece)
    }

    /// Grants built in code; the hash is over their canonical JSON (extra
    /// fields in key order, in every build: see `json::in_key_order`).
    pub fn new(mut grants: Vec<Grant>) -> Grants {
        for m in grants.iter_mut().filter_map(|g| g.extra.as_deref_mut()) {
            crate::json::sort_members(m);
        }
        let bytes =
            serde_json::to_vec(&serde_json::json!({ "grants": grants })).unwrap_or_default();
        let hash = crate::ir::sha256_hex(&bytes);
        let mut reader = PieceReader::default();
        for g in &grants {
            reader.read(g);
        }
        let pool = Pool::default();
        let seen = pool.join(reader, &mut grants);
        Grants::from_chunks(vec![grants], vec![seen], pool).with_hash(hash)
    }

    fn with_hash(mut self, hash: String) -> Grants {
        self.hash = hash;
        self
    }

    /// Builds a document read from input, refusing what no reader may
    /// accept: a grant id used twice, and a grant that expires at or before
    /// it becomes valid. The readers note both as they read (a repeated
    /// hash of an id, a grant's own window); only then are the grants
    /// walked in order, for the exact check and the first offender's name.
    pub(super) fn checked(
        chunks: Vec<Vec<Grant>>,
        seen: Vec<Vec<Seen>>,
        pool: Pool,
        hash: String,
    ) -> R<Grants> {
        if pool.needs_checks_in_order() {
            Grants::check_in_order(&chunks)?;
        }
        Ok(Grants::from_chunks(chunks, seen, pool).with_hash(hash))
    }

    fn check_in_order(chunks: &[Vec<Grant>]) -> R<()> {
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
            if g.ends_before_it_starts() {
                return Err(DocError::new(
                    &format!("grants[{i}].expires_at"),
                    "the grant expires at or before it becomes valid: `expires_at` must be after `valid_from`",
                ));
            }
        }
        Ok(())
    }

    /// The index by principal: a counting sort of the grants' principal
    /// numbers (no hash-map probe per grant), and the approval bits.
    fn from_chunks(chunks: Vec<Vec<Grant>>, seen: Vec<Vec<Seen>>, pool: Pool) -> Grants {
        let total: usize = seen.iter().map(Vec::len).sum();
        let principals = pool.into_principals();
        let mut offsets = vec![0u32; principals.len() + 1];
        for s in seen.iter().flatten() {
            if let Some(c) = offsets.get_mut(s.principal as usize + 1) {
                *c += 1;
            }
        }
        let mut sum = 0;
        for c in &mut offsets {
            sum += *c;
            *c = sum;
        }
        // `next[n]`: where principal n's next grant goes.
        let mut next = offsets.clone();
        let mut order = vec![0u32; total];
        let mut approved = vec![0u64; total.div_ceil(64)];
        for (i, s) in (0u32..).zip(seen.iter().flatten()) {
            if let Some(at) = next.get_mut(s.principal as usize) {
                if let Some(slot) = order.get_mut(*at as usize) {
                    *slot = i;
                }
                *at += 1;
            }
            if let Some(word) = approved.get_mut(i as usize / 64) {
                *word |= u64::from(s.approved) << (i % 64);
            }
        }
        let mut starts = Vec::with_capacity(chunks.len());
        let mut len = 0u32;
        for chunk in &chunks {
            starts.push(len);
            len += chunk.len() as u32;
        }
        Grants {
            approved,
            len: len as usize,
            chunks,
            starts,
            principals,
            offsets,
            order,
            hash: String::new(),
        }
    }

    /// How many grants.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
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
        let Some(n) = self.principals.get(principal) else {
            return &[];
        };
        let n = n as usize;
        match (self.offsets.get(n), self.offsets.get(n + 1)) {
            (Some(&a), Some(&b)) => self.order.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Whether grant `i` was approved by someone other than its requester
    /// ([`Grant::approval`], decided when the grants were read).
    #[inline]
    pub fn approved(&self, i: u32) -> bool {
        self.approved
            .get(i as usize / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// The grant at an index (the order of the document).
    #[inline]
    pub fn get(&self, i: u32) -> Option<&Grant> {
        let c = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        let start = *self.starts.get(c)?;
        self.chunks.get(c)?.get((i - start) as usize)
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
    /// A field of the schema ([`crate::ir::schema::GRANT`]).
    Known(GrantField),
    Other(String),
}

impl GrantKey {
    /// The place of a known key in [`GRANT_FIELDS`] (`None` for the rest).
    fn index(&self) -> Option<usize> {
        match self {
            GrantKey::Known(f) => Some(f.index()),
            GrantKey::Other(_) => None,
        }
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

/// The grant field a key names, found by its first byte and compared as a
/// fixed-size array (a `match` on the text called `memcmp` for each
/// candidate of the key's length: a tenth of loading a million grants).
pub(super) fn grant_field(key: &str) -> Option<GrantField> {
    field_named(key.as_bytes(), false).map(|(f, _)| f)
}

/// The field a grant's key names, read from the text after the key's
/// opening quote (the key's closing quote right after the name: no escape
/// can be in it), and the name's length: the hand reader's keys, without
/// first finding where each ends.
pub(super) fn grant_field_at(text: &[u8]) -> Option<(GrantField, usize)> {
    field_named(text, true)
}

/// `N` when `k` is `name`: whole (`quoted` false), or followed by the
/// key's closing quote (`quoted`: `k` is the text after a key's opening
/// quote, so no escape can be in the key). Compared as arrays of fixed
/// size: a `match` on the text called `memcmp` for each candidate.
pub(super) fn key_named<const N: usize>(k: &[u8], name: &[u8; N], quoted: bool) -> Option<usize> {
    let head: &[u8; N] = k.get(..N)?.try_into().ok()?;
    let ends = if quoted {
        k.get(N) == Some(&b'"')
    } else {
        k.len() == N
    };
    (head == name && ends).then_some(N)
}

/// [`grant_field`] of `k` whole (`quoted` false), or [`grant_field_at`].
fn field_named(k: &[u8], quoted: bool) -> Option<(GrantField, usize)> {
    Some(match k.first()? {
        b'i' => (GrantField::Id, key_named(k, b"id", quoted)?),
        b'p' if k.get(1) == Some(&b'r') => {
            (GrantField::Principal, key_named(k, b"principal", quoted)?)
        }
        b'p' => (GrantField::Purpose, key_named(k, b"purpose", quoted)?),
        b'r' if k.get(2) == Some(&b's') => {
            (GrantField::Resource, key_named(k, b"resource", quoted)?)
        }
        b'r' if k.get(2) == Some(&b'q') => (
            GrantField::RequestedBy,
            key_named(k, b"requested_by", quoted)?,
        ),
        b'r' => (GrantField::RevokedAt, key_named(k, b"revoked_at", quoted)?),
        b'c' => (
            GrantField::Classifications,
            key_named(k, b"classifications", quoted)?,
        ),
        b't' => (GrantField::ToCountry, key_named(k, b"to_country", quoted)?),
        b'm' => (GrantField::Mechanism, key_named(k, b"mechanism", quoted)?),
        b'a' => (
            GrantField::ApprovedBy,
            key_named(k, b"approved_by", quoted)?,
        ),
        b'v' => (GrantField::ValidFrom, key_named(k, b"valid_from", quoted)?),
        b'e' => (GrantField::ExpiresAt, key_named(k, b"expires_at", quoted)?),
        _ => return None,
    })
}

/// The fields of a grant (contract.md), in the contract's order: the schema's.
pub use crate::ir::schema::GRANT_FIELDS;

impl<'de> serde::Deserialize<'de> for GrantKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = GrantKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<GrantKey, E> {
                Ok(match grant_field(s) {
                    Some(f) => GrantKey::Known(f),
                    None => GrantKey::Other(s.to_string()),
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// A string, handed to `F` as it is read (no copy when it has no escapes).
struct Text<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> serde::de::DeserializeSeed<'de> for Text<F> {
    type Value = T;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> serde::de::Visitor<'de> for Text<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        Ok((self.0)(s))
    }
}

/// A [`Text`] that may be `null` (absent).
struct OptText<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> serde::de::DeserializeSeed<'de> for OptText<F> {
    type Value = Option<T>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> serde::de::Visitor<'de> for OptText<F> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_str(Text(self.0)).map(Some)
    }
}

/// A list of strings (`null`: empty), each shared through the piece's
/// interner, in a slice of its exact length (serde's `Vec<String>` gave a
/// list of one room for four, and a copy of each text).
struct Names<'r>(&'r mut PieceReader);

impl<'de> serde::de::DeserializeSeed<'de> for Names<'_> {
    type Value = Box<[Arc<str>]>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Names<'_> {
    type Value = Box<[Arc<str>]>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Worded as serde's `Vec` is, which the errors call an array.
        f.write_str("a sequence")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Box::default())
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Box::default())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let reader = self.0;
        let mut names = std::mem::take(&mut reader.names);
        while let Some(name) = seq.next_element_seed(Text(|s: &str| reader.get(s)))? {
            names.push(name);
        }
        let out = names.drain(..).collect();
        reader.names = names;
        Ok(out)
    }
}

/// `{"grants": [...]}`, deserialized grant by grant.
struct GrantsDoc<'r>(&'r mut PieceReader);

impl<'de> serde::de::DeserializeSeed<'de> for GrantsDoc<'_> {
    type Value = Vec<Grant>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Grant>, D::Error> {
        struct V<'r>(&'r mut PieceReader);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = Vec<Grant>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object `{\"grants\": [...]}`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Vec<Grant>, A::Error> {
                let mut grants = None;
                let mut keys = std::collections::HashSet::new();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if !keys.insert(key.clone().into_owned()) {
                        return Err(duplicate_key(&key));
                    }
                    if key == "grants" {
                        grants = Some(map.next_value_seed(GrantList(&mut *self.0, 0))?);
                    } else {
                        map.next_value_seed(Strict)?;
                    }
                }
                grants.ok_or_else(|| serde::de::Error::missing_field("grants"))
            }
        }
        d.deserialize_map(V(self.0))
    }
}

/// The `grants` array; the number is how many grants to make room for.
pub(super) struct GrantList<'r>(pub(super) &'r mut PieceReader, pub(super) usize);

impl<'de> serde::de::DeserializeSeed<'de> for GrantList<'_> {
    type Value = Vec<Grant>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Grant>, D::Error> {
        struct V<'r>(&'r mut PieceReader, usize);
        impl<'de> serde::de::Visitor<'de> for V<'_> {
            type Value = Vec<Grant>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of grants")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<Grant>, A::Error> {
                let mut out = Vec::with_capacity(self.1);
                self.0.reserve(self.1);
                while let Some(g) = seq.next_element_seed(GrantSeed(&mut *self.0))? {
                    out.push(g);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V(self.0, self.1))
    }
}

/// A grant's fields as a reader finds them, in any order.
#[derive(Default)]
pub(super) struct GrantParts {
    pub(super) id: Option<Box<str>>,
    pub(super) principal: Option<Arc<str>>,
    pub(super) resource: Option<Arc<str>>,
    pub(super) classifications: Box<[Arc<str>]>,
    pub(super) to_country: Option<Country>,
    pub(super) purpose: Option<Arc<str>>,
    pub(super) mechanism: Option<Arc<str>>,
    pub(super) requested_by: Option<Arc<str>>,
    pub(super) approved_by: Option<Arc<str>>,
    pub(super) valid_from: Option<DateTime<Utc>>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) revoked_at: Option<DateTime<Utc>>,
    pub(super) extra: Map<String, Value>,
}

impl GrantParts {
    /// The grant, noted by `reader`; or the first required field missing.
    pub(super) fn finish(self, reader: &mut PieceReader) -> Result<Grant, &'static str> {
        let grant = Grant {
            id: self.id.ok_or("id")?,
            principal: self.principal.ok_or("principal")?,
            resource: self.resource,
            classifications: self.classifications,
            to_country: self.to_country.ok_or("to_country")?,
            purpose: self.purpose,
            mechanism: self.mechanism,
            requested_by: self.requested_by.ok_or("requested_by")?,
            approved_by: self.approved_by,
            valid_from: self.valid_from,
            expires_at: self.expires_at.ok_or("expires_at")?,
            revoked_at: self.revoked_at,
            extra: (!self.extra.is_empty()).then(|| Box::new(self.extra)),
        };
        reader.read(&grant);
        Ok(grant)
    }
}

/// One grant; what the reader saw of it goes to [`PieceReader::seen`], and
/// its id and window to the pool's checks.
struct GrantSeed<'r>(&'r mut PieceReader);

impl<'de> serde::de::DeserializeSeed<'de> for GrantSeed<'_> {
    type Value = Grant;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Grant, D::Error> {
        struct V<'r>(&'r mut PieceReader);
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
                let reader = self.0;
                let mut g = GrantParts::default();
                let mut seen = 0u16;
                while let Some(key) = map.next_key::<GrantKey>()? {
                    let bit = key.bit();
                    if seen & bit != 0 {
                        return Err(duplicate_key(key.name()));
                    }
                    seen |= bit;
                    match key {
                        GrantKey::Known(GrantField::Id) => {
                            g.id = map.next_value_seed(OptText(|s: &str| Box::<str>::from(s)))?
                        }
                        GrantKey::Known(GrantField::Principal) => {
                            // Shared when the piece joins the document.
                            g.principal =
                                map.next_value_seed(OptText(|p: &str| Arc::<str>::from(p)))?
                        }
                        GrantKey::Known(GrantField::Resource) => {
                            // Shared when the piece joins the document.
                            g.resource =
                                map.next_value_seed(OptText(|x: &str| Arc::<str>::from(x)))?
                        }
                        GrantKey::Known(GrantField::Classifications) => {
                            g.classifications = map.next_value_seed(Names(&mut *reader))?
                        }
                        GrantKey::Known(GrantField::ToCountry) => {
                            g.to_country = map.next_value::<Option<CountryField>>()?.map(|c| c.0)
                        }
                        GrantKey::Known(GrantField::Purpose) => {
                            g.purpose = map.next_value_seed(OptText(|x: &str| reader.get(x)))?
                        }
                        GrantKey::Known(GrantField::Mechanism) => {
                            g.mechanism = map.next_value_seed(OptText(|x: &str| reader.get(x)))?
                        }
                        GrantKey::Known(GrantField::RequestedBy) => {
                            g.requested_by =
                                map.next_value_seed(OptText(|x: &str| reader.get(x)))?
                        }
                        GrantKey::Known(GrantField::ApprovedBy) => {
                            g.approved_by = map.next_value_seed(OptText(|x: &str| reader.get(x)))?
                        }
                        GrantKey::Known(GrantField::ValidFrom) => {
                            g.valid_from = map.next_value::<Option<TimeField>>()?.map(|t| t.0)
                        }
                        GrantKey::Known(GrantField::ExpiresAt) => {
                            g.expires_at = map.next_value::<Option<TimeField>>()?.map(|t| t.0)
                        }
                        GrantKey::Known(GrantField::RevokedAt) => {
                            g.revoked_at = map.next_value::<Option<TimeField>>()?.map(|t| t.0)
                        }
                        GrantKey::Other(other) => {
                            let v: Value = map.next_value_seed(Strict)?;
                            if g.extra.contains_key(&other) {
                                return Err(duplicate_key(&other));
                            }
                            if !v.is_null() {
                                g.extra.insert(other, v);
                            }
                        }
                    }
                }
                g.finish(reader).map_err(A::Error::missing_field)
            }
        }
        d.deserialize_map(V(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_grant_field_is_a_known_key_of_the_reader() {
        for (i, name) in GRANT_FIELDS.iter().enumerate() {
            let key: GrantKey = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(key.index(), Some(i), "{name}");
            assert_eq!(key.name(), *name);
        }
        for (i, name) in GRANT_FIELDS.iter().enumerate() {
            // The hand reader's keys: the name, then the key's closing quote.
            let field = grant_field(name).unwrap();
            assert_eq!(field.index(), i, "{name}");
            let at = grant_field_at(format!("{name}\": 1").as_bytes());
            assert_eq!(at, Some((field, name.len())), "{name}");
            assert_eq!(grant_field_at(format!("{name}x\"").as_bytes()), None);
            assert_eq!(grant_field_at(name.as_bytes()), None, "no quote after it");
        }
        for other in [
            "",
            "i",
            "ids",
            "Id",
            "principals",
            "class",
            "to_countryx",
            "pr",
            "rex",
        ] {
            assert_eq!(grant_field(other), None, "{other}");
            assert_eq!(grant_field_at(format!("{other}\"").as_bytes()), None);
        }
        let other: GrantKey = serde_json::from_str("\"ticket\"").unwrap();
        assert_eq!((other.index(), other.name()), (None, "ticket"));
    }
}
