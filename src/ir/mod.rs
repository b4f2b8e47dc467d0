//! The decision IR: a compiled policy set as flat, indexed tables.
//!
//! Input: built by [`crate::check`] from checked syntax. Output: a
//! [`Program`] that [`crate::eval`] runs, that prints for a person
//! ([`Program::render`]) and that serialises (serde) and hashes
//! ([`Program::hash`]). Invariants:
//! - every name is resolved: nodes refer to sets, classifications, profiles and
//!   strings by index, never by name;
//! - expressions are an arena (`nodes`), children are [`NodeId`]s, and every
//!   child index is smaller than its parent's, so evaluation is a bounded walk;
//! - `by_action[i]` lists exactly the rules that can apply to action
//!   `actions[i]`; the last entry lists those that apply to any other action;
//! - the canonical form is the serde JSON of this struct (what a decision log
//!   stores); the policy hash is the sha256 of the canonical form of its
//!   *logic*: the program with its debug info blanked (file names, rule and
//!   condition locations, conditions as written and in words). So it is the
//!   same on every run and machine, moving the policy folder or rewording a
//!   trace phrase does not change it, and changing what a decision can say
//!   (a rule id, a message, an obligation, a citation) does.

use crate::country::{Country, CountrySet};
use crate::vocab::{CmpOp, Effect, IsWhat};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod render;
pub mod schema;
mod validate;

/// An expression node: an index into [`Program::nodes`].
pub type NodeId = u32;
/// An interned string: an index into [`Program::symbols`].
pub type Sym = u32;

/// The version of the stored form of a [`Program`]; a program of another
/// version is refused when read (see [`Program::from_json`]).
pub const FORMAT: u32 = 1;

/// How deep an expression may nest: the checker refuses deeper policies, and
/// a stored program deeper than this is refused when read, so evaluating
/// (which recurses) never runs out of stack.
pub const MAX_DEPTH: usize = 256;

/// A compiled policy set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Program {
    /// The stored form's version ([`FORMAT`]); programs stored before it
    /// was recorded read as 0, the same layout.
    #[serde(default)]
    pub format: u32,
    /// Debug info (not hashed): the policy files, root-relative, by index.
    pub files: Vec<String>,
    /// Every string the logic compares with, interned: [`Sym`]s index it.
    pub symbols: Vec<String>,
    /// Named and inline sets.
    pub sets: Vec<SetDef>,
    /// The declared classifications.
    pub classifications: Vec<ClassDef>,
    /// The declared residency profiles.
    pub profiles: Vec<ProfileDef>,
    /// The expression arena: children come before their parents.
    pub nodes: Vec<Node>,
    /// Children of `And` and `Or` nodes.
    pub args: Vec<NodeId>,
    /// What the trace shows for each condition.
    pub atoms: Vec<Atom>,
    /// Request and grant fields outside the schema, by path.
    pub extras: Vec<ExtraPath>,
    /// The fields the policies declare (`field resource.home_region:
    /// subdivision`): a request or region whose value has another type is
    /// refused (an input error, or a deny saying why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDecl>,
    /// How long grants may last (`grants of identity last at most 90d`): a
    /// grant that lasts longer never counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_bounds: Vec<GrantBound>,
    /// Roles an approver must hold (`grants of identity need approver role
    /// dpo`): the state workflow's rule for approving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approver_roles: Vec<ApproverRole>,
    /// Rule messages, as text and the values put in.
    pub messages: Vec<Vec<MessagePart>>,
    /// The rules, in declaration order (reasons are reported in this order).
    pub rules: Vec<RuleDef>,
    /// Every action a rule names, sorted by text.
    pub actions: Vec<Sym>,
    /// The assertions the policy files make about themselves (`assert
    /// NAME: never allow when C`): claims `sovra test` and `sovra verify`
    /// prove, never part of a decision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<AssertionDef>,
    /// Per action (and one last entry for any other action), the rules it can reach.
    pub by_action: Vec<ActionRules>,
}

/// A set the policies declare or write inline.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SetDef {
    /// Qualified name (`geo.EEA`), or the written text for an inline set.
    pub name: String,
    /// Its members.
    pub value: SetValue,
}

/// What a set holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum SetValue {
    /// Countries.
    Countries(CountrySet),
    /// Sorted by text, no duplicates.
    Strings(Vec<Sym>),
}

/// A declared classification.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassDef {
    /// Its name.
    pub name: Sym,
    /// Its sensitivity (`low` … `critical`).
    pub sensitivity: Sym,
}

