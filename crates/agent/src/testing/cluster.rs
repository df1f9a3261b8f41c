//! A Kubernetes API server with the ENIAttachment CRD registered — the in-process API double,
//! or any other server (the real kube-apiserver of `multi-eni-kube-env`) handed in as a client,
//! a kubeconfig and its loopback address — and ENIAttachments created and moved through their
//! phases exactly as the controller will (spec and labels at create, then the controller-owned
//! status fields by merge patch on `/status`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
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

/// A running API server with the CRDs.
pub struct TestCluster {
    pub client: Client,
    /// Where the server listens on the host's loopback: what a relay into a namespace targets.
    addr: SocketAddr,
    kubeconfig_yaml: String,
    /// The double this cluster started (stopped when dropped); `None` for a server owned
    /// elsewhere.
    _double: Option<ApiServerHandle>,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("addr", &self.addr)
            .field("double", &self._double.is_some())
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
        let cluster = TestCluster {
            client,
            addr: server.addr(),
            kubeconfig_yaml: server.kubeconfig_yaml(),
            _double: Some(server),
        };
        let api = cluster.api();
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
        cluster
    }

    /// A server someone else runs (and has registered the ENIAttachment CRD on), listening on
    /// the host's loopback at `addr`; `kubeconfig_yaml` names it by that address (its
    /// credentials and CA are kept when [`TestCluster::kubeconfig_for`] rewrites it). Panics
    /// when the kubeconfig does not point at `addr`, which would make that rewrite a no-op.
    pub fn on_server(client: Client, kubeconfig_yaml: &str, addr: SocketAddr) -> Self {
        if let Err(e) = point_kubeconfig_at(kubeconfig_yaml, addr, addr) {
            panic!("{e}");
        }
        TestCluster {
            client,
            addr,
            kubeconfig_yaml: kubeconfig_yaml.to_owned(),
            _double: None,
        }
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

    /// Deletes the attachment and waits until it is gone: a real kube-apiserver runs no
    /// controllers and is shared between tests, so tests remove what they made. Finalizers
    /// are cleared first, since nothing here would ever complete them.
    pub async fn delete(&self, name: &str) {
        let api = self.api();
        let current = api
            .get(name)
            .await
            .expect("get the ENIAttachment to delete");
        if current
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
        {
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
            )
            .await
            .expect("clear finalizers");
        }
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete ENIAttachment");
        wait_until(TIMEOUT, &format!("ENIAttachment {name} to be gone"), || {
            let api = api.clone();
            async move {
                match api.get_opt(name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(o)) => Err(format!("still there: {:?}", o.metadata)),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
    }

    /// Writes a kubeconfig at `path` that reaches this server from inside `ns` (through a
    /// loopback relay into the namespace, which lives as long as the current runtime). Only the
    /// server address changes: a TLS server's certificate must therefore name the loopback
    /// address (kube-env's has 127.0.0.1 as an IP SAN, and the relay listens on 127.0.0.1).
    pub async fn kubeconfig_for(&self, ns: &Netns, path: &Path) {
        let inside = ns.relay_to_host(self.addr).await;
        let yaml = point_kubeconfig_at(&self.kubeconfig_yaml, self.addr, inside)
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(path, yaml).expect("write kubeconfig");
    }
}

/// `yaml` with every cluster `server:` URL whose authority is `from` moved to `to`, scheme,
/// path, credentials and CA untouched; an error when no server is at `from`.
fn point_kubeconfig_at(yaml: &str, from: SocketAddr, to: SocketAddr) -> Result<String, String> {
    let mut moved = 0;
    let mut out: Vec<String> = yaml
        .lines()
        .map(|line| match moved_server_line(line, from, to) {
            Some(l) => {
                moved += 1;
                l
            }
            None => line.to_owned(),
        })
        .collect();
    if moved == 0 {
        return Err(format!("the kubeconfig names no server at {from}:\n{yaml}"));
    }
    if yaml.ends_with('\n') {
        out.push(String::new());
    }
    Ok(out.join("\n"))
}

/// The `server: <scheme>://<from>[/path]` line pointed at `to`, if `line` is one.
fn moved_server_line(line: &str, from: SocketAddr, to: SocketAddr) -> Option<String> {
    let value = line.trim_start().strip_prefix("server:")?;
    let url = value.trim().trim_matches(|c| c == '"' || c == '\'');
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.parse::<SocketAddr>().ok()? != from {
        return None;
    }
    let indent = &line[..line.len() - line.trim_start().len()];
    Some(format!("{indent}server: {scheme}://{to}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "127.0.0.1:6443";
    const TO: &str = "127.0.0.1:40001";

    fn moved(yaml: &str) -> Result<String, String> {
        point_kubeconfig_at(yaml, FROM.parse().expect("from"), TO.parse().expect("to"))
    }

    #[test]
    fn https_server_moves_keeping_scheme_ca_and_token() {
        let yaml = "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: Q0E=\nusers:\n- user:\n    token: t0k\n";
        assert_eq!(
            moved(yaml).expect("moved"),
            yaml.replace("127.0.0.1:6443", TO)
        );
    }

    #[test]
    fn plain_http_server_with_path_and_quotes_moves() {
        let yaml = "    server: \"http://127.0.0.1:6443/prefix\"";
        assert_eq!(
            moved(yaml).expect("moved"),
            "    server: http://127.0.0.1:40001/prefix"
        );
    }

    #[test]
    fn a_port_that_only_starts_with_the_same_digits_is_another_server() {
        let err = moved("    server: https://127.0.0.1:64430\n").expect_err("not ours");
        assert!(err.contains("no server at 127.0.0.1:6443"), "{err}");
    }
}
