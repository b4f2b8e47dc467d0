//! Refreshing the region catalog from the providers' own listings.
//!
//! Input: a base catalog (a regions document: the bundled one by default)
//! and any of the providers' machine-readable listings: the AWS SDK's
//! partitions data (`partitions.json`, or botocore's `endpoints.json`), the
//! output of `az account list-locations`, and the output of
//! `gcloud compute regions list --format=json`. Output: the base catalog
//! with every listed region it lacked added (with its partition), every
//! region it had kept as it was (its partition filled in when missing), and
//! a report: what was added, and what could not be (a region whose country
//! the listing does not say and that the base catalog and `--country` do not
//! know is never guessed).
//!
//! Invariants: a region's country comes from the base catalog, an explicit
//! `--country ID=CC`, or the listing's own place names (a place the base
//! catalog already ties to a country, or a country's name), never from a
//! guess; the result is a valid regions document (unique ids, assigned
//! countries), sorted as the base was with new regions after it.

use crate::country::Country;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A provider's listing, by format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The AWS SDK's partitions data.
    Aws,
    /// `az account list-locations`.
    Azure,
    /// `gcloud compute regions list --format=json`.
    Gcp,
}

/// One region a listing names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    id: String,
    provider: &'static str,
    partition: String,
    /// Place names the listing gives, most specific first.
    places: Vec<String>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Regions added, `provider id (country)`.
    pub added: Vec<String>,
    /// Regions listed whose country is unknown: not added.
    pub unknown: Vec<String>,
    /// Regions of the base whose partition was filled in.
    pub partitioned: usize,
}

/// Country names that providers' listings use for places.
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("australia", "AU"),
    ("austria", "AT"),
    ("bahrain", "BH"),
    ("belgium", "BE"),
    ("brazil", "BR"),
    ("canada", "CA"),
    ("chile", "CL"),
    ("china", "CN"),
    ("denmark", "DK"),
    ("finland", "FI"),
    ("france", "FR"),
    ("germany", "DE"),
    ("greece", "GR"),
    ("hong kong", "HK"),
    ("india", "IN"),
    ("indonesia", "ID"),
    ("ireland", "IE"),
    ("israel", "IL"),
    ("italy", "IT"),
    ("japan", "JP"),
    ("korea", "KR"),
    ("malaysia", "MY"),
    ("mexico", "MX"),
    ("netherlands", "NL"),
    ("new zealand", "NZ"),
    ("norway", "NO"),
    ("poland", "PL"),
    ("qatar", "QA"),
    ("saudi arabia", "SA"),
    ("singapore", "SG"),
    ("south africa", "ZA"),
    ("spain", "ES"),
    ("sweden", "SE"),
    ("switzerland", "CH"),
    ("taiwan", "TW"),
    ("taipei", "TW"),
    ("thailand", "TH"),
    ("uae", "AE"),
    ("united arab emirates", "AE"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("united states", "US"),
    ("us", "US"),
    ("govcloud", "US"),
];

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The regions a listing names.
fn listed(kind: Listing, doc: &Value) -> Result<Vec<Listed>, String> {
    let mut out = Vec::new();
    match kind {
        Listing::Aws => {
            let parts = doc
                .get("partitions")
                .and_then(Value::as_array)
                .ok_or("an AWS partitions listing has a `partitions` array")?;
            for p in parts {
                let name = text(p, "id")
                    .or_else(|| text(p, "partition"))
                    .ok_or("each AWS partition has an `id` (or `partition`)")?;
                let Some(regions) = p.get("regions").and_then(Value::as_object) else {
                    continue;
                };
                for (id, r) in regions {
                    // `US East (N. Virginia)`: the place, then the area.
                    let d = text(r, "description").unwrap_or_default();
                    let mut places = Vec::new();
                    if let Some((area, rest)) = d.split_once('(') {
                        places.push(rest.trim_end_matches(')').trim().to_string());
                        places.push(area.trim().to_string());
                    } else if !d.is_empty() {
                        places.push(d);
                    }
                    out.push(Listed {
                        id: id.clone(),
                        provider: "aws",
                        partition: name.clone(),
                        places,
                    });
                }
            }
        }
        Listing::Azure => {
            let items = doc
                .as_array()
                .ok_or("`az account list-locations` writes an array of locations")?;
            for l in items {
                let id = text(l, "name").ok_or("each Azure location has a `name`")?;
                let meta = l.get("metadata");
                // Logical locations (`global`, `europe`) hold no data.
                if meta
                    .and_then(|m| text(m, "regionType"))
                    .is_some_and(|t| t != "Physical")
                {
                    continue;
                }
                let places = ["physicalLocation", "geography"]
                    .iter()
                    .filter_map(|k| meta.and_then(|m| text(m, k)))
                    .collect();
                let partition = if id.starts_with("china") {
                    "azure-china"
                } else if id.starts_with("usgov") || id.starts_with("usdod") {
                    "azure-us-gov"
                } else {
                    "azure"
                };
                out.push(Listed {
                    id,
                    provider: "azure",
                    partition: partition.into(),
                    places,
                });
            }
        }
        Listing::Gcp => {
            let items = doc
                .as_array()
                .ok_or("`gcloud compute regions list --format=json` writes an array of regions")?;
            for r in items {
                let id = text(r, "name").ok_or("each GCP region has a `name`")?;
                out.push(Listed {
                    id,
                    provider: "gcp",
                    partition: "gcp".into(),
                    places: Vec::new(),
                });
            }
        }
    }
    Ok(out)
}

