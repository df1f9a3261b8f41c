//! What tests need from a cluster beyond the raw API, done the way Kubernetes itself does it:
//! Nodes with labels and provider IDs, CRDs applied and waited for until `Established`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};

use crate::TIMEOUT;

/// Creates a Node (as a kubelet would register it) with these labels and `spec.providerID`.
pub async fn create_node(
    client: &Client,
    name: &str,
    labels: &[(&str, &str)],
    provider_id: Option<&str>,
) -> Result<Node, kube::Error> {
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: provider_id.map(str::to_string),
            ..NodeSpec::default()
        }),
        status: None,
    };
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
}

/// Server-side applies these CRDs (field manager `multi-eni-tests`) and waits until each is
/// `Established`, so its resources can be used at once.
pub async fn apply_crds(
    client: &Client,
    crds: &[CustomResourceDefinition],
) -> Result<(), kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("multi-eni-tests").force();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(crd)).await?;
    }
    for crd in crds {
        wait_established(client, crd.metadata.name.as_deref().unwrap_or_default()).await;
    }
    Ok(())
}

/// Waits until the named CRD has condition `Established=True` (panics after [`TIMEOUT`]).
pub async fn wait_established(client: &Client, name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    multi_eni_testkit::wait_until(TIMEOUT, &format!("CRD {name} Established"), || {
        let api = api.clone();
        async move {
            let crd = api.get(name).await.map_err(|e| e.to_string())?;
            let established = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                Ok(())
            } else {
                Err(format!("status {:?}", crd.status))
            }
        }
    })
    .await
}
