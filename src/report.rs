//! Compliance reports over a decision log.
//!
//! Input: a log folder (see [`crate::audit`]), an optional current grants
//! document, a period. Output: Markdown, or one self-contained HTML file
//! (inline SVG pictures, no scripts, no network): decisions by outcome over
//! time; denials by rule and by the law each rule cites; the cross-border
//! flow matrix (from country × to country, allowed and denied); grants used,
//! grants expiring within 30 days, self-approval and revoked-grant attempts;
//! the policy versions in force. Grant facts come from re-deciding each
//! record with a full trace from its stored policy and documents.

use crate::audit::{read, AuditError, Objects};
use crate::documents::{Grants, Request};
use crate::eval::{GrantCheck, Outcome, TraceLevel};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// What a compliance report shows, gathered from a log.
#[derive(Default, Debug)]
pub struct Report {
    /// The log it covers: how many records, and the hash of the last (from
    /// `audit verify`, which the report is built only after).
    pub log_records: u64,
    /// The hash of the log's last record.
    pub log_head: String,
    /// Set when the report was built over a log that did not verify
    /// (`--unverified`): what is wrong, shown on every page.
    pub unverified: Option<String>,
    /// Records whose decision time could not be read: counted in the
    /// totals and listed, but in no day's count.
    pub unplaced: Vec<u64>,
    /// Records whose stored request does not load as a request (masked
    /// fields): counted and listed, but in no flow or grant count.
    pub unread: Vec<u64>,
    /// Lines of the log that are not records (only in a log that does not
    /// verify, read with `--unverified`): in no count at all.
    pub unreadable: Vec<usize>,
    /// The period's start (records written at or after).
    pub from: Option<DateTime<FixedOffset>>,
    /// The period's end (records written before).
    pub to: Option<DateTime<FixedOffset>>,
    /// Decisions in the period.
    pub total: usize,
    /// day → (allowed, denied)
    pub by_day: BTreeMap<String, (usize, usize)>,
    /// rule → (denials, law)
    pub denials_by_rule: BTreeMap<String, (usize, String)>,
    /// Denials by the law their rule cites.
    pub denials_by_law: BTreeMap<String, usize>,
    /// (from, to) → (allowed, denied)
    pub flows: BTreeMap<(String, String), (usize, usize)>,
    /// Grant id → decisions it counted in.
    pub grants_used: BTreeMap<String, usize>,
    /// Grant id → times it was refused because its approver was its requester.
    pub self_approved: BTreeMap<String, usize>,
    /// Grant id → times it was refused because it was revoked.
    pub revoked: BTreeMap<String, usize>,
    /// (grant, principal, to, expires)
    pub expiring: Vec<(String, String, String, String)>,
    /// policy → (first, last, decisions)
    pub policies: BTreeMap<String, (String, String, usize)>,
}

