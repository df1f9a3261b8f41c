//! `meta.k8s.io/v1 Table` rendering for `kubectl get` (server-side printing): CRD printer columns,
//! kube's own columns for built-in types, and the Name/Age default.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::jsonpath;
use crate::meta::str_at;
use crate::resource::{BuiltinColumn, ColumnSource, PrinterColumn, ResourceType};
use crate::store::Stored;

/// What a Table row carries besides cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// kube's `duration.HumanDuration`, which `kubectl get` shows in AGE columns.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    let mins = secs / 60;
    let hours = mins / 60;
    let days = hours / 24;
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{mins}m")
        } else {
            format!("{mins}m{s}s")
        }
    } else if mins < 180 {
        format!("{mins}m")
    } else if hours < 8 {
        let m = mins % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        }
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        let d = days % 365;
        if d == 0 {
            format!("{}y", days / 365)
        } else {
            format!("{}y{d}d", days / 365)
        }
    } else {
        format!("{}y", days / 365)
    }
}

fn age_of(ts: Option<&Value>, now: DateTime<Utc>) -> Value {
    match ts
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => json!(human_duration(now - t.with_timezone(&Utc))),
        None => json!("<unknown>"),
    }
}

fn builtin_cell(c: BuiltinColumn, obj: &Value, now: DateTime<Utc>) -> Value {
    use BuiltinColumn::*;
    match c {
        Name => json!(str_at(obj, "/metadata/name")),
        Age => age_of(obj.pointer("/metadata/creationTimestamp"), now),
        CreatedAt => json!(str_at(obj, "/metadata/creationTimestamp")),
        NodeStatus => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
            let mut s = match ready.map(|c| &c["status"]) {
                Some(Value::String(v)) if v == "True" => "Ready".to_string(),
                Some(_) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if obj.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
                s.push_str(",SchedulingDisabled");
            }
            json!(s)
        }
        NodeRoles => {
            let mut roles: Vec<String> = vec![];
            if let Some(Value::Object(l)) = obj.pointer("/metadata/labels") {
                for (k, v) in l {
                    if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                        roles.push(r.to_string());
                    } else if k == "kubernetes.io/role"
                        && let Some(r) = v.as_str()
                    {
                        roles.push(r.to_string());
                    }
                }
            }
            roles.sort();
            roles.dedup();
            json!(if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            })
        }
        NodeVersion => json!(str_at(obj, "/status/nodeInfo/kubeletVersion")),
        NodeInternalIp => {
            let ip = obj
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                .and_then(|x| x["address"].as_str());
            json!(ip.unwrap_or("<none>"))
        }
        Phase => json!(str_at(obj, "/status/phase")),
        LeaseHolder => json!(str_at(obj, "/spec/holderIdentity")),
        EventLastSeen => {
            let ts = [
                "/lastTimestamp",
                "/deprecatedLastTimestamp",
                "/series/lastObservedTime",
                "/eventTime",
            ]
            .iter()
            .find_map(|p| obj.pointer(p).filter(|v| v.is_string()));
            age_of(
                ts.or_else(|| obj.pointer("/metadata/creationTimestamp")),
                now,
            )
        }
        EventType => json!(str_at(obj, "/type")),
        EventReason => json!(str_at(obj, "/reason")),
        EventObject => {
            let r = obj.get("involvedObject").or_else(|| obj.get("regarding"));
            let kind = r
                .and_then(|r| r["kind"].as_str())
                .unwrap_or("")
                .to_lowercase();
            let name = r.and_then(|r| r["name"].as_str()).unwrap_or("");
            json!(format!("{kind}/{name}"))
        }
        EventMessage => {
            let m = obj.get("message").or_else(|| obj.get("note"));
            json!(m.and_then(Value::as_str).unwrap_or(""))
        }
    }
}

