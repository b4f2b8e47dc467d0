//! The IR as text for a person (`sovra compile --emit ir`).

use super::schema;
use super::*;
use std::fmt::Write as _;

impl Program {
    /// The IR as text for a person (`sovra compile --emit ir`).
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "policy {}", self.hash());
        let _ = writeln!(o, "files: {}", self.files.join(", "));
        let _ = writeln!(o, "symbols: {}", self.symbols.len());
        o.push_str("\nsets:\n");
        for (i, s) in self.sets.iter().enumerate() {
            let _ = writeln!(o, "  #{i} {} = {}", s.name, self.render_set(&s.value));
        }
        o.push_str("\nclassifications:\n");
        for c in &self.classifications {
            let _ = writeln!(
                o,
                "  {} sensitivity {}",
                self.sym(c.name),
                self.sym(c.sensitivity)
            );
        }
        o.push_str("\nprofiles:\n");
        for p in &self.profiles {
            let _ = write!(o, "  {} = {}", self.sym(p.name), p.mode.as_str());
            if let Some(c) = p.country {
                let _ = write!(o, " country {c}");
            }
            if !matches!(p.mode, ModeKind::ClientOwned | ModeKind::Unrestricted) {
                let _ = write!(o, " primary {}", self.render_countries(&p.primary));
                if p.any != p.primary {
                    let _ = write!(o, " any {}", self.render_countries(&p.any));
                }
            }
            if p.sovereign {
                o.push_str(" sovereign-regions-only");
            }
            o.push('\n');
        }
        o.push_str("\nindex:\n");
        for (i, e) in self.by_action.iter().enumerate() {
            let name = self
                .actions
                .get(i)
                .map_or("(any other action)", |s| self.sym(*s));
            let _ = writeln!(o, "  {name}: forbid {:?} permit {:?}", e.forbids, e.permits);
            for k in &e.keyed {
                let _ = writeln!(
                    o,
                    "    by {} ({} values):",
                    self.field_name(k.field),
                    k.values.len()
                );
                for v in k.values.iter().take(8) {
                    let _ = writeln!(
                        o,
                        "      {:?}: forbid {:?} permit {:?}",
                        v.value, v.forbids, v.permits
                    );
                }
                if k.values.len() > 8 {
                    let _ = writeln!(o, "      …");
                }
            }
        }
        o.push_str("\nrules:\n");
        for (i, r) in self.rules.iter().enumerate() {
            let eff = match r.effect {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            };
            let _ = writeln!(o, "  r{i} {eff} {}  ({})", r.id, r.location);
            if let Some(c) = r.cond {
                let _ = writeln!(o, "    when {}", self.render_node(c));
            }
            if !r.obligations.is_empty() {
                let obs: Vec<&str> = r.obligations.iter().map(|s| self.sym(*s)).collect();
                let _ = writeln!(o, "    obligations [{}]", obs.join(", "));
            }
            if let Some(m) = r.message.and_then(|m| self.messages.get(m as usize)) {
                let text: String = m
                    .iter()
                    .map(|p| match p {
                        MessagePart::Text(t) => t.clone(),
                        MessagePart::Value { text, .. } => format!("{{{text}}}"),
                    })
                    .collect();
                let _ = writeln!(o, "    because {text:?}");
            }
            if let Some(c) = &r.cites {
                let _ = writeln!(o, "    cites {c:?}");
            }
        }
        if !self.assertions.is_empty() {
            o.push_str("\nassertions:\n");
            for a in &self.assertions {
                let _ = writeln!(
                    o,
                    "  {} {} allow{}  ({})\n    when {}",
                    a.id,
                    if a.always { "always" } else { "never" },
                    if a.any_grants {
                        " under any grants"
                    } else {
                        ""
                    },
                    a.location,
                    self.render_node(a.cond)
                );
            }
        }
        o
    }

    fn render_countries(&self, s: &CountrySet) -> String {
        if *s == CountrySet::all() {
            return "[all]".into();
        }
        let v: Vec<String> = s.iter().map(|c| c.to_string()).collect();
        format!("[{}]", v.join(" "))
    }

    /// A set's members as text (`countries [DE FR]`, `strings [a b]`).
    pub fn render_set(&self, s: &SetValue) -> String {
        match s {
            SetValue::Countries(c) => format!("countries {}", self.render_countries(c)),
            SetValue::Strings(v) => {
                let v: Vec<&str> = v.iter().map(|s| self.sym(*s)).collect();
                format!("strings [{}]", v.join(" "))
            }
        }
    }

    /// One expression as prefix text.
    pub fn render_node(&self, id: NodeId) -> String {
        self.render_in(id, false)
    }

    /// One expression as prefix text with each set written out: the same
    /// text in two programs is the same logic (set indices differ).
    pub fn render_logic(&self, id: NodeId) -> String {
        self.render_in(id, true)
    }

    fn render_in(&self, id: NodeId, sets: bool) -> String {
        let Some(n) = self.nodes.get(id as usize) else {
            return "?".into();
        };
        let list = |start: u32, len: u32| -> Vec<String> {
            let s = start as usize;
            self.args
                .get(s..s + len as usize)
                .unwrap_or(&[])
                .iter()
                .map(|a| self.render_in(*a, sets))
                .collect()
        };
        match n {
            Node::Const(c) => match c {
                Const::Bool(b) => b.to_string(),
                Const::Num(x) => x.to_string(),
                Const::Str(s) => format!("{:?}", self.sym(*s)),
                Const::Country(c) => c.to_string(),
                Const::Time(t) => t.to_rfc3339(),
                Const::Duration(d) => format!("{d}s"),
                Const::Set(i) if sets => self
                    .sets
                    .get(*i as usize)
                    .map_or("?".into(), |s| self.render_set(&s.value)),
                Const::Set(i) => format!("set#{i}"),
                Const::Profile(i) => format!(
                    "profile({})",
                    self.profiles
                        .get(*i as usize)
                        .map_or("?", |p| self.sym(p.name))
                ),
            },
            Node::Load(f) => format!("load({})", self.field_name(*f)),
            Node::Not { expr, .. } => format!("not({})", self.render_in(*expr, sets)),
            Node::And { start, len } => format!("and({})", list(*start, *len).join(", ")),
            Node::Or { start, len } => format!("or({})", list(*start, *len).join(", ")),
            Node::Cmp { op, lhs, rhs, .. } => {
                format!(
                    "{}({}, {})",
                    op.as_str(),
                    self.render_in(*lhs, sets),
                    self.render_in(*rhs, sets)
                )
            }
            Node::Is {
                what,
                negated,
                expr,
                ..
            } => {
                let w = what.as_str();
                format!(
                    "is{}-{w}({})",
                    if *negated { "-not" } else { "" },
                    self.render_in(*expr, sets)
                )
            }
            Node::Satisfies {
                region,
                profile,
                primary_only,
                ..
            } => format!(
                "satisfies{}({}, {})",
                if *primary_only { "-primary" } else { "" },
                self.render_in(*region, sets),
                self.render_in(*profile, sets)
            ),
            Node::Arith { op, lhs, rhs } => format!(
                "{}({}, {})",
                if *op == Arith::Add { "add" } else { "sub" },
                self.render_in(*lhs, sets),
                self.render_in(*rhs, sets)
            ),
            Node::Count { expr } => format!("count({})", self.render_in(*expr, sets)),
            Node::CountryOf { expr } => format!("country-of({})", self.render_in(*expr, sets)),
            Node::Named { expr, atom } => format!(
                "named({}, {})",
                self.atoms
                    .get(*atom as usize)
                    .map_or("?", |a| a.text.as_str()),
                self.render_in(*expr, sets)
            ),
            Node::InCountry {
                region,
                country,
                sovereign,
                ..
            } => format!(
                "in-country{}({}, {})",
                if *sovereign { "-sovereign" } else { "" },
                self.render_in(*region, sets),
                self.render_in(*country, sets)
            ),
            Node::Exists { cond, .. } => match cond {
                Some(c) => format!("exists-grant({})", self.render_in(*c, sets)),
                None => "exists-grant".into(),
            },
        }
    }

    /// A field as a policy writes it (`resource.home_country`,
    /// `target.country`, `grant.to_country`), from the schema.
    pub fn field_name(&self, f: Field) -> String {
        let region = |w: Which| {
            if w == Which::Source {
                "source"
            } else {
                "target"
            }
        };
        match f {
            Field::Region(w) => region(w).into(),
            Field::RegionField(w, rf) => format!("{}.{}", region(w), rf.name()),
            Field::Grant(g) => format!("grant.{}", g.name()),
            Field::Extra(i) => self.extras.get(i as usize).map_or("?".into(), |e| {
                format!("{}.{}", e.root.name(), e.path.join("."))
            }),
            request => schema::REQUEST
                .iter()
                .find(|s| s.field == request)
                .map_or("?", |s| s.path)
                .into(),
        }
    }
}
