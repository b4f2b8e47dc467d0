//! Path resolution: `resource.home_country`, `target_region.status`,
//! `g.to_country`, set names, and request fields outside the schema.

use super::*;
use crate::ir::schema::{self, FieldType};

impl<'s> Checker<'s> {
    pub(super) fn extra(&mut self, root: ExtraRoot, path: &[Ident]) -> NodeId {
        let key = ExtraPath {
            root,
            path: path.iter().map(|s| s.name.clone()).collect(),
        };
        let i = match self.extras.get(&key) {
            Some(i) => *i,
            None => {
                let i = self.prog.extras.len() as u32;
                self.prog.extras.push(key.clone());
                self.extras.insert(key, i);
                i
            }
        };
        self.push(Node::Load(Field::Extra(i)))
    }

    pub(super) fn load(&mut self, f: Field, t: Ty) -> Option<(NodeId, Ty)> {
        Some((self.push(Node::Load(f)), t))
    }

    pub(super) fn unknown_field(
        &mut self,
        root: &str,
        seg: &Ident,
        fields: &[&str],
    ) -> Option<(NodeId, Ty)> {
        self.err(
            Diagnostic::new(
                CheckError::NoField {
                    record: root.to_string(),
                    field: seg.name.clone(),
                },
                seg.span,
            )
            .label("unknown field")
            .help(suggest(
                &seg.name,
                fields.iter().copied(),
                &format!("fields of `{root}`"),
            )),
        );
        None
    }

    pub(super) fn path(&mut self, segs: &[Ident], span: Span, file: usize) -> Option<(NodeId, Ty)> {
        let first = segs.first()?;
        let rest = segs.get(1..).unwrap_or(&[]);
        let root = first.name.as_str();
        if let Some(b) = self.binding(root) {
            return match b {
                calls::Binding::Grant => self.grant_path(root, rest, span),
                calls::Binding::Path(mut prefix) => {
                    prefix.extend(rest.iter().cloned());
                    // Resolved as the caller's path, outside this expansion.
                    let frame = self.bindings.pop();
                    let r = self.path(&prefix, span, file);
                    self.bindings.extend(frame);
                    r
                }
                calls::Binding::Value(n, t) if rest.is_empty() => Some((n, t)),
                calls::Binding::Value(..) => self.unknown_field(root, rest.first()?, &[]),
            };
        }
        if self.grant_var.as_deref() == Some(root) {
            return self.grant_path(root, rest, span);
        }
        if let Some(s) = schema::request_at(segs.iter().map(|s| s.name.as_str())) {
            return self.load(s.field, ty_of(s.ty));
        }
        match root {
            "source" | "target" => {
                let w = if root == "source" {
                    Which::Source
                } else {
                    Which::Target
                };
                let Some(field) = rest.first() else {
                    return self.load(Field::Region(w), Ty::Region);
                };
                let Some(s) = schema::region(&field.name) else {
                    let extra_root = if w == Which::Source {
                        ExtraRoot::Source
                    } else {
                        ExtraRoot::Target
                    };
                    if self.declared(extra_root, rest).is_some()
                        || (rest.len() > 1
                            && self
                                .declared(extra_root, rest.get(..rest.len() - 1)?)
                                .is_some())
                    {
                        return self.declared_path(extra_root, rest, span)?;
                    }
                    let mut names: Vec<String> =
                        schema::REGION.iter().map(|s| s.path.to_string()).collect();
                    names.extend(
                        self.prog
                            .fields
                            .iter()
                            .filter(|f| f.at.root == ExtraRoot::Source)
                            .map(|f| f.at.path.join(".")),
                    );
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    return self.unknown_field(root, field, &names);
                };
                if let Some(extra) = rest.get(1) {
                    return self.unknown_field(&format!("{root}.{}", field.name), extra, &[]);
                }
                self.load(Field::RegionField(w, s.field), ty_of(s.ty))
            }
            "principal" | "resource" => {
                let Some(field) = rest.first() else {
                    return self.whole(first, &request_fields(root));
                };
                let extra_root = if root == "principal" {
                    ExtraRoot::Principal
                } else {
                    ExtraRoot::Resource
                };
                // A field of the schema with a sub-field it does not have.
                let known =
                    || root == "resource" && request_fields(root).contains(&field.name.as_str());
                match rest.get(1) {
                    Some(_) if root == "resource" && rest.len() > 2 => {
                        self.unknown_field(&format!("{root}.{}", field.name), rest.get(2)?, &[])
                    }
                    Some(sub) if known() => {
                        let parent = format!("{root}.{}", field.name);
                        self.unknown_field(&parent, sub, &request_fields(&parent))
                    }
                    _ => {
                        if let Some(declared) = self.declared_path(extra_root, rest, span) {
                            return declared;
                        }
                        self.near_miss(root, rest, false, span);
                        Some((self.extra(extra_root, rest), Ty::Any))
                    }
                }
            }
            "request" => {
                if rest.is_empty() {
                    return self.whole(first, &["<any field of the request>"]);
                }
                if let Some(declared) = self.declared_path(ExtraRoot::Request, rest, span) {
                    return declared;
                }
                let path: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
                let inner = path.get(1..).unwrap_or(&[]).join(".");
                let roots = request_fields("");
                let help = if rest
                    .first()
                    .is_some_and(|f| roots.contains(&f.name.as_str()))
                {
                    format!("write `{inner}`: `request.` reads the document by key, outside the schema's checks")
                } else {
                    "a field outside the contract is read by key: if a request lacks it (or it is misspelt), every comparison with it is false".to_string()
                };
                self.warn(
                    Diagnostic::warning(
                        CheckError::RequestPath {
                            path: path.join("."),
                        },
                        span,
                    )
                    .label("outside the schema")
                    .help(help),
                );
                Some((self.extra(ExtraRoot::Request, rest), Ty::Any))
            }
            _ => self.name(segs, span, file),
        }
    }

