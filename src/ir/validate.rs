//! Validation: what evaluation relies on, checked for a program read from
//! storage (or handed to an engine) before it runs.

use super::*;

impl Program {
    /// Checks what evaluation relies on: a format version it knows, every
    /// index in range, every child before its parent (so the expressions are
    /// a DAG and evaluation ends), and nesting at most [`MAX_DEPTH`].
    pub fn validate(&self) -> Result<(), String> {
        if self.format > FORMAT {
            return Err(format!(
                "the program is of format {}, this build reads format {FORMAT}",
                self.format
            ));
        }
        let bad = |what: String| Err(format!("the program is malformed: {what}"));
        let sym = |s: Sym| (s as usize) < self.symbols.len();
        let n = self.nodes.len();
        let mut depth = vec![0usize; n];
        for (i, node) in self.nodes.iter().enumerate() {
            let mut children: Vec<NodeId> = Vec::new();
            let mut atom = None;
            match node {
                Node::Const(c) => match c {
                    Const::Str(s) if !sym(*s) => return bad(format!("node {i}: symbol {s}")),
                    Const::Set(x) if *x as usize >= self.sets.len() => {
                        return bad(format!("node {i}: set {x}"))
                    }
                    Const::Profile(x) if *x as usize >= self.profiles.len() => {
                        return bad(format!("node {i}: profile {x}"))
                    }
                    _ => {}
                },
                Node::Load(f) => {
                    if let Field::Extra(x) = f {
                        if *x as usize >= self.extras.len() {
                            return bad(format!("node {i}: extra field {x}"));
                        }
                    }
                }
                Node::Not { expr, atom: a } => {
                    children.push(*expr);
                    atom = *a;
                }
                Node::And { start, len } | Node::Or { start, len } => {
                    let range = (*start as usize)..(*start as usize).saturating_add(*len as usize);
                    match self.args.get(range) {
                        Some(args) => children.extend_from_slice(args),
                        None => return bad(format!("node {i}: arguments {start}+{len}")),
                    }
                }
                Node::Cmp {
                    lhs, rhs, atom: a, ..
                } => {
                    children.extend([*lhs, *rhs]);
                    atom = Some(*a);
                }
                Node::Is { expr, atom: a, .. } => {
                    children.push(*expr);
                    atom = Some(*a);
                }
                Node::Satisfies {
                    region,
                    profile,
                    atom: a,
                    ..
                } => {
                    children.extend([*region, *profile]);
                    atom = Some(*a);
                }
                Node::Arith { lhs, rhs, .. } => children.extend([*lhs, *rhs]),
                Node::Count { expr } | Node::CountryOf { expr } => children.push(*expr),
                Node::Named { expr, atom: a } => {
                    children.push(*expr);
                    atom = Some(*a);
                }
                Node::InCountry {
                    region,
                    country,
                    atom: a,
                    ..
                } => {
                    children.extend([*region, *country]);
                    atom = Some(*a);
                }
                Node::Exists { cond, atom: a } => {
                    children.extend(*cond);
                    atom = Some(*a);
                }
            }
            if atom.is_some_and(|a| a as usize >= self.atoms.len()) {
                return bad(format!("node {i}: condition {}", atom.unwrap_or(0)));
            }
            let mut d = 0;
            for c in children {
                match depth.get(c as usize) {
                    Some(cd) if (c as usize) < i => d = d.max(*cd),
                    _ => return bad(format!("node {i}: child {c} does not come before it")),
                }
            }
            if d + 1 > MAX_DEPTH {
                return bad(format!("node {i}: nested deeper than {MAX_DEPTH}"));
            }
            if let Some(slot) = depth.get_mut(i) {
                *slot = d + 1;
            }
        }
        for (i, set) in self.sets.iter().enumerate() {
            if let SetValue::Strings(v) = &set.value {
                if !v.iter().all(|s| sym(*s)) {
                    return bad(format!("set {i}: a symbol out of range"));
                }
            }
        }
        for (i, c) in self.classifications.iter().enumerate() {
            if !sym(c.name) || !sym(c.sensitivity) {
                return bad(format!("classification {i}: a symbol out of range"));
            }
        }
        for (i, p) in self.profiles.iter().enumerate() {
            if !sym(p.name) {
                return bad(format!("profile {i}: a symbol out of range"));
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            for part in m {
                if let MessagePart::Value { node, .. } = part {
                    if *node as usize >= n {
                        return bad(format!("message {i}: node {node}"));
                    }
                }
            }
        }
        for r in &self.rules {
            if r.cond.is_some_and(|c| c as usize >= n)
                || r.message.is_some_and(|m| m as usize >= self.messages.len())
                || !r.obligations.iter().all(|s| sym(*s))
                || !r.actions.iter().flatten().all(|s| sym(*s))
            {
                return bad(format!("rule `{}`: an index out of range", r.id));
            }
        }
        if let Some(a) = self.assertions.iter().find(|a| a.cond as usize >= n) {
            return bad(format!(
                "assertion `{}`: node {} out of range",
                a.id, a.cond
            ));
        }
        if !self.actions.iter().all(|s| sym(*s)) {
            return bad("an action symbol out of range".into());
        }
        if self.by_action.len() != self.actions.len() + 1 {
            return bad("the action index does not match the actions".into());
        }
        let rule = |r: &u32| (*r as usize) < self.rules.len();
        for a in &self.by_action {
            let keyed = a.keyed.iter().flat_map(|k| &k.values);
            let ok = a.forbids.iter().chain(&a.permits).all(rule)
                && keyed
                    .clone()
                    .all(|e| e.forbids.iter().chain(&e.permits).all(rule));
            if !ok {
                return bad("the action index names a rule out of range".into());
            }
        }
        Ok(())
    }
}
