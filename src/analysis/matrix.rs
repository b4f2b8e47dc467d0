//! `sovra matrix`: the static flow matrix. For each classification,
//! residency profile and data-subject jurisdiction (where the policies
//! tell jurisdictions apart) against each target region: may data be
//! stored there, denied by which rule, or allowed only with a grant —
//! computed from the policies and documents, not from logs.

use super::Space;
use crate::country::Country;
use crate::documents::Request;
use crate::eval::{Engine, Probe, TraceLevel, Var};
use crate::ir::{Node, Program};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One cell's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum Cell {
    /// Allowed as the documents stand.
    Allowed,
    /// Denied, by this rule, whatever grants exist.
    Denied {
        /// The first determining rule.
        rule: String,
    },
    /// Denied as the grants stand (by this rule), allowed with a grant.
    WithGrant {
        /// The rule that denies without one.
        rule: String,
    },
}

/// One row: a classification, a profile and a jurisdiction.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The classification.
    pub classification: String,
    /// The residency profile.
    pub residency: String,
    /// The data subjects' jurisdiction, in words (`in EEA`, `RU`, `elsewhere`).
    pub jurisdiction: String,
    /// An example home country of that jurisdiction.
    pub home_country: String,
    /// One cell a target region, in [`Matrix::regions`] order.
    pub cells: Vec<Cell>,
}

/// The matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    /// The target regions (id and country), columns.
    pub regions: Vec<(String, String)>,
    /// The rows.
    pub rows: Vec<Row>,
    /// The action asked (`store`).
    pub action: String,
    /// The instant decided at.
    pub time: String,
}

