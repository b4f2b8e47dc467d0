//! The grant workflow: a person requests a cross-border grant, a different
//! person approves or rejects it, and it expires or is revoked.

use super::*;
use serde::Deserialize;

/// A request for a grant, with the grants document's field names; the
/// requester is the caller, never a field of the request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// Whose exception it is.
    pub principal: String,
    /// The one resource it covers.
    #[serde(default)]
    pub resource: Option<String>,
    /// The classifications it covers.
    #[serde(default)]
    pub classifications: Vec<String>,
    /// The country the data may go to or be reached from.
    pub to_country: String,
    /// The purpose it is for.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The legal mechanism.
    #[serde(default)]
    pub mechanism: Option<String>,
    /// When it ends; or give `duration`.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// How long it lasts from its approval (`90d`, `12w`); or give `expires_at`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Why it is needed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Where a grant is in its workflow, at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantState {
    /// Requested, waiting for an approver.
    Pending,
    /// Approved and not expired: it counts.
    Active,
    /// Approved, past its end.
    Expired,
    /// Refused by an approver.
    Rejected,
    /// Withdrawn after approval.
    Revoked,
}

impl GrantState {
    /// The state as the API and the command line write it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Pending => "pending",
            GrantState::Active => "active",
            GrantState::Expired => "expired",
            GrantState::Rejected => "rejected",
            GrantState::Revoked => "revoked",
        }
    }

    /// A state by name.
    pub fn parse(s: &str) -> Option<GrantState> {
        [
            GrantState::Pending,
            GrantState::Active,
            GrantState::Expired,
            GrantState::Rejected,
            GrantState::Revoked,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }
}

