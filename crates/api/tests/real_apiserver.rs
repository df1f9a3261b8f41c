//! CRD admission checked against the source of truth: every fixture is created on the real
//! kube-apiserver (`multi-eni-kube-env`) and on the API double, through kube-rs and through
//! kubectl, and all of them must give the same answer as `crd-schema` — valid manifests accepted
//! with the same defaults, malformed ones refused with the same 422, the same error line and the
//! same kubectl output. Object names are checked the same way (`a..b`, `a.-b`, …), since the
//! double's name rule (`multi-eni-k8s-names`) is ours too.
//!
//! Where the real server's wording differs, the real server is right: fix `crd-schema`,
//! `multi-eni-k8s-names` or the fixtures, never the comparison.

mod support;

use std::path::{Path, PathBuf};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use kube::{Client, CustomResourceExt};
use multi_eni_api::{EniAttachment, NodeEni, crds};
use multi_eni_kube_double::{ApiServer, ApiServerHandle, ServerConfig};
use multi_eni_kube_env::{KubeEnv, apply_crds};
use serde_json::{Value, json};
use support::{
    attachment, expected_lines, fixtures, load, malformed_attachments, schema_of,
    valid_attachment_spec,
};

/// One API server under test: how to reach it with kube-rs and with kubectl.
struct Server {
    what: &'static str,
    client: Client,
    kubeconfig: PathBuf,
}

/// The real kube-apiserver and the double, both with our CRDs applied the same way.
struct Servers {
    real: Server,
    double: Server,
    _double: ApiServerHandle,
    /// Holds the double's kubeconfig and kubectl's discovery cache.
    dir: tempfile::TempDir,
}

impl Servers {
    async fn start() -> Servers {
        let env = KubeEnv::shared();
        let real = env.client().await;
        apply_crds(&real, &crds::all())
            .await
            .expect("the CRDs apply on the real kube-apiserver");
        let double = ApiServer::start(ServerConfig::default())
            .await
            .expect("the API double starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let double_kubeconfig = dir.path().join("double-kubeconfig");
        double
            .write_kubeconfig(&double_kubeconfig)
            .expect("double's kubeconfig written");
        let double_client = double.client().expect("double client");
        apply_crds(&double_client, &crds::all())
            .await
            .expect("the CRDs apply on the double");
        Servers {
            real: Server {
                what: "kube-apiserver",
                client: real,
                kubeconfig: env.kubeconfig().to_path_buf(),
            },
            double: Server {
                what: "double",
                client: double_client,
                kubeconfig: double_kubeconfig,
            },
            _double: double,
            dir,
        }
    }

    fn both(&self) -> [&Server; 2] {
        [&self.real, &self.double]
    }
}

/// What a server answered to a create: the stored spec (the object is deleted again at once), or
/// the refusal as the Status carries it.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Accepted {
        spec: Value,
    },
    Refused {
        code: u16,
        reason: String,
        message: String,
        /// `(field, reason, message)` of each cause.
        causes: Vec<(String, String, String)>,
    },
}

fn node_enis(client: &Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &ApiResource::erase::<NodeEni>(&()))
}

/// Creates a NodeENI.
async fn create(server: &Server, obj: &Value) -> Answer {
    create_as(server, &ApiResource::erase::<NodeEni>(&()), obj).await
}

/// Creates a cluster-scoped object of `resource`.
async fn create_as(server: &Server, resource: &ApiResource, obj: &Value) -> Answer {
    let api: Api<DynamicObject> = Api::all_with(server.client.clone(), resource);
    let object: DynamicObject = serde_json::from_value(obj.clone()).expect("a NodeENI object");
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => {
            let name = created
                .metadata
                .name
                .clone()
                .expect("created objects have names");
            api.delete(&name, &DeleteParams::default())
                .await
                .unwrap_or_else(|e| panic!("{}: deleting {name}: {e}", server.what));
            Answer::Accepted {
                spec: created.data["spec"].clone(),
            }
        }
        Err(kube::Error::Api(status)) => Answer::Refused {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
            causes: status
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| (c.field.clone(), c.reason.clone(), c.message.clone()))
                .collect(),
        },
        Err(other) => panic!("{}: create failed without a Status: {other}", server.what),
    }
}