/// Gathers the report for records written in `[since, until)` (by their
/// `logged_at`).
pub fn gather(
    dir: &Path,
    grants: Option<&Grants>,
    since: Option<DateTime<FixedOffset>>,
    until: Option<DateTime<FixedOffset>>,
) -> Result<Report, AuditError> {
    let mut r = Report {
        from: since,
        to: until,
        ..Report::default()
    };
    let mut objects = Objects::new(dir);
    let mut last: Option<DateTime<FixedOffset>> = None;
    let mut first: Option<DateTime<FixedOffset>> = None;
    let log = read(dir)?;
    r.unreadable = log.unreadable.iter().map(|(line, _)| *line).collect();
    for rec in log.records {
        let decided = rec.decided_at();
        // The period selects by when a record was written; a record that
        // cannot be placed in time is kept and flagged, never dropped.
        if let Some(at) = rec.logged_at() {
            if since.is_some_and(|s| at < s) || until.is_some_and(|u| at >= u) {
                continue;
            }
        }
        r.total += 1;
        let allow = rec.decision == Outcome::Allow;
        match decided {
            None => r.unplaced.push(rec.seq),
            Some(at) => {
                last = Some(last.map_or(at, |l| l.max(at)));
                first = Some(first.map_or(at, |f| f.min(at)));
                let day = at.with_timezone(&Utc).format("%Y-%m-%d").to_string();
                let e = r.by_day.entry(day).or_default();
                if allow {
                    e.0 += 1
                } else {
                    e.1 += 1
                }
                let time = at.to_rfc3339();
                let p = r
                    .policies
                    .entry(rec.policy_hash().to_string())
                    .or_insert_with(|| (time.clone(), time.clone(), 0));
                p.0 = p.0.clone().min(time.clone());
                p.1 = p.1.clone().max(time);
                p.2 += 1;
            }
        }

        let Ok(engine) = objects.engine(&rec, None) else {
            continue;
        };
        if !allow {
            for rule in rec.rules_sorted() {
                let law = engine
                    .program()
                    .rules
                    .iter()
                    .find(|x| x.id == rule)
                    .and_then(|x| x.cites.clone())
                    .unwrap_or_else(|| "(cites nothing)".into());
                let e = r.denials_by_rule.entry(rule).or_insert((0, law.clone()));
                e.0 += 1;
                *r.denials_by_law.entry(law).or_default() += 1;
            }
        }
        // A request with masked fields need not load (a masked country is a
        // keyed hash): its flow and grants are then unknown, not guessed.
        let Ok(req) = Request::from_value(&rec.request) else {
            r.unread.push(rec.seq);
            continue;
        };
        let country_of =
            |id: Option<&str>| id.and_then(|id| engine.regions().get(id).map(|r| r.country));
        let (from, to) = match &*req.action {
            "store" => (
                req.resource.home_country,
                country_of(req.target_region.as_deref()),
            ),
            "replicate" => (
                country_of(req.source_region.as_deref()),
                country_of(req.target_region.as_deref()),
            ),
            "access" => (
                country_of(req.source_region.as_deref()),
                req.principal.country,
            ),
            _ => (None, None),
        };
        if let (Some(f), Some(t)) = (from, to) {
            let e = r.flows.entry((f.to_string(), t.to_string())).or_default();
            if allow {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
        // Grant facts, from the decision re-made with a full trace.
        let d = engine.decide(&req, TraceLevel::Full);
        let looked_at = d
            .trace
            .iter()
            .flat_map(|t| &t.rules)
            .flat_map(|r| &r.grants);
        for g in looked_at {
            let tally = match g.failed {
                None => &mut r.grants_used,
                Some(GrantCheck::SelfApproved) => &mut r.self_approved,
                Some(GrantCheck::Revoked) => &mut r.revoked,
                Some(_) => continue,
            };
            *tally.entry(g.grant.clone()).or_default() += 1;
        }
    }
    if r.to.is_none() {
        r.to = last;
    }
    if r.from.is_none() {
        r.from = first;
    }
    if let (Some(g), Some(end)) = (grants, r.to) {
        let end = end.with_timezone(&Utc);
        let horizon = end + Duration::days(30);
        for g in g.iter() {
            let live = g.revoked_at.is_none_or(|t| t > end);
            if live && g.expires_at >= end && g.expires_at < horizon {
                r.expiring.push((
                    g.id.to_string(),
                    g.principal.to_string(),
                    g.to_country.to_string(),
                    g.expires_at.to_rfc3339(),
                ));
            }
        }
    }
    Ok(r)
}

/// What the report covers, and what it could not place; first on every page.
fn preamble(r: &Report) -> String {
    let mut o = String::new();
    if let Some(why) = &r.unverified {
        let _ = writeln!(
            o,
            "**UNVERIFIED: this log does not verify ({why}); nothing below can be relied on.**\n"
        );
    }
    if r.unverified.is_none() {
        let _ = writeln!(
            o,
            "Log: {} records, head {}, verified.\n",
            r.log_records, r.log_head
        );
    }
    flagged(
        &mut o,
        &r.unplaced,
        "record could not be placed in time (no readable decision time): counted in the totals, in no day's count: records",
        "records could not be placed in time (no readable decision time): counted in the totals, in no day's count: records",
    );
    flagged(
        &mut o,
        &r.unreadable,
        "line of the log could not be read as a record: in no count: lines",
        "lines of the log could not be read as records: in no count: lines",
    );
    flagged(
        &mut o,
        &r.unread,
        "record holds a request that does not load (masked fields): counted in the totals, in no flow or grant count: records",
        "records hold a request that does not load (masked fields): counted in the totals, in no flow or grant count: records",
    );
    o
}

/// A bold line naming what the report could not use: how many, then the
/// first twenty by number.
fn flagged<T: std::fmt::Display>(o: &mut String, items: &[T], one: &str, many: &str) {
    if items.is_empty() {
        return;
    }
    let shown: Vec<String> = items.iter().take(20).map(T::to_string).collect();
    let more = if items.len() > 20 { ", …" } else { "" };
    let what = if items.len() == 1 { one } else { many };
    let _ = writeln!(
        o,
        "**{} {what} {}{more}.**\n",
        items.len(),
        shown.join(", ")
    );
}

fn period(r: &Report) -> String {
    let t = |x: Option<DateTime<FixedOffset>>| x.map_or("(open)".to_string(), |t| t.to_rfc3339());
    format!("{} to {}", t(r.from), t(r.to))
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Compliance report\n\n{}Period: {}. Decisions: {}.\n",
        preamble(r),
        period(r),
        r.total
    );
    if r.unverified.is_some() {
        // Every section carries the banner, so no page is read without it.
        let banner = "> **UNVERIFIED LOG** (see the top of this report)\n\n";
        let body = markdown_sections(r);
        o.push_str(banner);
        o.push_str(&body.replace("\n## ", &format!("\n{banner}## ")));
        return o;
    }
    o.push_str(&markdown_sections(r));
    o
}

fn markdown_sections(r: &Report) -> String {
    let mut o = String::new();
    o.push_str("## Decisions by outcome\n\n| day | allowed | denied |\n| --- | --- | --- |\n");
    for (day, (a, d)) in &r.by_day {
        let _ = writeln!(o, "| {day} | {a} | {d} |");
    }
    o.push_str("\n## Denials by law\n\n| law or clause | denials |\n| --- | --- |\n");
    for (law, n) in &r.denials_by_law {
        let _ = writeln!(o, "| {law} | {n} |");
    }
    o.push_str("\n## Denials by rule\n\n| rule | law or clause | denials |\n| --- | --- | --- |\n");
    for (rule, (n, law)) in &r.denials_by_rule {
        let _ = writeln!(o, "| {rule} | {law} | {n} |");
    }
    o.push_str("\n## Cross-border flows\n\nFrom where the data is (or whose subjects it concerns, for stores) to where it goes or is read.\n\n| from | to | allowed | denied |\n| --- | --- | --- | --- |\n");
    for ((f, t), (a, d)) in &r.flows {
        let _ = writeln!(o, "| {f} | {t} | {a} | {d} |");
    }
    let table = |o: &mut String, title: &str, m: &BTreeMap<String, usize>, what: &str| {
        let _ = writeln!(o, "\n## {title}\n\n| grant | {what} |\n| --- | --- |");
        if m.is_empty() {
            o.push_str("| (none) | |\n");
        }
        for (g, n) in m {
            let _ = writeln!(o, "| {g} | {n} |");
        }
    };
    table(&mut o, "Grants used", &r.grants_used, "decisions");
    table(
        &mut o,
        "Self-approved grants presented",
        &r.self_approved,
        "attempts",
    );
    table(&mut o, "Revoked grants presented", &r.revoked, "attempts");
    o.push_str("\n## Grants expiring within 30 days of the period's end\n\n| grant | principal | to | expires |\n| --- | --- | --- | --- |\n");
    if r.expiring.is_empty() {
        o.push_str("| (none) | | | |\n");
    }
    for (g, p, t, e) in &r.expiring {
        let _ = writeln!(o, "| {g} | {p} | {t} | {e} |");
    }
    o.push_str("\n## Policy versions in force\n\n| policy | first decision | last decision | decisions |\n| --- | --- | --- | --- |\n");
    for (p, (a, b, n)) in &r.policies {
        let _ = writeln!(o, "| {p} | {a} | {b} | {n} |");
    }
    o
}

fn esc(s: &str) -> String {
    escape_html(s)
}

/// Text made safe for HTML element content and quoted attributes (the
/// report, the flow matrix and the approvers' page all write it so).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decisions per day as stacked bars (allowed over denied).
fn outcome_chart(r: &Report) -> String {
    let days: Vec<(&String, &(usize, usize))> = r.by_day.iter().collect();
    let max = days
        .iter()
        .map(|(_, (a, d))| a + d)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (w, h, bar) = (60 + days.len().max(1) * 28, 220, 20);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="decisions per day">"#
    );
    for (i, (day, (a, d))) in days.iter().enumerate() {
        let x = 50 + i * 28;
        let ha = (*a as f64 / max * 160.0) as usize;
        let hd = (*d as f64 / max * 160.0) as usize;
        let _ = write!(
            s,
            r##"<rect x="{x}" y="{}" width="{bar}" height="{hd}" fill="#c0392b"><title>{day}: {d} denied</title></rect>"##,
            180 - hd
        );
        let _ = write!(
            s,
            r##"<rect x="{x}" y="{}" width="{bar}" height="{ha}" fill="#27ae60"><title>{day}: {a} allowed</title></rect>"##,
            180 - hd - ha
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="200" font-size="9" text-anchor="middle">{}</text>"#,
            x + bar / 2,
            esc(day.get(5..).unwrap_or(day))
        );
    }
    let _ = write!(
        s,
        r#"<text x="4" y="20" font-size="10">{max}</text><line x1="48" y1="20" x2="48" y2="180" stroke="black"/></svg>"#
    );
    s
}

