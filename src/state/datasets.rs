//! Datasets, classified when they are registered: a request may then name
//! only `resource.id`, and the registry fills in the rest.

use super::*;
use crate::documents::Request;
use serde::Deserialize;

/// A registered dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Its id (a request's `resource.id`).
    pub id: String,
    /// Its classification (declared by the policies).
    pub classification: String,
    /// Its residency profile (declared by the policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residency: Option<String>,
    /// The country of its data subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_country: Option<String>,
    /// The regions its client chose (client-owned residency).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_regions: Vec<String>,
    /// Who answers for it.
    pub owner: String,
    /// The regions its copies are in.
    #[serde(default)]
    pub placements: Vec<String>,
}

impl Store {
    /// Registers a dataset (its classification and profile checked by the
    /// caller against the policy; its regions against the store's).
    pub fn register_dataset(&mut self, d: &Dataset, who: &str, now: DateTime<Utc>) -> R<i64> {
        if d.id.trim().is_empty() {
            return Err(StateError::Refused("id: a dataset needs an id".into()));
        }
        if let Some(c) = &d.home_country {
            crate::country::Country::parse_assigned(c)
                .map_err(|e| StateError::Refused(format!("home_country: {e}")))?;
        }
        let body = serde_json::to_value(d).map_err(|e| StateError::Refused(e.to_string()))?;
        self.db.write(|tx| {
            for r in d.placements.iter().chain(&d.client_regions) {
                known_region(tx, r)?;
            }
            let exists = tx.int(
                "SELECT COUNT(*) FROM datasets WHERE id = $1",
                &[(&d.id).into()],
            )?;
            if exists > 0 {
                return Err(StateError::Refused(format!(
                    "dataset `{}` is registered already: change its placements, or register it under another id",
                    d.id
                )));
            }
            tx.exec(
                "INSERT INTO datasets (id, body) VALUES ($1, $2)",
                &[(&d.id).into(), Arg::Text(&body.to_string())],
            )?;
            append(
                tx,
                now,
                who,
                "dataset.register",
                &d.id,
                None,
                None,
                Some(body),
            )
        })
    }

    /// Records where a dataset's copies are now, saying why.
    pub fn set_placements(
        &mut self,
        id: &str,
        placements: &[String],
        why: Option<&str>,
        who: &str,
        now: DateTime<Utc>,
    ) -> R<i64> {
        self.db.write(|tx| {
            for r in placements {
                known_region(tx, r)?;
            }
            set_field(
                tx,
                Table::Datasets,
                id,
                ("placements", json!(placements)),
                ("dataset.placements", why, who, now),
            )
        })
    }

    /// The registered datasets, oldest first; only those of a
    /// classification when given.
    pub fn datasets(&mut self, classification: Option<&str>) -> R<Vec<Dataset>> {
        let list = self.db.read(all)?;
        Ok(list
            .into_iter()
            .filter(|d| classification.is_none_or(|c| c == d.classification))
            .collect())
    }
}

/// Every registered dataset, oldest first.
pub(super) fn all(tx: &mut Tx<'_>) -> R<Vec<Dataset>> {
    let mut out = Vec::new();
    for row in tx.rows("SELECT id, body FROM datasets ORDER BY rowid", &[])? {
        let id = row.text(0)?;
        let d: Dataset = serde_json::from_str(&row.text(1)?).map_err(|e| StateError::Corrupt {
            what: format!("dataset {id}"),
            why: e.to_string(),
        })?;
        out.push(d);
    }
    Ok(out)
}

fn known_region(tx: &mut Tx<'_>, id: &str) -> R<()> {
    let n = tx.int("SELECT COUNT(*) FROM regions WHERE id = $1", &[id.into()])?;
    if n == 0 {
        return Err(StateError::Refused(format!(
            "`{id}` is not a region of the store's catalog"
        )));
    }
    Ok(())
}

/// Fills a request's resource from the registry: a request that names only
/// `resource.id` gets the registered classification, residency, home country
/// and client regions; one that gives a field the registry contradicts is an
/// input error naming the field. A dataset the registry does not know is
/// left as the request gives it.
pub fn fill(req: &mut Request, datasets: &[Dataset]) -> Result<(), (String, String)> {
    let Some(id) = req.resource.id.clone() else {
        return Ok(());
    };
    let Some(d) = datasets.iter().find(|d| d.id == id) else {
        return Ok(());
    };
    let clash = |field: &str, given: &str, registered: &str| {
        (
            format!("resource.{field}"),
            format!(
                "resource.{field}: the request says `{given}`, but dataset `{id}` is registered with `{registered}`"
            ),
        )
    };
    let r = &mut req.resource;
    match &r.classification {
        None => r.classification = Some(d.classification.clone().into()),
        Some(c) if *c != d.classification => {
            return Err(clash("classification", c, &d.classification))
        }
        Some(_) => {}
    }
    match (&r.residency, &d.residency) {
        (None, reg) => r.residency = reg.clone().map(Into::into),
        (Some(p), Some(reg)) if p != reg => return Err(clash("residency", p, reg)),
        _ => {}
    }
    let registered_home = d
        .home_country
        .as_deref()
        .and_then(crate::country::Country::parse);
    match (r.home_country, registered_home) {
        (None, reg) => r.home_country = reg,
        (Some(c), Some(reg)) if c != reg => {
            return Err(clash("home_country", &c.to_string(), &reg.to_string()))
        }
        _ => {}
    }
    if r.client_regions.is_empty() {
        r.client_regions = d.client_regions.iter().cloned().map(Into::into).collect();
    } else if !d.client_regions.is_empty() && r.client_regions != d.client_regions {
        return Err(clash(
            "client_regions",
            &r.client_regions.join(", "),
            &d.client_regions.join(", "),
        ));
    }
    Ok(())
}

/// Failover: for every dataset with a copy in `region`, every region it may
/// move to now by `action` (`store`), with the obligations that would apply,
/// as placement computes them (the region itself left out).
pub fn failover(
    e: &crate::eval::Engine,
    datasets: &[Dataset],
    region: &str,
    action: &str,
) -> Value {
    let mut out = Vec::new();
    for d in datasets
        .iter()
        .filter(|d| d.placements.iter().any(|p| p == region))
    {
        let mut req = Request {
            action: action.into(),
            ..Default::default()
        };
        req.resource.id = Some(d.id.as_str().into());
        if fill(&mut req, std::slice::from_ref(d)).is_err() {
            continue;
        }
        req.source_region = Some(region.into());
        let placed = crate::placement::place(e, &req, None).unwrap_or(Value::Null);
        let allowed: Vec<Value> = placed
            .get("allowed")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|r| r.get("region").and_then(Value::as_str) != Some(region))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        out.push(
            json!({ "dataset": d.id, "classification": d.classification, "may_move_to": allowed }),
        );
    }
    json!({ "region": region, "action": action, "datasets": out })
}
