//! Declarations of what a policy set reads and names: `field root.path:
//! type`, `actions [...]` and `obligations [...]`.
//!
//! Invariants: a declared field is never a field of the schema, and is
//! declared once; once any field is declared, every extra path the set
//! reads must be declared (a typo is an error, not a value that is always
//! missing); likewise for actions and obligations once any are declared.
//! Declarations are global to the policy set, as classifications are.

use super::*;
use crate::ir::schema;
use crate::ir::{FieldDecl, ValueType};

/// What a declared field's root word reads.
fn root_of(word: &str) -> Option<ExtraRoot> {
    Some(match word {
        "principal" => ExtraRoot::Principal,
        "resource" => ExtraRoot::Resource,
        "request" => ExtraRoot::Request,
        "grant" => ExtraRoot::Grant,
        // Both regions: stored under the source's root.
        "region" => ExtraRoot::Source,
        _ => return None,
    })
}

impl<'s> Checker<'s> {
    pub(super) fn declare_fields(&mut self, files: &[syntax::File]) {
        for f in files {
            for item in &f.items {
                match item {
                    Item::Field { path, ty, list } => self.declare_field(path, ty, *list),
                    Item::Actions(names) => {
                        let set = self.declared_actions.get_or_insert_with(Vec::new);
                        set.extend(names.iter().map(|n| n.name.clone()));
                    }
                    Item::Obligations(names) => {
                        let set = self.declared_obligations.get_or_insert_with(Vec::new);
                        set.extend(names.iter().map(|n| n.name.clone()));
                    }
                    Item::ApproverRole { class, role } => {
                        let classification = class.as_ref().map(|c| self.intern(&c.name));
                        let role = self.intern(&role.name);
                        self.prog.approver_roles.push(crate::ir::ApproverRole {
                            classification,
                            role,
                        });
                    }
                    Item::GrantBound { class, seconds, .. } => {
                        let classification = class.as_ref().map(|c| self.intern(&c.name));
                        self.prog.grant_bounds.push(crate::ir::GrantBound {
                            classification,
                            seconds: *seconds,
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    fn declare_field(&mut self, path: &[Ident], ty: &Ident, list: bool) {
        let (Some(first), Some(last)) = (path.first(), path.last()) else {
            return;
        };
        let span = first.span.to(last.span);
        let text: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
        let text = text.join(".");
        let Some(root) = root_of(&first.name) else {
            self.err(
                Diagnostic::new(CheckError::NoField { record: first.name.clone(), field: text.clone() }, first.span)
                    .label("not a record fields are declared on")
                    .help("declare fields of `principal`, `resource`, `request`, `region` or `grant`: `field resource.home_region: subdivision`"),
            );
            return;
        };
        let rest: Vec<String> = path.iter().skip(1).map(|p| p.name.clone()).collect();
        let in_schema = match root {
            ExtraRoot::Principal | ExtraRoot::Resource => {
                schema::request_at(path.iter().map(|p| p.name.as_str())).is_some()
                    || (root == ExtraRoot::Resource
                        && paths::request_fields("resource")
                            .contains(&rest.first().map_or("", String::as_str)))
            }
            ExtraRoot::Source => schema::region(rest.first().map_or("", String::as_str)).is_some(),
            ExtraRoot::Grant => schema::grant(rest.first().map_or("", String::as_str)).is_some(),
            _ => false,
        };
        if in_schema {
            self.err(
                Diagnostic::new(CheckError::DuplicateField { path: text }, span)
                    .label("a field of the schema")
                    .help("the schema's fields are typed already: declare only the extra fields the policies read"),
            );
            return;
        }
        let Some(t) = ValueType::ALL
            .iter()
            .find(|(n, _)| *n == ty.name)
            .map(|(_, t)| *t)
        else {
            self.err(
                Diagnostic::new(
                    CheckError::UnknownType {
                        name: ty.name.clone(),
                    },
                    ty.span,
                )
                .label("not a type")
                .help(suggest(
                    &ty.name,
                    ValueType::ALL.iter().map(|(n, _)| *n),
                    "types (`[type]` for a list)",
                )),
            );
            return;
        };
        let at = ExtraPath { root, path: rest };
        if let Some((_, first_span)) = self.field_decls.get(&at) {
            let first_span = *first_span;
            self.err(
                Diagnostic::new(CheckError::DuplicateField { path: text }, span)
                    .also(first_span, "first declared here")
                    .label("declared again here")
                    .help("declare each field once; declarations are global to the policy set"),
            );
            return;
        }
        self.field_decls
            .insert(at.clone(), (self.prog.fields.len(), span));
        self.prog.fields.push(FieldDecl { at, ty: t, list });
    }

    /// A declared field's type, by where it is read (`target`'s and
    /// `source`'s attributes are declared as `region`'s).
    pub(super) fn declared(&self, root: ExtraRoot, path: &[Ident]) -> Option<&FieldDecl> {
        let root = if root == ExtraRoot::Target {
            ExtraRoot::Source
        } else {
            root
        };
        let key = ExtraPath {
            root,
            path: path.iter().map(|p| p.name.clone()).collect(),
        };
        let (i, _) = self.field_decls.get(&key)?;
        self.prog.fields.get(*i)
    }

    /// An extra path under the declarations: its load when declared (typed;
    /// `x.country` of a subdivision gives its country), an error when
    /// fields are declared but this one is not, `None` when none are.
    pub(super) fn declared_path(
        &mut self,
        root: ExtraRoot,
        rest: &[Ident],
        span: Span,
    ) -> Option<Option<(NodeId, Ty)>> {
        if let Some(d) = self.declared(root, rest) {
            let ty = if d.list { Ty::List } else { ty_of_value(d.ty) };
            return Some(Some((self.extra(root, rest), ty)));
        }
        if let Some((last, prefix)) = rest.split_last() {
            let subdivision = self
                .declared(root, prefix)
                .is_some_and(|d| d.ty == ValueType::Subdivision && !d.list);
            if subdivision && last.name == "country" {
                let sub = self.extra(root, prefix);
                return Some(Some((
                    self.push(Node::CountryOf { expr: sub }),
                    Ty::Country,
                )));
            }
        }
        if self.prog.fields.is_empty() && root != ExtraRoot::Source && root != ExtraRoot::Target {
            return None;
        }
        let name = if root == ExtraRoot::Target || root == ExtraRoot::Source {
            "region"
        } else {
            root.name()
        };
        let written = if root == ExtraRoot::Grant {
            "grant"
        } else {
            root.name()
        };
        let path: Vec<&str> = rest.iter().map(|p| p.name.as_str()).collect();
        let path = path.join(".");
        let declared: Vec<String> = self
            .prog
            .fields
            .iter()
            .filter(|f| {
                f.at.root == root || (f.at.root == ExtraRoot::Source && root == ExtraRoot::Target)
            })
            .map(|f| f.at.path.join("."))
            .collect();
        let help = match super::suggest::closest(&path, declared.iter().map(String::as_str)) {
            Some(c) => format!("did you mean `{written}.{c}`? Otherwise declare it: `field {name}.{path}: string` (or its type)"),
            None => format!("declare it with its type: `field {name}.{path}: string` (or number, boolean, country, subdivision, time, `[type]`)"),
        };
        self.err(
            Diagnostic::new(
                CheckError::UndeclaredField {
                    path: format!("{written}.{path}"),
                },
                span,
            )
            .label("not declared")
            .help(help),
        );
        Some(None)
    }

    /// An action the policies name that `actions [...]` does not declare.
    pub(super) fn check_declared_action(&mut self, w: &Ident) -> bool {
        let Some(declared) = &self.declared_actions else {
            return false;
        };
        if declared.contains(&w.name) {
            return true;
        }
        let help = suggest(
            &w.name,
            declared.iter().map(String::as_str),
            "declared actions",
        );
        self.err(
            Diagnostic::new(
                CheckError::UndeclaredAction {
                    name: w.name.clone(),
                    what: "action",
                },
                w.span,
            )
            .label("not declared")
            .help(format!("{help}; or add it to `actions [...]`")),
        );
        true
    }

    /// Obligations a rule names that `obligations [...]` does not declare.
    pub(super) fn check_declared_obligations(&mut self, names: &[Ident]) {
        let Some(declared) = self.declared_obligations.clone() else {
            return;
        };
        for o in names {
            if declared.contains(&o.name) {
                continue;
            }
            let help = suggest(
                &o.name,
                declared.iter().map(String::as_str),
                "declared obligations",
            );
            self.err(
                Diagnostic::new(
                    CheckError::UndeclaredAction {
                        name: o.name.clone(),
                        what: "obligation",
                    },
                    o.span,
                )
                .label("not declared")
                .help(format!("{help}; or add it to `obligations [...]`")),
            );
        }
    }
}

/// The checker's type for a declared field's value.
pub(super) fn ty_of_value(t: ValueType) -> Ty {
    match t {
        ValueType::String => Ty::Str(Kind::Plain),
        ValueType::Number => Ty::Num,
        ValueType::Boolean => Ty::Bool,
        ValueType::Country => Ty::Country,
        ValueType::Subdivision => Ty::Subdivision,
        ValueType::Time => Ty::Time,
    }
}
