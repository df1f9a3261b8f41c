//! The fixtures (manifests users write) and the admission `crd-schema` performs on them, shared by
//! the test binaries that check them without a cluster and on the real kube-apiserver.

#![allow(dead_code)] // Each test binary uses its own part.

use std::path::{Path, PathBuf};

use multi_eni_crd_schema::CrdSchema;
use serde_json::Value;

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
