//! Shared test fixtures: a running double, a Widget custom resource, waiting with a deadline.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::{CustomResource, CustomResourceExt};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema, PartialEq)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
#[kube(printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#)]
pub struct WidgetSpec {
    pub size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// An object of a built-in kind (Node, Lease …) with nothing but a name.
pub fn named<K: kube::Resource + Default>(name: &str) -> K {
    let mut k = K::default();
    k.meta_mut().name = Some(name.into());
    k
}

pub fn widget(name: &str, size: i32) -> Widget {
    Widget::new(name, WidgetSpec { size, color: None })
}

pub fn config() -> ServerConfig {
    ServerConfig {
        bookmark_interval: Duration::from_millis(200),
        ..ServerConfig::default()
    }
}

pub async fn start() -> ApiServerHandle {
    start_with(config()).await
}

pub async fn start_with(config: ServerConfig) -> ApiServerHandle {
    ApiServer::start(config)
        .await
        .expect("the API double starts on 127.0.0.1")
}

/// Creates an object of a built-in kind with nothing but a name; returns it as stored.
pub async fn create_named<K>(api: &Api<K>, name: &str) -> K
where
    K: kube::Resource + Default + Clone + DeserializeOwned + Serialize + Debug,
{
    api.create(&PostParams::default(), &named(name))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

pub async fn install_widget_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .expect("Widget CRD is accepted");
}

/// Installs the Widget CRD; returns the Widgets of namespace `default`.
pub async fn widget_api(server: &ApiServerHandle) -> Api<Widget> {
    let client = server.client().expect("client");
    install_widget_crd(&client).await;
    Api::namespaced(client, "default")
}

/// Installs the Widget CRD and creates Widget `w` of size 1 in `default`.
pub async fn widget_w(server: &ApiServerHandle) -> Api<Widget> {
    let widgets = widget_api(server).await;
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create widget w");
    widgets
}

/// Polls `check` until it returns `Some`, failing the test after a generous deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The HTTP status code of a kube-rs API error.
pub fn code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

pub fn reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.reason.clone(),
        other => panic!("expected an API error Status, got {other:?}"),
    }
}
