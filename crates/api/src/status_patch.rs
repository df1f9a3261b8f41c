//! Status writes as JSON merge patches (RFC 7396) that carry only what changed, so the controller
//! and the agent — who share an ENIAttachment's status and own different fields of it — never
//! overwrite each other's fields, and an unchanged status costs no write at all.

use http::header::{ACCEPT, HeaderValue};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::api::{Api, PartialObjectMeta, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::node_eni::{AttachmentEntry, NodeEniStatus};

/// The merge patch that turns `prev` into `next`: changed and new keys with their new values,
/// removed keys as `null`, objects diffed recursively, anything else (arrays included, as merge
/// patches require) replaced whole. `None` when nothing changed.
pub fn merge_diff(prev: &Value, next: &Value) -> Option<Value> {
    match (prev, next) {
        (Value::Object(p), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match p.get(k) {
                    Some(pv) => {
                        if let Some(d) = merge_diff(pv, nv) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None if nv.is_null() => {}
                    None => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for (k, pv) in p {
                if !n.contains_key(k) && !pv.is_null() {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ if prev == next => None,
        _ => Some(next.clone()),
    }
}

/// The patch that writes `next` as `status`, given the stored `prev`, guarded by
/// `resource_version` when given (the server then answers 409 if the object changed since it was
/// read, so a decision made on a stale read is never stored). `None` when nothing changed.
pub fn status_patch<T: serde::Serialize>(
    prev: Option<&T>,
    next: &T,
    resource_version: Option<&str>,
) -> Option<Value> {
    let prev = prev
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or(Value::Object(Map::new()));
    let next = serde_json::to_value(next).ok()?;
    let diff = merge_diff(&prev, &next)?;
    let mut patch = serde_json::json!({ "status": diff });
    if let Some(rv) = resource_version {
        patch["metadata"] = serde_json::json!({ "resourceVersion": rv });
    }
    Some(patch)
}

/// A NodeENI's status patch, built on the typed statuses: the same patch as [`status_patch`]
/// (the tests hold them equal), without turning both statuses into `serde_json::Value`s. A
/// NodeENI's status lists up to a thousand attachments (the Go controller's view); as `Value`s,
/// diffed and copied, that list was the largest allocation in the controller's peak memory, for a
/// patch that replaces the list whole anyway (merge patches replace arrays). Serialized straight
/// to the request body.
#[derive(Debug, Serialize)]
pub struct NodeEniStatusPatch<'a> {
    status: NodeEniStatusDiff<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<ResourceVersion<'a>>,
}

#[derive(Debug, Serialize)]
struct ResourceVersion<'a> {
    #[serde(rename = "resourceVersion")]
    resource_version: &'a str,
}

/// Each field: absent when unchanged, `null` when removed, else its new value. Every field of
/// [`NodeEniStatus`] is here (a new one must be added: `every_field_is_diffed` fails otherwise).
#[derive(Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeEniStatusDiff<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<Option<&'a [AttachmentEntry]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conditions: Option<Option<&'a [Condition]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    desired_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attached_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ready_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_generation: Option<Option<i64>>,
}

/// A list serialized only when non-empty: absent on both sides, untouched; emptied, `null`.
fn list_diff<'a, T: PartialEq>(prev: Option<&[T]>, next: &'a [T]) -> Option<Option<&'a [T]>> {
    let prev = prev.unwrap_or_default();
    if prev == next {
        None
    } else {
        Some((!next.is_empty()).then_some(next))
    }
}

/// A field always serialized: changed, or new (no previous status), carries its value.
fn value_diff<T: PartialEq + Copy>(prev: Option<T>, next: T) -> Option<T> {
    (prev != Some(next)).then_some(next)
}

/// The merge patch from `prev` to `next` (see [`NodeEniStatusPatch`]); `None` when nothing
/// changed.
pub fn node_eni_status_patch<'a>(
    prev: Option<&NodeEniStatus>,
    next: &'a NodeEniStatus,
    resource_version: Option<&'a str>,
) -> Option<NodeEniStatusPatch<'a>> {
    let NodeEniStatus {
        attachments,
        conditions,
        desired_count,
        attached_count,
        ready_count,
        observed_generation,
    } = next;
    let diff = NodeEniStatusDiff {
        attachments: list_diff(prev.map(|p| p.attachments.as_slice()), attachments),
        conditions: list_diff(prev.map(|p| p.conditions.as_slice()), conditions),
        desired_count: value_diff(prev.map(|p| p.desired_count), *desired_count),
        attached_count: value_diff(prev.map(|p| p.attached_count), *attached_count),
        ready_count: value_diff(prev.map(|p| p.ready_count), *ready_count),
        observed_generation: (prev.and_then(|p| p.observed_generation) != *observed_generation)
            .then_some(*observed_generation),
    };
    (diff != NodeEniStatusDiff::default()).then(|| NodeEniStatusPatch {
        status: diff,
        metadata: resource_version.map(|rv| ResourceVersion {
            resource_version: rv,
        }),
    })
}

