//! The trace written as JSON while the walk goes, for the document written
//! as text ([`Engine::decide_json_traced`](super::Engine::decide_json_traced)).
//!
//! Input: the walk's events, as the [`Recorder`](super::trace::Recorder)
//! gets them. Output: the trace's JSON, the texts that do not change from
//! one decision to the next (each rule's and each condition's) written once
//! per engine ([`JsonTexts`]) and copied, each operand's value written
//! straight from the walk's value. Invariant: the bytes are those of the
//! [`Trace`](super::Trace) the recorder builds, serialised (serde). The
//! buffers ([`Bufs`]) are reused from one decision to the next; the only
//! texts made per decision are an instant's or a duration's shown as a
//! value and why a grant failed a check of its window or purpose.
//! `tests/differential.rs` holds the two to the same bytes on generated
//! requests at every trace level.

use super::decision::{GrantCheck, RegionSeen};
use super::trace::{grant_why, Tracer, TRACED_GRANTS};
use super::walk::{render_duration, Val};
use crate::documents::{Grant, Region, Regions};
use crate::ir::Program;
use crate::json::string;
use chrono::{DateTime, SecondsFormat, Utc};

/// The texts of a trace that are the program's, as JSON.
#[derive(Debug)]
pub(super) struct JsonTexts {
    /// Per rule: `"effect":"…","location":…,"rule":…}` and where
    /// `"location"` begins (a rule's grants, if any, go there).
    rules: Vec<(Box<str>, usize)>,
    atoms: Vec<AtomJson>,
    /// Each region of the engine's document as a trace shows it, in the
    /// document's order.
    regions: Vec<Box<str>>,
}

/// A condition's texts, in as few pieces as its JSON allows (each piece is
/// a copy: a full trace writes some twenty-five conditions).
#[derive(Debug)]
struct AtomJson {
    /// When false and when true: `,{"condition":…,"location":…,
    /// "phrase":…,"result":false` and `,"values":{` with the first shown
    /// operand's `"text":` (or `}` when none is shown), for a condition
    /// whose operands all have a value (written without its comma when it
    /// comes first).
    whole: [Box<str>; 2],
    /// Where `"phrase"` begins in `whole`: `missing` goes before it.
    phrase: usize,
    /// Each operand's text, as a JSON string (what `missing` lists).
    operands: [Option<Box<str>>; 2],
    /// The operand whose value is shown first, if any is.
    first: Option<usize>,
    /// The `values` object's entries in order (by operand text, as the
    /// sorted map has them; an operand written twice shows its second
    /// value) after the first: the operand whose value is shown, and
    /// `,"text":`.
    shown: Vec<(usize, Box<str>)>,
}

fn quoted(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    string(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

impl JsonTexts {
    pub(super) fn new(p: &Program, regions: &Regions) -> JsonTexts {
        let rules = p
            .rules
            .iter()
            .map(|r| {
                let effect = format!("\"effect\":\"{}\",", r.effect.as_str());
                let text = format!(
                    "{effect}\"location\":{},\"rule\":{}}}",
                    quoted(&r.location),
                    quoted(&r.id)
                );
                (text.into(), effect.len())
            })
            .collect();
        let atoms = p
            .atoms
            .iter()
            .map(|a| {
                let mut shown: Vec<(usize, &str)> = Vec::new();
                for (slot, text) in a.operands.iter().enumerate() {
                    let Some(text) = text.as_deref() else {
                        continue;
                    };
                    match shown.binary_search_by(|(_, t)| (*t).cmp(text)) {
                        Ok(i) => {
                            if let Some(e) = shown.get_mut(i) {
                                e.0 = slot;
                            }
                        }
                        Err(i) => shown.insert(i, (slot, text)),
                    }
                }
                let head = format!(
                    ",{{\"condition\":{},\"location\":{},",
                    quoted(&a.text),
                    quoted(&a.location)
                );
                let phrase = format!("\"phrase\":{},\"result\":", quoted(&a.phrase));
                let key = |t: &str| format!("{}:", quoted(t));
                let whole = [false, true].map(|b| match shown.first() {
                    Some((_, t)) => format!("{head}{phrase}{b},\"values\":{{{}", key(t)).into(),
                    None => format!("{head}{phrase}{b}}}").into(),
                });
                AtomJson {
                    whole,
                    phrase: head.len(),
                    operands: a.operands.clone().map(|o| o.map(|t| quoted(&t).into())),
                    first: shown.first().map(|(slot, _)| *slot),
                    shown: shown
                        .into_iter()
                        .skip(1)
                        .map(|(slot, t)| (slot, format!(",{}", key(t)).into()))
                        .collect(),
                }
            })
            .collect();
        let regions = regions
            .regions
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                region_json(&mut out, r);
                String::from_utf8(out).unwrap_or_default().into()
            })
            .collect();
        JsonTexts {
            rules,
            atoms,
            regions,
        }
    }
}

