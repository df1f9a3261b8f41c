//! Starts `moto_server` (pinned in `scripts/install-test-deps.sh`) on a free 127.0.0.1 port,
//! waits until it accepts connections, and kills it when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long moto may take to start (a cold Python import on a busy 2-core box).
const STARTUP: Duration = Duration::from_secs(60);

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    log: PathBuf,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `moto_server` binary: `$MOTO_SERVER`, else the test venv.
fn binary() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("target/test-venv/bin/moto_server"),
    }
}

impl MotoServer {
    /// Starts a fresh server (fresh state) or panics saying what to install.
    pub async fn start() -> MotoServer {
        let bin = binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}: run `bash scripts/install-test-deps.sh` (or set MOTO_SERVER)",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let logs = workspace_root().join("target/moto-logs");
        std::fs::create_dir_all(&logs).expect("create target/moto-logs");
        let log = logs.join(format!("moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create moto log");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(port).await;
        server
    }

    async fn wait_ready(&mut self, port: u16) {
        let deadline = tokio::time::Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited with {status} before listening; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not listen on {port} within {STARTUP:?}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep the log of a failed test for diagnosis.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
