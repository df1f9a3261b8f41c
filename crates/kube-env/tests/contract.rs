//! The Kubernetes API contract suite (`multi_eni_kube_env::contract`) against both servers:
//! the in-process double (a fresh one per case) and the real kube-apiserver (one per test
//! binary, shared by the cases through distinct names).

use std::path::{Path, PathBuf};
use std::time::Duration;

use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use multi_eni_kube_env::KubeEnv;
use multi_eni_kube_env::contract::{Cluster, Gap};

/// The double, with a short bookmark interval so idle watches get bookmarks within a case.
struct Double {
    server: ApiServerHandle,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

/// The differences the double still has; each is pinned by a case.
const DOUBLE_GAPS: &[Gap] = &[
    Gap::ApplyIgnoresUpdateManagers,
    Gap::ApplyListsAtomic,
    Gap::NoRemainingItemCount,
    Gap::NodeStatusWritesKeepMetadata,
];

impl Double {
    async fn start() -> Double {
        let server = ApiServer::start(ServerConfig {
            bookmark_interval: Duration::from_millis(200),
            ..ServerConfig::default()
        })
        .await
        .expect("the API double starts on 127.0.0.1");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .expect("write the kubeconfig");
        Double {
            server,
            _dir: dir,
            kubeconfig,
        }
    }
}

impl Cluster for Double {
    fn name(&self) -> &str {
        "double"
    }
    async fn client(&self) -> kube::Client {
        self.server.client().expect("a client for the double")
    }
    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
    fn has_gap(&self, gap: Gap) -> bool {
        DOUBLE_GAPS.contains(&gap)
    }
}

/// The shared real kube-apiserver.
struct Real(&'static KubeEnv);

impl Cluster for Real {
    fn name(&self) -> &str {
        "kube-apiserver"
    }
    async fn client(&self) -> kube::Client {
        self.0.client().await
    }
    fn kubeconfig(&self) -> &Path {
        self.0.kubeconfig()
    }
    fn has_gap(&self, _: Gap) -> bool {
        false
    }
}

async fn double() -> Double {
    Double::start().await
}

async fn real() -> Real {
    Real(KubeEnv::shared())
}

mod double {
    multi_eni_kube_env::contract_suite!(super::double);
}

mod real {
    multi_eni_kube_env::contract_suite!(super::real);
}
