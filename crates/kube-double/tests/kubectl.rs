//! The double driven by the real `kubectl` 1.32: CRD apply, then apply/get/describe/delete/`get -w`
//! of custom objects and Nodes, printer columns, validation errors, server-side apply.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, core::DynamicObject, discovery::ApiResource};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};

struct Kubectl {
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    cache: std::path::PathBuf,
}

fn kubectl_binary() -> String {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    match Command::new(&bin).args(["version", "--client"]).output() {
        Ok(o) if o.status.success() => bin,
        _ => panic!(
            "kubectl not found: install it (bash scripts/install-test-deps.sh installs Debian's kubernetes-client) or set KUBECTL"
        ),
    }
}

impl Kubectl {
    fn new(server: &ApiServerHandle) -> Kubectl {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        let cache = dir.path().join("cache");
        Kubectl {
            _dir: dir,
            kubeconfig,
            cache,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_binary());
        c.env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        c
    }

    /// Runs kubectl (with `stdin` piped in when given); returns (success, stdout, stderr).
    fn try_run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut c = self.command(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("kubectl output");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.try_run(args, stdin);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    fn fail(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.try_run(args, stdin);
        assert!(!ok, "kubectl {args:?} should have failed:\n{out}");
        err
    }

    /// `kubectl get -w …` in the background, its stdout lines on a channel.
    fn watch(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut c = self.command(args);
        c.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn kubectl -w");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        (child, rx)
    }
}

/// Waits for a watch output line containing all of `parts`.
fn expect_line(rx: &mpsc::Receiver<String>, parts: &[&str], seen: &mut Vec<String>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = parts.iter().all(|p| l.contains(p));
                seen.push(l);
                if hit {
                    return;
                }
            }
            Err(_) => panic!("no watch line with {parts:?}; saw {seen:#?}"),
        }
    }
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, default: plain}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

fn widget(size: i64, extra: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w1, labels: {{app: demo}}}}\nspec: {{size: {size}{extra}}}\n"
    )
}

async fn start() -> ApiServerHandle {
    ApiServer::start(ServerConfig::default())
        .await
        .expect("the API double starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_crd_then_manages_custom_objects() {
    let server = start().await;
    let k = Kubectl::new(&server);
    assert!(
        k.run(&["apply", "-f", "-"], Some(CRD))
            .contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created")
    );
    k.run(
        &[
            "wait",
            "--for",
            "condition=established",
            "crd/widgets.example.com",
            "--timeout=20s",
        ],
        None,
    );

    assert!(
        k.run(&["apply", "-f", "-"], Some(&widget(2, "")))
            .contains("widget.example.com/w1 created")
    );
    let table = k.run(&["get", "wd"], None);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "SIZE", "COLOR", "AGE"],
        "printer columns from the CRD:\n{table}"
    );
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(
        &row[..3],
        ["w1", "2", "plain"],
        "schema default shows in the COLOR column"
    );

    let (mut watch, rx) = k.watch(&["get", "widgets", "-w", "--output-watch-events"]);
    let mut seen = vec![];
    expect_line(&rx, &["ADDED", "w1", "2"], &mut seen);

    assert!(
        k.run(&["apply", "-f", "-"], Some(&widget(5, "")))
            .contains("widget.example.com/w1 configured")
    );
    assert!(
        k.run(&["apply", "-f", "-"], Some(&widget(5, "")))
            .contains("widget.example.com/w1 unchanged")
    );
    expect_line(&rx, &["MODIFIED", "w1", "5"], &mut seen);
    assert_eq!(
        k.run(
            &[
                "get",
                "wd",
                "w1",
                "-o",
                "jsonpath={.spec.size} {.metadata.generation}"
            ],
            None
        ),
        "5 2"
    );

    let err = k.fail(&["apply", "-f", "-"], Some(&widget(0, "")));
    assert!(
        err.contains(
            "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        ),
        "{err}"
    );
    let err = k.fail(&["apply", "-f", "-"], Some(&widget(3, ", junk: 1")));
    assert!(
        err.contains("strict decoding error: unknown field \"spec.junk\""),
        "{err}"
    );

    assert!(
        k.run(
            &["apply", "--server-side", "-f", "-"],
            Some(&widget(6, ", color: red"))
        )
        .contains("serverside-applied")
    );
    assert_eq!(
        k.run(&["get", "wd", "w1", "-o", "jsonpath={.spec.color}"], None),
        "red"
    );

    // An Event recorded by kube-rs about the widget shows in `kubectl describe`.
    let client = server.client().expect("client");
    let ar = ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let w: DynamicObject = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &ar)
        .get("w1")
        .await
        .expect("get w1");
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "widget-ctrl".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Warning,
        reason: "SizeTooBig".into(),
        note: Some("six is a lot".into()),
        action: "Check".into(),
        secondary: None,
    };
    recorder
        .publish(&ev, &w.object_ref(&ar))
        .await
        .expect("publish");
    let d = k.run(&["describe", "wd", "w1"], None);
    assert!(
        d.contains("Name:         w1") && d.contains("Size:   6"),
        "{d}"
    );
    assert!(
        d.contains("SizeTooBig") && d.contains("six is a lot"),
        "events listed by involvedObject:\n{d}"
    );

    assert!(
        k.run(&["delete", "wd", "w1"], None)
            .contains("widget.example.com \"w1\" deleted")
    );
    expect_line(&rx, &["DELETED", "w1"], &mut seen);
    let _ = watch.kill();
    let _ = watch.wait();
    let (_, _, err) = k.try_run(&["get", "wd"], None);
    assert!(err.contains("No resources found"), "{err}");
}