/// How a residency profile constrains where data may be.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    /// One country.
    SingleCountry,
    /// A set of countries (the EEA).
    Regional,
    /// One country, in regions marked sovereign.
    Sovereign,
    /// The primary copy in one country, replicas in a wider set.
    Hybrid,
    /// The regions the client chose.
    ClientOwned,
    /// Anywhere.
    Unrestricted,
}

impl ModeKind {
    /// The mode as a policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ModeKind::SingleCountry => "single_country",
            ModeKind::Regional => "regional",
            ModeKind::Sovereign => "sovereign",
            ModeKind::Hybrid => "hybrid",
            ModeKind::ClientOwned => "client_owned",
            ModeKind::Unrestricted => "unrestricted",
        }
    }
    /// Every mode as a policy writes it.
    pub const ALL: [&'static str; 6] = [
        "single_country",
        "regional",
        "sovereign",
        "hybrid",
        "client_owned",
        "unrestricted",
    ];
}

/// A residency profile: where the primary copy may be, and where any copy may be.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProfileDef {
    /// Its name.
    pub name: Sym,
    /// Its mode.
    pub mode: ModeKind,
    /// Countries allowed for the primary copy.
    pub primary: CountrySet,
    /// Countries allowed for any copy (a superset of `primary`).
    pub any: CountrySet,
    /// The profile's country, for single-country, sovereign and hybrid profiles.
    pub country: Option<Country>,
    /// Regions must be marked sovereign.
    pub sovereign: bool,
    /// Written in a rule (`target satisfies sovereign(DE)`), not declared:
    /// no request names it as its residency.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
}

/// A constant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Const {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string, interned.
    Str(Sym),
    /// A country.
    Country(Country),
    /// An instant.
    Time(DateTime<Utc>),
    /// Seconds.
    Duration(i64),
    /// A set, by index into [`Program::sets`].
    Set(u32),
    /// A residency profile, by index into [`Program::profiles`]
    /// (`target satisfies de-only`, or a mode written in a rule).
    Profile(u32),
}

/// Which region of the request.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Which {
    /// `source`: where the data is.
    Source,
    /// `target`: where it would go.
    Target,
}

/// A field of a region (the schema: [`schema::REGION`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum RegionField {
    /// `id`
    Id,
    /// `country`
    Country,
    /// `status`
    Status,
    /// `sovereign`
    Sovereign,
    /// `provider`
    Provider,
    /// `location`
    Location,
    /// `zones`
    Zones,
    /// `partition`: the provider's partition (`aws`, `aws-cn`, `aws-eusc`, …).
    Partition,
}

/// A field of a grant (the schema: [`schema::GRANT`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum GrantField {
    /// `id`
    Id,
    /// `principal`
    Principal,
    /// `resource`
    Resource,
    /// `classifications`
    Classifications,
    /// `to_country`
    ToCountry,
    /// `purpose`
    Purpose,
    /// `mechanism`
    Mechanism,
    /// `requested_by`
    RequestedBy,
    /// `approved_by`
    ApprovedBy,
    /// `valid_from`
    ValidFrom,
    /// `expires_at`
    ExpiresAt,
    /// `revoked_at`
    RevokedAt,
}

/// A value read from the request, its regions or the grant in scope.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Field {
    /// `action`
    Action,
    /// `now`: the decision's instant.
    Now,
    /// `purpose`
    Purpose,
    /// `source_region`: the id as the request gives it.
    SourceRegionId,
    /// `target_region`: the id as the request gives it.
    TargetRegionId,
    /// `principal.id`
    PrincipalId,
    /// `principal.country`
    PrincipalCountry,
    /// `principal.roles`
    PrincipalRoles,
    /// `resource.id`
    ResourceId,
    /// `resource.classification`
    Classification,
    /// `resource.classification.sensitivity`
    Sensitivity,
    /// `resource.residency`
    Residency,
    /// `resource.residency.mode`
    ResidencyMode,
    /// `resource.residency.country`
    ResidencyCountry,
    /// `resource.home_country`
    HomeCountry,
    /// `resource.client_regions`
    ClientRegions,
    /// The region record itself (for `satisfies` and `is present`).
    Region(Which),
    /// A field of the source or target region.
    RegionField(Which, RegionField),
    /// A field of the grant in scope (inside `exists grant`).
    Grant(GrantField),
    /// An extra field of the request or grant, by index into [`Program::extras`].
    Extra(u32),
}

