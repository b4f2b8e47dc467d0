//! The schema: every request, region and grant field the language can read,
//! declared once: its path as a policy writes it, the IR field it loads, its
//! type, and the words a trace uses for it.
//!
//! The checker resolves paths here, the phrase writer takes its words from
//! here, the IR printer and the Rego exporter print paths from here, and the
//! grants reader takes its key names from here. Adding a field to [`Field`],
//! [`RegionField`] or [`GrantField`] breaks the exhaustive matches below
//! until the field is in the table (and a test checks that the table and
//! the matches agree).

use super::{Field, GrantField, RegionField};

/// What a field holds, as the checker types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    Str,
    /// A classification name (literals compared with it are checked).
    Class,
    /// A sensitivity (`low` … `critical`).
    Sensitivity,
    /// A residency profile.
    Profile,
    /// A residency profile's primary-copy rule.
    ProfilePrimary,
    /// A residency mode (`single_country` … `unrestricted`).
    Mode,
    /// A region status (`active` … `offline`).
    Status,
    /// An ISO 3166-1 alpha-2 country.
    Country,
    /// An instant.
    Time,
    /// `true` or `false`.
    Bool,
    /// A list of strings.
    List,
}

/// One field of the schema.
#[derive(Clone, Copy, Debug)]
pub struct Spec<F> {
    /// The path as a policy writes it (`resource.home_country`), or for a
    /// region or grant field its name (`country`, `to_country`).
    pub path: &'static str,
    /// The field the IR loads.
    pub field: F,
    /// Its type.
    pub ty: FieldType,
    /// The words a trace and an explanation use for it.
    pub words: &'static str,
    /// Whether a valid document always has it (contract.md).
    pub required: bool,
}

const fn spec<F>(path: &'static str, field: F, ty: FieldType, words: &'static str) -> Spec<F> {
    Spec {
        path,
        field,
        ty,
        words,
        required: false,
    }
}

impl<F: Copy> Spec<F> {
    /// The same, required.
    const fn required(self) -> Self {
        Spec {
            required: true,
            ..self
        }
    }
}

use FieldType as T;

/// The request's fields (contract.md, "Request"), and what the residency
/// profile and classification named by the request give.
pub const REQUEST: [Spec<Field>; 17] = [
    spec("action", Field::Action, T::Str, "the action").required(),
    spec("now", Field::Now, T::Time, "the time of the request"),
    spec("purpose", Field::Purpose, T::Str, "the request's purpose"),
    spec(
        "source_region",
        Field::SourceRegionId,
        T::Str,
        "the source region id",
    ),
    spec(
        "target_region",
        Field::TargetRegionId,
        T::Str,
        "the target region id",
    ),
    spec("principal.id", Field::PrincipalId, T::Str, "the principal"),
    spec(
        "principal.country",
        Field::PrincipalCountry,
        T::Country,
        "the principal's country",
    ),
    spec(
        "principal.roles",
        Field::PrincipalRoles,
        T::List,
        "the principal's roles",
    ),
    spec("resource.id", Field::ResourceId, T::Str, "the resource"),
    spec(
        "resource.classification",
        Field::Classification,
        T::Class,
        "the resource's classification",
    ),
    spec(
        "resource.classification.sensitivity",
        Field::Sensitivity,
        T::Sensitivity,
        "the sensitivity of the resource's classification",
    ),
    spec(
        "resource.residency",
        Field::Residency,
        T::Profile,
        "the resource's residency profile",
    ),
    spec(
        "resource.residency.primary",
        Field::Residency,
        T::ProfilePrimary,
        "the primary-copy rule of the resource's residency profile",
    ),
    spec(
        "resource.residency.mode",
        Field::ResidencyMode,
        T::Mode,
        "the mode of the resource's residency profile",
    ),
    spec(
        "resource.residency.country",
        Field::ResidencyCountry,
        T::Country,
        "the country of the resource's residency profile",
    ),
    spec(
        "resource.home_country",
        Field::HomeCountry,
        T::Country,
        "the home country of the resource's data subjects",
    ),
    spec(
        "resource.client_regions",
        Field::ClientRegions,
        T::List,
        "the regions the client chose",
    ),
];

