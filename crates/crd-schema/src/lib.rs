//! What kube-apiserver does to a custom object on every write, client-side: prune unknown fields,
//! apply schema defaults, check the OpenAPI constraints and evaluate the CEL
//! `x-kubernetes-validations` rules — reporting failures with kube-apiserver's own field-error
//! lines (`spec.deviceIndex: Invalid value: 0: spec.deviceIndex in body should be greater than or
//! equal to 1`).
//!
//! One implementation serves two purposes: the api crate's tests prove every CRD rule both ways
//! without a cluster, and the Kubernetes API double refuses exactly what a real cluster refuses.
//!
//! The order follows kube-apiserver: prune → default → validate schema → validate CEL. CEL runs
//! only when the schema check found no blocking error (a missing, mistyped, unsupported or
//! oversized value); otherwise kube-apiserver adds one `<nil>: Invalid value: null: some
//! validation rules were not checked …` error instead, and so do we.

mod field_error;
mod prune_default;
mod schema;
mod validate;

use std::sync::Arc;

pub use field_error::{FieldError, FieldErrorKind};
pub use schema::SchemaError;

use schema::Node;

/// One compiled version of a CustomResourceDefinition's `openAPIV3Schema`.
#[derive(Clone)]
pub struct CrdSchema {
    root: Arc<Node>,
    cel: Arc<kube_cel::CompiledSchema>,
    /// Whether the schema has any CEL rule (kube builds no CEL validator otherwise).
    has_cel: bool,
    json: Arc<serde_json::Value>,
    root_context: kube_cel::RootContext,
}

impl std::fmt::Debug for CrdSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrdSchema")
            .field("kind", &self.root_context.kind)
            .finish_non_exhaustive()
    }
}

/// A successful admission: what was dropped on the way (unknown fields), for `Warning` headers and
/// `fieldValidation=Strict`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    /// Paths of pruned unknown fields, e.g. `.spec.foo`.
    pub pruned: Vec<String>,
}

/// A refused object: every cause, in the order kube-apiserver reports them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.causes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
pub struct Invalid {
    /// The field errors.
    pub causes: Vec<FieldError>,
}

impl Invalid {
    /// The whole message as kube-apiserver words it for a `422 Invalid` Status:
    /// `NodeENI.networking.k8s.aws "name" is invalid: [cause, cause]` (no brackets for one cause).
    pub fn message(&self, kind: &str, group: &str, name: &str) -> String {
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let causes: Vec<String> = self.causes.iter().map(ToString::to_string).collect();
        let body = match causes.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        format!("{qualified} \"{name}\" is invalid: {body}")
    }
}