/// Where a field outside the schema is read from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum ExtraRoot {
    /// `request.…`
    Request,
    /// `principal.…`
    Principal,
    /// `resource.…`
    Resource,
    /// The grant in scope: `g.…`.
    Grant,
    /// An attribute of the source region: `source.…`.
    Source,
    /// An attribute of the target region: `target.…`.
    Target,
}

/// A bound on how long grants may last.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantBound {
    /// The classification it bounds (`None`: every grant).
    pub classification: Option<Sym>,
    /// The longest a grant may last, from `valid_from` to `expires_at`, in seconds.
    pub seconds: i64,
}

/// A role an approver must hold.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApproverRole {
    /// The classification whose grants it concerns (`None`: every grant).
    pub classification: Option<Sym>,
    /// The role.
    pub role: Sym,
}

impl Program {
    /// The roles an approver of a grant covering these classifications must
    /// hold (all of them).
    pub fn approver_roles<'a>(
        &self,
        classifications: impl Iterator<Item = &'a str> + Clone,
    ) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.approver_roles {
            let applies = match r.classification {
                None => true,
                Some(c) => classifications.clone().any(|x| x == self.sym(c)),
            };
            let role = self.sym(r.role);
            if applies && !out.contains(&role) {
                out.push(role);
            }
        }
        out
    }

    /// The longest a grant covering these classifications may last: the
    /// least of the bounds that apply (`None`: unbounded).
    #[inline]
    pub fn grant_bound<'a>(
        &self,
        classifications: impl Iterator<Item = &'a str> + Clone,
    ) -> Option<i64> {
        self.grant_bounds
            .iter()
            .filter(|b| match b.classification {
                None => true,
                Some(c) => classifications.clone().any(|x| x == self.sym(c)),
            })
            .map(|b| b.seconds)
            .min()
    }
}

/// The type of a declared field.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Text.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An ISO 3166-1 alpha-2 country code.
    Country,
    /// An ISO 3166-2 subdivision code (`US-CA`).
    Subdivision,
    /// An RFC 3339 time.
    Time,
}

impl ValueType {
    /// Every type by the name a declaration gives it.
    pub const ALL: [(&'static str, ValueType); 6] = [
        ("string", ValueType::String),
        ("number", ValueType::Number),
        ("boolean", ValueType::Boolean),
        ("country", ValueType::Country),
        ("subdivision", ValueType::Subdivision),
        ("time", ValueType::Time),
    ];

    /// The type as a declaration writes it.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("", |(n, _)| n)
    }
}

/// A declared field: where it is read, and its type.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldDecl {
    /// The field (for regions: `Source`'s root stands for both regions).
    pub at: ExtraPath,
    /// Its type, or its members' type for a list.
    pub ty: ValueType,
    /// A list of `ty`.
    pub list: bool,
}

impl ExtraRoot {
    /// The first word of its paths (`grant` for the grant in scope).
    pub fn name(self) -> &'static str {
        match self {
            ExtraRoot::Request => "request",
            ExtraRoot::Principal => "principal",
            ExtraRoot::Resource => "resource",
            ExtraRoot::Grant => "grant",
            ExtraRoot::Source => "source",
            ExtraRoot::Target => "target",
        }
    }
}

/// A field outside the schema.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct ExtraPath {
    /// What it is read from.
    pub root: ExtraRoot,
    /// The keys below it.
    pub path: Vec<String>,
}

/// `+` or `-` (on times and durations).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
}