/// The buffers a traced decision writes into, reused from one to the next.
#[derive(Debug, Default)]
pub(super) struct Bufs {
    /// The `rules` array's elements, the rule being walked last (its
    /// conditions written in place).
    rules: Vec<u8>,
    /// The grants the rule being walked looked at.
    grants: Vec<u8>,
    /// The conditions of the grant being looked at.
    gconds: Vec<u8>,
}

/// Writes the trace as the walk reports it.
pub(super) struct Writer<'a> {
    p: &'a Program,
    texts: &'a JsonTexts,
    full: bool,
    b: &'a mut Bufs,
    considered: usize,
    /// The rule being walked.
    open: Option<u32>,
    /// Where it begins in `rules`, and where its conditions begin.
    rule_at: usize,
    conds_at: usize,
    /// Its grants shown, and those beyond the cap.
    shown: usize,
    omitted: u64,
    /// A grant is being looked at, and shown.
    in_grant: bool,
    /// A grant is being looked at beyond the cap: nothing of it is written.
    omitting: bool,
}

impl<'a> Writer<'a> {
    pub(super) fn new(p: &'a Program, texts: &'a JsonTexts, full: bool, b: &'a mut Bufs) -> Self {
        b.rules.clear();
        Writer {
            p,
            texts,
            full,
            b,
            considered: 0,
            open: None,
            rule_at: 0,
            conds_at: 0,
            shown: 0,
            omitted: 0,
            in_grant: false,
            omitting: false,
        }
    }