impl CrdSchema {
    /// Compiles the schema of `version` from a whole CustomResourceDefinition (JSON). Fails when
    /// the version or its schema is missing, the schema is not structural enough to interpret, a
    /// `pattern` is not a valid regular expression, or a CEL rule does not compile.
    pub fn from_crd(crd: &serde_json::Value, version: &str) -> Result<CrdSchema, SchemaError> {
        let spec = crd.get("spec").ok_or(SchemaError::Missing("spec"))?;
        let group = spec
            .get("group")
            .and_then(|g| g.as_str())
            .unwrap_or_default();
        let kind = spec
            .pointer("/names/kind")
            .and_then(|k| k.as_str())
            .ok_or(SchemaError::Missing("spec.names.kind"))?;
        let versions = spec
            .get("versions")
            .and_then(|v| v.as_array())
            .ok_or(SchemaError::Missing("spec.versions"))?;
        let v = versions
            .iter()
            .find(|v| v.get("name").and_then(|n| n.as_str()) == Some(version))
            .ok_or_else(|| SchemaError::NoSuchVersion(version.to_owned()))?;
        let schema = v
            .pointer("/schema/openAPIV3Schema")
            .ok_or(SchemaError::Missing("schema.openAPIV3Schema"))?;
        let root_context = kube_cel::RootContext {
            api_version: if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            },
            api_group: group.to_owned(),
            kind: kind.to_owned(),
        };
        Self::compile(schema, root_context)
    }

    /// Compiles a bare `openAPIV3Schema` (for tests and non-CRD callers).
    pub fn from_openapi(schema: &serde_json::Value) -> Result<CrdSchema, SchemaError> {
        Self::compile(schema, kube_cel::RootContext::default())
    }

    fn compile(
        schema: &serde_json::Value,
        root_context: kube_cel::RootContext,
    ) -> Result<CrdSchema, SchemaError> {
        let root = Node::parse(schema, "")?;
        let cel = kube_cel::compile_schema(schema);
        let mut errors = Vec::new();
        collect_cel_errors(&cel, &mut errors);
        if !errors.is_empty() {
            return Err(SchemaError::Cel(errors.join("; ")));
        }
        Ok(CrdSchema {
            root: Arc::new(root),
            has_cel: has_rules(&cel),
            cel: Arc::new(cel),
            json: Arc::new(schema.clone()),
            root_context,
        })
    }

    /// The schema as given (JSON), e.g. for serving OpenAPI documents.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// Admits `obj` as kube-apiserver would on create or update: prunes unknown fields and
    /// applies defaults in place, then validates. `old` is the stored object on update (for CEL
    /// transition rules using `oldSelf`). The root's `apiVersion`, `kind` and `metadata` are left
    /// to the caller (they are validated as ObjectMeta, not by the schema).
    pub fn admit(
        &self,
        obj: &mut serde_json::Value,
        old: Option<&serde_json::Value>,
    ) -> Result<Admitted, Invalid> {
        let mut pruned = Vec::new();
        prune_default::prune_and_default(&self.root, obj, "", true, &mut pruned);
        let mut causes = Vec::new();
        validate::validate(&self.root, obj, "", &mut causes);
        validate::list_duplicates(&self.root, obj, "", &mut causes);
        if self.has_cel {
            if causes.iter().any(blocks_cel) {
                causes.push(FieldError::cel_not_checked());
            } else {
                let validator = kube_cel::Validator::new();
                if let Err(errors) = validator.validate_compiled_with_context(
                    &self.cel,
                    obj,
                    old,
                    Some(&self.root_context),
                ) {
                    for e in errors.iter() {
                        causes.push(field_error::from_cel(e, &self.root, obj));
                    }
                }
            }
        }
        if causes.is_empty() {
            Ok(Admitted { pruned })
        } else {
            Err(Invalid { causes })
        }
    }
}

/// apiextensions-apiserver's `hasBlockingErr`: after these schema errors the CEL rules are not
/// run (rules over missing, mistyped or oversized values say nothing useful); other errors
/// (patterns, bounds) leave them running.
fn blocks_cel(e: &FieldError) -> bool {
    matches!(
        e.kind,
        FieldErrorKind::NotSupported
            | FieldErrorKind::Required
            | FieldErrorKind::TooLong
            | FieldErrorKind::TooMany
            | FieldErrorKind::TypeInvalid
    )
}

/// Whether any node of the tree has `x-kubernetes-validations` (kube's `hasXValidations`):
/// without rules there is no CEL validator, and so no "rules were not checked" error either.
fn has_rules(node: &kube_cel::CompiledSchema) -> bool {
    !node.validations.is_empty()
        || node.properties.values().any(has_rules)
        || node
            .items
            .iter()
            .chain(node.additional_properties.iter())
            .any(|c| has_rules(c))
        || node
            .all_of
            .iter()
            .chain(&node.one_of)
            .chain(&node.any_of)
            .any(has_rules)
}

/// Every rule in the tree that failed to compile, with where it is.
fn collect_cel_errors(node: &kube_cel::CompiledSchema, out: &mut Vec<String>) {
    out.extend(node.compilation_errors().iter().map(|e| e.to_string()));
    for child in node.properties.values() {
        collect_cel_errors(child, out);
    }
    for child in node.items.iter().chain(node.additional_properties.iter()) {
        collect_cel_errors(child, out);
    }
    for child in node.all_of.iter().chain(&node.one_of).chain(&node.any_of) {
        collect_cel_errors(child, out);
    }
}
