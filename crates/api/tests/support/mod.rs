//! The fixtures (manifests users write) and the admission `crd-schema` performs on them, shared by
//! the test binaries that check them without a cluster and on the real kube-apiserver.

#![allow(dead_code)] // Each test binary uses its own part.

use std::path::{Path, PathBuf};

use multi_eni_crd_schema::CrdSchema;
use serde_json::{Value, json};

/// The fixture manifests of `kind` (`valid` or `invalid`), sorted by file name.
pub fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// A fixture's text and its object.
pub fn load(path: &Path) -> (String, Value) {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let value: Value = serde_yaml::from_str(&text).expect("fixture is YAML");
    (text, value)
}

/// The error lines a malformed fixture names in its `# expect:` comments, one per cause, in
/// kube-apiserver's order.
pub fn expected_lines(path: &Path, text: &str) -> Vec<String> {
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_owned)
        .collect();
    assert!(
        !lines.is_empty(),
        "{} has no '# expect:' line",
        path.display()
    );
    lines
}

/// The compiled schema of one of our CRDs.
pub fn schema_of(
    crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> CrdSchema {
    let crd = serde_json::to_value(crd).expect("CRD serializes");
    CrdSchema::from_crd(&crd, "v1alpha1").expect("generated CRD compiles, CEL rules included")
}

/// An ENIAttachment object with this spec.
pub fn attachment(spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment", "metadata": {"name": "a"}, "spec": spec})
}

/// An ENIAttachment spec as the controller writes it.
pub fn valid_attachment_spec() -> Value {
    json!({"nodeENI": "storage", "nodeName": "ip-10-0-1-7.ec2.internal", "instanceID": "i-0123456789abcdef0",
        "subnetID": "subnet-0123456789abcdef0", "securityGroupIDs": ["sg-01234567"], "deviceIndex": 1,
        "mtu": 9001, "dpdk": {"driver": "vfio-pci"}, "sriov": {"resourceName": "intel.com/sriov_test_1", "pciAddress": "0000:00:07.0"}})
}

/// Malformed ENIAttachments: (what is wrong, the spec, kube-apiserver's error lines). Each spec
/// is the valid one with one field broken or missing.
pub fn malformed_attachments() -> Vec<(&'static str, Value, Vec<String>)> {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "instanceID",
            json!("i-xyz"),
            "spec.instanceID: Invalid value: \"i-xyz\": spec.instanceID in body should match '^i-([0-9a-f]{8}|[0-9a-f]{17})$'",
        ),
        (
            "securityGroupIDs",
            json!([]),
            "spec.securityGroupIDs: Invalid value: 0: spec.securityGroupIDs in body should have at least 1 items",
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
    let mut out: Vec<(&'static str, Value, Vec<String>)> = cases
        .into_iter()
        .map(|(field, value, expected)| {
            let mut spec = valid_attachment_spec();
            spec[field] = value;
            (field, spec, vec![expected.to_owned()])
        })
        .collect();
    let mut spec = valid_attachment_spec();
    spec.as_object_mut().expect("object").remove("subnetID");
    out.push((
        "no subnetID",
        spec,
        vec!["spec.subnetID: Required value".to_owned()],
    ));
    out
}
