//! What every case starts from: a client, a per-case name prefix and label, the shared Widget
//! custom resource, and the small readers of API errors and watch streams.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams, WatchEvent};
use kube::{Client, CustomResource, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Cluster;
use crate::TIMEOUT;

/// The label every case puts on what it creates: cases list and watch by it, so objects of
/// other cases on the shared server stay out of their view.
pub const CASE_LABEL: &str = "contract.multi-eni.test/case";
/// The Widget CRD's name; installed idempotently by every case that uses Widgets.
pub const WIDGETS_CRD: &str = "widgets.contract.multi-eni.test";

/// A namespaced custom resource with a status subresource and a selectable field
/// (`.spec.color`), the CRD shape the controller's own resources have.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "contract.multi-eni.test",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    schema = "disabled"
)]
pub struct WidgetSpec {
    pub size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// A CRD of `kind` (plural: lowercase + `s`) in `group`, namespaced, with a status
/// subresource; spec `size` (integer ≥ 1, required), `color` (string, selectable) and
/// `ports` (a list of type map keyed by `name`).
pub fn crd(group: &str, kind: &str) -> CustomResourceDefinition {
    let plural = format!("{}s", kind.to_lowercase());
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1},
            "color": {"type": "string"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "port": {"type": "integer"}}}}}},
        "status": {"type": "object", "properties": {
            "observed": {"type": "integer"},
            "observedGeneration": {"type": "integer"},
            "agent": {"type": "string"}}}}});
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                      "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "selectableFields": [{"jsonPath": ".spec.color"}],
                "schema": {"openAPIV3Schema": schema}}]}
    }))
    .expect("a well-formed CRD")
}

/// One case's view of a cluster.
#[derive(Clone)]
pub struct Case {
    pub client: Client,
    /// Prefix of every name the case creates; also its [`CASE_LABEL`] value.
    pub prefix: String,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// `prefix` must be unique among the cases, short (a label value) and a DNS label.
    pub async fn new(c: &impl Cluster, prefix: &str) -> Case {
        Case {
            client: c.client().await,
            prefix: prefix.to_string(),
        }
    }

    /// The case's name for `short`.
    pub fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// `CASE_LABEL=<prefix>`.
    pub fn selector(&self) -> String {
        format!("{CASE_LABEL}={}", self.prefix)
    }

    /// Metadata naming `short` and carrying the case label plus `labels`.
    pub fn meta(&self, short: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        let mut all: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert(CASE_LABEL.into(), self.prefix.clone());
        ObjectMeta {
            name: Some(self.name(short)),
            labels: Some(all),
            ..ObjectMeta::default()
        }
    }

    /// An object of a built-in kind (Node, Lease …) with the case's name and label.
    pub fn object<K: Resource + Default>(&self, short: &str) -> K {
        let mut k = K::default();
        *k.meta_mut() = self.meta(short, &[]);
        k
    }

    /// Creates [`Case::object`]; returns it as stored.
    pub async fn create<K>(&self, api: &Api<K>, short: &str) -> K
    where
        K: Resource + Default + Clone + DeserializeOwned + Serialize + Debug,
    {
        api.create(&PostParams::default(), &self.object(short))
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", self.name(short)))
    }

    /// A Widget with the case's name and label.
    pub fn widget(&self, short: &str, size: i32) -> Widget {
        Widget {
            metadata: self.meta(short, &[]),
            spec: WidgetSpec { size, color: None },
            status: None,
        }
    }

    /// Installs the Widget CRD (idempotently); the Widgets of namespace `default`.
    pub async fn widgets(&self) -> Api<Widget> {
        self.install(&[crd("contract.multi-eni.test", "Widget")])
            .await;
        Api::namespaced(self.client.clone(), "default")
    }

    /// Server-side applies CRDs and waits until they are Established.
    pub async fn install(&self, crds: &[CustomResourceDefinition]) {
        crate::apply_crds(&self.client, crds)
            .await
            .expect("the CRDs apply");
    }

    /// The Nodes API.
    pub fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Deletes every object of `api` carrying the case label (a real kube-apiserver has no
    /// garbage collector, and the server is shared).
    pub async fn clean<K>(&self, api: &Api<K>)
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        api.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&self.selector()),
        )
        .await
        .unwrap_or_else(|e| panic!("clean up {}: {e}", self.prefix));
    }

    /// Waits (up to [`TIMEOUT`]) until `check` is `Ok`.
    pub async fn wait<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        multi_eni_testkit::wait_until(TIMEOUT, what, check).await
    }
}

/// The next event of a watch; fails the case when the stream ends, errs or stays silent
/// past [`TIMEOUT`].
pub async fn next_event<K, S>(stream: &mut S, what: &str) -> WatchEvent<K>
where
    S: Stream<Item = Result<WatchEvent<K>, kube::Error>> + Unpin,
{
    match tokio::time::timeout(TIMEOUT, stream.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(Some(Err(e))) => panic!("watch failed while waiting for {what}: {e}"),
        Ok(None) => panic!("watch ended while waiting for {what}"),
        Err(_) => panic!("timed out after {TIMEOUT:?} waiting for {what}"),
    }
}

/// The API error status of a failed request (panics on transport errors).
pub fn status_of(e: &kube::Error) -> &kube::core::Status {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

/// The HTTP status code of a kube-rs API error.
pub fn code(e: &kube::Error) -> u16 {
    status_of(e).code
}

/// The `reason` of a kube-rs API error.
pub fn reason(e: &kube::Error) -> String {
    status_of(e).reason.clone()
}

/// Whether a request that should have succeeded did; for messages.
pub fn dns_ok<T>(r: &Result<T, kube::Error>) -> String {
    match r {
        Ok(_) => "accepted".into(),
        Err(e) => format!("refused ({})", code(e)),
    }
}
