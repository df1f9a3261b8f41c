//! The generated CRDs: identity, subresources, printer columns, and the shipped copies.

use std::path::Path;

use kube::CustomResourceExt;
use multi_eni_api::{EniAttachment, NodeEni, crds};
use serde_json::Value;

#[test]
fn nodeeni_crd_is_the_go_controllers_identity() {
    let crd = NodeEni::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("nodeenis.networking.k8s.aws")
    );
    assert_eq!(crd.spec.group, "networking.k8s.aws");
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.kind, "NodeENI");
    assert_eq!(crd.spec.names.short_names, Some(vec!["neni".to_owned()]));
    assert_eq!(crd.spec.versions[0].name, "v1alpha1");
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}

#[test]
fn eniattachment_crd_identity() {
    let crd = EniAttachment::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("eniattachments.networking.k8s.aws")
    );
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.short_names, Some(vec!["enia".to_owned()]));
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let selectable: Vec<String> = crd.spec.versions[0]
        .selectable_fields
        .iter()
        .flatten()
        .map(|f| f.json_path.clone())
        .collect();
    assert_eq!(selectable, vec![".spec.nodeName", ".spec.nodeENI"]);
}

/// Follows a printer column's JSONPath (`.status.conditions[?(@.type=="Ready")].status`) through
/// the schema, so a renamed field cannot leave a column silently empty.
fn path_exists(schema: &Value, json_path: &str) -> bool {
    // Drop filter expressions (`[?(@.type=="Ready")]` → `[]`): they contain dots of their own.
    let mut plain = String::new();
    let mut depth = 0;
    for c in json_path.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    plain.push('[');
                }
                depth += 1;
            }
            ']' => {
                depth -= 1;
                if depth == 0 {
                    plain.push(']');
                }
            }
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut node = schema;
    for raw in plain.trim_start_matches('.').split('.') {
        let (name, filtered) = match raw.find('[') {
            Some(i) => (&raw[..i], true),
            None => (raw, false),
        };
        if name == "metadata" {
            return true; // ObjectMeta is not in the CRD schema; creationTimestamp always exists.
        }
        let Some(next) = node.pointer(&format!("/properties/{name}")) else {
            return false;
        };
        node = next;
        if filtered {
            let Some(items) = node.get("items") else {
                return false;
            };
            node = items;
        }
    }
    true
}

#[test]
fn printer_columns_point_at_fields_that_exist() {
    for crd in crds::all() {
        let version = &crd.spec.versions[0];
        let schema =
            serde_json::to_value(&version.schema.as_ref().expect("schema").open_api_v3_schema)
                .expect("json");
        let columns = version
            .additional_printer_columns
            .as_ref()
            .expect("columns");
        assert!(columns.len() >= 6);
        for col in columns {
            assert!(
                path_exists(&schema, &col.json_path),
                "{}: {} -> {}",
                crd.spec.names.kind,
                col.name,
                col.json_path
            );
        }
    }
}

#[test]
fn printer_column_names_are_as_documented() {
    let names = |crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition| -> Vec<String> {
        crd.spec.versions[0].additional_printer_columns.iter().flatten().map(|c| c.name.clone()).collect()
    };
    assert_eq!(
        names(NodeEni::crd()),
        ["Desired", "Attached", "Ready", "Status", "Reason", "Age"]
    );
    assert_eq!(
        names(EniAttachment::crd()),
        [
            "Node",
            "Subnet",
            "Index",
            "ENI",
            "Phase",
            "Interface",
            "MAC",
            "Age"
        ]
    );
}

#[test]
fn deploy_crds_match_the_generated_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    for crd in crds::all() {
        let file = dir.join(crds::file_name(&crd));
        let shipped = std::fs::read_to_string(&file).unwrap_or_default();
        let generated = crds::to_yaml(&crd).expect("yaml");
        assert!(
            shipped == generated,
            "{} is stale or missing: run `cargo run -p multi-eni -- crd --output-dir deploy/crds`",
            file.display()
        );
    }
}
