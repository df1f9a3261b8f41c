//! The project's own CRDs (from the api crate) register through the ordinary API and are served
//! at once, with their schema defaults applied on write — what the agent and controller tests rely on.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use serde_json::json;

use crate::support::{code, start};

#[tokio::test]
async fn nodeeni_crd_registers_and_defaults_apply_on_create() {
    let server = start().await;
    let client = server.client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in multi_eni_api::crds::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let created = crds
            .create(&PostParams::default(), &crd)
            .await
            .unwrap_or_else(|e| panic!("CRD {name}: {e}"));
        let established = created
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is Established on create");
    }
    let gvk = GroupVersionKind::gvk("networking.k8s.aws", "v1alpha1", "NodeENI");
    let api: Api<DynamicObject> =
        Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "nodeenis"));
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI",
        "metadata": {"name": "multus"},
        "spec": {"nodeSelector": {"ng": "multi-eni"}, "subnetID": "subnet-0123456789abcdef0", "securityGroupIDs": ["sg-0123456789abcdef0"]}
    }))
    .expect("object");
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("NodeENI accepted");
    assert_eq!(created.data["spec"]["deviceIndex"], 1, "schema default");
    assert_eq!(
        created.data["spec"]["deleteOnTermination"], true,
        "schema default"
    );
    assert_eq!(created.metadata.generation, Some(1));

    let mut bad = obj.clone();
    bad.metadata.name = Some("Not_A_Name".into());
    assert_eq!(
        code(
            &api.create(&PostParams::default(), &bad)
                .await
                .expect_err("bad name")
        ),
        422
    );
}