/// One expression node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Node {
    /// A constant.
    Const(Const),
    /// A field's value.
    Load(Field),
    /// Negation; `atom` is set when the operand is a single condition, so the
    /// trace can show the negated condition as one line.
    Not {
        /// The negated condition.
        expr: NodeId,
        /// The condition the trace shows, when the operand is one.
        atom: Option<u32>,
    },
    /// All of the conditions `args[start..start + len]`.
    And {
        /// The first child in [`Program::args`].
        start: u32,
        /// How many children.
        len: u32,
    },
    /// Any of the conditions `args[start..start + len]`.
    Or {
        /// The first child in [`Program::args`].
        start: u32,
        /// How many children.
        len: u32,
    },
    /// A comparison.
    Cmp {
        /// The operator.
        op: CmpOp,
        /// The left operand.
        lhs: NodeId,
        /// The right operand.
        rhs: NodeId,
        /// The condition the trace shows.
        atom: u32,
    },
    /// An `is` test.
    Is {
        /// What it asks.
        what: IsWhat,
        /// `is not`.
        negated: bool,
        /// The value tested.
        expr: NodeId,
        /// The condition the trace shows.
        atom: u32,
    },
    /// `region satisfies profile` (`primary_only` for `profile.primary`).
    Satisfies {
        /// The region.
        region: NodeId,
        /// The residency profile.
        profile: NodeId,
        /// Only the primary copy's rule (`profile.primary`).
        primary_only: bool,
        /// The condition the trace shows.
        atom: u32,
    },
    /// Time arithmetic.
    Arith {
        /// The operator.
        op: Arith,
        /// The left operand.
        lhs: NodeId,
        /// The right operand.
        rhs: NodeId,
    },
    /// The country of a subdivision (`resource.home_region.country`).
    CountryOf {
        /// The subdivision.
        expr: NodeId,
    },
    /// The length of a list (`count(principal.roles)`): a number.
    Count {
        /// The list.
        expr: NodeId,
    },
    /// A named condition (`recent(g)`), its body expanded in place: the
    /// trace shows it by name after its parts.
    Named {
        /// The body.
        expr: NodeId,
        /// The condition the trace shows.
        atom: u32,
    },
    /// `region satisfies single_country(x)` or `sovereign(x)` with a
    /// country read from the request: the region is in that country (and
    /// marked sovereign).
    InCountry {
        /// The region.
        region: NodeId,
        /// The country.
        country: NodeId,
        /// The region must be marked sovereign.
        sovereign: bool,
        /// The condition the trace shows.
        atom: u32,
    },
    /// `exists grant g where cond`: over the request principal's grants.
    Exists {
        /// What the grant must also satisfy (`where …`).
        cond: Option<NodeId>,
        /// The condition the trace shows.
        atom: u32,
    },
}

/// A condition as the trace shows it: its text, where it is, and the text of
/// each operand that is not a constant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Atom {
    /// Debug info (not hashed): the condition as written.
    pub text: String,
    /// The condition in plain words, for readers who do not know the language.
    pub phrase: String,
    /// Debug info (not hashed): `file:line:column`.
    pub location: String,
    /// Debug info (not hashed): each operand as written, when it is not a constant (the keys of the trace's `values`).
    pub operands: [Option<String>; 2],
}

/// A piece of a rule's message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum MessagePart {
    /// Text as written.
    Text(String),
    /// A value put in.
    Value {
        /// The node read.
        node: NodeId,
        /// The text as written (shown when the value is missing).
        text: String,
    },
}

/// An assertion a policy file makes: no request satisfying `cond` is
/// allowed (`always`: every one is).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AssertionDef {
    /// Qualified name: `package.assertion`.
    pub id: String,
    /// `always allow` (else `never allow`).
    pub always: bool,
    /// `under any grants`: whatever grants exist.
    pub any_grants: bool,
    /// Its condition.
    pub cond: NodeId,
    /// Debug info (not hashed): `file:line:column`.
    pub location: String,
}

/// A rule: its effect, condition, message and obligations.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleDef {
    /// Qualified name: `package.rule`.
    pub id: String,
    /// Permit or forbid.
    pub effect: Effect,
    /// Its condition (`None`: always).
    pub cond: Option<NodeId>,
    /// Its message, by index into [`Program::messages`].
    pub message: Option<u32>,
    /// What the caller must do when it permits.
    pub obligations: Vec<Sym>,
    /// Debug info (not hashed): `file:line:column`, as decisions report it.
    pub location: String,
    /// The actions this rule can apply to; `None` means any action.
    pub actions: Option<Vec<Sym>>,
    /// The law or clause it implements (`cites "…"`), for reports.
    #[serde(default)]
    pub cites: Option<String>,
}

/// The rules one action can reach.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ActionRules {
    /// Rules visited for every request with this action.
    pub forbids: Vec<u32>,
    /// Permits visited for every request with this action.
    pub permits: Vec<u32>,
    /// Rules that also require one request field to equal one of a few
    /// values (`resource.id == "ds-7"`), grouped by that field and value: a
    /// request visits only the group of its own value.
    pub keyed: Vec<KeyedRules>,
}

/// The rules keyed on one field.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyedRules {
    /// The field.
    pub field: Field,
    /// Sorted by value.
    pub values: Vec<KeyedEntry>,
}

/// The rules that require one value of the field.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyedEntry {
    /// The value, as text.
    pub value: String,
    /// Forbids that require it.
    pub forbids: Vec<u32>,
    /// Permits that require it.
    pub permits: Vec<u32>,
}

impl Program {
    /// The text of an interned string (`""` for an index out of range).
    pub fn sym(&self, s: Sym) -> &str {
        self.symbols.get(s as usize).map_or("", String::as_str)
    }