/// A CRD column's cell: kube-apiserver prints an absent value as an empty cell and a `date` as an age.
fn jsonpath_cell(col: &PrinterColumn, path: &str, obj: &Value, now: DateTime<Utc>) -> Value {
    let found = jsonpath::select(obj, path).unwrap_or_default();
    let Some(first) = found.first() else {
        return Value::Null;
    };
    if col.type_ == "date" {
        return age_of(Some(first), now);
    }
    if found.len() > 1 {
        let parts: Vec<String> = found
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect();
        return json!(parts.join(","));
    }
    match (col.type_.as_str(), first) {
        ("string", Value::String(_))
        | ("integer", Value::Number(_))
        | ("number", Value::Number(_))
        | ("boolean", Value::Bool(_)) => (*first).clone(),
        ("string", other) => json!(other.to_string()),
        (_, other) => (*other).clone(),
    }
}

pub fn column_definitions(rt: &ResourceType) -> Value {
    Value::Array(
        rt.columns
            .iter()
            .map(|c| {
                let description = if c.description.is_empty() && c.source == ColumnSource::Builtin(BuiltinColumn::Name) {
                    "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names".to_string()
                } else {
                    c.description.clone()
                };
                json!({"name": c.name, "type": if c.type_ == "date" { "string" } else { c.type_.as_str() },
                       "format": c.format, "description": description, "priority": c.priority})
            })
            .collect(),
    )
}

pub fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
    let cells: Vec<Value> = rt
        .columns
        .iter()
        .map(|c| match &c.source {
            ColumnSource::Builtin(b) => builtin_cell(*b, obj, now),
            ColumnSource::JsonPath(p) => jsonpath_cell(c, p, obj, now),
        })
        .collect();
    let mut r = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(obj),
        IncludeObject::Object => r["object"] = obj.clone(),
    }
    r
}

/// `PartialObjectMetadata`: what `includeObject=Metadata` and metadata-only clients get.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// An object as its Table row shows it: the stored shape under the apiVersion asked for.
pub fn served_copy(rt: &ResourceType, obj: &Value) -> Value {
    let mut v = obj.clone();
    v["apiVersion"] = json!(rt.api_version());
    v
}

/// The one-row Table of a get, or of a `kubectl get -w` watch event.
pub fn single(
    rt: &ResourceType,
    obj: &Stored,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    table(
        rt,
        &[&served_copy(rt, &obj.value)],
        include,
        json!({"resourceVersion": obj.rv.to_string()}),
        with_columns,
    )
}

/// A whole Table; `with_columns` is false for watch events after the first, like kube-apiserver.
pub fn table(
    rt: &ResourceType,
    objs: &[&Value],
    include: IncludeObject,
    metadata: Value,
    with_columns: bool,
) -> Value {
    let now = Utc::now();
    let rows: Vec<Value> = objs.iter().map(|o| row(rt, o, include, now)).collect();
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "rows": rows});
    t["columnDefinitions"] = if with_columns {
        column_definitions(rt)
    } else {
        json!([])
    };
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin_resources;

    #[test]
    fn human_duration_matches_kube_formatting() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400, "3d"),
            (400 * 86400, "400d"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(chrono::Duration::seconds(s)), want, "{s}s");
        }
    }

    #[test]
    fn node_row_has_status_roles_and_version() {
        let all = builtin_resources();
        let nodes = all.iter().find(|r| r.plural == "nodes").expect("nodes");
        let n = json!({"metadata": {"name": "n1", "creationTimestamp": "2020-01-01T00:00:00Z",
                "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.32.0"}}});
        let r = row(nodes, &n, IncludeObject::None, Utc::now());
        assert_eq!(r["cells"][0], "n1");
        assert_eq!(r["cells"][1], "Ready,SchedulingDisabled");
        assert_eq!(r["cells"][2], "worker");
        assert_eq!(r["cells"][4], "v1.32.0");
        assert_eq!(r["cells"][5], "<none>");
    }
}
