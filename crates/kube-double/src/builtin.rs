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

#[allow(clippy::too_many_arguments)]
fn core(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
    status: bool,
    columns: Vec<PrinterColumn>,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        namespaced,
        status_subresource: status,
        generation: Generation::None,
        custom: false,
        unconditional_update: true,
        columns,
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

/// Every built-in resource, in discovery order.
pub fn builtin_resources() -> Vec<ResourceType> {
    use BuiltinColumn::*;
    let mut namespace = core(
        "",
        "v1",
        "Namespace",
        "namespaces",
        &["ns"],
        false,
        true,
        vec![
            col("Name", "string", Name, 0),
            col("Status", "string", NamespacePhase, 0),
            col("Age", "date", Age, 0),
        ],
    );
    namespace
        .field_labels
        .push(("status.phase".into(), path(&["status", "phase"])));

    let mut node = core(
        "",
        "v1",
        "Node",
        "nodes",
        &["no"],
        false,
        true,
        vec![
            col("Name", "string", Name, 0),
            col("Status", "string", NodeStatus, 0),
            col("Roles", "string", NodeRoles, 0),
            col("Age", "date", Age, 0),
            col("Version", "string", NodeVersion, 0),
            col("Internal-IP", "string", NodeInternalIp, 1),
        ],
    );
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

    let mut event = core(
        "",
        "v1",
        "Event",
        "events",
        &["ev"],
        true,
        false,
        vec![
            col("Last Seen", "string", EventLastSeen, 0),
            col("Type", "string", EventType, 0),
            col("Reason", "string", EventReason, 0),
            col("Object", "string", EventObject, 0),
            col("Message", "string", EventMessage, 0),
        ],
    );
    for f in [
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ] {
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

    let mut new_event = core(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        &["ev"],
        true,
        false,
        vec![
            col("Last Seen", "string", EventLastSeen, 0),
            col("Type", "string", EventType, 0),
            col("Reason", "string", EventReason, 0),
            col("Object", "string", EventObject, 0),
            col("Message", "string", EventMessage, 0),
        ],
    );
    // Field paths are in the stored (core v1) shape.
    for f in [
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ] {
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
    new_event.stored_as = Some((
        GroupResource {
            group: String::new(),
            plural: "events".into(),
        },
        Conversion::EventsV1,
    ));

    let lease = core(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        true,
        false,
        vec![
            col("Name", "string", Name, 0),
            col("Holder", "string", LeaseHolder, 0),
            col("Age", "date", Age, 0),
        ],
    );

    let mut crd = core(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        false,
        true,
        vec![
            col("Name", "string", Name, 0),
            col("Created At", "date", CreatedAt, 0),
        ],
    );
    crd.generation = Generation::Tracked;
    crd.categories = vec!["api-extensions".into()];

    // Pods are stored, never run: `kubectl describe node` lists the pods bound to the node.
    let mut pod = core(
        "",
        "v1",
        "Pod",
        "pods",
        &["po"],
        true,
        true,
        vec![
            col("Name", "string", Name, 0),
            col("Status", "string", PodPhase, 0),
            col("Age", "date", Age, 0),
        ],
    );
    pod.categories = vec!["all".into()];
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