    /// Appends `"trace":{…}` to `out`: the head's fields, then the rules.
    pub(super) fn finish(
        self,
        out: &mut Vec<u8>,
        action: &str,
        at: &str,
        (doc, regions): (&Regions, [Option<&Region>; 2]),
    ) {
        out.extend_from_slice(br#""trace":{"action":"#);
        string(out, action);
        out.extend_from_slice(br#","at":"#);
        string(out, at);
        // Pieces of fixed size chosen by branches, not a slice chosen (so
        // each is a store of known size, not a call to `memcpy`).
        if self.full {
            out.extend_from_slice(br#","level":"full","rules":["#);
        } else {
            out.extend_from_slice(br#","level":"summary","rules":["#);
        }
        out.extend_from_slice(&self.b.rules);
        out.extend_from_slice(br#"],"rules_considered":"#);
        number(out, self.considered as u64);
        out.extend_from_slice(br#","rules_skipped":"#);
        number(
            out,
            self.p.rules.len().saturating_sub(self.considered) as u64,
        );
        let [source, target] = regions;
        out.extend_from_slice(br#","source":"#);
        self.region(out, doc, source);
        out.extend_from_slice(br#","target":"#);
        self.region(out, doc, target);
        out.push(b'}');
    }

    fn region(&self, out: &mut Vec<u8>, doc: &Regions, region: Option<&Region>) {
        match region {
            Some(r) => match doc.position(r).and_then(|i| self.texts.regions.get(i)) {
                Some(json) => out.extend_from_slice(json.as_bytes()),
                None => region_json(out, r),
            },
            None => out.extend_from_slice(b"null"),
        }
    }
}

fn number(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=9 => out.push(b'0' + n as u8),
        10..=99 => out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]),
        _ => {
            let _ = serde_json::to_writer(&mut *out, &n);
        }
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// A rule's JSON up to its conditions (or its effect, in a summary), when
/// it applied.
fn applied_head(full: bool) -> &'static [u8] {
    if full {
        br#"{"applied":true,"conditions":["#
    } else {
        br#"{"applied":true,"#
    }
}

fn comma(out: &mut Vec<u8>) {
    if !out.is_empty() {
        out.push(b',');
    }
}

/// A region as a trace shows it: [`RegionSeen`] serialised (written once
/// per region of an engine's document, so serde itself, not a copy of it).
fn region_json(out: &mut Vec<u8>, r: &Region) {
    let _ = serde_json::to_writer(&mut *out, &RegionSeen::from(r));
}

/// Whether `v` is shown as `null` (its operand is then listed as missing).
fn shows_null(v: &Val<'_>) -> bool {
    match *v {
        Val::Missing => true,
        Val::Num(x) => !x.is_finite(),
        Val::Json(j) => j.is_null(),
        _ => false,
    }
}

/// `v` as JSON: the bytes of [`super::walk::render_json`]'s value,
/// serialised.
pub(super) fn value_json(out: &mut Vec<u8>, p: &Program, v: &Val<'_>) {
    match *v {
        Val::Missing => out.extend_from_slice(b"null"),
        Val::Bool(b) => boolean(out, b),
        Val::Num(x) => match serde_json::Number::from_f64(x) {
            Some(n) => {
                let _ = serde_json::to_writer(&mut *out, &n);
            }
            None => out.extend_from_slice(b"null"),
        },
        Val::Str(s) => string(out, s),
        Val::Country(c) => {
            out.push(b'"');
            out.extend_from_slice(&c.letters());
            out.push(b'"');
        }
        Val::Time(t) => string(out, &t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Val::Dur(d) => string(out, &render_duration(d)),
        Val::Set(i) => string(out, p.sets.get(i as usize).map_or("?", |s| s.name.as_str())),
        Val::List(l) => list(out, l.iter().map(|s| s.as_str())),
        Val::Texts(l) => list(out, l.iter().map(|s| &**s)),
        Val::Names(l) => list(out, l.iter().map(|s| &**s)),
        Val::Region(r) => string(out, &r.id),
        Val::Profile(i) => string(
            out,
            p.profiles.get(i as usize).map_or("?", |x| p.sym(x.name)),
        ),
        Val::Json(j) => {
            let _ = serde_json::to_writer(&mut *out, j);
        }
    }
}

fn list<'s>(out: &mut Vec<u8>, items: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

impl Tracer for Writer<'_> {
    const ON: bool = true;

    fn rule_start(&mut self, rule: u32) {
        if self.p.rules.get(rule as usize).is_none()
            || self.texts.rules.get(rule as usize).is_none()
        {
            return;
        }
        self.considered += 1;
        self.open = Some(rule);
        self.b.grants.clear();
        (self.shown, self.omitted) = (0, 0);
        // Written as if it will not apply (most do not): one that does
        // moves its conditions back a byte for `true`.
        let out = &mut self.b.rules;
        comma(out);
        self.rule_at = out.len();
        if self.full {
            out.extend_from_slice(br#"{"applied":false,"conditions":["#);
        } else {
            out.extend_from_slice(br#"{"applied":false,"#);
        }
        self.conds_at = out.len();
    }

    fn rule_end(&mut self, rule: u32, applied: bool) {
        if self.open != Some(rule) {
            return;
        }
        self.open = None;
        let Some((text, split)) = self.texts.rules.get(rule as usize) else {
            return;
        };
        let b = &mut *self.b;
        let out = &mut b.rules;
        if applied {
            let yes = applied_head(self.full);
            let to = self.rule_at + yes.len();
            out.copy_within(self.conds_at.., to);
            out.truncate(out.len() - (self.conds_at - to));
            if let Some(h) = out.get_mut(self.rule_at..to) {
                h.copy_from_slice(yes);
            }
        }
        if self.full {
            out.extend_from_slice(b"],");
        }
        if b.grants.is_empty() && self.omitted == 0 {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        let (effect, tail) = text.as_bytes().split_at(*split);
        out.extend_from_slice(effect);
        if !b.grants.is_empty() {
            out.extend_from_slice(br#""grants":["#);
            out.extend_from_slice(&b.grants);
            out.extend_from_slice(b"],");
        }
        if self.omitted > 0 {
            out.extend_from_slice(br#""grants_omitted":"#);
            number(out, self.omitted);
            out.push(b',');
        }
        out.extend_from_slice(tail);
    }

    fn atom(&mut self, atom: u32, result: bool, l: &Val<'_>, r: &Val<'_>) {
        if !self.full || self.omitting {
            return;
        }
        let Some(a) = self.texts.atoms.get(atom as usize) else {
            return;
        };
        let (out, start) = if self.in_grant {
            (&mut self.b.gconds, 0)
        } else if self.open.is_some() {
            (&mut self.b.rules, self.conds_at)
        } else {
            return;
        };
        // Without its comma when it comes first.
        let [no, yes] = &a.whole;
        let whole = if result { yes } else { no }.as_bytes();
        let skip = usize::from(out.len() == start);
        let [o0, o1] = &a.operands;
        let m0 = o0.as_deref().filter(|_| shows_null(l));
        let m1 = o1.as_deref().filter(|_| shows_null(r));
        if m0.is_none() && m1.is_none() {
            out.extend_from_slice(whole.get(skip..).unwrap_or_default());
        } else {
            out.extend_from_slice(whole.get(skip..a.phrase).unwrap_or_default());
            out.extend_from_slice(br#""missing":["#);
            let mut comma = false;
            for text in [m0, m1].into_iter().flatten() {
                if comma {
                    out.push(b',');
                }
                comma = true;
                out.extend_from_slice(text.as_bytes());
            }
            out.extend_from_slice(b"],");
            out.extend_from_slice(whole.get(a.phrase..).unwrap_or_default());
        }
        if let Some(first) = a.first {
            let value = |slot: usize| if slot == 0 { l } else { r };
            value_json(out, self.p, value(first));
            for (slot, key) in &a.shown {
                out.extend_from_slice(key.as_bytes());
                value_json(out, self.p, value(*slot));
            }
            out.extend_from_slice(b"}}");
        }
    }

    fn grant_start(&mut self, _g: &Grant) {
        self.omitting = self.open.is_some() && self.shown >= TRACED_GRANTS;
        self.in_grant = !self.omitting;
        self.b.gconds.clear();
    }

    fn grant_end(
        &mut self,
        g: &Grant,
        check: Result<(), GrantCheck>,
        now: DateTime<Utc>,
        purpose: Option<&str>,
    ) {
        self.in_grant = false;
        if self.omitting {
            self.omitting = false;
            self.omitted += 1;
            return;
        }
        if !self.full {
            return;
        }
        let b = &mut *self.b;
        let out = &mut b.grants;
        comma(out);
        out.push(b'{');
        if !b.gconds.is_empty() {
            out.extend_from_slice(br#""conditions":["#);
            out.extend_from_slice(&b.gconds);
            out.extend_from_slice(b"],");
        }
        out.extend_from_slice(br#""counted":"#);
        boolean(out, check.is_ok());
        if let Err(c) = check {
            out.extend_from_slice(br#","failed":"#);
            let _ = serde_json::to_writer(&mut *out, &c);
        }
        out.extend_from_slice(br#","grant":"#);
        string(out, &g.id);
        out.extend_from_slice(br#","why":"#);
        string(out, &grant_why(g, check, now, purpose));
        out.push(b'}');
        self.shown += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::walk::render_json;
    use std::sync::Arc;

    #[test]
    fn values_are_written_as_they_are_rendered() {
        let p = Program::default();
        let regions = crate::documents::bundled_regions();
        let copy = regions.regions[0].clone();
        let list = ["x".to_string(), "y\t".to_string()];
        let names = [Arc::<str>::from("n"), Arc::from("é")];
        let json = serde_json::json!({"b": [1, null, 2.5], "a": "\u{1}"});
        let null = serde_json::Value::Null;
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 1, 12, 0, 5).unwrap();
        for v in [
            Val::Missing,
            Val::Bool(true),
            Val::Bool(false),
            Val::Num(1.5),
            Val::Num(3.0),
            Val::Num(f64::NAN),
            Val::Num(f64::INFINITY),
            Val::Str("a\"b\nc"),
            Val::Country(crate::country::Country::parse("DE").unwrap()),
            Val::Time(at),
            Val::Dur(90_061),
            Val::Set(0),
            Val::List(&list),
            Val::Names(&names),
            Val::Region(&regions.regions[0]),
            Val::Profile(3),
            Val::Json(&json),
            Val::Json(&null),
        ] {
            let mut out = Vec::new();
            value_json(&mut out, &p, &v);
            let rendered = render_json(&p, v);
            assert_eq!(out, serde_json::to_vec(&rendered).unwrap(), "{v:?}");
            assert_eq!(shows_null(&v), rendered.is_null(), "{v:?}");
        }
        // A region of the document is found by its address; a copy is not.
        for (i, r) in regions.regions.iter().enumerate() {
            assert_eq!(regions.position(r), Some(i));
        }
        assert_eq!(regions.position(&copy), None);
    }
}
