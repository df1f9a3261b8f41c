//! `Status` error bodies, shaped like kube-apiserver's so clients classify them by `reason`/`code`
//! (kube-rs turns them into `ErrorResponse`, kubectl prints `message`).

use serde_json::{Value, json};

/// A request failure that becomes a `meta/v1 Status` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details` of the Status (name, group, kind, causes), when the reason has any.
    pub details: Option<Value>,
}

/// The object an error is about, for `Status.details` and for kube-style messages.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub group: &'a str,
    /// The resource plural (`nodes`), as kube-apiserver puts it in `details.kind` for most errors.
    pub plural: &'a str,
    pub name: &'a str,
}

impl Subject<'_> {
    /// `nodes` or `nodeenis.networking.k8s.aws`: how kube-apiserver names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({"name": self.name, "kind": self.plural});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// An error about one object, with the object in `details`.
    fn about(s: Subject<'_>, code: u16, reason: &'static str, message: String) -> Self {
        ApiError {
            details: Some(s.details()),
            ..Self::new(code, reason, message)
        }
    }

    pub fn not_found(s: Subject<'_>) -> Self {
        let message = format!("{} \"{}\" not found", s.qualified(), s.name);
        Self::about(s, 404, "NotFound", message)
    }

    /// 404 for a path that names no served resource (kube-apiserver answers with a bare 404 Status).
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn already_exists(s: Subject<'_>) -> Self {
        let message = format!("{} \"{}\" already exists", s.qualified(), s.name);
        Self::about(s, 409, "AlreadyExists", message)
    }

    /// Optimistic-concurrency failure: the exact text kube-apiserver sends, which controllers log.
    pub fn conflict(s: Subject<'_>) -> Self {
        Self::conflict_with(
            s,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict_with(s: Subject<'_>, why: impl std::fmt::Display) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{}\": {why}",
            s.qualified(),
            s.name
        );
        Self::about(s, 409, "Conflict", message)
    }

    /// 422 with field causes. `kind_group` is `Node` or `NodeENI.networking.k8s.aws`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let kind_group = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let lines: Vec<String> = causes.iter().map(|c| c.line()).collect();
        let joined = if lines.len() == 1 {
            lines[0].clone()
        } else {
            format!("[{}]", lines.join(", "))
        };
        let mut details = json!({
            "name": name,
            "kind": kind,
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
        });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        ApiError {
            details: Some(details),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind_group} \"{name}\" is invalid: {joined}"),
            )
        }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {} (got {content_type})",
                accepted.join(", ")
            ),
        )
    }

    /// 410 for a resourceVersion older than the kept history, as kube-apiserver's watch cache says it.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// The Status object, as the body of an error reply or of a watch `ERROR` event.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// One field problem in a 422 reply; kube-apiserver prints `field: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub field: String,
    pub reason: String,
    pub message: String,
}

impl Cause {
    pub fn new(
        field: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Cause {
            field: field.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// The line that goes into the Status message. Messages that already start with the field
    /// (the crd-schema crate's Display form) are used as they are.
    fn line(&self) -> String {
        if self.field.is_empty() || self.message.starts_with(&format!("{}:", self.field)) {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// The Status a deletecollection answers with when the client asked for no object list.
pub fn success_status() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_cause_is_not_bracketed_and_several_are() {
        let one = ApiError::invalid(
            "NodeENI",
            "networking.k8s.aws",
            "x",
            vec![Cause::new(
                "spec.deviceIndex",
                "FieldValueInvalid",
                "spec.deviceIndex: Invalid value: 0: too small",
            )],
        );
        assert_eq!(
            one.message,
            "NodeENI.networking.k8s.aws \"x\" is invalid: spec.deviceIndex: Invalid value: 0: too small"
        );
        let two = ApiError::invalid(
            "Node",
            "",
            "n",
            vec![
                Cause::new("a", "FieldValueRequired", "Required value"),
                Cause::new("b", "FieldValueInvalid", "bad"),
            ],
        );
        assert_eq!(
            two.message,
            "Node \"n\" is invalid: [a: Required value, b: bad]"
        );
        assert_eq!(two.to_status()["details"]["causes"][1]["field"], "b");
        assert_eq!(two.code, 422);
    }

    #[test]
    fn conflict_message_matches_kube_apiserver() {
        let e = ApiError::conflict(Subject {
            group: "coordination.k8s.io",
            plural: "leases",
            name: "l",
        });
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"l\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(e.to_status()["details"]["group"], "coordination.k8s.io");
    }
}
