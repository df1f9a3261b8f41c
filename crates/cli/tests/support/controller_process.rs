//! The real `multi-eni controller` process for end-to-end tests: started against a kubeconfig
//! and an EC2 endpoint, its JSON log kept in a file, its probe port read over plain HTTP, and
//! stopped with `kill -9` (a crash, not a shutdown).

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// How long the process may take to exit after SIGKILL, or to fail its start-up checks.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// One `multi-eni controller` process; killed when dropped.
pub struct ControllerProcess {
    child: Child,
    log: PathBuf,
    /// Where it serves `/metrics`, `/healthz` and `/readyz`.
    pub probes: SocketAddr,
}

/// A free loopback address for `--metrics-address` (the binary logs, but does not print, the
/// port it bound; a free port chosen here is known to the test).
fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// What to start a controller process with (see [`ControllerProcess::start`]).
pub struct Launch<'a> {
    /// Where its log goes (`<dir>/<name>.log`).
    pub dir: &'a Path,
    pub name: &'a str,
    pub kubeconfig: &'a Path,
    pub ec2_endpoint: &'a str,
    pub cluster: &'a str,
    /// `--resync-period`.
    pub resync: &'a str,
    /// `--log`.
    pub log_filter: &'a str,
    /// More controller flags.
    pub extra: &'a [&'a str],
    /// Another `multi-eni` binary than the one cargo built for this test (e.g. the image's,
    /// built without the `sandbox` feature).
    pub binary: Option<&'a Path>,
    /// More environment variables (e.g. the shipped Deployment's allocator settings).
    pub env: &'a [(String, String)],
}

impl ControllerProcess {
    /// Starts `multi-eni controller --cluster-name <cluster>` with `kubeconfig`, EC2 at
    /// `ec2_endpoint` (static `testing` credentials, us-east-1), leader election off, resync
    /// every `resync`, logging JSON (ours at debug) to `<dir>/<name>.log`.
    pub fn start(
        dir: &Path,
        name: &str,
        kubeconfig: &Path,
        ec2_endpoint: &str,
        cluster: &str,
        resync: &str,
    ) -> ControllerProcess {
        ControllerProcess::launch(&Launch {
            dir,
            name,
            kubeconfig,
            ec2_endpoint,
            cluster,
            resync,
            log_filter: "multi_eni_controller=debug,info",
            extra: &[],
            binary: None,
            env: &[],
        })
    }

    /// Starts the process as `l` says (leader election off, static `testing` credentials).
    pub fn launch(l: &Launch<'_>) -> ControllerProcess {
        let probes = free_address();
        let log = l.dir.join(format!("{}.log", l.name));
        let binary = l
            .binary
            .unwrap_or(Path::new(env!("CARGO_BIN_EXE_multi-eni")));
        let child = Command::new(binary)
            .args(["--log-format", "json", "--log", l.log_filter])
            .arg("controller")
            .args(l.extra)
            .args(["--cluster-name", l.cluster])
            .args(["--ec2-endpoint", l.ec2_endpoint])
            .args(["--aws-region", "us-east-1"])
            .args(["--leader-election=false", "--resync-period", l.resync])
            .arg("--metrics-address")
            .arg(probes.to_string())
            .envs(l.env.iter().map(|(k, v)| (k, v)))
            .env("KUBECONFIG", l.kubeconfig)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_EC2")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("controller log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start `multi-eni controller`");
        ControllerProcess { child, log, probes }
    }

    /// The process ID, while it runs (for `benches/controller_rss.rs`, which shares this file;
    /// the tests do not need it).
    #[allow(dead_code)]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything it logged so far (JSON lines; a start-up error is the last, plain, line).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `what` (a check that did not pass yet) followed by the process's log, to see why.
    pub fn with_logs(&self, what: impl std::fmt::Display) -> String {
        format!(
            "{what}; controller log ({}):\n{}",
            self.log.display(),
            self.logs()
        )
    }

    /// Fails (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{}",
                self.with_logs(format!("the controller exited: {status}"))
            );
        }
    }

    /// `kill -9`: no orderly stop, no Lease release, nothing flushed.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL the controller");
        let status = self.wait_exit().await;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    }

    /// SIGTERM, as the kubelet sends: an orderly stop and a clean exit.
    pub async fn terminate(mut self) {
        let pid = self
            .child
            .id()
            .expect("the controller still runs")
            .to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let status = self.wait_exit().await;
        assert!(
            status.success(),
            "{}",
            self.with_logs(format!("exit on SIGTERM: {status}"))
        );
    }

    /// Waits (at most [`EXIT_TIMEOUT`]) for the process to exit on its own.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(EXIT_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.expect("wait for the controller"),
            Err(_) => panic!(
                "{}",
                self.with_logs(format!("the controller still runs after {EXIT_TIMEOUT:?}"))
            ),
        }
    }

    /// The messages of its JSON log lines with their fields, in order.
    pub fn events(&self, message: &str) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("fields").cloned())
            .filter(|f| f.get("message").and_then(|m| m.as_str()) == Some(message))
            .collect()
    }

    /// `GET <path>` on the probe port: status code and body.
    pub async fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(self.probes, path).await
    }

    /// `/metrics`, answered 200.
    pub async fn metrics(&self) -> Result<String, String> {
        match self.get("/metrics").await? {
            (200, body) => Ok(body),
            (code, body) => Err(format!("/metrics answered {code}: {body}")),
        }
    }
}

/// A minimal HTTP/1.0 GET, enough for the probe server.
async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    // HTTP/1.0: the answer is the body to the end of the stream, never chunked.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {text}"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status code in {head:?}"))?;
    Ok((code, body.to_string()))
}

/// The sum of the samples of `name` (e.g. `multi_eni_ec2_requests_total`) whose labels include
/// every `label="value"` in `labels`, in Prometheus text format; 0 when there is none.
pub fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}