/// A region's fields (contract.md, "Regions"), read as `source.…` and
/// `target.…`.
pub const REGION: [Spec<RegionField>; 8] = [
    spec("id", RegionField::Id, T::Str, "id").required(),
    spec("country", RegionField::Country, T::Country, "country").required(),
    spec("status", RegionField::Status, T::Status, "status"),
    spec("sovereign", RegionField::Sovereign, T::Bool, "sovereign"),
    spec("provider", RegionField::Provider, T::Str, "provider"),
    spec("location", RegionField::Location, T::Str, "location"),
    spec("zones", RegionField::Zones, T::List, "zones"),
    spec("partition", RegionField::Partition, T::Str, "partition"),
];

/// A grant's fields (contract.md, "Grants"), in the contract's order.
pub const GRANT: [Spec<GrantField>; 12] = [
    spec("id", GrantField::Id, T::Str, "id").required(),
    spec("principal", GrantField::Principal, T::Str, "principal").required(),
    spec("resource", GrantField::Resource, T::Str, "resource"),
    spec(
        "classifications",
        GrantField::Classifications,
        T::List,
        "classifications",
    ),
    spec(
        "to_country",
        GrantField::ToCountry,
        T::Country,
        "destination country",
    )
    .required(),
    spec("purpose", GrantField::Purpose, T::Str, "purpose"),
    spec("mechanism", GrantField::Mechanism, T::Str, "mechanism"),
    spec("requested_by", GrantField::RequestedBy, T::Str, "requester").required(),
    spec("approved_by", GrantField::ApprovedBy, T::Str, "approver"),
    spec("valid_from", GrantField::ValidFrom, T::Time, "valid from"),
    spec("expires_at", GrantField::ExpiresAt, T::Time, "expires at").required(),
    spec("revoked_at", GrantField::RevokedAt, T::Time, "revoked at"),
];

/// The names of a grant's fields, in the contract's order.
pub const GRANT_FIELDS: [&str; 12] = {
    let mut out = [""; 12];
    let mut i = 0;
    while i < GRANT.len() {
        #[expect(
            clippy::indexing_slicing,
            reason = "const evaluation over two arrays of the same length: an index out of range fails the build"
        )]
        {
            out[i] = GRANT[i].path;
        }
        i += 1;
    }
    out
};

/// The request field a path names (`resource.home_country`).
pub fn request(path: &str) -> Option<&'static Spec<Field>> {
    request_at(path.split('.'))
}

/// The request field a path names, by segments (`["resource",
/// "home_country"]`): what the checker resolves, without joining them.
pub fn request_at<'a, I>(segments: I) -> Option<&'static Spec<Field>>
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let segments = segments.into_iter();
    // The joined length first: most fields are told apart by it alone.
    let len = segments.clone().map(|s| s.len() + 1).sum::<usize>();
    REQUEST
        .iter()
        .find(|s| s.path.len() + 1 == len && dotted_eq(s.path, segments.clone()))
}

/// Whether `path` is `segments` joined by dots (segments hold no dot), as
/// `path.split('.').eq(segments)` but without splitting: the checker asks
/// this for every path of every rule.
fn dotted_eq<'a>(path: &str, segments: impl Iterator<Item = &'a str>) -> bool {
    let mut rest = path.as_bytes();
    let mut any = false;
    for seg in segments {
        if any {
            match rest.split_first() {
                Some((b'.', r)) => rest = r,
                _ => return false,
            }
        }
        any = true;
        // In line rather than `strip_prefix` (a `memcmp` call a segment).
        let seg = seg.as_bytes();
        if rest.len() < seg.len() || !rest.iter().zip(seg).all(|(a, b)| a == b) {
            return false;
        }
        rest = rest.get(seg.len()..).unwrap_or_default();
    }
    any && rest.is_empty()
}

/// The region field a name names (`country`).
pub fn region(name: &str) -> Option<&'static Spec<RegionField>> {
    REGION.iter().find(|s| s.path == name)
}

/// The grant field a name names (`to_country`).
pub fn grant(name: &str) -> Option<&'static Spec<GrantField>> {
    GRANT.iter().find(|s| s.path == name)
}