/// `kubectl apply -f` as a user runs it: (success, stdout, stderr).
async fn kubectl_apply(server: &Server, cache: &Path, manifest: &Path) -> (bool, String, String) {
    let out = tokio::process::Command::new("kubectl")
        .arg("apply")
        .arg("-f")
        .arg(manifest)
        .arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .arg("--cache-dir")
        .arg(cache.join(server.what))
        .output()
        .await
        .expect("kubectl runs (install kubernetes-client: bash scripts/install-test-deps.sh)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn delete_if_present(server: &Server, name: &str) {
    match node_enis(&server.client)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) | Err(kube::Error::Api(_)) => {}
        Err(e) => panic!("{}: deleting {name}: {e}", server.what),
    }
}

/// The answer a 422 for these field errors carries, worded by `crd-schema`.
fn refusal(kind: &str, name: &str, invalid: &multi_eni_crd_schema::Invalid) -> Answer {
    Answer::Refused {
        code: 422,
        reason: "Invalid".to_owned(),
        message: invalid.message(kind, "networking.k8s.aws", name),
        causes: invalid
            .causes
            .iter()
            .map(|c| {
                let body = c
                    .message
                    .strip_prefix(&format!("{}: ", c.field))
                    .unwrap_or(&c.message);
                (c.field.clone(), c.reason().to_owned(), body.to_owned())
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_fixtures_are_accepted_with_crd_schemas_defaults_by_both_servers_and_kubectl() {
    let servers = Servers::start().await;
    let schema = schema_of(NodeEni::crd());
    let files = fixtures("valid");
    assert!(files.len() >= 4, "the four required manifests are fixtures");
    for path in &files {
        let (_, obj) = load(path);
        let mut admitted = obj.clone();
        schema
            .admit(&mut admitted, None)
            .unwrap_or_else(|e| panic!("{}: crd-schema refused: {e}", path.display()));
        let want = Answer::Accepted {
            spec: admitted["spec"].clone(),
        };
        let name = obj["metadata"]["name"]
            .as_str()
            .expect("fixture has a name");
        let mut kubectl_out = Vec::new();
        for server in servers.both() {
            let got = create(server, &obj).await;
            assert_eq!(got, want, "{}: {}", server.what, path.display());
            let (ok, stdout, stderr) = kubectl_apply(server, servers.dir.path(), path).await;
            assert!(
                ok,
                "{}: kubectl apply {}: {stderr}",
                server.what,
                path.display()
            );
            delete_if_present(server, name).await;
            kubectl_out.push(stdout);
        }
        assert_eq!(
            kubectl_out[0],
            format!("nodeeni.networking.k8s.aws/{name} created\n"),
            "{}",
            path.display()
        );
        assert_eq!(kubectl_out[0], kubectl_out[1], "{}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_fixtures_are_refused_with_the_expected_lines_by_both_servers_and_kubectl() {
    let servers = Servers::start().await;
    let schema = schema_of(NodeEni::crd());
    let files = fixtures("invalid");
    assert!(files.len() >= 10, "at least ten malformed manifests");
    let mut differences = Vec::new();
    for path in &files {
        let (text, obj) = load(path);
        let expected = expected_lines(path, &text);
        let name = obj["metadata"]["name"]
            .as_str()
            .expect("fixture has a name");
        let invalid = schema
            .admit(&mut obj.clone(), None)
            .expect_err(&format!("{}: crd-schema must refuse", path.display()));
        let lines: Vec<String> = invalid.causes.iter().map(|c| c.message.clone()).collect();
        if lines != expected {
            differences.push(format!("{}: crd-schema says {lines:#?}", path.display()));
        }
        let want = refusal("NodeENI", name, &invalid);
        let mut kubectl_err = Vec::new();
        for server in servers.both() {
            let got = create(server, &obj).await;
            if got != want {
                differences.push(format!(
                    "{}: {}:\n  got  {got:?}\n  want {want:?}",
                    server.what,
                    path.display()
                ));
            }
            let (ok, _, stderr) = kubectl_apply(server, servers.dir.path(), path).await;
            assert!(!ok, "{}: kubectl accepted {}", server.what, path.display());
            if !expected.iter().all(|e| stderr.contains(e.as_str())) {
                differences.push(format!(
                    "{}: {}: kubectl printed {stderr}",
                    server.what,
                    path.display()
                ));
            }
            kubectl_err.push(stderr);
        }
        if kubectl_err[0] != kubectl_err[1] {
            differences.push(format!(
                "{}: kubectl printed\n  {}  for kube-apiserver and\n  {}  for the double",
                path.display(),
                kubectl_err[0],
                kubectl_err[1]
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// A valid NodeENI named `name`.
fn named(name: &str) -> Value {
    json!({"apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI", "metadata": {"name": name},
        "spec": {"nodeSelector": {"ng": "x"}, "subnetID": "subnet-01234567", "securityGroupIDs": ["sg-01234567"]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_names_are_judged_alike_by_both_servers_and_k8s_names() {
    let servers = Servers::start().await;
    let longest = format!("{}.{}", "a".repeat(63), "b".repeat(189));
    assert_eq!(longest.len(), 253);
    let too_long = format!("{longest}c");
    let too_long_and_bad = format!("{}_", "a".repeat(253));
    let good = ["a.b-c", "0", longest.as_str()];
    let bad = [
        "a..b",
        "a.-b",
        "a-.b",
        "-a",
        "a-",
        "A",
        "a_b",
        ".a",
        too_long.as_str(),
        too_long_and_bad.as_str(),
    ];
    for name in good {
        assert!(multi_eni_k8s_names::is_dns1123_subdomain(name), "{name}");
        for server in servers.both() {
            let got = create(server, &named(name)).await;
            assert!(
                matches!(got, Answer::Accepted { .. }),
                "{}: {name}: {got:?}",
                server.what
            );
        }
    }
    for name in bad {
        let problems = multi_eni_k8s_names::dns1123_subdomain(name);
        assert!(!problems.is_empty(), "{name}");
        let causes: Vec<(String, String, String)> = problems
            .iter()
            .map(|p| {
                let body = format!("Invalid value: {name:?}: {p}");
                (
                    "metadata.name".to_owned(),
                    "FieldValueInvalid".to_owned(),
                    body,
                )
            })
            .collect();
        let lines: Vec<String> = causes.iter().map(|(f, _, b)| format!("{f}: {b}")).collect();
        let body = match lines.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let want = Answer::Refused {
            code: 422,
            reason: "Invalid".to_owned(),
            message: format!("NodeENI.networking.k8s.aws {name:?} is invalid: {body}"),
            causes,
        };
        for server in servers.both() {
            assert_eq!(
                create(server, &named(name)).await,
                want,
                "{}: {name}",
                server.what
            );
        }
    }
}

/// The status a list answered with: Ok (how many objects) or the refusal's code and message.
async fn list_with(server: &Server, selector: &str) -> Result<usize, (u16, String, String)> {
    let params = kube::api::ListParams::default().labels(selector);
    match node_enis(&server.client).list(&params).await {
        Ok(list) => Ok(list.items.len()),
        Err(kube::Error::Api(status)) => Err((status.code, status.reason, status.message)),
        Err(other) => panic!("{}: list failed without a Status: {other}", server.what),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selectors_with_bad_keys_or_values_are_refused_alike_by_both_servers() {
    let servers = Servers::start().await;
    let selectors = [
        "a..b/app=x",
        "-bad=x",
        "app=-x",
        "app in (web, -db)",
        "app notin (a_)",
        "/app",
        &format!("app={}", "v".repeat(64)),
    ];
    let mut differences = Vec::new();
    for selector in selectors {
        let real = list_with(&servers.real, selector).await;
        let double = list_with(&servers.double, selector).await;
        assert!(real.is_err(), "{selector:?} is refused by kube-apiserver");
        if real != double {
            differences.push(format!(
                "{selector:?}:\n  kube-apiserver {real:?}\n  double         {double:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eniattachments_are_admitted_alike_by_both_servers_and_crd_schema() {
    let servers = Servers::start().await;
    let schema = schema_of(EniAttachment::crd());
    let resource = ApiResource::erase::<EniAttachment>(&());
    let mut valid = attachment(valid_attachment_spec());
    valid["metadata"]["name"] = json!("real-admission-valid");
    let mut admitted = valid.clone();
    schema
        .admit(&mut admitted, None)
        .expect("crd-schema admits it");
    let want = Answer::Accepted {
        spec: admitted["spec"].clone(),
    };
    for server in servers.both() {
        assert_eq!(
            create_as(server, &resource, &valid).await,
            want,
            "{}",
            server.what
        );
    }
    let mut differences = Vec::new();
    for (what, spec, expected) in malformed_attachments() {
        let mut obj = attachment(spec);
        obj["metadata"]["name"] = json!("real-admission-bad");
        let invalid = schema
            .admit(&mut obj.clone(), None)
            .expect_err(&format!("{what}: crd-schema must refuse"));
        let lines: Vec<String> = invalid.causes.iter().map(|c| c.message.clone()).collect();
        assert_eq!(lines, expected, "{what}");
        let want = refusal("ENIAttachment", "real-admission-bad", &invalid);
        for server in servers.both() {
            let got = create_as(server, &resource, &obj).await;
            if got != want {
                differences.push(format!(
                    "{}: {what}:\n  got  {got:?}\n  want {want:?}",
                    server.what
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_labels_are_refused_alike_by_both_servers_metadata_before_spec() {
    let servers = Servers::start().await;
    let long_value = "v".repeat(64);
    let cases = [
        json!({"a..b/x": "ok"}),
        json!({"app": "-web"}),
        json!({"/app": "x"}),
        json!({"a/b/c": "x"}),
        json!({"app": long_value}),
    ];
    let mut differences = Vec::new();
    for (i, labels) in cases.iter().enumerate() {
        let mut obj = named(&format!("labels-{i}"));
        obj["metadata"]["labels"] = labels.clone();
        if i == 1 {
            // With a spec error too: one 422, the metadata's cause first.
            obj["spec"]["deviceIndex"] = json!(0);
        }
        let real = create(&servers.real, &obj).await;
        assert!(
            matches!(&real, Answer::Refused { code: 422, .. }),
            "{labels}: {real:?}"
        );
        let double = create(&servers.double, &obj).await;
        if real != double {
            differences.push(format!(
                "{labels}:\n  kube-apiserver {real:?}\n  double         {double:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_name_and_a_bad_spec_are_one_422_on_both_servers() {
    let servers = Servers::start().await;
    let mut obj = named("a..b");
    obj["metadata"]["labels"] = json!({"app": "-web"});
    obj["spec"]["deviceIndex"] = json!(0);
    let real = create(&servers.real, &obj).await;
    let Answer::Refused { causes, .. } = &real else {
        panic!("accepted: {real:?}")
    };
    let fields: Vec<&str> = causes.iter().map(|(f, _, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["metadata.name", "metadata.labels", "spec.deviceIndex"],
        "{real:?}"
    );
    assert_eq!(create(&servers.double, &obj).await, real);
}
