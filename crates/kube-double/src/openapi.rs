//! A minimal OpenAPI v3 surface, for what kubectl needs of it: the index at `/openapi/v3`, and per
//! group-version documents whose PATCH operations declare the `fieldValidation` query parameter
//! with their `x-kubernetes-group-version-kind`. That tells kubectl 1.32 to validate server-side
//! (`fieldValidation=Strict`) instead of downloading schemas; without a schema component,
//! `kubectl apply` builds strategic merge patches for built-in kinds from its compiled-in types.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::resource::ResourceType;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash(types: &[&Arc<ResourceType>]) -> String {
    // Changes whenever the set of kinds changes, so clients' caches of these documents expire.
    let mut h: u64 = 1469598103934665603;
    for t in types {
        for b in format!("{}/{}/{}/{};", t.group, t.version, t.plural, t.kind).bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
        }
    }
    format!("{h:016X}")
}

fn by_gv(types: &[Arc<ResourceType>]) -> BTreeMap<(String, String), Vec<&Arc<ResourceType>>> {
    let mut m: BTreeMap<(String, String), Vec<&Arc<ResourceType>>> = BTreeMap::new();
    for t in types {
        m.entry((t.group.clone(), t.version.clone()))
            .or_default()
            .push(t);
    }
    m
}

pub fn index(types: &[Arc<ResourceType>]) -> Value {
    let paths: serde_json::Map<String, Value> = by_gv(types)
        .iter()
        .map(|((g, v), ts)| {
            let p = gv_path(g, v);
            let url = format!("/openapi/v3/{p}?hash={}", hash(ts));
            (p, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// The document for `api/v1` or `apis/<g>/<v>`, if served.
pub fn group_version(types: &[Arc<ResourceType>], gv: &str) -> Option<Value> {
    let all = by_gv(types);
    let ((group, version), ts) = all.iter().find(|((g, v), _)| gv_path(g, v) == gv)?;
    let mut paths = serde_json::Map::new();
    for t in ts {
        let gvk = json!({"group": group, "version": version, "kind": t.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
        ]);
        let op = json!({"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
            "parameters": params, "responses": {"200": {"description": "OK"}}});
        let ns = if t.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        paths.insert(
            format!("/{}/{ns}{}/{{name}}", gv_path(group, version), t.plural),
            json!({"patch": op}),
        );
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}