impl RegionField {
    /// Its entry in [`REGION`].
    pub fn spec(self) -> &'static Spec<RegionField> {
        match self {
            RegionField::Id => &REGION[0],
            RegionField::Country => &REGION[1],
            RegionField::Status => &REGION[2],
            RegionField::Sovereign => &REGION[3],
            RegionField::Provider => &REGION[4],
            RegionField::Location => &REGION[5],
            RegionField::Zones => &REGION[6],
            RegionField::Partition => &REGION[7],
        }
    }

    /// Its name (`country`).
    pub fn name(self) -> &'static str {
        self.spec().path
    }
}

impl GrantField {
    /// Its place in [`GRANT`] (and in [`GRANT_FIELDS`]).
    pub fn index(self) -> usize {
        match self {
            GrantField::Id => 0,
            GrantField::Principal => 1,
            GrantField::Resource => 2,
            GrantField::Classifications => 3,
            GrantField::ToCountry => 4,
            GrantField::Purpose => 5,
            GrantField::Mechanism => 6,
            GrantField::RequestedBy => 7,
            GrantField::ApprovedBy => 8,
            GrantField::ValidFrom => 9,
            GrantField::ExpiresAt => 10,
            GrantField::RevokedAt => 11,
        }
    }

    /// Its entry in [`GRANT`].
    pub fn spec(self) -> &'static Spec<GrantField> {
        // The table test checks that every index is in range and right.
        GRANT.get(self.index()).unwrap_or(&GRANT[0])
    }

    /// Its name (`to_country`).
    pub fn name(self) -> &'static str {
        self.spec().path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_eq_is_split_and_compare() {
        let paths = [
            "", "a", "ab", "a.b", "a.bc", "ab.c", "a.b.c", "a..b", ".a", "a.",
        ];
        let segs: [&[&str]; 10] = [
            &[],
            &[""],
            &["a"],
            &["ab"],
            &["a", "b"],
            &["a", "bc"],
            &["a", "b", "c"],
            &["a", "", "b"],
            &["", "a"],
            &["a", ""],
        ];
        for p in paths {
            for s in segs {
                assert_eq!(
                    dotted_eq(p, s.iter().copied()),
                    p.split('.').eq(s.iter().copied()),
                    "{p:?} {s:?}"
                );
            }
        }
    }

    #[test]
    fn the_tables_and_the_matches_agree() {
        for s in &REGION {
            assert_eq!(s.field.spec().path, s.path);
        }
        for (i, s) in GRANT.iter().enumerate() {
            assert_eq!(s.field.index(), i);
            assert_eq!(s.field.spec().path, s.path);
        }
        assert_eq!(GRANT_FIELDS[4], "to_country");
        for s in &REQUEST {
            assert_eq!(request(s.path).map(|x| x.path), Some(s.path));
        }
        // Every field of the request that has a path of its own is in the table.
        let mut paths: Vec<&str> = REQUEST.iter().map(|s| s.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), REQUEST.len(), "no path twice");
    }

    /// A request field is found by its segments and by nothing else: not
    /// by a prefix of them, one segment more, a segment a letter longer or
    /// shorter, or the same letters split elsewhere.
    #[test]
    fn a_request_field_is_found_by_its_segments_alone() {
        let find = |segs: &[String]| request_at(segs.iter().map(String::as_str)).map(|s| s.path);
        let known = |segs: &[String]| {
            REQUEST
                .iter()
                .find(|s| s.path == segs.join("."))
                .map(|s| s.path)
        };
        for s in &REQUEST {
            let segs: Vec<String> = s.path.split('.').map(str::to_string).collect();
            assert_eq!(find(&segs), Some(s.path));
            let mut variants = vec![
                segs[..segs.len() - 1].to_vec(),
                [&segs[..], &["x".to_string()]].concat(),
            ];
            for i in 0..segs.len() {
                let mut longer = segs.clone();
                longer[i].push('s');
                let mut shorter = segs.clone();
                shorter[i].pop();
                variants.extend([longer, shorter]);
            }
            let joined = segs.concat();
            variants.push(vec![joined[..1].to_string(), joined[1..].to_string()]);
            for v in variants {
                assert_eq!(find(&v), known(&v), "{v:?}");
            }
        }
        assert_eq!(find(&[]), None);
    }
}
