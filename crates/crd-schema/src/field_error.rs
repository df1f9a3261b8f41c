//! kube-apiserver's field errors (`k8s.io/apimachinery/pkg/util/validation/field`), worded as it
//! words them, so tests, `kubectl` output and the API double read like a real cluster.

use serde_json::Value;

use crate::schema::Node;

/// The error types of `field.ErrorType` that schema validation produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `FieldValueRequired` — "Required value".
    Required,
    /// `FieldValueInvalid` — "Invalid value".
    Invalid,
    /// `FieldValueTypeInvalid` — printed as "Invalid value" too.
    TypeInvalid,
    /// `FieldValueNotSupported` — "Unsupported value".
    NotSupported,
    /// `FieldValueTooLong` — "Too long".
    TooLong,
    /// `FieldValueTooMany` — "Too many".
    TooMany,
    /// `FieldValueDuplicate` — "Duplicate value".
    Duplicate,
    /// `FieldValueForbidden` — "Forbidden" (a CEL rule's `reason`).
    Forbidden,
}

impl FieldErrorKind {
    /// The `reason` of a Status cause.
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One field error: `field` is the path (`spec.subnetIDs[0]`), `message` the whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.deviceIndex`.
    pub field: String,
    /// What kind of error.
    pub kind: FieldErrorKind,
    /// The whole line as kube-apiserver prints it.
    pub message: String,
}

impl FieldError {
    /// The `reason` of a Status cause (`FieldValueInvalid` …).
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    pub(crate) fn required(field: &str) -> FieldError {
        FieldError::new(
            field,
            FieldErrorKind::Required,
            format!("{field}: Required value"),
        )
    }

    pub(crate) fn invalid(field: &str, value: &Value, detail: &str) -> FieldError {
        FieldError::new(
            field,
            FieldErrorKind::Invalid,
            format!("{field}: Invalid value: {}: {detail}", go_value(value)),
        )
    }

    pub(crate) fn type_invalid(field: &str, value: &Value, detail: &str) -> FieldError {
        FieldError::new(
            field,
            FieldErrorKind::TypeInvalid,
            format!("{field}: Invalid value: {}: {detail}", go_value(value)),
        )
    }

    pub(crate) fn not_supported(field: &str, value: &Value, allowed: &[Value]) -> FieldError {
        let allowed: Vec<String> = allowed.iter().map(go_value).collect();
        FieldError::new(
            field,
            FieldErrorKind::NotSupported,
            format!(
                "{field}: Unsupported value: {}: supported values: {}",
                go_value(value),
                allowed.join(", ")
            ),
        )
    }

    pub(crate) fn too_long(field: &str, max: u64) -> FieldError {
        let unit = if max == 1 { "byte" } else { "bytes" };
        FieldError::new(
            field,
            FieldErrorKind::TooLong,
            format!("{field}: Too long: may not be more than {max} {unit}"),
        )
    }

    pub(crate) fn too_many(field: &str, actual: usize, max: u64) -> FieldError {
        let unit = if max == 1 { "item" } else { "items" };
        FieldError::new(
            field,
            FieldErrorKind::TooMany,
            format!("{field}: Too many: {actual}: must have at most {max} {unit}"),
        )
    }

    pub(crate) fn duplicate(field: &str, value: &Value) -> FieldError {
        FieldError::new(
            field,
            FieldErrorKind::Duplicate,
            format!("{field}: Duplicate value: {}", go_value(value)),
        )
    }

    /// The error kube-apiserver adds when a blocking schema error kept the CEL rules from running
    /// (`field.Invalid(nil, nil, …)`: no path, a nil value).
    pub(crate) fn cel_not_checked() -> FieldError {
        FieldError::new(
            "<nil>",
            FieldErrorKind::Invalid,
            "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_owned(),
        )
    }

    fn new(field: &str, kind: FieldErrorKind, message: String) -> FieldError {
        FieldError {
            field: field.to_owned(),
            kind,
            message,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A value as Go's `field.Error` prints it: strings quoted, scalars bare, the rest as JSON.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "\"null\"".to_owned(),
        other => other.to_string(),
    }
}

/// A failed CEL rule, as kube-apiserver (apiextensions-apiserver's `cel.Validator`) reports it:
/// on the field the rule sits on, with the rule's message (or `failed rule: <rule>`), as the kind
/// of error the rule's `reason` names. The value is shown for scalars only; objects and arrays are
/// omitted (`spec: Invalid value: <message>`) — since Kubernetes 1.3x, before that the schema type
/// stood in for them (`spec: Invalid value: "object": <message>`).
pub(crate) fn from_cel(e: &kube_cel::ValidationError, root: &Node, obj: &Value) -> FieldError {
    let field = e.field_path.trim_start_matches('.');
    let type_name = node_at(root, field)
        .map(Node::type_name)
        .unwrap_or("object");
    let detail = if e.message.is_empty() {
        format!("failed rule: {}", e.rule)
    } else {
        e.message.clone()
    };
    let value = match type_name {
        "object" | "array" => None,
        _ => value_at(obj, field),
    };
    let shown = |label: &str| match value {
        Some(v) => format!("{field}: {label}: {}: {detail}", go_value(v)),
        None => format!("{field}: {label}: {detail}"),
    };
    let (kind, message) = match e.reason.as_deref() {
        Some("FieldValueForbidden") => (
            FieldErrorKind::Forbidden,
            format!("{field}: Forbidden: {detail}"),
        ),
        Some("FieldValueRequired") => (
            FieldErrorKind::Required,
            format!("{field}: Required value: {detail}"),
        ),
        Some("FieldValueDuplicate") => (
            FieldErrorKind::Duplicate,
            match value {
                Some(v) => format!("{field}: Duplicate value: {}", go_value(v)),
                None => format!("{field}: Duplicate value"),
            },
        ),
        _ => (FieldErrorKind::Invalid, shown("Invalid value")),
    };
    FieldError::new(field, kind, message)
}

/// The value at a field path like `spec.subnetIDs[0]` or `spec.nodeSelector[ng]`.
fn value_at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut value = obj;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            value = value.get(name)?;
        }
        while let Some(end) = rest.find(']') {
            let key = &rest[1..end];
            value = match value {
                Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
                other => other.get(key)?,
            };
            rest = &rest[end + 1..];
        }
    }
    Some(value)
}

/// The schema node at a field path like `spec.subnetIDs[0]`.
fn node_at<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    let mut node = root;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            node = node.child(name)?;
        }
        while let Some(end) = rest.find(']') {
            node = node.child(&rest[..=end])?;
            rest = &rest[end + 1..];
        }
    }
    Some(node)
}
