//! Shared test fixtures: a running double, named objects, waiting with a deadline.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::api::{Api, PostParams};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub async fn start() -> ApiServerHandle {
    ApiServer::start(ServerConfig {
        bookmark_interval: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await
    .expect("the API double starts on 127.0.0.1")
}

/// Creates an object of a built-in kind with nothing but a name; returns it as stored.
pub async fn create_named<K>(api: &Api<K>, name: &str) -> K
where
    K: kube::Resource + Default + Clone + DeserializeOwned + Serialize + Debug,
{
    let mut k = K::default();
    k.meta_mut().name = Some(name.into());
    api.create(&PostParams::default(), &k)
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

/// Waits until `check` returns `Some`, failing the test after a generous deadline (the
/// workspace's one poll loop).
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    multi_eni_testkit::wait_for(Duration::from_secs(30), what, check).await
}

/// The HTTP status code of a kube-rs API error.
pub fn code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}
