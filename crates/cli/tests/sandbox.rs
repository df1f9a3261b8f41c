//! `multi-eni sandbox` as a user meets it: the real binary starts, prints a kubeconfig, and
//! `kubectl` (1.32, from the image or Debian's kubernetes-client) can apply the users' manifests,
//! sees printer columns, and is refused malformed manifests with the API server's own message.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

struct Sandbox {
    child: Child,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    fn start(extra: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_multi-eni"))
            .arg("sandbox")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("multi-eni sandbox starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Ready when it prints the kubeconfig line (after the CRDs and objects exist).
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(STARTUP_DEADLINE) {
                Ok(line) => {
                    let done = line.starts_with("kubeconfig: ");
                    seen.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "sandbox did not print its kubeconfig within {STARTUP_DEADLINE:?}; output: {seen:#?}"
                    );
                }
            }
        }
        assert!(
            seen.iter()
                .any(|l| l == &format!("kubeconfig: {}", kubeconfig.display())),
            "{seen:#?}"
        );
        // Drain the rest in the background so the child never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Sandbox {
            child,
            kubeconfig,
            _dir: dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs (install kubernetes-client: bash scripts/install-test-deps.sh)")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the sandbox the way Kubernetes or a terminal would (SIGTERM) and expects a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("sandbox exits");
        assert!(exit.success(), "sandbox exited with {exit}");
    }
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../api/tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn sandbox_serves_nodes_and_the_sample_and_kubectl_applies_and_refuses_like_a_cluster() {
    let sandbox = Sandbox::start(&["--nodes", "3"]);

    let nodes = sandbox.kubectl_ok(&["get", "nodes", "-l", "ng=multi-eni", "-o", "name"]);
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    let sample = sandbox.kubectl_ok(&[
        "get",
        "neni",
        "sample-multus",
        "-o",
        "jsonpath={.spec.deviceIndex}",
    ]);
    assert_eq!(sample, "1");

    for path in fixtures("valid") {
        let out = sandbox.kubectl_ok(&["apply", "-f", path.to_str().expect("utf-8 path")]);
        assert!(out.contains("created"), "{}: {out}", path.display());
    }
    let table = sandbox.kubectl_ok(&["get", "neni"]);
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "DESIRED", "ATTACHED", "READY", "STATUS", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        table.contains("multi-subnet-by-name") && table.contains("sriov-kernel"),
        "{table}"
    );
    let wide = sandbox.kubectl_ok(&["get", "neni", "-o", "wide"]);
    assert!(
        wide.lines().next().unwrap_or_default().contains("REASON"),
        "{wide}"
    );

    let invalid = fixtures("invalid");
    assert!(invalid.len() >= 10);
    for path in invalid {
        let text = std::fs::read_to_string(&path).expect("fixture");
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .expect("expect line");
        let out = sandbox.kubectl(&["apply", "-f", path.to_str().expect("utf-8 path")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} was accepted", path.display());
        assert!(
            stderr.contains(expected),
            "{}: expected {expected:?} in {stderr}",
            path.display()
        );
    }
    let names = sandbox.kubectl_ok(&["get", "neni", "-o", "name"]);
    assert!(!names.contains("nodeeni.networking.k8s.aws/bad"), "{names}");

    sandbox.stop();
}

#[test]
fn apiserver_only_serves_just_the_api_with_the_crds() {
    let sandbox = Sandbox::start(&["--apiserver-only"]);
    let crds = sandbox.kubectl_ok(&["get", "crd", "-o", "name"]);
    assert!(
        crds.contains("nodeenis.networking.k8s.aws")
            && crds.contains("eniattachments.networking.k8s.aws"),
        "{crds}"
    );
    let nodes = sandbox.kubectl_ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.trim(), "");
    let neni = sandbox.kubectl_ok(&["get", "neni", "-o", "name"]);
    assert_eq!(neni.trim(), "");
    sandbox.stop();
}