/// The country a place name stands for: a place the base catalog already
/// ties to one country, or a country's name.
fn country_of(place: &str, known: &BTreeMap<String, Option<Country>>) -> Option<Country> {
    let p = place.trim().to_lowercase();
    if let Some(Some(c)) = known.get(&p) {
        return Some(*c);
    }
    COUNTRY_NAMES
        .iter()
        .find(|(name, _)| p == *name || p.starts_with(&format!("{name} ")))
        .and_then(|(_, code)| Country::parse(code))
}

/// Merges listings into a base catalog (a regions document as JSON).
/// `countries` gives the country of regions a listing cannot place.
pub fn import(
    base: &Value,
    listings: &[(Listing, Value)],
    countries: &BTreeMap<String, Country>,
) -> Result<(Value, Report), String> {
    let mut regions: Vec<Map<String, Value>> = base
        .get("regions")
        .and_then(Value::as_array)
        .ok_or("the base catalog is a regions document (`{\"regions\": [...]}`)")?
        .iter()
        .filter_map(|r| r.as_object().cloned())
        .collect();
    // Places the base ties to one country (a place in two countries is not used).
    let mut known: BTreeMap<String, Option<Country>> = BTreeMap::new();
    for r in &regions {
        let (Some(loc), Some(c)) = (
            r.get("location").and_then(Value::as_str),
            r.get("country")
                .and_then(Value::as_str)
                .and_then(Country::parse),
        ) else {
            continue;
        };
        let slot = known.entry(loc.to_lowercase()).or_insert(Some(c));
        if *slot != Some(c) {
            *slot = None;
        }
    }
    let mut report = Report::default();
    for (kind, doc) in listings {
        for l in listed(*kind, doc)? {
            if let Some(r) = regions
                .iter_mut()
                .find(|r| r.get("id").and_then(Value::as_str) == Some(&l.id))
            {
                if r.get("partition").is_none_or(Value::is_null) {
                    r.insert("partition".into(), json!(l.partition));
                    report.partitioned += 1;
                }
                continue;
            }
            let country = countries
                .get(&l.id)
                .copied()
                .or_else(|| l.places.iter().find_map(|p| country_of(p, &known)));
            let Some(country) = country.filter(|c| c.is_assigned()) else {
                report.unknown.push(format!("{} {}", l.provider, l.id));
                continue;
            };
            let mut r = Map::new();
            r.insert("id".into(), json!(l.id));
            r.insert("provider".into(), json!(l.provider));
            r.insert("partition".into(), json!(l.partition));
            r.insert("country".into(), json!(country.to_string()));
            if let Some(place) = l.places.first() {
                r.insert("location".into(), json!(place));
            }
            if l.partition == "aws-eusc" {
                r.insert("sovereign".into(), json!(true));
            }
            report
                .added
                .push(format!("{} {} ({country})", l.provider, l.id));
            regions.push(r);
        }
    }
    let doc = json!({ "regions": regions });
    // The result must read as a regions document.
    crate::documents::Regions::from_json(&doc.to_string()).map_err(|e| e.to_string())?;
    Ok((doc, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"regions": [
            {"id": "eu-central-1", "provider": "aws", "country": "DE", "location": "Frankfurt"},
            {"id": "us-central1", "provider": "gcp", "country": "US", "location": "Iowa"}
        ]})
    }

    #[test]
    fn listed_regions_are_added_with_their_partition_and_never_guessed() {
        let aws = json!({"partitions": [
            {"id": "aws", "regions": {
                "eu-central-1": {"description": "Europe (Frankfurt)"},
                "ap-east-2": {"description": "Asia Pacific (Taipei)"},
                "mx-central-1": {"description": "Mexico (Central)"}}},
            {"id": "aws-eusc", "regions": {
                "eusc-de-east-1": {"description": "EU (Germany)"}}}
        ]});
        let azure = json!([
            {"name": "denmarkeast", "metadata": {"regionType": "Physical", "physicalLocation": "Copenhagen", "geography": "Denmark"}},
            {"name": "europe", "metadata": {"regionType": "Logical"}}
        ]);
        let gcp = json!([{"name": "us-central1"}, {"name": "europe-north2"}, {"name": "asia-southeast3"}]);
        let mut countries = BTreeMap::new();
        countries.insert("europe-north2".to_string(), Country::parse("SE").unwrap());
        let (doc, report) = import(
            &base(),
            &[
                (Listing::Aws, aws),
                (Listing::Azure, azure),
                (Listing::Gcp, gcp),
            ],
            &countries,
        )
        .unwrap();
        assert_eq!(
            report.added,
            [
                "aws ap-east-2 (TW)",
                "aws mx-central-1 (MX)",
                "aws eusc-de-east-1 (DE)",
                "azure denmarkeast (DK)",
                "gcp europe-north2 (SE)"
            ]
        );
        // GCP's listing names no place: without `--country` it is not added.
        assert_eq!(report.unknown, ["gcp asia-southeast3"]);
        assert_eq!(report.partitioned, 2);
        let regions = crate::documents::Regions::from_json(&doc.to_string()).unwrap();
        let eusc = regions.get("eusc-de-east-1").unwrap();
        assert!(eusc.sovereign);
        assert_eq!(eusc.partition.as_deref(), Some("aws-eusc"));
        assert_eq!(
            regions.get("eu-central-1").unwrap().partition.as_deref(),
            Some("aws")
        );
    }

    #[test]
    fn a_listing_of_another_shape_is_an_error_that_says_what_was_expected() {
        let e = import(
            &base(),
            &[(Listing::Azure, json!({"x": 1}))],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.contains("az account list-locations"), "{e}");
        let e = import(&json!([]), &[], &BTreeMap::new()).unwrap_err();
        assert!(e.contains("regions document"), "{e}");
    }
}
