//! What the server knows about one served resource (group/version/kind, scope, names, subresources,
//! printer columns): everything discovery, routing, tables and write semantics need.

use multi_eni_crd_schema::CrdSchema;

use crate::conversion::Conversion;
use serde_json::Value;

/// `(group, plural)`: the identity of a store. All served versions of a CRD share one store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub plural: String,
}

/// A column of `kubectl get` output: a CRD's `additionalPrinterColumns` entry or a built-in one.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub source: ColumnSource,
}

/// Where a column's cell comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSource {
    /// A CRD column's JSONPath (`.spec.deviceIndex`).
    JsonPath(String),
    /// A built-in column computed by code (Node STATUS, ROLES …), see [`crate::table`].
    Builtin(BuiltinColumn),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinColumn {
    Name,
    Age,
    NodeStatus,
    NodeRoles,
    NodeVersion,
    NodeInternalIp,
    /// `status.phase` (Namespace, Pod).
    Phase,
    LeaseHolder,
    EventLastSeen,
    EventType,
    EventReason,
    EventObject,
    EventMessage,
    CreatedAt,
}

/// How `metadata.generation` behaves for a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Not set at all (Node, Lease, Event, Namespace in kube-apiserver).
    None,
    /// Starts at 1, bumps when anything but metadata (and status, with a status subresource) changes.
    Tracked,
}

/// One served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub generation: Generation,
    /// Custom resources refuse strategic merge patches (415), and need a resourceVersion on PUT
    /// (core types allow unconditional updates: kube's AllowUnconditionalUpdate).
    pub custom: bool,
    pub columns: Vec<PrinterColumn>,
    /// Field selector labels this resource accepts, each with the JSON path it reads.
    pub field_labels: Vec<(String, Vec<String>)>,
    /// Strategic-merge list keys by path (`status.conditions` → `type`), for core types.
    pub merge_keys: Vec<(String, String)>,
    /// Prune/default/validate, for custom resources whose CRD has a schema.
    pub schema: Option<CrdSchema>,
    /// Kept in another resource's store, converted on the way in and out (events.k8s.io Events).
    pub stored_as: Option<(GroupResource, Conversion)>,
}

impl ResourceType {
    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    /// The store this resource's objects live in.
    pub fn store_key(&self) -> GroupResource {
        match &self.stored_as {
            Some((gr, _)) => gr.clone(),
            None => self.group_resource(),
        }
    }

    pub fn conversion(&self) -> Option<Conversion> {
        self.stored_as.as_ref().map(|(_, c)| *c)
    }

    /// `v1` or `networking.k8s.aws/v1alpha1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `api_version() == s` without building the string: asked once per listed object and per
    /// watch event.
    pub fn api_version_is(&self, s: &str) -> bool {
        if self.group.is_empty() {
            return s == self.version;
        }
        s.strip_prefix(self.group.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|v| v == self.version)
    }

    /// Core `v1` Namespaces: a DNS-label name, spec finalizers, emptied before they go.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    /// CustomResourceDefinitions: writes of these change which resources are served.
    pub fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.plural == "customresourcedefinitions"
    }

    /// The JSON path a field selector label reads, if this resource supports it.
    pub fn field_path(&self, label: &str) -> Option<&[String]> {
        self.field_labels
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, p)| p.as_slice())
    }

    pub fn merge_key(&self, path: &str) -> Option<&str> {
        self.merge_keys
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, k)| k.as_str())
    }
}

/// Every resource serves every verb (the double does no authorization to narrow them).
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The field selectors every resource supports.
pub fn metadata_field_labels(namespaced: bool) -> Vec<(String, Vec<String>)> {
    let mut v = vec![("metadata.name".to_string(), path(&["metadata", "name"]))];
    if namespaced {
        v.push((
            "metadata.namespace".to_string(),
            path(&["metadata", "namespace"]),
        ));
    }
    v
}

pub fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// The value at a dotted path as a field-selector string (kube compares strings; absent is "").
pub fn field_value(obj: &Value, path: &[String]) -> String {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::builtin::builtin_resources;

    #[test]
    fn api_version_is_compares_group_and_version() {
        let all = builtin_resources();
        for rt in &all {
            assert!(rt.api_version_is(&rt.api_version()), "{}", rt.api_version());
        }
        let lease = all.iter().find(|r| r.plural == "leases").expect("leases");
        for other in [
            "v1",
            "coordination.k8s.io",
            "coordination.k8s.io/v2",
            "coordination.k8s.iov1",
            "/v1",
        ] {
            assert!(!lease.api_version_is(other), "{other}");
        }
        let node = all.iter().find(|r| r.plural == "nodes").expect("nodes");
        assert!(!node.api_version_is("core/v1"));
    }
}
