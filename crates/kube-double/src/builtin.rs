//! The built-in resources the double serves, with the semantics kube-apiserver gives each of them.

use crate::conversion::Conversion;
use crate::resource::{
    BuiltinColumn, ColumnSource, Generation, GroupResource, PrinterColumn, ResourceType,
    metadata_field_labels, path,
};

fn col(name: &str, type_: &str, c: BuiltinColumn, priority: i64) -> PrinterColumn {
    PrinterColumn {
        name: name.to_string(),
        type_: type_.to_string(),
        format: if c == BuiltinColumn::Name {
            "name".into()
        } else {
            String::new()
        },
        description: String::new(),
        priority,
        source: ColumnSource::Builtin(c),
    }
}

/// Name + Age: kube-apiserver's default table for resources without their own printer.
pub fn default_columns() -> Vec<PrinterColumn> {
    vec![
        col("Name", "string", BuiltinColumn::Name, 0),
        col("Age", "date", BuiltinColumn::Age, 0),
    ]
}

/// A built-in resource with what core types share: Name/Age columns, no short names, no
/// status subresource, no generation, unconditional updates; callers override what differs.
fn core(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: vec![],
        categories: vec![],
        namespaced,
        status_subresource: false,
        generation: Generation::None,
        custom: false,
        columns: default_columns(),
        field_labels: metadata_field_labels(namespaced),
        merge_keys: vec![
            ("metadata.ownerReferences".into(), "uid".into()),
            ("metadata.managedFields".into(), "manager".into()),
            ("metadata.finalizers".into(), String::new()),
        ],
        schema: None,
        stored_as: None,
    }
}