    pub(super) fn whole(&mut self, id: &Ident, fields: &[&str]) -> Option<(NodeId, Ty)> {
        self.err(
            Diagnostic::new(
                CheckError::WholeRecord {
                    name: id.name.clone(),
                },
                id.span,
            )
            .label("a whole record")
            .help(format!("its fields: {}", fields.join(", "))),
        );
        None
    }

    pub(super) fn grant_path(
        &mut self,
        var: &str,
        rest: &[Ident],
        span: Span,
    ) -> Option<(NodeId, Ty)> {
        const FIELDS: [&str; 12] = schema::GRANT_FIELDS;
        let Some(field) = rest.first() else {
            self.err(
                Diagnostic::new(
                    CheckError::WholeGrant {
                        var: var.to_string(),
                    },
                    span,
                )
                .label("a whole grant")
                .help(format!("its fields: {}", FIELDS.join(", "))),
            );
            return None;
        };
        let _ = Ty::Grant;
        let (g, t) = match (schema::grant(&field.name), rest.len()) {
            (Some(s), 1) => (s.field, ty_of(s.ty)),
            _ => {
                if let Some(declared) = self.declared_path(ExtraRoot::Grant, rest, span) {
                    return declared;
                }
                self.near_miss(var, rest, true, span);
                return Some((self.extra(ExtraRoot::Grant, rest), Ty::Any));
            }
        };
        self.load(Field::Grant(g), t)
    }

    /// A name that is not a request path: a set, a country code or a word.
    pub(super) fn name(&mut self, segs: &[Ident], span: Span, file: usize) -> Option<(NodeId, Ty)> {
        let first = segs.first()?;
        if segs.len() == 1 {
            // A named condition without parameters: `eea_personal`.
            if self
                .cond_scopes
                .get(file)
                .is_some_and(|s| s.contains_key(&first.name))
            {
                return self.call(first, &[], span, file);
            }
            if let Some(&i) = self.scopes.get(file).and_then(|s| s.get(&first.name)) {
                self.used.insert((file, i));
                return self.set_ref(i);
            }
            if looks_like_country(&first.name) {
                let c = self.country_ident(first, true)?;
                return Some((self.push(Node::Const(Const::Country(c))), Ty::Country));
            }
            if is_symbol(&first.name) {
                let s = self.intern(&first.name);
                return Some((self.push(Node::Const(Const::Str(s))), Ty::Str(Kind::Plain)));
            }
        } else {
            // A qualified set name: `geo.EEA`.
            let (last, pkg) = segs.split_last()?;
            let pkg: Vec<&str> = pkg.iter().map(|s| s.name.as_str()).collect();
            let found = self
                .pkg_sets
                .get(&pkg.join("."))
                .and_then(|p| p.get(&last.name))
                .copied();
            if let Some(i) = found {
                self.used.insert((file, i));
                return self.set_ref(i);
            }
        }
        // A name a failed import names was reported at the import.
        if segs.len() == 1 && self.failed_imports.contains(&(file, first.name.clone())) {
            return None;
        }
        let mut roots = request_fields("");
        roots.extend(["source", "target", "request"]);
        let scope_names: Vec<String> = self
            .scopes
            .get(file)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        roots.extend(scope_names.iter().map(String::as_str));
        if let Some(g) = &self.grant_var {
            let g = g.clone();
            let help = self.import_hint(&first.name).unwrap_or_else(|| {
                suggest(
                    &first.name,
                    roots.iter().copied().chain([g.as_str()]),
                    "names in scope",
                )
            });
            self.err(
                Diagnostic::new(
                    CheckError::UnknownName {
                        name: first.name.clone(),
                    },
                    first.span,
                )
                .label("not declared")
                .help(help),
            );
            return None;
        }
        let help = self
            .import_hint(&first.name)
            .unwrap_or_else(|| suggest(&first.name, roots.into_iter(), "names in scope"));
        let name = first.name.clone();
        let (problem, at) = if segs.len() > 1 {
            (CheckError::UnknownName { name }, first.span)
        } else {
            (CheckError::UnknownSetOrName { name }, span)
        };
        self.err(
            Diagnostic::new(problem, at)
                .label("not declared")
                .help(help),
        );
        None
    }