/// The flow matrix: one cell per (from, to), coloured by the denied share.
fn flow_matrix(r: &Report) -> String {
    let from: BTreeSet<&String> = r.flows.keys().map(|(f, _)| f).collect();
    let to: BTreeSet<&String> = r.flows.keys().map(|(_, t)| t).collect();
    let (cell, left, top) = (46, 40, 30);
    let w = left + to.len() * cell + 10;
    let h = top + from.len() * cell + 10;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="cross-border flows">"#
    );
    for (j, t) in to.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{}" y="20" font-size="11" text-anchor="middle">{}</text>"#,
            left + j * cell + cell / 2,
            esc(t)
        );
    }
    for (i, f) in from.iter().enumerate() {
        let y = top + i * cell;
        let _ = write!(
            s,
            r#"<text x="4" y="{}" font-size="11">{}</text>"#,
            y + cell / 2 + 4,
            esc(f)
        );
        for (j, t) in to.iter().enumerate() {
            let x = left + j * cell;
            let (a, d) = r
                .flows
                .get(&((*f).clone(), (*t).clone()))
                .copied()
                .unwrap_or((0, 0));
            let fill = if a + d == 0 {
                "#f4f4f4".to_string()
            } else {
                let share = d as f64 / (a + d) as f64;
                format!(
                    "rgb({},{},{})",
                    (39.0 + share * 153.0) as u8,
                    (174.0 - share * 117.0) as u8,
                    (96.0 - share * 53.0) as u8
                )
            };
            let _ = write!(
                s,
                r##"<rect x="{x}" y="{y}" width="{}" height="{}" fill="{fill}" stroke="#fff"><title>{} → {}: {a} allowed, {d} denied</title></rect>"##,
                cell - 2,
                cell - 2,
                esc(f),
                esc(t)
            );
            if a + d > 0 {
                let _ = write!(
                    s,
                    r#"<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="white">{a}/{d}</text>"#,
                    x + cell / 2,
                    y + cell / 2 + 3
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// The report as one self-contained HTML file.
pub fn html(r: &Report) -> String {
    let mut md = String::new();
    let mut o = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sovra compliance report</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style></head><body>");
    if let Some(why) = &r.unverified {
        // Fixed, so that it is printed on every page.
        let _ = write!(
            o,
            "<div style=\"position:fixed;top:0;left:0;right:0;background:#b00;color:#fff;padding:4px;text-align:center;font-weight:bold\">UNVERIFIED LOG: {}</div>",
            esc(why)
        );
    }
    o.push_str("<h1>Compliance report</h1>");
    for line in preamble(r).lines().filter(|l| !l.trim().is_empty()) {
        let _ = write!(o, "<p>{}</p>", esc(line.trim_matches('*')));
    }
    let _ = write!(
        o,
        "<p>Period: {}. Decisions: {}.</p>",
        esc(&period(r)),
        r.total
    );
    let _ = write!(
        o,
        "<h2>Decisions by outcome</h2><p>Allowed (green) and denied (red) per day.</p>{}",
        outcome_chart(r)
    );
    let _ = write!(o, "<h2>Cross-border flows</h2><p>From where the data is (or whose subjects it concerns, for stores) to where it goes or is read; each cell is allowed/denied, redder for a larger denied share.</p>{}", flow_matrix(r));
    // The tables, from the Markdown.
    let text = markdown(r);
    let mut in_table = false;
    for line in text.lines().skip_while(|l| !l.starts_with("## ")) {
        if line.starts_with("> ") {
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            if in_table {
                md.push_str("</table>");
                in_table = false;
            }
            let _ = write!(md, "<h2>{}</h2>", esc(h));
        } else if line.starts_with("| ---") {
            continue;
        } else if let Some(row) = line.strip_prefix('|') {
            if !in_table {
                md.push_str("<table>");
                in_table = true;
            }
            md.push_str("<tr>");
            for c in row.trim_end_matches('|').split('|') {
                let _ = write!(md, "<td>{}</td>", esc(c.trim()));
            }
            md.push_str("</tr>");
        } else if !line.trim().is_empty() {
            let _ = write!(md, "<p>{}</p>", esc(line));
        }
    }
    if in_table {
        md.push_str("</table>");
    }
    o.push_str(&md);
    o.push_str("</body></html>\n");
    o
}
