//! Path resolution: `resource.home_country`, `target_region.status`,
//! `g.to_country`, set names, and request fields outside the schema.

use super::*;

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
                Code::UnknownName,
                seg.span,
                format!("`{root}` has no field `{}`", seg.name),
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
        if self.grant_var.as_deref() == Some(root) {
            return self.grant_path(root, rest, span);
        }
        match root {
            "action" | "now" | "purpose" | "source_region" | "target_region" if rest.is_empty() => {
                let (f, t) = match root {
                    "action" => (Field::Action, Ty::Str(Kind::Plain)),
                    "now" => (Field::Now, Ty::Time),
                    "purpose" => (Field::Purpose, Ty::Str(Kind::Plain)),
                    "source_region" => (Field::SourceRegionId, Ty::Str(Kind::Plain)),
                    _ => (Field::TargetRegionId, Ty::Str(Kind::Plain)),
                };
                self.load(f, t)
            }
            "source" | "target" => {
                let w = if root == "source" {
                    Which::Source
                } else {
                    Which::Target
                };
                let Some(field) = rest.first() else {
                    return self.load(Field::Region(w), Ty::Region);
                };
                let fields = [
                    "id",
                    "country",
                    "status",
                    "sovereign",
                    "provider",
                    "location",
                    "zones",
                ];
                let (rf, t) = match field.name.as_str() {
                    "id" => (RegionField::Id, Ty::Str(Kind::Plain)),
                    "country" => (RegionField::Country, Ty::Country),
                    "status" => (RegionField::Status, Ty::Str(Kind::Status)),
                    "sovereign" => (RegionField::Sovereign, Ty::Bool),
                    "provider" => (RegionField::Provider, Ty::Str(Kind::Plain)),
                    "location" => (RegionField::Location, Ty::Str(Kind::Plain)),
                    "zones" => (RegionField::Zones, Ty::List),
                    _ => return self.unknown_field(root, field, &fields),
                };
                if let Some(extra) = rest.get(1) {
                    return self.unknown_field(&format!("{root}.{}", field.name), extra, &[]);
                }
                self.load(Field::RegionField(w, rf), t)
            }
            "principal" => {
                let Some(field) = rest.first() else {
                    return self.whole(first, &["id", "country", "roles"]);
                };
                let simple = rest.len() == 1;
                match field.name.as_str() {
                    "id" if simple => self.load(Field::PrincipalId, Ty::Str(Kind::Plain)),
                    "country" if simple => self.load(Field::PrincipalCountry, Ty::Country),
                    "roles" if simple => self.load(Field::PrincipalRoles, Ty::List),
                    _ => Some((self.extra(ExtraRoot::Principal, rest), Ty::Any)),
                }
            }
            "resource" => {
                let fields = [
                    "id",
                    "classification",
                    "residency",
                    "home_country",
                    "client_regions",
                ];
                let Some(field) = rest.first() else {
                    return self.whole(first, &fields);
                };
                let sub = rest.get(1);
                if rest.len() > 2 {
                    return self.unknown_field(
                        &format!("resource.{}", field.name),
                        rest.get(2)?,
                        &[],
                    );
                }
                match (field.name.as_str(), sub.map(|s| s.name.as_str())) {
                    ("id", None) => self.load(Field::ResourceId, Ty::Str(Kind::Plain)),
                    ("classification", None) => {
                        self.load(Field::Classification, Ty::Str(Kind::Class))
                    }
                    ("classification", Some("sensitivity")) => {
                        self.load(Field::Sensitivity, Ty::Str(Kind::Sensitivity))
                    }
                    ("residency", None) => self.load(Field::Residency, Ty::Profile),
                    ("residency", Some("primary")) => {
                        self.load(Field::Residency, Ty::ProfilePrimary)
                    }
                    ("residency", Some("mode")) => {
                        self.load(Field::ResidencyMode, Ty::Str(Kind::Mode))
                    }
                    ("residency", Some("country")) => {
                        self.load(Field::ResidencyCountry, Ty::Country)
                    }
                    ("home_country", None) => self.load(Field::HomeCountry, Ty::Country),
                    ("client_regions", None) => self.load(Field::ClientRegions, Ty::List),
                    ("classification", Some(_)) => {
                        self.unknown_field("resource.classification", sub?, &["sensitivity"])
                    }
                    ("residency", Some(_)) => self.unknown_field(
                        "resource.residency",
                        sub?,
                        &["primary", "mode", "country"],
                    ),
                    (name, Some(_)) if fields.contains(&name) => {
                        self.unknown_field(&format!("resource.{name}"), sub?, &[])
                    }
                    _ => Some((self.extra(ExtraRoot::Resource, rest), Ty::Any)),
                }
            }
            "request" => {
                if rest.is_empty() {
                    return self.whole(first, &["<any field of the request>"]);
                }
                Some((self.extra(ExtraRoot::Request, rest), Ty::Any))
            }
            _ => self.name(segs, span, file),
        }
    }

    pub(super) fn whole(&mut self, id: &Ident, fields: &[&str]) -> Option<(NodeId, Ty)> {
        self.err(
            Diagnostic::new(
                Code::Type,
                id.span,
                format!("`{}` is a record; use one of its fields", id.name),
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
        const FIELDS: [&str; 12] = crate::documents::GRANT_FIELDS;
        let Some(field) = rest.first() else {
            self.err(
                Diagnostic::new(
                    Code::Type,
                    span,
                    format!("`{var}` is a grant; use one of its fields"),
                )
                .label("a whole grant")
                .help(format!("its fields: {}", FIELDS.join(", "))),
            );
            return None;
        };
        let _ = Ty::Grant;
        let (g, t) = match (field.name.as_str(), rest.len()) {
            ("id", 1) => (GrantField::Id, Ty::Str(Kind::Plain)),
            ("principal", 1) => (GrantField::Principal, Ty::Str(Kind::Plain)),
            ("resource", 1) => (GrantField::Resource, Ty::Str(Kind::Plain)),
            ("classifications", 1) => (GrantField::Classifications, Ty::List),
            ("to_country", 1) => (GrantField::ToCountry, Ty::Country),
            ("purpose", 1) => (GrantField::Purpose, Ty::Str(Kind::Plain)),
            ("mechanism", 1) => (GrantField::Mechanism, Ty::Str(Kind::Plain)),
            ("requested_by", 1) => (GrantField::RequestedBy, Ty::Str(Kind::Plain)),
            ("approved_by", 1) => (GrantField::ApprovedBy, Ty::Str(Kind::Plain)),
            ("valid_from", 1) => (GrantField::ValidFrom, Ty::Time),
            ("expires_at", 1) => (GrantField::ExpiresAt, Ty::Time),
            ("revoked_at", 1) => (GrantField::RevokedAt, Ty::Time),
            _ => return Some((self.extra(ExtraRoot::Grant, rest), Ty::Any)),
        };
        self.load(Field::Grant(g), t)
    }

    /// A name that is not a request path: a set, a country code or a word.
    pub(super) fn name(&mut self, segs: &[Ident], span: Span, file: usize) -> Option<(NodeId, Ty)> {
        let first = segs.first()?;
        if segs.len() == 1 {
            if let Some(&i) = self.scopes.get(file).and_then(|s| s.get(&first.name)) {
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
                return self.set_ref(i);
            }
        }
        let mut roots = vec![
            "action",
            "now",
            "purpose",
            "principal",
            "resource",
            "source",
            "target",
            "source_region",
            "target_region",
            "request",
        ];
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
                    Code::UnknownName,
                    first.span,
                    format!("unknown name `{}`", first.name),
                )
                .label("not declared")
                .help(help),
            );
            return None;
        }
        let help = self
            .import_hint(&first.name)
            .unwrap_or_else(|| suggest(&first.name, roots.into_iter(), "names in scope"));
        let what = if segs.len() > 1 {
            "unknown name"
        } else {
            "unknown set or name"
        };
        self.err(
            Diagnostic::new(
                Code::UnknownName,
                if segs.len() > 1 { first.span } else { span },
                format!("{what} `{}`", first.name),
            )
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