const NODE: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: ip-10-0-1-5.ec2.internal
  labels: {topology.kubernetes.io/zone: us-east-1a, node-role.kubernetes.io/worker: ""}
spec: {providerID: "aws:///us-east-1a/i-0123456789abcdef0"}
status:
  conditions: [{type: Ready, status: "True", reason: KubeletReady, message: ok}]
  addresses: [{type: InternalIP, address: 10.0.1.5}]
  nodeInfo: {kubeletVersion: v1.32.0, architecture: amd64, bootID: "", containerRuntimeVersion: "", kernelVersion: "", kubeProxyVersion: "", machineID: "", operatingSystem: linux, osImage: "", systemUUID: ""}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_manages_nodes_with_builtin_columns() {
    let server = start().await;
    let k = Kubectl::new(&server);
    let name = "ip-10-0-1-5.ec2.internal";
    assert!(
        k.run(&["apply", "-f", "-"], Some(NODE))
            .contains(&format!("node/{name} created"))
    );
    let wide = k.run(&["get", "nodes", "-o", "wide"], None);
    let header: Vec<&str> = wide
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        &header[..6],
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"],
        "{wide}"
    );
    let row: Vec<&str> = wide
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(
        (row[0], row[1], row[2], row[4], row[5]),
        (name, "Ready", "worker", "v1.32.0", "10.0.1.5")
    );

    let (mut watch, rx) = k.watch(&["get", "nodes", "-w", "--output-watch-events"]);
    let mut seen = vec![];
    expect_line(&rx, &["ADDED", name], &mut seen);

    // Client-side apply of a built-in kind sends a strategic merge patch.
    let changed = NODE.replace("us-east-1a, node-role", "us-east-1a, pool: eni, node-role");
    assert!(
        k.run(&["apply", "-f", "-"], Some(&changed))
            .contains(&format!("node/{name} configured"))
    );
    assert_eq!(
        k.run(
            &[
                "get",
                "node",
                name,
                "-o",
                "jsonpath={.metadata.labels.pool}"
            ],
            None
        ),
        "eni"
    );
    k.run(&["cordon", name], None);
    expect_line(&rx, &["MODIFIED", name, "SchedulingDisabled"], &mut seen);
    assert_eq!(
        k.run(
            &["get", "nodes", "-l", "pool in (eni,other)", "-o", "name"],
            None
        )
        .trim(),
        format!("node/{name}")
    );

    let d = k.run(&["describe", "node", name], None);
    assert!(
        d.contains(&format!("Name:               {name}")) && d.contains("ProviderID:"),
        "{d}"
    );

    assert!(
        k.run(&["delete", "node", name], None)
            .contains(&format!("node \"{name}\" deleted"))
    );
    expect_line(&rx, &["DELETED", name], &mut seen);
    let _ = watch.kill();
    let _ = watch.wait();
}