    pub(super) fn set_ref(&mut self, decl: usize) -> Option<(NodeId, Ty)> {
        let (v, idx) = match self.set_decls.get(decl).map(|d| &d.state) {
            Some(SetState::Done(Some((v, i)))) => (v.clone(), *i),
            _ => return None,
        };
        let t = match v {
            SetVal::Countries(_) => Elem::Countries,
            SetVal::Strings(_) => Elem::Strings,
            SetVal::Empty => Elem::Empty,
        };
        Some((self.push(Node::Const(Const::Set(idx))), Ty::Set(t)))
    }
}

impl Checker<'_> {
    /// Warns when a field outside the schema is one edit or two from one in
    /// it (`resource.home_contry`, `g.mechansim`): a typo there reads a
    /// missing value, and the rule silently never applies. The fields are
    /// the request's `root`'s, or a grant's when `grant` (`root` then names
    /// its variable).
    fn near_miss(&mut self, root: &str, rest: &[Ident], grant: bool, span: Span) {
        let Some(first) = rest.first() else { return };
        // A name in the schema or far from every field of it is looked at
        // once (the same extra field is read by thousands of rules), keyed
        // by its path: the fields it is held to follow from it.
        let mut key = String::with_capacity(6 + root.len() + 1 + first.name.len());
        if grant {
            key.push_str("grant ");
        }
        key.push_str(root);
        key.push('.');
        key.push_str(&first.name);
        if self.far_fields.contains(&key) {
            return;
        }
        let fields = if grant {
            schema::GRANT_FIELDS.to_vec()
        } else {
            request_fields(root)
        };
        if fields.contains(&first.name.as_str()) {
            self.far_fields.insert(key);
            return;
        }
        let Some(close) = super::suggest::closest(&first.name, fields.iter().copied()) else {
            self.far_fields.insert(key);
            return;
        };
        let path: Vec<&str> = std::iter::once(root)
            .chain(rest.iter().map(|s| s.name.as_str()))
            .collect();
        self.warn(
            Diagnostic::warning(
                CheckError::SuspiciousPath {
                    path: path.join("."),
                    suggestion: format!("{root}.{close}"),
                },
                span,
            )
            .label("not in the schema")
            .help(format!(
                "did you mean `{root}.{close}`? A field outside the schema is read by key, and a missing one makes every comparison false"
            )),
        );
    }
}

/// The type the checker gives a field of the schema.
fn ty_of(t: FieldType) -> Ty {
    match t {
        FieldType::Str => Ty::Str(Kind::Plain),
        FieldType::Class => Ty::Str(Kind::Class),
        FieldType::Sensitivity => Ty::Str(Kind::Sensitivity),
        FieldType::Mode => Ty::Str(Kind::Mode),
        FieldType::Status => Ty::Str(Kind::Status),
        FieldType::Profile => Ty::Profile,
        FieldType::ProfilePrimary => Ty::ProfilePrimary,
        FieldType::Country => Ty::Country,
        FieldType::Time => Ty::Time,
        FieldType::Bool => Ty::Bool,
        FieldType::List => Ty::List,
    }
}

/// The names one level below `parent` in the request's schema (`""`: the
/// roots), in the schema's order.
pub(super) fn request_fields(parent: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for s in &schema::REQUEST {
        let below = if parent.is_empty() {
            Some(s.path)
        } else {
            s.path
                .strip_prefix(parent)
                .and_then(|r| r.strip_prefix('.'))
        };
        if let Some(name) = below.and_then(|b| b.split('.').next()) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}
