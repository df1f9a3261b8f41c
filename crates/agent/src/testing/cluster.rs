//! The Kubernetes API double with the ENIAttachment CRD registered, and ENIAttachments created
//! and moved through their phases exactly as the controller will (spec and labels at create,
//! then the controller-owned status fields by merge patch on `/status`).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt};
use multi_eni_api::keys::LABEL_NODE;
use multi_eni_api::naming::label_value;
use multi_eni_api::{EniAttachment, EniAttachmentSpec, Phase};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use serde_json::json;

use super::netns::Netns;
use super::wait_until;

/// How long fixtures wait for the cluster or the agent before failing a test.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A running API double with the CRDs.
pub struct TestCluster {
    pub server: ApiServerHandle,
    pub client: Client,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl TestCluster {
    /// Starts the double and registers the ENIAttachment CRD through the ordinary API.
    pub async fn start() -> Self {
        let server = ApiServer::start(ServerConfig::default())
            .await
            .expect("start the Kubernetes API double");
        let client = server.client().expect("client for the double");
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &EniAttachment::crd())
            .await
            .expect("register the ENIAttachment CRD");
        let api: Api<EniAttachment> = Api::all(client.clone());
        wait_until(TIMEOUT, "the ENIAttachment CRD to be served", || {
            let api = api.clone();
            async move {
                api.list(&ListParams::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        TestCluster { server, client }
    }

    /// The ENIAttachment API.
    pub fn api(&self) -> Api<EniAttachment> {
        Api::all(self.client.clone())
    }

    /// Creates an ENIAttachment for `node` (labelled as the controller labels it) with `spec`
    /// adjustments applied to a valid default spec.
    pub async fn create(
        &self,
        name: &str,
        node: &str,
        adjust: impl FnOnce(&mut EniAttachmentSpec),
    ) -> EniAttachment {
        let mut spec: EniAttachmentSpec = serde_json::from_value(json!({
            "nodeENI": "storage", "nodeName": node, "instanceID": "i-0123456789abcdef0",
            "subnetID": "subnet-0123456789abcdef0", "securityGroupIDs": ["sg-0123456789abcdef0"],
            "deviceIndex": 1
        }))
        .expect("valid spec");
        adjust(&mut spec);
        let mut obj = EniAttachment::new(name, spec);
        obj.metadata.labels = Some([(LABEL_NODE.to_owned(), label_value(node))].into());
        self.api()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create ENIAttachment")
    }

    /// [`TestCluster::create`], then [`TestCluster::set_controller_status`] to Attached with
    /// `mac`: what the controller does for a new ENI, in the same steps.
    pub async fn attach(
        &self,
        name: &str,
        node: &str,
        mac: &str,
        adjust: impl FnOnce(&mut EniAttachmentSpec),
    ) -> EniAttachment {
        self.create(name, node, adjust).await;
        self.set_controller_status(name, Phase::Attached, Some(mac))
            .await
    }

    /// Writes the controller-owned status: phase, and once attached the ENI's IDs and MAC.
    pub async fn set_controller_status(
        &self,
        name: &str,
        phase: Phase,
        mac: Option<&str>,
    ) -> EniAttachment {
        let mut status = json!({ "phase": phase.as_str() });
        if let Some(mac) = mac {
            status["macAddress"] = json!(mac);
            status["eniID"] = json!("eni-0123456789abcdef0");
            status["attachmentID"] = json!("eni-attach-0123456789abcdef0");
            status["privateIPAddress"] = json!("10.0.1.17");
            status["subnetCIDR"] = json!("10.0.1.0/24");
            status["availabilityZone"] = json!("us-east-1a");
            status["deviceIndex"] = json!(1);
        }
        self.api()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .expect("write controller status")
    }

    /// Moves the attachment to `phase` (controller-owned), nothing else.
    pub async fn set_phase(&self, name: &str, phase: Phase) -> EniAttachment {
        self.api()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "phase": phase.as_str() } })),
            )
            .await
            .expect("write phase")
    }

    /// Waits until the attachment satisfies `pred` (which says what it saw when it does not).
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&EniAttachment) -> Result<(), String>,
    ) -> EniAttachment {
        let api = self.api();
        let pred = &pred;
        wait_until(TIMEOUT, what, || {
            let api = api.clone();
            async move {
                let o = api.get(name).await.map_err(|e| e.to_string())?;
                pred(&o).map(|()| o)
            }
        })
        .await
    }

    /// Writes a kubeconfig at `path` that reaches this server from inside `ns` (through a
    /// loopback relay into the namespace, which lives as long as the current runtime).
    pub async fn kubeconfig_for(&self, ns: &Netns, path: &Path) {
        let inside = ns.relay_to_host(self.server.addr()).await;
        let yaml = self
            .server
            .kubeconfig_yaml()
            .replace(&self.server.url(), &format!("http://{inside}"));
        std::fs::write(path, yaml).expect("write kubeconfig");
    }
}
