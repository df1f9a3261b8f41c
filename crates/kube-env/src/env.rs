//! Starting, sharing and stopping one control plane.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::binaries::{Binaries, INSTALL_COMMAND};
use crate::pki;
use crate::ports::free_port;
use crate::process::Children;

/// Why a control plane did not start. Every variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "{name} is not at {} — build the test environment with `{INSTALL_COMMAND}` (or point MULTI_ENI_TESTENV_BIN at a directory holding etcd, kube-apiserver and helm)",
        path.display()
    )]
    MissingBinary { name: String, path: PathBuf },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("generating the test certificates failed: {0}")]
    Pki(String),
    #[error("the thread that owns the control plane's processes is gone")]
    KeeperGone,
    #[error("{program} exited ({status}) while starting; last lines of {log}:\n{tail}")]
    Exited {
        program: String,
        status: String,
        log: String,
        tail: String,
    },
    #[error("kube-apiserver was not ready within {timeout:?}; last answer: {last}; log: {log}")]
    NotReady {
        timeout: Duration,
        last: String,
        log: String,
    },
    #[error("the admin kubeconfig is unusable: {0}")]
    Kubeconfig(String),
}

/// A running etcd + kube-apiserver. Dropping it stops both and removes its directory.
#[derive(Debug)]
pub struct KubeEnv {
    // Declared first so the processes stop before the directory is removed.
    children: Children,
    dir: PathBuf,
    url: String,
    kubeconfig: PathBuf,
    kubeconfig_yaml: String,
}

/// How long a start may take before it is reported as failed (a healthy one takes seconds).
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Starts that lose a free port to another process are retried this many times.
const START_ATTEMPTS: usize = 3;
/// The admin user's bearer token; a member of `system:masters`.
const ADMIN_TOKEN: &str = "multi-eni-test-admin-token";
const DIR_PREFIX: &str = "multi-eni-kube-env-";

