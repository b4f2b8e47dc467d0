//! Questions an auditor asks of a log: which records match a filter, and
//! which decisions a new policy would change, grouped.

use super::replay::{Objects, Redecided};
use super::{masked, Record};
use crate::eval::Outcome;
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;
use std::path::Path;

/// The records `sovra audit show` prints: every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Allow or deny.
    pub decision: Option<Outcome>,
    /// A determining rule.
    pub rule: Option<String>,
    /// The principal id (a masked principal is found by its keyed hash).
    pub principal: Option<String>,
    /// The resource id.
    pub resource: Option<String>,
    /// The source or target region id.
    pub region: Option<String>,
    /// The principal's country, or the country of the source or target region.
    pub country: Option<String>,
    /// Written at or after.
    pub since: Option<DateTime<FixedOffset>>,
    /// Written before.
    pub until: Option<DateTime<FixedOffset>>,
}

impl Filter {
    /// Whether `rec` (of the log in `dir`) matches. A record whose time
    /// cannot be read is kept whatever `since` and `until` say: never
    /// dropped silently.
    pub fn matches(&self, dir: &Path, objects: &mut Objects, rec: &Record) -> bool {
        let field = |ptr: &str| rec.request.pointer(ptr).and_then(|v| v.as_str());
        let at = rec.logged_at();
        let mut by_country = || {
            let Some(c) = self.country.as_deref() else {
                return true;
            };
            if field("/principal/country") == Some(c) {
                return true;
            }
            let Ok(e) = objects.engine(rec, None) else {
                return false;
            };
            ["/source_region", "/target_region"].iter().any(|p| {
                field(p)
                    .and_then(|id| e.regions().get(id))
                    .is_some_and(|r| r.country.to_string() == c)
            })
        };
        self.decision.is_none_or(|d| rec.decision == d)
            && self
                .rule
                .as_ref()
                .is_none_or(|r| rec.rules.iter().any(|x| x == r))
            && self.principal.as_deref().is_none_or(|p| {
                let id = field("/principal/id");
                id == Some(p) || id.is_some_and(|id| masked(dir, p).as_deref() == Some(id))
            })
            && self
                .resource
                .as_deref()
                .is_none_or(|p| field("/resource/id") == Some(p))
            && self.region.as_deref().is_none_or(|p| {
                field("/source_region") == Some(p) || field("/target_region") == Some(p)
            })
            && self.since.is_none_or(|s| at.is_none_or(|t| t >= s))
            && self.until.is_none_or(|u| at.is_none_or(|t| t < u))
            && by_country()
    }
}

/// Decisions a new policy changes, grouped by direction (`allow→deny`) and
/// by the rule that appeared or disappeared (`(same rules)` when only the
/// outcome moved): group → record numbers, in order.
pub fn impact(changed: &[&Redecided]) -> BTreeMap<(String, String), Vec<u64>> {
    let mut groups: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for r in changed {
        let direction = format!("{}→{}", r.was.0, r.now.0);
        let mut rules: Vec<&String> = r.now.1.iter().filter(|x| !r.was.1.contains(x)).collect();
        rules.extend(r.was.1.iter().filter(|x| !r.now.1.contains(x)));
        if rules.is_empty() {
            groups
                .entry((direction.clone(), "(same rules)".into()))
                .or_default()
                .push(r.seq);
        }
        for rule in rules {
            groups
                .entry((direction.clone(), rule.clone()))
                .or_default()
                .push(r.seq);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redecided(seq: u64, was: (Outcome, &[&str]), now: (Outcome, &[&str])) -> Redecided {
        let ids = |r: &[&str]| r.iter().map(|s| s.to_string()).collect();
        Redecided {
            seq,
            was: (was.0, ids(was.1)),
            now: (now.0, ids(now.1)),
            masked: false,
        }
    }

    #[test]
    fn impact_groups_by_direction_and_by_the_rule_that_moved() {
        use Outcome::{Allow, Deny};
        let a = redecided(1, (Allow, &["p"]), (Deny, &["f"]));
        let b = redecided(2, (Allow, &["p"]), (Deny, &["f"]));
        let c = redecided(3, (Deny, &["x"]), (Deny, &["y"]));
        let d = redecided(4, (Allow, &["p"]), (Deny, &["p"]));
        let g = impact(&[&a, &b, &c, &d]);
        let key = |d: &str, r: &str| (d.to_string(), r.to_string());
        assert_eq!(g[&key("allow→deny", "f")], vec![1, 2]);
        assert_eq!(g[&key("allow→deny", "p")], vec![1, 2]);
        assert_eq!(g[&key("deny→deny", "x")], vec![3]);
        assert_eq!(g[&key("deny→deny", "y")], vec![3]);
        assert_eq!(g[&key("allow→deny", "(same rules)")], vec![4]);
        assert_eq!(g.len(), 5);
    }
}