/// `90d`, `12w`, `36h`: a duration in seconds.
fn duration(text: &str) -> Option<i64> {
    let (n, unit) = text.trim().split_at(text.trim().len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    n.checked_mul(crate::vocab::duration_unit(unit)?)
}

impl Store {
    /// Records a request for a grant by `who`; returns its id. The grant is
    /// checked by the grants document's reader, so a country that is not a
    /// country or a grant that covers nothing is refused now.
    pub fn request_grant(
        &mut self,
        req: &GrantRequest,
        who: &str,
        now: DateTime<Utc>,
    ) -> R<String> {
        self.request_grant_within(req, who, now, None)
    }

    /// [`Store::request_grant`] under a policy's bound on how long such a
    /// grant may last (`grants last at most 365d`): a longer request is
    /// refused now, saying the bound.
    pub fn request_grant_within(
        &mut self,
        req: &GrantRequest,
        who: &str,
        now: DateTime<Utc>,
        max_seconds: Option<i64>,
    ) -> R<String> {
        if who.trim().is_empty() {
            return Err(StateError::Refused("a request needs a requester".into()));
        }
        let expires_at = match (&req.expires_at, &req.duration) {
            (Some(t), None) => *t,
            (None, Some(d)) => {
                let secs = duration(d).ok_or_else(|| {
                    StateError::Refused(format!(
                        "duration: `{d}` is not a duration: write a number and a unit, such as `90d`, `12w` or `36h`"
                    ))
                })?;
                chrono::TimeDelta::try_seconds(secs)
                    .and_then(|d| now.checked_add_signed(d))
                    .ok_or_else(|| StateError::Refused(format!("duration: `{d}` is too long")))?
            }
            _ => {
                return Err(StateError::Refused(
                    "give the grant's end: `expires_at` (a time) or `duration` (such as `90d`), one of the two".into(),
                ))
            }
        };
        if expires_at <= now {
            return Err(StateError::Refused(
                "expires_at: the grant would end before it is requested".into(),
            ));
        }
        if let Some(max) = max_seconds {
            if (expires_at - now).num_seconds() > max {
                return Err(StateError::Refused(format!(
                    "expires_at: the policy lets such grants last at most {}: ask for a shorter one",
                    crate::eval::render_duration(max)
                )));
            }
        }
        self.db.write(|tx| {
            let n = tx.int("SELECT COUNT(*) + 1 FROM grants", &[])?;
            let id = format!("g-{n:06}");
            let mut g = Map::new();
            g.insert("id".into(), json!(id));
            g.insert("principal".into(), json!(req.principal));
            if let Some(r) = &req.resource {
                g.insert("resource".into(), json!(r));
            }
            if !req.classifications.is_empty() {
                g.insert("classifications".into(), json!(req.classifications));
            }
            g.insert("to_country".into(), json!(req.to_country));
            if let Some(p) = &req.purpose {
                g.insert("purpose".into(), json!(p));
            }
            if let Some(m) = &req.mechanism {
                g.insert("mechanism".into(), json!(m));
            }
            g.insert("requested_by".into(), json!(who));
            g.insert("expires_at".into(), json!(time(expires_at)));
            let body = Value::Object(g);
            // The grants document's own reader: the same errors, the same paths.
            Grants::from_json(&json!({ "grants": [&body] }).to_string())
                .map_err(|e| StateError::Refused(e.to_string().replace("grants[0].", "")))?;
            tx.exec(
                "INSERT INTO grants (id, body, state, requested_at) VALUES ($1, $2, 'pending', $3)",
                &[
                    (&id).into(),
                    Arg::Text(&body.to_string()),
                    Arg::Text(&time(now)),
                ],
            )?;
            append(
                tx,
                now,
                who,
                "grant.request",
                &id,
                req.reason.as_deref(),
                None,
                Some(body),
            )?;
            Ok(id)
        })
    }

    /// Approves a pending request; the approver is never its requester.
    pub fn approve(&mut self, id: &str, who: &str, now: DateTime<Utc>) -> R<i64> {
        self.decide_request(id, who, now, true, None)
    }

    /// Rejects a pending request, saying why.
    pub fn reject(&mut self, id: &str, who: &str, why: Option<&str>, now: DateTime<Utc>) -> R<i64> {
        self.decide_request(id, who, now, false, why)
    }

    fn decide_request(
        &mut self,
        id: &str,
        who: &str,
        now: DateTime<Utc>,
        approve: bool,
        why: Option<&str>,
    ) -> R<i64> {
        self.db.write(|tx| {
            let (before, state) = load(tx, id)?;
            if state != "pending" {
                return Err(StateError::Refused(format!(
                    "grant {id} is {state}: only a pending request is approved or rejected"
                )));
            }
            let requester = before
                .as_object()
                .and_then(|o| field(o, "requested_by"))
                .unwrap_or_default()
                .to_string();
            // The engine's own rule for separation of duties, so the workflow
            // and a decision never disagree on who is the same person.
            if crate::eval::same_identity(&requester, who) {
                return Err(StateError::Forbidden(format!(
                "grant {id} was requested by {requester}: a different person approves or rejects it"
            )));
            }
            let mut after = before.clone();
            let (what, new_state) = if approve {
                if let Some(o) = after.as_object_mut() {
                    o.insert("approved_by".into(), json!(who));
                    o.insert("valid_from".into(), json!(time(now)));
                }
                ("grant.approve", "approved")
            } else {
                ("grant.reject", "rejected")
            };
            tx.exec(
                "UPDATE grants SET body = $2, state = $3 WHERE id = $1",
                &[id.into(), Arg::Text(&after.to_string()), new_state.into()],
            )?;
            append(tx, now, who, what, id, why, Some(before), Some(after))
        })
    }

    /// Revokes an approved grant, effective at `now`.
    pub fn revoke(&mut self, id: &str, who: &str, why: Option<&str>, now: DateTime<Utc>) -> R<i64> {
        self.db.write(|tx| {
            let (before, state) = load(tx, id)?;
            if state != "approved" {
                return Err(StateError::Refused(format!(
                    "grant {id} is {state}: only an approved grant is revoked"
                )));
            }
            let mut after = before.clone();
            if let Some(o) = after.as_object_mut() {
                o.insert("revoked_at".into(), json!(time(now)));
            }
            tx.exec(
                "UPDATE grants SET body = $2, state = 'revoked' WHERE id = $1",
                &[id.into(), Arg::Text(&after.to_string())],
            )?;
            append(
                tx,
                now,
                who,
                "grant.revoke",
                id,
                why,
                Some(before),
                Some(after),
            )
        })
    }

    /// Every grant with its state at `now`, oldest first; only those in
    /// `state` when given.
    pub fn grants(
        &mut self,
        state: Option<GrantState>,
        now: DateTime<Utc>,
    ) -> R<Vec<(Value, GrantState)>> {
        let rows = self
            .db
            .read(|tx| tx.rows("SELECT id, body, state FROM grants ORDER BY rowid", &[]))?;
        let mut out = Vec::new();
        for row in rows {
            let id = row.text(0)?;
            let g = parse(&row.text(1)?, || format!("grant {id}"))?;
            let s = state_at(&g, &row.text(2)?, now);
            if state.is_none_or(|want| want == s) {
                out.push((g, s));
            }
        }
        Ok(out)
    }

    /// One grant, its state at `now`, and its whole history.
    pub fn grant(&mut self, id: &str, now: DateTime<Utc>) -> R<(Value, GrantState, Vec<Change>)> {
        let ((g, stored), history) = self.db.read(|tx| Ok((load(tx, id)?, history(tx)?)))?;
        let s = state_at(&g, &stored, now);
        let history = history.into_iter().filter(|c| c.subject == id).collect();
        Ok((g, s, history))
    }
}

/// A grant's body and stored state.
fn load(tx: &mut Tx<'_>, id: &str) -> R<(Value, String)> {
    let row = tx.row("SELECT body, state FROM grants WHERE id = $1", &[id.into()])?;
    let Some(row) = row else {
        return Err(StateError::NotFound(format!(
            "no grant `{id}` in the store"
        )));
    };
    let (body, state) = (row.text(0)?, row.text(1)?);
    Ok((parse(&body, || format!("grant {id}"))?, state))
}

/// The state of a grant at `now`: an approved grant is active until it ends.
fn state_at(g: &Value, stored: &str, now: DateTime<Utc>) -> GrantState {
    match stored {
        "pending" => GrantState::Pending,
        "rejected" => GrantState::Rejected,
        "revoked" => GrantState::Revoked,
        _ => {
            let ends = g
                .get("expires_at")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if ends.is_some_and(|e| now >= e) {
                GrantState::Expired
            } else {
                GrantState::Active
            }
        }
    }
}