impl KubeEnv {
    /// Starts a control plane of its own (blocking; call it from anywhere, also inside a tokio
    /// runtime). Takes a few seconds.
    pub fn start() -> Result<Self, StartError> {
        let binaries = Binaries::find()?;
        remove_stale_dirs();
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match start_once(&binaries) {
                Ok(env) => return Ok(env),
                // Another process may have taken a port between our probe and the bind.
                Err(e @ StartError::Exited { .. })
                    if e.to_string().contains("address already in use") =>
                {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(StartError::KeeperGone))
    }

    /// The control plane shared by every test of this test binary, started on first use.
    /// Panics with the reason (naming the install command when a binary is missing) if it
    /// cannot start. Tests sharing it keep apart by using distinct object names.
    pub fn shared() -> &'static KubeEnv {
        static SHARED: OnceLock<Result<KubeEnv, String>> = OnceLock::new();
        match SHARED.get_or_init(|| KubeEnv::start().map_err(|e| e.to_string())) {
            Ok(env) => env,
            Err(e) => panic!("the real kube-apiserver test environment did not start: {e}"),
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin kubeconfig (token user in `system:masters`, CA embedded), for kubectl.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// The directory holding the certificates, etcd's data and both processes' logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kube-apiserver log so far (for failure messages).
    pub fn apiserver_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kube-apiserver.log")).unwrap_or_default()
    }

    /// A new admin client. Each test runtime needs its own: a client's connections belong to
    /// the runtime that made them.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig_yaml)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for KubeEnv {
    fn drop(&mut self) {
        // Stop the processes before removing the directory they write to.
        self.children.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_once(binaries: &Binaries) -> Result<KubeEnv, StartError> {
    let dir = std::env::temp_dir().join(format!(
        "{DIR_PREFIX}{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let io = |what: String| move |source| StartError::Io { what, source };
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    let children = Children::new();
    // From here on a failure drops `env`, which stops what started and removes the directory.
    let mut env = KubeEnv {
        children,
        dir: dir.clone(),
        url: String::new(),
        kubeconfig: dir.join("kubeconfig"),
        kubeconfig_yaml: String::new(),
    };
    let pki = pki::generate(&dir)?;
    let tokens = dir.join("tokens.csv");
    std::fs::write(
        &tokens,
        format!("{ADMIN_TOKEN},admin,admin-uid,\"system:masters\"\n"),
    )
    .map_err(io(format!("write {}", tokens.display())))?;

    let (client_port, peer_port, api_port) = (free_port_or()?, free_port_or()?, free_port_or()?);
    let etcd_args = etcd_args(&dir.join("etcd"), client_port, peer_port);
    env.children
        .spawn(&binaries.etcd, &etcd_args, &dir.join("etcd.log"))?;
    let api_args = apiserver_args(&pki, &tokens, client_port, api_port, &dir);
    env.children.spawn(
        &binaries.kube_apiserver,
        &api_args,
        &dir.join("kube-apiserver.log"),
    )?;

    env.url = format!("https://127.0.0.1:{api_port}");
    env.kubeconfig_yaml = kubeconfig_yaml(&env.url, &pki.ca_pem);
    std::fs::write(&env.kubeconfig, &env.kubeconfig_yaml)
        .map_err(io(format!("write {}", env.kubeconfig.display())))?;
    wait_ready(&env)?;
    Ok(env)
}

fn free_port_or() -> Result<u16, StartError> {
    free_port().map_err(|source| StartError::Io {
        what: "find a free loopback port".into(),
        source,
    })
}

fn etcd_args(data: &Path, client_port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=default".into(),
        format!("--data-dir={}", data.display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=default={peer}"),
        // Test data: durability across power loss buys nothing and costs every write an fsync.
        "--unsafe-no-fsync".into(),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(
    pki: &pki::Pki,
    tokens: &Path,
    etcd_port: u16,
    port: u16,
    dir: &Path,
) -> Vec<String> {
    let (sa_key, sa_pub) = (
        pki.service_account_key.display(),
        pki.service_account_public_key.display(),
    );
    vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        // The `kubernetes` Service's endpoints may not be loopback; nothing here needs them.
        "--endpoint-reconciler-type=none".into(),
        format!("--secure-port={port}"),
        format!("--cert-dir={}", dir.join("certs").display()),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        format!("--token-auth-file={}", tokens.display()),
        // RBAC on, as on EKS, so the deploy tests can prove what each ServiceAccount may do.
        "--authorization-mode=RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={sa_pub}"),
        format!("--service-account-signing-key-file={sa_key}"),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        // No kube-controller-manager creates the `default` ServiceAccounts Pods would need.
        "--disable-admission-plugins=ServiceAccount".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
    ]
}

fn kubeconfig_yaml(url: &str, ca_pem: &str) -> String {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-env
  cluster:
    server: {url}
    certificate-authority-data: {ca}
contexts:
- name: kube-env
  context:
    cluster: kube-env
    user: admin
    namespace: default
current-context: kube-env
users:
- name: admin
  user:
    token: {ADMIN_TOKEN}
"
    )
}

async fn client_for(kubeconfig_yaml: &str) -> Result<Client, StartError> {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig_yaml)
        .map_err(|e| StartError::Kubeconfig(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| StartError::Kubeconfig(e.to_string()))?;
    Client::try_from(config).map_err(|e| StartError::Kubeconfig(e.to_string()))
}

/// Polls `/readyz` (every post-start hook done: RBAC roles bootstrapped, system namespaces
/// created) on a runtime of its own, failing early with the log when a process exits.
fn wait_ready(env: &KubeEnv) -> Result<(), StartError> {
    let yaml = env.kubeconfig_yaml.clone();
    let ready = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| StartError::Io {
                        what: "start a runtime to wait for kube-apiserver".into(),
                        source,
                    })?;
                runtime.block_on(poll_readyz(env, &yaml))
            })
            .join()
    });
    ready.unwrap_or(Err(StartError::KeeperGone))
}

async fn poll_readyz(env: &KubeEnv, yaml: &str) -> Result<(), StartError> {
    let client = client_for(yaml).await?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut last;
    loop {
        if let Some((program, status)) = env.children.exited().into_iter().next() {
            let name = program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let log = env.dir.join(format!("{}.log", log_name(&name)));
            return Err(StartError::Exited {
                program: name,
                status: status.to_string(),
                tail: tail(&log, 20),
                log: log.display().to_string(),
            });
        }
        let request = http::Request::get("/readyz").body(Vec::new());
        match request {
            Ok(request) => match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => last = body,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StartError::NotReady {
                timeout: START_TIMEOUT,
                last,
                log: env.dir.join("kube-apiserver.log").display().to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `etcd-v3.7.0` logs to `etcd.log`, `kube-apiserver-v1.37.2` to `kube-apiserver.log`.
fn log_name(binary: &str) -> &'static str {
    if binary.starts_with("etcd") {
        "etcd"
    } else {
        "kube-apiserver"
    }
}

/// The last `lines` error lines of a klog/etcd log (`E…`/`F…` or `"level":"error"`), or its
/// last lines when it has none: why a process stopped, without its start-up chatter.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let errors: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| l.starts_with('E') || l.starts_with('F') || l.contains(r#""level":"error""#))
        .collect();
    let pick = if errors.is_empty() { all } else { errors };
    pick[pick.len().saturating_sub(lines)..].join("\n")
}

/// Removes directories left by test binaries that are gone (a shared control plane's
/// directory outlives its process: statics are never dropped).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
