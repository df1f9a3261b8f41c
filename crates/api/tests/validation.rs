//! Every validation rule of the NodeENI and ENIAttachment CRDs, proven both ways by running the
//! generated CRD through the same admission kube-apiserver performs (prune, default, OpenAPI,
//! CEL). The fixtures are the manifests users write; each malformed one names its expected error.

mod support;

use std::path::Path;

use kube::CustomResourceExt;
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_crd_schema::CrdSchema;
use serde_json::{Value, json};
use support::{
    attachment, expected_lines, fixtures, load, malformed_attachments, schema_of,
    valid_attachment_spec,
};

fn admit(schema: &CrdSchema, mut obj: Value) -> Result<Value, Vec<String>> {
    schema
        .admit(&mut obj, None)
        .map(|_| obj)
        .map_err(|e| e.causes.into_iter().map(|c| c.message).collect())
}

#[test]
fn the_users_manifests_are_accepted_and_read_back_as_nodeenis() {
    let schema = schema_of(NodeEni::crd());
    let files = fixtures("valid");
    assert!(
        files.len() >= 4,
        "the four required manifests (a)-(d) are fixtures"
    );
    for path in files {
        let (_, obj) = load(&path);
        let admitted =
            admit(&schema, obj).unwrap_or_else(|e| panic!("{} refused: {e:?}", path.display()));
        let ne: NodeEni = serde_json::from_value(admitted.clone())
            .unwrap_or_else(|e| panic!("{} does not deserialize: {e}", path.display()));
        assert!(!ne.spec.subnet_refs().is_empty(), "{}", path.display());
        // The schema defaults and the Rust defaults agree.
        assert_eq!(admitted["spec"]["deviceIndex"], json!(ne.spec.device_index));
        assert_eq!(
            admitted["spec"]["deleteOnTermination"],
            json!(ne.spec.delete_on_termination)
        );
        assert_eq!(
            admitted["spec"]["dpdkDriver"],
            json!(ne.spec.dpdk_driver.as_str())
        );
    }
}

#[test]
fn schema_defaults_are_the_go_controllers() {
    let schema = schema_of(NodeEni::crd());
    let (_, obj) =
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/d-minimal.yaml"));
    let admitted = admit(&schema, obj).expect("valid");
    assert_eq!(admitted["spec"]["deviceIndex"], 1);
    assert_eq!(admitted["spec"]["deleteOnTermination"], true);
    assert_eq!(admitted["spec"]["dpdkDriver"], "vfio-pci");
}

#[test]
fn every_malformed_manifest_is_refused_naming_the_field() {
    let schema = schema_of(NodeEni::crd());
    let files = fixtures("invalid");
    assert!(files.len() >= 10, "at least ten malformed manifests");
    for path in files {
        let (text, obj) = load(&path);
        let expected = expected_lines(&path, &text);
        let errors = admit(&schema, obj).expect_err(&format!("{} must be refused", path.display()));
        assert_eq!(errors, expected, "{}", path.display());
        let field = expected[0].split(':').next().unwrap_or_default();
        assert!(
            field.starts_with("spec"),
            "{}: the error names the field",
            path.display()
        );
    }
}

#[test]
fn unknown_spec_fields_are_pruned_like_a_real_cluster() {
    let schema = schema_of(NodeEni::crd());
    let mut obj = json!({"apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI", "metadata": {"name": "x"},
        "spec": {"nodeSelector": {}, "subnetID": "subnet-01234567", "securityGroupIDs": ["sg-01234567"], "subnetId": "typo"}});
    let admitted = schema.admit(&mut obj, None).expect("valid");
    assert_eq!(admitted.pruned, vec!["spec.subnetId".to_owned()]);
}

#[test]
fn an_eniattachment_as_the_controller_writes_it_is_accepted() {
    let schema = schema_of(EniAttachment::crd());
    let admitted = admit(&schema, attachment(valid_attachment_spec())).expect("valid");
    let a: EniAttachment = serde_json::from_value(admitted.clone()).expect("deserializes");
    assert_eq!(a.spec.network_card_index, 0);
    assert!(a.spec.delete_on_termination);
    assert_eq!(admitted["spec"]["networkCardIndex"], 0);
}

#[test]
fn malformed_eniattachments_are_refused() {
    let schema = schema_of(EniAttachment::crd());
    for (what, spec, expected) in malformed_attachments() {
        let errors = admit(&schema, attachment(spec)).expect_err(what);
        assert_eq!(errors, expected, "{what}");
    }
}

#[test]
fn eniattachment_status_with_agent_part_is_accepted() {
    let schema = schema_of(EniAttachment::crd());
    let mut obj = attachment(valid_attachment_spec());
    obj["status"] = json!({
        "phase": "Attached", "eniID": "eni-0123456789abcdef0", "macAddress": "0a:1b:2c:3d:4e:5f", "deviceIndex": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "Reconciling", "message": "", "lastTransitionTime": "2026-12-01T00:00:00Z"}],
        "interface": {"interfaceName": "ens6", "ifIndex": 3, "mtu": 9001, "up": true, "dpdkBound": false, "released": false}
    });
    admit(&schema, obj.clone()).expect("valid status");
    obj["status"]["phase"] = json!("Exploded");
    let errors = admit(&schema, obj).expect_err("unknown phase");
    assert!(
        errors[0].starts_with("status.phase: Unsupported value: \"Exploded\""),
        "{errors:?}"
    );
}