fn names(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// `kubectl get events` columns; both Event versions render from the stored core shape.
fn event_columns() -> Vec<PrinterColumn> {
    use BuiltinColumn::*;
    vec![
        col("Last Seen", "string", EventLastSeen, 0),
        col("Type", "string", EventType, 0),
        col("Reason", "string", EventReason, 0),
        col("Object", "string", EventObject, 0),
        col("Message", "string", EventMessage, 0),
    ]
}

/// The `ObjectReference` fields Event field selectors reach into (`involvedObject.name` …).
const OBJECT_REFERENCE_FIELDS: [&str; 7] = [
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
];

/// Every built-in resource, in discovery order.
pub fn builtin_resources() -> Vec<ResourceType> {
    use BuiltinColumn::*;
    // Namespaces and Pods: NAME STATUS AGE, the status being the phase.
    let phase_columns = || {
        vec![
            col("Name", "string", Name, 0),
            col("Status", "string", Phase, 0),
            col("Age", "date", Age, 0),
        ]
    };
    let mut namespace = ResourceType {
        short_names: names(&["ns"]),
        status_subresource: true,
        columns: phase_columns(),
        ..core("", "v1", "Namespace", "namespaces", false)
    };
    namespace
        .field_labels
        .push(("status.phase".into(), path(&["status", "phase"])));

    let mut node = ResourceType {
        short_names: names(&["no"]),
        status_subresource: true,
        columns: vec![
            col("Name", "string", Name, 0),
            col("Status", "string", NodeStatus, 0),
            col("Roles", "string", NodeRoles, 0),
            col("Age", "date", Age, 0),
            col("Version", "string", NodeVersion, 0),
            col("Internal-IP", "string", NodeInternalIp, 1),
        ],
        ..core("", "v1", "Node", "nodes", false)
    };
    node.field_labels.push((
        "spec.unschedulable".into(),
        path(&["spec", "unschedulable"]),
    ));
    node.merge_keys.extend([
        ("status.conditions".into(), "type".into()),
        ("status.addresses".into(), "type".into()),
        ("status.images".into(), "names".into()),
        ("spec.podCIDRs".into(), String::new()),
    ]);

    let mut event = ResourceType {
        short_names: names(&["ev"]),
        columns: event_columns(),
        ..core("", "v1", "Event", "events", true)
    };
    for f in OBJECT_REFERENCE_FIELDS {
        event
            .field_labels
            .push((format!("involvedObject.{f}"), path(&["involvedObject", f])));
    }
    for f in ["reason", "reportingComponent", "type"] {
        event.field_labels.push((f.into(), path(&[f])));
    }
    event
        .field_labels
        .push(("source".into(), path(&["source", "component"])));

    let mut new_event = ResourceType {
        short_names: names(&["ev"]),
        columns: event_columns(),
        stored_as: Some((
            GroupResource {
                group: String::new(),
                plural: "events".into(),
            },
            Conversion::EventsV1,
        )),
        ..core("events.k8s.io", "v1", "Event", "events", true)
    };
    // Field paths are in the stored (core v1) shape.
    for f in OBJECT_REFERENCE_FIELDS {
        new_event
            .field_labels
            .push((format!("regarding.{f}"), path(&["involvedObject", f])));
    }
    for (label, stored) in [
        ("reason", "reason"),
        ("reportingController", "reportingComponent"),
        ("type", "type"),
    ] {
        new_event.field_labels.push((label.into(), path(&[stored])));
    }

    let lease = ResourceType {
        columns: vec![
            col("Name", "string", Name, 0),
            col("Holder", "string", LeaseHolder, 0),
            col("Age", "date", Age, 0),
        ],
        ..core("coordination.k8s.io", "v1", "Lease", "leases", true)
    };

    let crd = ResourceType {
        short_names: names(&["crd", "crds"]),
        categories: names(&["api-extensions"]),
        status_subresource: true,
        generation: Generation::Tracked,
        columns: vec![
            col("Name", "string", Name, 0),
            col("Created At", "date", CreatedAt, 0),
        ],
        ..core(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
    };

    // Pods are stored, never run: `kubectl describe node` lists the pods bound to the node.
    let mut pod = ResourceType {
        short_names: names(&["po"]),
        categories: names(&["all"]),
        status_subresource: true,
        columns: phase_columns(),
        ..core("", "v1", "Pod", "pods", true)
    };
    for (label, p) in [
        ("spec.nodeName", &["spec", "nodeName"][..]),
        ("spec.restartPolicy", &["spec", "restartPolicy"]),
        ("spec.schedulerName", &["spec", "schedulerName"]),
        ("spec.serviceAccountName", &["spec", "serviceAccountName"]),
        ("status.phase", &["status", "phase"]),
        ("status.podIP", &["status", "podIP"]),
        ("status.nominatedNodeName", &["status", "nominatedNodeName"]),
    ] {
        pod.field_labels.push((label.into(), path(p)));
    }
    pod.merge_keys.extend([
        ("spec.containers".into(), "name".into()),
        ("spec.initContainers".into(), "name".into()),
        ("spec.volumes".into(), "name".into()),
        ("status.conditions".into(), "type".into()),
    ]);

    vec![namespace, node, pod, event, new_event, lease, crd]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_status_subresources_are_kubes() {
        let all = builtin_resources();
        let shape: Vec<(&str, &str, bool, bool)> = all
            .iter()
            .map(|r| {
                (
                    r.group.as_str(),
                    r.plural.as_str(),
                    r.namespaced,
                    r.status_subresource,
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("", "namespaces", false, true),
                ("", "nodes", false, true),
                ("", "pods", true, true),
                ("", "events", true, false),
                ("events.k8s.io", "events", true, false),
                ("coordination.k8s.io", "leases", true, false),
                (
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    false,
                    true
                ),
            ]
        );
        let tracked: Vec<&str> = all
            .iter()
            .filter(|r| r.generation == Generation::Tracked)
            .map(|r| r.plural.as_str())
            .collect();
        assert_eq!(tracked, ["customresourcedefinitions"]);
        assert!(all.iter().all(|r| !r.custom));
    }

    #[test]
    fn core_events_select_on_involved_object_like_kubectl_describe_needs() {
        let all = builtin_resources();
        let ev = all
            .iter()
            .find(|r| r.group.is_empty() && r.plural == "events")
            .expect("events");
        for f in [
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.kind",
            "involvedObject.uid",
        ] {
            assert!(ev.field_path(f).is_some(), "{f}");
        }
        assert!(ev.field_path("spec.nodeName").is_none());
    }
}
