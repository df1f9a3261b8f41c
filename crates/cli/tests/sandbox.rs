//! `multi-eni sandbox` as a user meets it: the real binary runs the whole system — API double,
//! EC2 simulator, controller and (as root) one agent per node in its own network namespace —
//! converges the sample NodeENI, prints a kubeconfig that `kubectl` (from the image) uses to
//! label nodes and delete NodeENIs while ENIs follow, survives injected EC2 faults, says why
//! attachments stop at Attached without root, and on Ctrl-C deletes everything and reports the
//! ENIs left behind (none). The API itself behaves like a cluster's: manifests apply, printer
//! columns show, malformed manifests are refused with the API server's own message.
//! CI runs as root; the non-root case drops to `nobody` with setpriv(1).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a step may take before the test fails (the sandbox converges in seconds).
const DEADLINE: Duration = Duration::from_secs(120);

struct Sandbox {
    child: Child,
    kubeconfig: PathBuf,
    lines: mpsc::Receiver<String>,
    /// Every stdout line so far (for failure messages and assertions).
    seen: Vec<String>,
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Starts `multi-eni sandbox <extra>` (prefixed by `wrap`, e.g. setpriv) and waits for its
    /// kubeconfig line, which it prints once the system has converged.
    fn start_as(wrap: &[&str], extra: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        // Writable by whoever the sandbox runs as (the non-root case drops to nobody).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
        let kubeconfig = dir.path().join("kubeconfig");
        let bin = env!("CARGO_BIN_EXE_multi-eni");
        let (program, mut args) = match wrap.split_first() {
            Some((p, rest)) => (*p, rest.to_vec()),
            None => (bin, Vec::new()),
        };
        if !wrap.is_empty() {
            args.push(bin);
        }
        let mut child = Command::new(program)
            .args(args)
            .arg("sandbox")
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("multi-eni sandbox starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sandbox = Sandbox {
            child,
            kubeconfig,
            lines,
            seen: Vec::new(),
            dir,
        };
        // The last line it prints once started (and, unless API-only, converged).
        sandbox.wait_for_line(|l| {
            l.starts_with("Changes show below") || l.starts_with("Serving the API only")
        });
        let want = format!("kubeconfig:  {}", sandbox.kubeconfig.display());
        assert!(sandbox.seen.contains(&want), "{:#?}", sandbox.seen);
        sandbox
    }

    fn start(extra: &[&str]) -> Sandbox {
        Sandbox::start_as(&[], extra)
    }

    /// Reads stdout until a line matches; fails with everything seen after [`DEADLINE`].
    fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "no such line from the sandbox ({e}); output: {:#?}",
                        self.seen
                    );
                }
            }
        }
    }

    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs (it is on the CI image; Debian: kubernetes-client)")
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

    /// `kubectl wait` for a condition on an object (kubectl watches; no polling here).
    fn kubectl_wait(&self, object: &str, condition: &str) {
        let timeout = format!("--timeout={}s", DEADLINE.as_secs());
        self.kubectl_ok(&["wait", object, condition, &timeout]);
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Stops it as a terminal would (Ctrl-C = SIGINT); expects the teardown to report no ENI
    /// left behind and a clean exit. Returns the whole output.
    fn stop(mut self) -> Vec<String> {
        self.signal("-INT");
        self.wait_for_line(|l| l.starts_with("==> stopped:"));
        let exit = self.child.wait().expect("sandbox exits");
        assert!(
            exit.success(),
            "sandbox exited with {exit}: {:#?}",
            self.seen
        );
        assert!(
            self.seen
                .iter()
                .any(|l| l == "==> stopped: 0 ENIs left behind"),
            "{:#?}",
            self.seen
        );
        let log = self.dir.path().join("sandbox.log");
        assert!(log.exists(), "the logs go to {}", log.display());
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Sandbox {
    /// A failed test must not leave the sandbox running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The phases of every ENIAttachment, sorted.
fn phases(sandbox: &Sandbox) -> Vec<String> {
    let out = sandbox.kubectl_ok(&["get", "enia", "-o", "jsonpath={.items[*].status.phase}"]);
    let mut phases: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    phases.sort();
    phases
}

#[test]
fn as_root_agents_make_every_eni_ready_and_enis_follow_labels_and_deletion() {
    let mut sandbox = Sandbox::start(&["--agents", "on"]);
    assert!(
        sandbox.seen.iter().any(|l| l.starts_with("Converged in")
            && l.contains("2 ENIs for 1 NodeENIs")
            && l.contains("(Ready)")),
        "{:#?}",
        sandbox.seen
    );
    assert_eq!(phases(&sandbox), ["Ready", "Ready"]);
    // The agent found the link carrying each ENI's MAC in its node's namespace (device index 1
    // is ens6 on a Nitro instance), set it up with the NodeENI's MTU, and said so.
    let ifaces = sandbox.kubectl_ok(&[
        "get",
        "enia",
        "-o",
        "jsonpath={range .items[*]}{.status.interface.interfaceName}/{.status.interface.mtu}/{.status.interface.up} {end}",
    ]);
    assert_eq!(
        ifaces.split_whitespace().collect::<Vec<_>>(),
        ["ens6/9001/true"; 2],
        "{ifaces}"
    );

    sandbox.kubectl_ok(&["label", "node", "sandbox-node-3", "ng=multi-eni"]);
    sandbox.kubectl_wait(
        "nodeeni/sample-multus",
        "--for=jsonpath={.status.readyCount}=3",
    );
    sandbox.wait_for_line(|l| l.contains("desired 3 attached 3 ready 3"));
    assert_eq!(phases(&sandbox), ["Ready", "Ready", "Ready"]);

    sandbox.kubectl_ok(&["delete", "nodeeni", "sample-multus", "--wait=false"]);
    sandbox.kubectl_wait("nodeeni/sample-multus", "--for=delete");
    assert_eq!(phases(&sandbox), Vec::<String>::new());
    sandbox.wait_for_line(|l| l.ends_with("no NodeENIs"));
    sandbox.stop();
}

#[test]
fn without_root_attachments_stop_at_attached_and_it_says_why() {
    let sandbox = Sandbox::start_as(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        &[],
    );
    let out = sandbox.seen.join("\n");
    assert!(out.contains("no node agents (not running as root"), "{out}");
    assert!(
        out.contains("Converged in") && out.contains("(Attached; no agents, so not Ready)"),
        "{out}"
    );
    assert!(out.contains("run as root to see them Ready"), "{out}");
    assert_eq!(phases(&sandbox), ["Attached", "Attached"]);
    sandbox.stop();
}

#[test]
fn two_subnets_per_zone_under_injected_throttling_and_lost_responses_converge_without_a_leak() {
    let sandbox = Sandbox::start(&[
        "--agents",
        "off",
        "--nodes",
        "6",
        "--subnets",
        "2",
        "--throttle-rate",
        "0.2",
        "--lost-response-rate",
        "0.1",
        "--seed",
        "7",
    ]);
    let out = sandbox.seen.join("\n");
    assert!(
        out.contains("20% of calls throttled, 10% of responses lost"),
        "{out}"
    );
    // Five of six nodes selected, two subnets in each one's zone: ten ENIs.
    assert!(out.contains("10 ENIs for 1 NodeENIs"), "{out}");
    assert_eq!(phases(&sandbox), ["Attached"; 10]);
    sandbox.stop();
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
    let sandbox = Sandbox::start(&["--nodes", "3", "--agents", "off"]);

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
