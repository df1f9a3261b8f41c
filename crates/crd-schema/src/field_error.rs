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

/// A failed CEL rule, as kube-apiserver reports it: the field the rule sits on, its schema type
/// as the "value", and the rule's message (or `failed rule: <rule>`).
pub(crate) fn from_cel(e: &kube_cel::ValidationError, root: &Node) -> FieldError {
    let field = e.field_path.trim_start_matches('.');
    let type_name = node_at(root, field)
        .map(Node::type_name)
        .unwrap_or("object");
    let detail = if e.message.is_empty() {
        format!("failed rule: {}", e.rule)
    } else {
        e.message.clone()
    };
    FieldError::new(
        field,
        FieldErrorKind::Invalid,
        format!("{field}: Invalid value: \"{type_name}\": {detail}"),
    )
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