    /// The canonical form: compact JSON of the whole program.
    pub fn canonical(&self) -> Vec<u8> {
        #[cfg_attr(
            not(test),
            expect(
                clippy::expect_used,
                reason = "a Program is plain data with string keys and finite numbers: serialising it cannot fail, and hashing an empty string instead would hide it"
            )
        )]
        serde_json::to_vec(self).expect("a Program always serialises")
    }

    /// The policy hash: `sha256:<hex>` of the canonical form of
    /// [`Program::logic`].
    pub fn hash(&self) -> String {
        sha256_hex(&self.logic().canonical())
    }

    /// The program without its debug info: no file names, locations,
    /// conditions as written or phrases. What it decides, and every text a
    /// decision returns but its rules' locations, are the same.
    pub fn logic(&self) -> Program {
        let mut p = self.clone();
        p.files.clear();
        for r in &mut p.rules {
            r.location.clear();
        }
        for a in &mut p.assertions {
            a.location.clear();
        }
        for a in &mut p.atoms {
            a.text.clear();
            a.phrase.clear();
            a.location.clear();
            a.operands = [None, None];
        }
        p
    }

    /// Reads a stored program (its canonical JSON) and validates it: a
    /// program from a log or a file is never run unchecked.
    pub fn from_json(bytes: &[u8]) -> Result<Program, String> {
        let p: Program = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// The index entry for an action symbol (`None`: an action no rule names).
    pub fn rules_for(&self, action: Option<usize>) -> &ActionRules {
        static EMPTY: ActionRules = ActionRules {
            forbids: Vec::new(),
            permits: Vec::new(),
            keyed: Vec::new(),
        };
        let i = action.unwrap_or(self.actions.len());
        self.by_action.get(i).unwrap_or(&EMPTY)
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_digest(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of a finished digest.
pub fn hex_digest(digest: &[u8]) -> String {
    let mut out = Vec::with_capacity(7 + 2 * digest.len());
    hex_digest_into(digest, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`hex_digest`] appended to `out`.
pub fn hex_digest_into(digest: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"sha256:");
    let hex = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
    // A sha256 digest's 64 digits written at once (a push each checked
    // the room 64 times per decision document), eight at a time from four
    // bytes: each nibble moved to a byte of its own, then `0`-`9` or `a`-`f`
    // added to all eight at once (no table, no branch).
    if let Ok(digest) = <&[u8; 32]>::try_from(digest) {
        const LANES: u64 = 0x0101_0101_0101_0101;
        let mut digits = [0u8; 64];
        for (eight, four) in digits.chunks_exact_mut(8).zip(digest.chunks_exact(4)) {
            let mut b = [0u8; 4];
            b.copy_from_slice(four);
            // Byte i of `four` in the low byte of the 16 bits from 16 i.
            let mut v = u64::from(u32::from_le_bytes(b));
            v = (v | v << 16) & 0x0000_FFFF_0000_FFFF;
            v = (v | v << 8) & 0x00FF_00FF_00FF_00FF;
            // Its high nibble in byte 2 i, its low nibble in byte 2 i + 1.
            let n = (v >> 4) & 0x000F_000F_000F_000F | (v & 0x000F_000F_000F_000F) << 8;
            let letters = ((n + 6 * LANES) & (0x10 * LANES)) >> 4;
            let ascii = n + b'0' as u64 * LANES + letters * (b'a' - b'0' - 10) as u64;
            eight.copy_from_slice(&ascii.to_le_bytes());
        }
        out.extend_from_slice(&digits);
        return;
    }
    for b in digest {
        out.extend_from_slice(&[hex(b >> 4), hex(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_written_in_lowercase_hex() {
        use sha2::Digest;
        let abc = sha2::Sha256::digest(b"abc");
        assert_eq!(
            super::hex_digest(&abc),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(super::hex_digest(&[0x00, 0xff, 0x1a]), "sha256:00ff1a");
        let mut out = b"x".to_vec();
        super::hex_digest_into(&abc, &mut out);
        assert_eq!(&out[..12], b"xsha256:ba78");
    }

    #[test]
    fn every_byte_of_a_digest_is_written_as_format_writes_it() {
        for start in (0..=255u8).step_by(32) {
            let digest: Vec<u8> = (start..=start + 31).rev().collect();
            let want: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            let mut out = Vec::new();
            super::hex_digest_into(&digest, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("sha256:{want}"));
        }
    }
}