/// The jurisdictions the policies tell apart for `resource.home_country`:
/// the countries they name and one class per membership of the sets they
/// compare it with; each with a name and an example country.
fn jurisdictions(p: &Program) -> Vec<(String, Country)> {
    let mut named = Vec::new();
    let mut sets = Vec::new();
    for n in &p.nodes {
        let Node::Cmp { lhs, rhs, .. } = n else {
            continue;
        };
        for (a, b) in [(*lhs, *rhs), (*rhs, *lhs)] {
            let home = matches!(
                p.nodes.get(a as usize),
                Some(Node::Load(f)) if Var::of(*f) == Some(Var::HomeCountry)
            );
            if !home {
                continue;
            }
            match p.nodes.get(b as usize) {
                Some(Node::Const(crate::ir::Const::Country(c))) => named.push(*c),
                Some(Node::Const(crate::ir::Const::Set(i))) => {
                    if let Some(s) = p.sets.get(*i as usize) {
                        if let crate::ir::SetValue::Countries(cs) = &s.value {
                            sets.push((s.name.clone(), *cs));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    named.sort();
    named.dedup();
    let mut out: Vec<(String, Country)> = named.iter().map(|c| (c.to_string(), *c)).collect();
    let mut by_sig: BTreeMap<Vec<bool>, Country> = BTreeMap::new();
    for c in super::all_countries() {
        if named.contains(&c) {
            continue;
        }
        let sig: Vec<bool> = sets.iter().map(|(_, s)| s.contains(c)).collect();
        by_sig.entry(sig).or_insert(c);
    }
    for (sig, c) in by_sig {
        let inside: Vec<&str> = sets
            .iter()
            .zip(&sig)
            .filter(|(_, b)| **b)
            .map(|((n, _), _)| n.as_str())
            .collect();
        let name = if inside.is_empty() {
            "elsewhere".to_string()
        } else {
            let short: Vec<&str> = inside
                .iter()
                .map(|n| n.rsplit('.').next().unwrap_or(n))
                .collect();
            format!("in {}", short.join(", "))
        };
        out.push((name, c));
    }
    out
}

/// Computes the matrix for `action` (`store`) at `time`.
pub fn matrix(e: &Engine, action: &str, time: DateTime<Utc>) -> Matrix {
    let p = e.program();
    let regions: Vec<(String, String)> = e
        .regions()
        .regions
        .iter()
        .map(|r| (r.id.clone(), r.country.to_string()))
        .collect();
    // Every `exists grant` condition true: what a grant could allow.
    let space = Space::new(&[e], time, true);
    let any_grant = Probe {
        exists: space.exists_atoms(e),
        grants_true: u64::MAX,
        ..Probe::default()
    };
    let mut rows = Vec::new();
    for class in &p.classifications {
        for profile in &p.profiles {
            for (jurisdiction, home) in jurisdictions(p) {
                let mut cells = Vec::with_capacity(regions.len());
                for (id, _) in &regions {
                    let req = Request {
                        action: action.into(),
                        time: Some(time.fixed_offset()),
                        target_region: Some(id.as_str().into()),
                        resource: crate::documents::Resource {
                            classification: Some(p.sym(class.name).into()),
                            residency: Some(p.sym(profile.name).into()),
                            home_country: Some(home),
                            ..Default::default()
                        },
                        ..Request::default()
                    };
                    let d = e.decide(&req, TraceLevel::Off);
                    let rule = d
                        .reasons
                        .first()
                        .map(|r| r.rule.clone())
                        .unwrap_or_default();
                    cells.push(if d.allowed() {
                        Cell::Allowed
                    } else if e.probe(&req, &any_grant).is_some_and(|(allow, _)| allow) {
                        Cell::WithGrant { rule }
                    } else {
                        Cell::Denied { rule }
                    });
                }
                rows.push(Row {
                    classification: p.sym(class.name).to_string(),
                    residency: p.sym(profile.name).to_string(),
                    jurisdiction,
                    home_country: home.to_string(),
                    cells,
                });
            }
        }
    }
    Matrix {
        regions,
        rows,
        action: action.to_string(),
        time: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

use crate::report::escape_html as esc;

/// The matrix as text: one line a row, one mark a region (`+` allowed,
/// `g` with a grant, `.` denied).
pub fn text(m: &Matrix) -> String {
    let mut out = format!(
        "{} to each of {} regions, decided at {} (+ allowed, g only with a grant, . denied)\n",
        m.action,
        m.regions.len(),
        m.time
    );
    for r in &m.rows {
        let marks: String = r
            .cells
            .iter()
            .map(|c| match c {
                Cell::Allowed => '+',
                Cell::WithGrant { .. } => 'g',
                Cell::Denied { .. } => '.',
            })
            .collect();
        let allowed = r.cells.iter().filter(|c| **c == Cell::Allowed).count();
        let _ = writeln!(
            out,
            "{:<14} {:<16} {:<22} {allowed:>3} allowed  {marks}",
            r.classification, r.residency, r.jurisdiction
        );
    }
    out
}

/// The matrix as one self-contained HTML page: a table per
/// classification, profiles and jurisdictions down, regions (grouped by
/// country) across; colour-blind-safe colours (Okabe–Ito) with a mark in
/// every cell, so no answer is told by colour alone; a legend.
pub fn html(m: &Matrix) -> String {
    let mut by_country: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, c)) in m.regions.iter().enumerate() {
        by_country.entry(c.as_str()).or_default().push(i);
    }
    let order: Vec<usize> = by_country.values().flatten().copied().collect();
    let mut s = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sovra flow matrix</title><style>\n\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330}\n\
table{border-collapse:collapse;margin:0 0 2em}th,td{border:1px solid #d7dbe2;padding:0;text-align:center}\n\
th.row{text-align:left;padding:.1em .5em;white-space:nowrap;font-weight:normal}\n\
th.country{font-weight:600;padding:.2em}th.region{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:11px;padding:.3em .1em;white-space:nowrap}\n\
td{width:1.2em;height:1.4em;font-size:12px}\n\
.allowed{background:#0072B2;color:#fff}.grant{background:#E69F00;color:#000}.denied{background:#f0f0f0;color:#D55E00}\n\
.legend span{display:inline-block;padding:.1em .6em;margin-right:.8em;border:1px solid #999}\n\
caption{text-align:left;font-weight:600;font-size:1.1em;padding:.4em 0}\n\
</style></head><body>\n",
    );
    let _ = writeln!(
        s,
        "<h1>Where may data be stored?</h1>\n<p>Each cell answers: may a resource of this classification, residency profile and data-subject jurisdiction be written (<code>{}</code>) to this target region? Computed from the policies themselves at {}, not from logs.</p>",
        esc(&m.action),
        esc(&m.time)
    );
    s.push_str("<p class=\"legend\" id=\"legend\"><span class=\"allowed\">✓ allowed</span><span class=\"grant\">G allowed only with a grant</span><span class=\"denied\">✗ denied (hover: by which rule)</span></p>\n");
    let mut classes: Vec<&str> = m.rows.iter().map(|r| r.classification.as_str()).collect();
    classes.dedup();
    for class in classes {
        let _ = write!(
            s,
            "<table class=\"matrix\" id=\"matrix-{c}\"><caption>Classification: {c}</caption><thead><tr><th rowspan=\"2\">residency profile ↓ / data subjects in ↓ — target region →</th>",
            c = esc(class)
        );
        for (country, ids) in &by_country {
            let _ = write!(
                s,
                "<th class=\"country\" colspan=\"{}\">{}</th>",
                ids.len(),
                esc(country)
            );
        }
        s.push_str("</tr><tr>");
        for i in &order {
            if let Some((id, _)) = m.regions.get(*i) {
                let _ = write!(s, "<th class=\"region\">{}</th>", esc(id));
            }
        }
        s.push_str("</tr></thead><tbody>\n");
        for r in m.rows.iter().filter(|r| r.classification == class) {
            let _ = write!(
                s,
                "<tr><th class=\"row\">{} · {} (e.g. {})</th>",
                esc(&r.residency),
                esc(&r.jurisdiction),
                esc(&r.home_country)
            );
            for i in &order {
                let region = m.regions.get(*i).map_or("", |(id, _)| id.as_str());
                let (class, mark, why) = match r.cells.get(*i) {
                    Some(Cell::Allowed) => ("allowed", "✓", "allowed".to_string()),
                    Some(Cell::WithGrant { rule }) => (
                        "grant",
                        "G",
                        format!("denied by {rule} unless a grant covers it"),
                    ),
                    Some(Cell::Denied { rule }) => ("denied", "✗", format!("denied by {rule}")),
                    None => ("denied", "?", String::new()),
                };
                let _ = write!(
                    s,
                    "<td class=\"{class}\" title=\"{}: {}\">{mark}</td>",
                    esc(region),
                    esc(&why)
                );
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</tbody></table>\n");
    }
    s.push_str("</body></html>\n");
    s
}
