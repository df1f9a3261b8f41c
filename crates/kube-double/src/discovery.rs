//! Discovery documents: legacy (`APIVersions`, `APIGroupList`, `APIResourceList`) for kube-rs,
//! and aggregated (`apidiscovery.k8s.io/v2 APIGroupDiscoveryList`), which kubectl 1.32 asks for first.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::resource::{ResourceType, VERBS};

/// The Accept/Content-Type of aggregated discovery.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Kubernetes version priority: GA before beta before alpha, higher numbers first
/// (`v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > foo`).
pub fn version_priority(v: &str) -> (u8, u64, u64, String) {
    let rest = v.strip_prefix('v').unwrap_or("");
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return (0, 0, 0, v.to_string());
    };
    let tail = &rest[digits.len()..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        return (0, 0, 0, v.to_string());
    };
    (stage, major, minor, String::new())
}

fn sorted_versions(types: &[Arc<ResourceType>], group: &str) -> Vec<String> {
    let mut vs: Vec<String> = types
        .iter()
        .filter(|t| t.group == group)
        .map(|t| t.version.clone())
        .collect();
    vs.sort();
    vs.dedup();
    vs.sort_by(|a, b| {
        let (pa, pb) = (version_priority(a), version_priority(b));
        (pb.0, pb.1, pb.2)
            .cmp(&(pa.0, pa.1, pa.2))
            .then(pa.3.cmp(&pb.3))
    });
    vs
}

fn groups(types: &[Arc<ResourceType>]) -> Vec<String> {
    let mut gs: Vec<String> = types
        .iter()
        .filter(|t| !t.group.is_empty())
        .map(|t| t.group.clone())
        .collect();
    gs.sort();
    gs.dedup();
    gs
}

pub fn version_info(git_version: &str) -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": git_version, "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"})
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

fn group_entry(types: &[Arc<ResourceType>], g: &str) -> Value {
    let vs = sorted_versions(types, g);
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(json!({}))})
}

pub fn api_group_list(types: &[Arc<ResourceType>]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .map(|g| group_entry(types, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(types: &[Arc<ResourceType>], group: &str) -> Option<Value> {
    types.iter().any(|t| t.group == group).then(|| {
        let mut g = group_entry(types, group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

/// `APIResourceList` for one group version, or `None` when nothing is served there.
pub fn api_resource_list(types: &[Arc<ResourceType>], group: &str, version: &str) -> Option<Value> {
    let here: Vec<&Arc<ResourceType>> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if here.is_empty() {
        return None;
    }
    let mut resources = vec![];
    for t in here {
        let mut r = json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind, "verbs": VERBS});
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        if t.status_subresource {
            resources.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Aggregated discovery for `/api` (`core`) or `/apis`.
pub fn aggregated(types: &[Arc<ResourceType>], core: bool) -> Value {
    let mut by_group: BTreeMap<String, Vec<&Arc<ResourceType>>> = BTreeMap::new();
    for t in types.iter().filter(|t| t.group.is_empty() == core) {
        by_group.entry(t.group.clone()).or_default().push(t);
    }
    let items: Vec<Value> = by_group
        .iter()
        .map(|(g, ts)| {
            let versions: Vec<Value> = sorted_versions(types, g)
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = ts
                        .iter()
                        .filter(|t| &t.version == v)
                        .map(|t| {
                            let kind = json!({"group": t.group, "version": t.version, "kind": t.kind});
                            let mut r = json!({"resource": t.plural, "responseKind": kind, "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular, "verbs": VERBS});
                            if !t.short_names.is_empty() {
                                r["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                r["categories"] = json!(t.categories);
                            }
                            if t.status_subresource {
                                r["subresources"] = json!([{"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}]);
                            }
                            r
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v1", "foo", "v2beta1", "v1beta2", "v2"];
        v.sort_by(|a, b| {
            let (pa, pb) = (version_priority(a), version_priority(b));
            (pb.0, pb.1, pb.2)
                .cmp(&(pa.0, pa.1, pa.2))
                .then(pa.3.cmp(&pb.3))
        });
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}