/// What a client asks for to get an object's metadata only (kube-apiserver's
/// `PartialObjectMetadata` rendering), on any verb.
pub const METADATA_ONLY: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/// Writes `patch` (a JSON merge patch) to the status of `name` and takes back only the object's
/// metadata. A NodeENI's answer would otherwise be the whole object, its list of up to a
/// thousand attachments included — read into whichever pooled connection carried it, whose
/// read buffer then keeps that size, while the watch brings the same object to the cache anyway.
/// The contract suite holds both servers to it (`kube-env`, `status.rs`).
pub async fn patch_status_metadata<K>(
    client: &kube::Client,
    api: &Api<K>,
    name: &str,
    patch: &impl Serialize,
) -> Result<PartialObjectMeta<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut request = kube::core::Request::new(api.resource_url())
        .patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static(METADATA_ONLY));
    client.request(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unchanged_values_give_no_patch() {
        let v = json!({"a": 1, "b": {"c": [1, 2]}});
        assert_eq!(merge_diff(&v, &v), None);
        assert_eq!(status_patch(Some(&v), &v, Some("7")), None);
    }

    #[test]
    fn changes_additions_and_removals_are_minimal_and_nested() {
        let prev = json!({"phase": "Creating", "eniID": "eni-1", "x": {"keep": 1, "drop": 2}});
        let next = json!({"phase": "Attaching", "deviceIndex": 2, "x": {"keep": 1}});
        assert_eq!(
            merge_diff(&prev, &next),
            Some(
                json!({"phase": "Attaching", "deviceIndex": 2, "eniID": null, "x": {"drop": null}})
            )
        );
    }

    #[test]
    fn arrays_are_replaced_whole() {
        let prev = json!({"conditions": [{"type": "Ready", "status": "False"}]});
        let next = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(merge_diff(&prev, &next), Some(next.clone()));
    }

    #[test]
    fn fields_absent_on_both_sides_are_not_touched() {
        // The agent's `interface` is not in the controller's view: never nulled by it.
        let prev = json!({"phase": "Attached"});
        let next = json!({"phase": "Ready", "eniID": null});
        assert_eq!(merge_diff(&prev, &next), Some(json!({"phase": "Ready"})));
    }

    #[test]
    fn status_patch_carries_the_resource_version_guard() {
        let p = status_patch(None::<&Value>, &json!({"phase": "Creating"}), Some("42"));
        assert_eq!(
            p,
            Some(json!({"status": {"phase": "Creating"}, "metadata": {"resourceVersion": "42"}}))
        );
    }

    mod node_eni {
        use super::*;
        use crate::node_eni::{AttachmentEntry, NodeEniStatus};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
        use k8s_openapi::jiff::Timestamp;

        fn entry(node: &str) -> AttachmentEntry {
            AttachmentEntry {
                node_id: node.into(),
                instance_id: format!("i-{node}"),
                eni_id: format!("eni-{node}"),
                attachment_id: format!("attach-{node}"),
                ..AttachmentEntry::default()
            }
        }

        fn ready(status: &str) -> Condition {
            Condition {
                type_: "Ready".into(),
                status: status.into(),
                reason: "AllReady".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
            }
        }

        fn status(
            nodes: &[&str],
            cond: Option<&str>,
            counts: i32,
            generation: Option<i64>,
        ) -> NodeEniStatus {
            NodeEniStatus {
                attachments: nodes.iter().map(|n| entry(n)).collect(),
                conditions: cond.map(ready).into_iter().collect(),
                desired_count: counts,
                attached_count: counts,
                ready_count: counts,
                observed_generation: generation,
            }
        }

        /// The typed patch, as the JSON it is sent as.
        fn typed(
            prev: Option<&NodeEniStatus>,
            next: &NodeEniStatus,
            rv: Option<&str>,
        ) -> Option<Value> {
            node_eni_status_patch(prev, next, rv)
                .map(|p| serde_json::to_value(&p).expect("a patch serializes"))
        }

        #[test]
        fn the_typed_patch_is_the_generic_one() {
            let cases = [
                (None, status(&[], None, 0, None)),
                (None, status(&["a", "b"], Some("True"), 2, Some(3))),
                (
                    Some(status(&["a"], Some("True"), 1, Some(1))),
                    status(&["a"], Some("True"), 1, Some(1)),
                ),
                (
                    Some(status(&["a"], Some("True"), 1, Some(1))),
                    status(&["a", "b"], Some("True"), 1, Some(1)),
                ),
                (
                    Some(status(&["a", "b"], Some("True"), 2, Some(1))),
                    status(&[], Some("True"), 2, Some(1)),
                ),
                (
                    Some(status(&["a"], Some("True"), 1, Some(1))),
                    status(&["a"], Some("False"), 1, Some(1)),
                ),
                (
                    Some(status(&["a"], Some("True"), 1, Some(1))),
                    status(&["a"], None, 1, Some(1)),
                ),
                (
                    Some(status(&["a"], None, 1, Some(1))),
                    status(&["a"], Some("True"), 0, Some(1)),
                ),
                (
                    Some(status(&["a"], None, 1, Some(1))),
                    status(&["a"], None, 1, Some(2)),
                ),
                (
                    Some(status(&["a"], None, 1, Some(1))),
                    status(&["a"], None, 1, None),
                ),
                (
                    Some(status(&["a"], None, 1, None)),
                    status(&["a"], None, 3, Some(4)),
                ),
            ];
            for (i, (prev, next)) in cases.iter().enumerate() {
                for rv in [None, Some("7")] {
                    assert_eq!(
                        typed(prev.as_ref(), next, rv),
                        status_patch(prev.as_ref(), next, rv),
                        "case {i}, resourceVersion {rv:?}"
                    );
                }
            }
        }

        #[test]
        fn every_field_is_diffed() {
            // A status with every field set, against none: the patch names each field the
            // status serializes — a field added to the status and not to the diff fails here.
            let full = status(&["a"], Some("True"), 1, Some(1));
            let fields = |v: Value| -> Vec<String> {
                v.as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let status_fields = fields(serde_json::to_value(&full).expect("serializes"));
            let patch = typed(None, &full, None).expect("a patch");
            assert_eq!(fields(patch["status"].clone()), status_fields);
        }
    }
}
