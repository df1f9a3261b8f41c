//! What the cluster's unit tests share: a fresh cluster, served types, writes with default
//! options, and a Widget CRD with a schema and a status subresource.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, DeleteOpts, WriteOpts, WriteResult};
use crate::config::ServerConfig;
use crate::patch::PatchKind;
use crate::resource::ResourceType;
use crate::status::ApiError;

pub fn cluster() -> Arc<Cluster> {
    Cluster::new(ServerConfig::default())
}

pub fn rt(c: &Cluster, group: &str, version: &str, plural: &str) -> Arc<ResourceType> {
    c.resource(group, version, plural).expect("served")
}

pub fn create(
    c: &Cluster,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
    body: Value,
) -> Result<WriteResult, ApiError> {
    c.create(rt, ns, body, &WriteOpts::default())
}

pub fn patch(
    c: &Cluster,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    kind: PatchKind,
    body: &str,
) -> Result<WriteResult, ApiError> {
    c.patch(
        rt,
        ns,
        name,
        sub,
        kind,
        body.as_bytes(),
        &WriteOpts::default(),
    )
}

/// A merge patch of the main resource.
pub fn merge(
    c: &Cluster,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
    name: &str,
    body: &str,
) -> Result<WriteResult, ApiError> {
    patch(c, rt, ns, name, None, PatchKind::Merge, body)
}

pub fn delete(
    c: &Cluster,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
    name: &str,
) -> Result<WriteResult, ApiError> {
    c.delete(rt, ns, name, &DeleteOpts::default())
}

pub fn widget_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1, "default": 3}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}})
}

/// A cluster with `crd` created: the cluster, the CRDs resource and the widgets resource.
pub fn with_widgets(crd: Value) -> (Arc<Cluster>, Arc<ResourceType>, Arc<ResourceType>) {
    let c = cluster();
    let crds = rt(
        &c,
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
    );
    create(&c, &crds, None, crd).expect("crd");
    let widgets = rt(&c, "example.com", "v1", "widgets");
    (c, crds, widgets)
}
