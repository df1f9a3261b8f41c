//! Every validation rule of the NodeENI and ENIAttachment CRDs, proven both ways by running the
//! generated CRD through the same admission kube-apiserver performs (prune, default, OpenAPI,
//! CEL). The fixtures are the manifests users write; each malformed one names its expected error.

mod support;

use std::path::Path;

use kube::CustomResourceExt;
use multi_eni_api::{EniAttachment, NodeEni};
use multi_eni_crd_schema::CrdSchema;
use serde_json::{Value, json};
use support::{expected_lines, fixtures, load, schema_of};

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

fn attachment(spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment", "metadata": {"name": "a"}, "spec": spec})
}

fn valid_attachment_spec() -> Value {
    json!({"nodeENI": "storage", "nodeName": "ip-10-0-1-7.ec2.internal", "instanceID": "i-0123456789abcdef0",
        "subnetID": "subnet-0123456789abcdef0", "securityGroupIDs": ["sg-01234567"], "deviceIndex": 1,
        "mtu": 9001, "dpdk": {"driver": "vfio-pci"}, "sriov": {"resourceName": "intel.com/sriov_test_1", "pciAddress": "0000:00:07.0"}})
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
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "instanceID",
            json!("i-xyz"),
            "spec.instanceID: Invalid value: \"i-xyz\": spec.instanceID in body should match '^i-([0-9a-f]{8}|[0-9a-f]{17})$'",
        ),
        (
            "securityGroupIDs",
            json!([]),
            "spec.securityGroupIDs: Invalid value: []: spec.securityGroupIDs in body should have at least 1 items",
        ),
        (
            "nodeName",
            json!("Node_1"),
            "spec.nodeName: Invalid value: \"Node_1\": spec.nodeName in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
        ),
        (
            "networkCardIndex",
            json!(32),
            "spec.networkCardIndex: Invalid value: 32: spec.networkCardIndex in body should be less than or equal to 31",
        ),
        (
            "mtu",
            json!(100),
            "spec.mtu: Invalid value: 100: spec.mtu in body should be greater than or equal to 576",
        ),
        (
            "sriov",
            json!({"resourceName": "x".repeat(254)}),
            "spec.sriov.resourceName: Too long: may not be more than 253 bytes",
        ),
        (
            "dpdk",
            json!({"driver": "e1000"}),
            "spec.dpdk.driver: Unsupported value: \"e1000\": supported values: \"vfio-pci\", \"igb_uio\", \"uio_pci_generic\"",
        ),
    ];
    for (field, value, expected) in cases {
        let mut spec = valid_attachment_spec();
        spec[field] = value;
        let errors = admit(&schema, attachment(spec)).expect_err(field);
        assert_eq!(errors, vec![expected.to_owned()], "{field}");
    }
    let mut spec = valid_attachment_spec();
    spec.as_object_mut().expect("object").remove("subnetID");
    assert_eq!(
        admit(&schema, attachment(spec)).expect_err("missing"),
        vec!["spec.subnetID: Required value".to_owned()]
    );
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
