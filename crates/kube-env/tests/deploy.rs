//! The production deployment (deploy/helm/multi-eni, deploy/kustomize) proven with the real tools
//! and the real kube-apiserver: `helm lint`, `helm template` with default and DPDK values,
//! `kubectl kustomize` rendering the same objects, both applied with `--dry-run=server`, every
//! value documented and used, every environment variable a real flag, and the RBAC applied for
//! real and probed with `kubectl auth can-i --as=system:serviceaccount:…` — each ServiceAccount
//! can do what it needs and is refused what it must not.
//!
//! Needs helm (`bash scripts/install-test-deps.sh` builds it into target/testenv/bin) and kubectl
//! (on the machine image).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use multi_eni_kube_env::{Binaries, INSTALL_COMMAND, KubeEnv, apply_crds};
use serde_json::Value;

const CHART: &str = "deploy/helm/multi-eni";
const DPDK_VALUES: &str = "deploy/helm/multi-eni/ci/dpdk-values.yaml";
const BASE: &str = "deploy/kustomize/base";
const DPDK_OVERLAY: &str = "deploy/kustomize/overlays/dpdk";
/// The release and namespace the kustomize base corresponds to.
const RELEASE: &str = "multi-eni";
const NAMESPACE: &str = "multi-eni-system";
/// The cluster name the DPDK overlay sets (and the renderings compared with it use).
const CLUSTER: &str = "example-cluster";
/// Labels only Helm sets; everything else must match the kustomize base.
const HELM_ONLY_LABELS: [&str; 3] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
];

// ---------------------------------------------------------------------------------------------
// Running the tools.

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn helm() -> PathBuf {
    let path = Binaries::dir().join("helm");
    assert!(
        path.is_file(),
        "helm not found at {}: run `{INSTALL_COMMAND}`",
        path.display()
    );
    path
}

fn kubectl() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl not found on PATH: install kubectl (v1.29 or newer; the CI image has it)"
            )
        })
}

/// Runs `program args` in the workspace root with `stdin` fed in.
fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for the command")
}

/// `run`, which must succeed; its stdout.
fn ok(program: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}\n{}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn helm_template(release: &str, namespace: &str, extra: &[&str]) -> String {
    let mut args = vec!["template", release, CHART, "--namespace", namespace];
    args.extend_from_slice(extra);
    ok(&helm(), &args, None)
}

fn kustomize(dir: &str) -> String {
    ok(&kubectl(), &["kustomize", dir], None)
}

fn kubectl_on(env: &KubeEnv, args: &[&str], stdin: Option<&str>) -> Output {
    let kubeconfig = env.kubeconfig().to_string_lossy().into_owned();
    let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
    all.extend_from_slice(args);
    run(&kubectl(), &all, stdin)
}

fn kubectl_ok(env: &KubeEnv, args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl_on(env, args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

// ---------------------------------------------------------------------------------------------
// Pure helpers: parsing and normalising renderings.

/// The YAML documents of a rendering, as JSON values (empty documents dropped).
fn documents(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("valid YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn key(doc: &Value) -> String {
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default();
    format!(
        "{}/{} {}/{}",
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name")
    )
}

/// Lists whose items are all objects with a `name` sorted by it (containers, env, ports,
/// volumes, mounts: Kubernetes merges them by name, so their order carries no meaning).
fn sort_named_lists(v: &mut Value) {
    match v {
        Value::Array(items) => {
            items.iter_mut().for_each(sort_named_lists);
            let named = |i: &Value| i.get("name").and_then(Value::as_str).map(str::to_owned);
            if !items.is_empty() && items.iter().all(|i| named(i).is_some()) {
                items.sort_by_key(named);
            }
        }
        Value::Object(map) => map.values_mut().for_each(sort_named_lists),
        _ => {}
    }
}

/// A rendering keyed by object, Helm's own labels removed, named lists sorted.
fn normalise(yaml: &str) -> BTreeMap<String, Value> {
    documents(yaml)
        .into_iter()
        .map(|mut doc| {
            if let Some(labels) = doc
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                HELM_ONLY_LABELS.iter().for_each(|l| {
                    labels.remove(*l);
                });
            }
            sort_named_lists(&mut doc);
            (key(&doc), doc)
        })
        .collect()
}

/// Where two values first differ, as a JSON pointer with both sides.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .keys()
            .chain(y.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .find_map(|k| {
                let (l, r) = (x.get(k), y.get(k));
                match (l, r) {
                    (Some(l), Some(r)) => first_difference(l, r, &format!("{at}/{k}")),
                    _ => Some(format!("{at}/{k}: {l:?} vs {r:?}")),
                }
            }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (l, r))| first_difference(l, r, &format!("{at}/{i}"))),
        // YAML writers differ on `63.0` and `63`; the API server reads both as the same number.
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// Every difference between two renderings, one line each; empty when they are the same.
fn differences(helm: &BTreeMap<String, Value>, kustomize: &BTreeMap<String, Value>) -> Vec<String> {
    let keys: BTreeSet<&String> = helm.keys().chain(kustomize.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (helm.get(k), kustomize.get(k)) {
            (Some(h), Some(c)) => first_difference(h, c, "").map(|d| format!("{k}: {d}")),
            (Some(_), None) => Some(format!("{k}: only in the Helm rendering")),
            (None, Some(_)) => Some(format!("{k}: only in the kustomize rendering")),
            (None, None) => None,
        })
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d.get("kind").and_then(Value::as_str) == Some(kind)
                && d.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendering"))
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    workload
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env_names(c: &Value) -> BTreeSet<String> {
    c.get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn mount_paths(c: &Value) -> BTreeSet<String> {
    c.get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m.get("mountPath")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The chart on its own.

#[test]
fn chart_lints_and_refuses_a_missing_cluster_name_or_two_leaderless_replicas() {
    let name = format!("clusterName={CLUSTER}");
    ok(&helm(), &["lint", CHART, "--strict", "--set", &name], None);
    ok(
        &helm(),
        &["lint", CHART, "--strict", "-f", DPDK_VALUES],
        None,
    );

    let out = run(&helm(), &["template", RELEASE, CHART], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("clusterName is required"),
        "a render without clusterName must fail naming it: {err}"
    );
    let args = [
        "template",
        RELEASE,
        CHART,
        "--set",
        &name,
        "--set",
        "controller.leaderElection.enabled=false",
    ];
    let out = run(&helm(), &args, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("controller.leaderElection.enabled"),
        "two replicas without leader election must not render: {err}"
    );
    let single = [&args[..], &["--set", "controller.replicas=1"]].concat();
    ok(&helm(), &single, None);
}

#[test]
fn only_dpdk_values_make_the_agent_privileged() {
    let name = format!("clusterName={CLUSTER}");
    let plain = documents(&helm_template(RELEASE, NAMESPACE, &["--set", &name]));
    let dpdk = documents(&helm_template(RELEASE, NAMESPACE, &["-f", DPDK_VALUES]));
    let agent =
        |docs: &[Value]| container(find(docs, "DaemonSet", "multi-eni-agent"), "agent").clone();
    let (a, d) = (agent(&plain), agent(&dpdk));

    assert_eq!(
        a.pointer("/securityContext/privileged"),
        Some(&Value::Bool(false))
    );
    assert_eq!(
        a.pointer("/securityContext/allowPrivilegeEscalation"),
        Some(&Value::Bool(false))
    );
    assert!(
        !mount_paths(&a).contains("/sys"),
        "no host /sys without DPDK"
    );
    assert!(
        !mount_paths(&a).contains("/etc/pcidp"),
        "no SR-IOV config by default"
    );
    assert_eq!(
        d.pointer("/securityContext/privileged"),
        Some(&Value::Bool(true))
    );
    assert!(mount_paths(&d).contains("/sys") && mount_paths(&d).contains("/etc/pcidp"));
    for c in [&a, &d] {
        assert_eq!(
            c.pointer("/securityContext/capabilities/add"),
            Some(&serde_json::json!(["NET_ADMIN"]))
        );
        assert_eq!(
            c.pointer("/securityContext/capabilities/drop"),
            Some(&serde_json::json!(["ALL"]))
        );
        assert_eq!(
            c.pointer("/securityContext/readOnlyRootFilesystem"),
            Some(&Value::Bool(true))
        );
    }

    // The controller is untouched by the DPDK switch, and locked down in both.
    let ctl = |docs: &[Value]| find(docs, "Deployment", "multi-eni-controller").clone();
    assert_eq!(ctl(&plain), ctl(&dpdk));
    let deployment = ctl(&plain);
    let pod = deployment.pointer("/spec/template/spec").expect("pod spec");
    assert_eq!(
        pod.pointer("/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        pod.pointer("/securityContext/seccompProfile/type"),
        Some(&Value::String("RuntimeDefault".into()))
    );
    let c = container(&deployment, "controller");
    assert_eq!(
        c.pointer("/securityContext/capabilities/drop"),
        Some(&serde_json::json!(["ALL"]))
    );
    assert_eq!(
        c.pointer("/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        deployment.pointer("/spec/replicas"),
        Some(&serde_json::json!(2))
    );
    assert!(
        pod.get("hostNetwork").is_none(),
        "the controller stays off the host network"
    );
}

fn env_value(c: &Value, name: &str) -> String {
    c.get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("{name} has no literal value"))
        .to_owned()
}

/// The port of an `0.0.0.0:<port>` address.
fn port_of(address: &str) -> Value {
    let port = address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u64>().ok());
    serde_json::json!(port.unwrap_or_else(|| panic!("{address:?} has no port")))
}

#[test]
fn mounts_and_probes_match_the_paths_and_ports_the_flags_name() {
    let name = format!("clusterName={CLUSTER}");
    for values in [vec!["--set", name.as_str()], vec!["-f", DPDK_VALUES]] {
        let docs = documents(&helm_template(RELEASE, NAMESPACE, &values));
        let agent = container(find(&docs, "DaemonSet", "multi-eni-agent"), "agent").clone();
        let mounts = mount_paths(&agent);
        assert!(
            mounts.contains(&env_value(&agent, "MULTI_ENI_STATE_DIR")),
            "{values:?}"
        );
        let sriov = env_value(&agent, "MULTI_ENI_SRIOV_CONFIG");
        let sriov_dir = Path::new(&sriov)
            .parent()
            .map(|d| d.to_string_lossy().into_owned());
        assert_eq!(
            sriov_dir.is_some_and(|d| mounts.contains(&d)),
            !sriov.is_empty(),
            "the SR-IOV config's directory is mounted exactly when publishing is on: {values:?}"
        );
        let controller = container(
            find(&docs, "Deployment", "multi-eni-controller"),
            "controller",
        );
        for (c, variable) in [
            (&agent, "MULTI_ENI_AGENT_METRICS_ADDRESS"),
            (controller, "MULTI_ENI_CONTROLLER_METRICS_ADDRESS"),
        ] {
            let port = port_of(&env_value(c, variable));
            assert_eq!(
                c.pointer("/ports/0/containerPort"),
                Some(&port),
                "{variable}"
            );
            assert_eq!(
                c.pointer("/ports/0/name"),
                Some(&serde_json::json!("metrics"))
            );
            for probe in ["livenessProbe", "readinessProbe"] {
                assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
            }
        }
    }
}

#[test]
fn chart_and_kustomize_crds_are_the_generated_ones() {
    let generated = root().join("deploy/crds");
    for copy in [format!("{CHART}/crds"), format!("{BASE}/crds")] {
        let copy = root().join(copy);
        let names = |dir: &Path| -> BTreeSet<String> {
            std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| {
                    e.expect("dir entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        };
        assert_eq!(names(&copy), names(&generated), "{}", copy.display());
        for name in names(&generated) {
            let read = |d: &Path| std::fs::read_to_string(d.join(&name)).expect("read CRD");
            assert!(
                read(&copy) == read(&generated),
                "{}/{name} drifted from deploy/crds: run `cp deploy/crds/*.yaml {}/`",
                copy.display(),
                copy.display()
            );
        }
    }
}

#[test]
fn chart_version_is_the_workspace_version() {
    let chart = std::fs::read_to_string(root().join(CHART).join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_yaml::from_str(&chart).expect("Chart.yaml parses");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart["appVersion"], Value::String(version.into()));
    assert_eq!(chart["version"], Value::String(version.into()));
    let base = kustomize(BASE);
    let image = format!("ghcr.io/multi-eni/multi-eni:{version}");
    assert_eq!(
        base.matches(&image).count(),
        2,
        "both workloads run {image}"
    );
}

/// Every leaf of `v` as its key path (lists and empty maps are leaves).
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                path.push(k.clone());
                leaves(child, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The longest prefix of `path` a template reads whole (`.Values.<prefix>` not followed by a
/// further `.key`), if any.
fn consumed_by(path: &[String], templates: &str) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("."))
        .find(|p| {
            let needle = format!(".Values.{p}");
            templates.match_indices(&needle).any(|(i, _)| {
                let next = templates[i + needle.len()..].chars().next();
                !matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.')
            })
        })
}

/// Key lines of values.yaml (outside list items) without a comment line right above them.
fn undocumented_keys(values: &str) -> Vec<String> {
    let lines: Vec<&str> = values.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_key = !t.starts_with('#') && !t.starts_with('-') && t.contains(':');
        // Inside a list item: the closest less-indented line starts with `- `.
        let in_list = lines[..i]
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .find(|l| indent(l) < indent(line))
            .is_some_and(|l| l.trim_start().starts_with("- "));
        if !is_key || in_list {
            continue;
        }
        let above = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
        if !above.is_some_and(|l| l.trim_start().starts_with('#')) {
            missing.push(format!("line {}: {t}", i + 1));
        }
    }
    missing
}

#[test]
fn every_value_is_documented_and_used_by_a_template() {
    let chart = root().join(CHART);
    let values_text = std::fs::read_to_string(chart.join("values.yaml")).expect("values.yaml");
    let values: Value = serde_yaml::from_str(&values_text).expect("values.yaml parses");
    let templates: String = std::fs::read_dir(chart.join("templates"))
        .expect("templates/")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("template"))
        .collect();
    let guide = std::fs::read_to_string(root().join("docs/deploy.md")).expect("docs/deploy.md");

    let mut all = Vec::new();
    leaves(&values, &mut Vec::new(), &mut all);
    assert!(all.len() > 40, "values.yaml has {} leaves", all.len());
    let mut problems = undocumented_keys(&values_text);
    for path in &all {
        match consumed_by(path, &templates) {
            None => problems.push(format!("{} is used by no template", path.join("."))),
            Some(p) if !guide.contains(&format!("`{p}`")) => {
                problems.push(format!("`{p}` is not in docs/deploy.md's values reference"))
            }
            Some(_) => {}
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "values.yaml:\n{}", problems.join("\n"));
}

/// The environment variables the binary reads: every `env = "…"` of the flag definitions.
fn flag_variables() -> BTreeSet<String> {
    [
        "crates/controller/src/args.rs",
        "crates/ec2-aws/src/args.rs",
        "crates/agent/src/args.rs",
        "crates/cli/src/logging.rs",
    ]
    .iter()
    .flat_map(|file| {
        let text = std::fs::read_to_string(root().join(file)).expect("flag source");
        text.split("env = \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next().map(str::to_owned))
            .collect::<Vec<_>>()
    })
    .collect()
}

#[test]
fn the_chart_sets_real_flags_and_every_flag_it_should() {
    let flags = flag_variables();
    assert!(flags.len() > 25, "found only {flags:?}");
    let all_set = [
        "--set",
        "clusterName=c",
        "--set",
        "region=eu-west-1",
        "--set",
        "controller.vpcId=vpc-0123",
        "--set",
        "controller.ec2.endpoint=https://ec2.eu-west-1.amazonaws.com",
    ];
    let docs = documents(&helm_template(RELEASE, NAMESPACE, &all_set));
    let controller = env_names(container(
        find(&docs, "Deployment", "multi-eni-controller"),
        "controller",
    ));
    let agent = env_names(container(
        find(&docs, "DaemonSet", "multi-eni-agent"),
        "agent",
    ));
    // The C library's own settings (the controller's single malloc arena), read by glibc, not
    // by a flag.
    let libc = |name: &&String| !name.starts_with("GLIBC_");
    for name in controller.iter().chain(&agent).filter(libc) {
        assert!(flags.contains(name), "{name} is no flag's variable");
    }
    assert!(
        controller.contains("GLIBC_TUNABLES"),
        "the controller runs with one malloc arena (docs/benchmarks.md)"
    );
    // Flags deliberately left at the binary's default: the agent's kubeconfig (in-cluster) and
    // sysfs root (the host's /sys is the container's with host networking).
    let agent_defaults = ["KUBECONFIG", "MULTI_ENI_SYSFS_ROOT"];
    let wanted: BTreeSet<String> = flags
        .iter()
        .filter(|f| !agent_defaults.contains(&f.as_str()))
        .cloned()
        .collect();
    let set: BTreeSet<String> = controller.union(&agent).cloned().collect();
    let unset: Vec<_> = wanted.difference(&set).collect();
    assert!(unset.is_empty(), "flags the chart cannot set: {unset:?}");
}

// ---------------------------------------------------------------------------------------------
// The kustomize base renders what the chart renders.

#[test]
fn kustomize_base_renders_what_helm_renders_with_default_values() {
    let name = format!("clusterName={CLUSTER}");
    let mut helm = normalise(&helm_template(
        RELEASE,
        NAMESPACE,
        &["--set", &name, "--include-crds"],
    ));
    // The one object only the chart has: the cluster name, which a kustomize user's overlay
    // must provide (the base refuses to guess one).
    let configmap = helm
        .remove(&format!("v1/ConfigMap {NAMESPACE}/multi-eni-cluster"))
        .expect("the chart renders the cluster ConfigMap");
    assert_eq!(
        configmap["data"],
        serde_json::json!({"cluster-name": CLUSTER})
    );
    let base = normalise(&kustomize(BASE));
    assert!(base.len() >= 13, "the base renders {} objects", base.len());
    let diff = differences(&helm, &base);
    assert!(
        diff.is_empty(),
        "helm vs kustomize base:\n{}",
        diff.join("\n")
    );
}

#[test]
fn kustomize_dpdk_overlay_renders_what_helm_renders_with_dpdk_values() {
    let helm = normalise(&helm_template(
        RELEASE,
        NAMESPACE,
        &["-f", DPDK_VALUES, "--include-crds"],
    ));
    let overlay = normalise(&kustomize(DPDK_OVERLAY));
    let diff = differences(&helm, &overlay);
    assert!(
        diff.is_empty(),
        "helm (DPDK) vs kustomize overlay:\n{}",
        diff.join("\n")
    );
}

#[test]
fn the_comparison_sees_a_real_difference() {
    let name = format!("clusterName={CLUSTER}");
    let helm = normalise(&helm_template(RELEASE, NAMESPACE, &["--set", &name]));
    let mut changed = helm.clone();
    let key = format!("apps/v1/DaemonSet {NAMESPACE}/multi-eni-agent");
    let ds = changed.get_mut(&key).expect("agent DaemonSet");
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] =
        Value::Bool(true);
    let diff = differences(&helm, &changed);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].contains("privileged"), "{diff:?}");
}

// ---------------------------------------------------------------------------------------------
// On the real kube-apiserver.

/// A namespace of the test's own (created for real; namespaces are never deleted here), with our
/// CRDs Established so custom resources in a rendering can be dry-run.
async fn prepare(env: &KubeEnv, prefix: &str) -> String {
    let client = env.client().await;
    apply_crds(&client, &multi_eni_api::crds::all())
        .await
        .expect("CRDs apply and become Established");
    let ns = unique(prefix);
    kubectl_ok(env, &["create", "namespace", &ns], None);
    ns
}

/// Applies `rendering` with `--dry-run=server`; it must pass and every one of `objects` objects
/// must be reported.
fn dry_run(env: &KubeEnv, ns: &str, rendering: &str, objects: usize, what: &str) {
    let out = kubectl_on(
        env,
        &["apply", "--dry-run=server", "-n", ns, "-f", "-"],
        Some(rendering),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} refused by the kube-apiserver:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = stdout
        .lines()
        .filter(|l| l.contains("(server dry run)"))
        .count();
    assert_eq!(applied, objects, "{what}: {stdout}");
}

/// `dir` rendered by kustomize into namespace `ns`: a throwaway overlay (inside the target dir,
/// since kustomize only takes relative paths) that sets the namespace.
fn kustomize_into(dir: &str, ns: &str) -> String {
    let overlay = root().join("target/deploy-tests").join(ns);
    std::fs::create_dir_all(&overlay).expect("overlay dir");
    let text = format!("namespace: {ns}\nresources:\n  - ../../../{dir}\n");
    std::fs::write(overlay.join("kustomization.yaml"), text).expect("write overlay");
    let rendering = kustomize(&overlay.to_string_lossy());
    let _ = std::fs::remove_dir_all(&overlay);
    rendering
}

#[tokio::test]
async fn every_rendering_passes_a_server_side_dry_run() {
    let env = KubeEnv::shared();
    let ns = prepare(env, "deploy-dry-run").await;
    let name = format!("clusterName={CLUSTER}");
    let release = unique("dry");
    let default = helm_template(&release, &ns, &["--set", &name, "--include-crds"]);
    let dpdk = helm_template(&release, &ns, &["-f", DPDK_VALUES, "--include-crds"]);
    let monitor = helm_template(
        &release,
        &ns,
        &["--set", &name, "--set", "serviceMonitor.enabled=true"],
    );
    assert!(
        monitor.contains("kind: ServiceMonitor") && !default.contains("kind: ServiceMonitor"),
        "the ServiceMonitor is optional and off by default"
    );
    let base = kustomize_into(BASE, &ns);
    assert!(base.contains(&format!("namespace: {ns}")));
    let overlay = kustomize_into(DPDK_OVERLAY, &ns);
    for (rendering, what) in [
        (&default, "helm template (default values)"),
        (&dpdk, "helm template (DPDK values)"),
        (&base, "kubectl kustomize deploy/kustomize/base"),
        (&overlay, "kubectl kustomize deploy/kustomize/overlays/dpdk"),
    ] {
        dry_run(env, &ns, rendering, documents(rendering).len(), what);
    }
}

/// The Pod Security warnings the kube-apiserver gives for the chart's `kind` (default values) in
/// a fresh namespace that warns at `level`.
async fn pod_security_warnings(env: &KubeEnv, level: &str, kind: &str, name: &str) -> String {
    let ns = prepare(env, &format!("deploy-psa-{level}")).await;
    let label = format!("pod-security.kubernetes.io/warn={level}");
    kubectl_ok(env, &["label", "namespace", &ns, &label], None);
    let cluster = format!("clusterName={CLUSTER}");
    let docs = documents(&helm_template(RELEASE, &ns, &["--set", &cluster]));
    let workload = serde_json::to_string(find(&docs, kind, name)).expect("serialise");
    let args = ["apply", "--dry-run=server", "-n", &ns, "-f", "-"];
    let out = kubectl_on(env, &args, Some(&workload));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_controller_meets_the_restricted_pod_security_level() {
    let env = KubeEnv::shared();
    let warnings =
        pod_security_warnings(env, "restricted", "Deployment", "multi-eni-controller").await;
    assert!(!warnings.contains("PodSecurity"), "controller: {warnings}");
    // The agent needs more than baseline allows, and the check sees it.
    let warnings = pod_security_warnings(env, "baseline", "DaemonSet", "multi-eni-agent").await;
    for needs in ["host namespaces", "hostPath volumes", "NET_ADMIN"] {
        assert!(warnings.contains(needs), "agent under baseline: {warnings}");
    }
}

#[tokio::test]
async fn example_node_enis_are_valid_on_the_real_api_server() {
    let env = KubeEnv::shared();
    let ns = prepare(env, "deploy-examples").await;
    let dir = root().join("deploy/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/examples") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("example");
        let docs = documents(&text);
        let (ours, others): (Vec<Value>, Vec<Value>) = docs
            .into_iter()
            .partition(|d| d["apiVersion"] == Value::String("networking.k8s.aws/v1alpha1".into()));
        for other in &others {
            // Multus' CRD is not installed here; its objects are only parsed.
            assert_eq!(
                other["kind"],
                "NetworkAttachmentDefinition",
                "{}",
                path.display()
            );
        }
        assert!(!ours.is_empty(), "{} has no NodeENI", path.display());
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": ours});
        let json = serde_json::to_string(&list).expect("serialise");
        dry_run(env, &ns, &json, ours.len(), &path.display().to_string());
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected the Multus, SR-IOV and DPDK examples, found {checked}"
    );
}

/// One `kubectl auth can-i` question and the answer it must get.
struct Can {
    verb: &'static str,
    /// `resource.group`, optionally `/name`.
    resource: String,
    subresource: Option<&'static str>,
    /// `None`: cluster-scoped.
    namespace: Option<String>,
    allowed: bool,
}

fn can(verb: &'static str, resource: &str, allowed: bool) -> Can {
    Can {
        verb,
        resource: resource.to_owned(),
        subresource: None,
        namespace: None,
        allowed,
    }
}

impl Can {
    fn sub(mut self, subresource: &'static str) -> Can {
        self.subresource = Some(subresource);
        self
    }
    fn ns(mut self, namespace: &str) -> Can {
        self.namespace = Some(namespace.to_owned());
        self
    }
    /// The answer the server gives `user`, or what kubectl said instead of yes or no.
    fn ask(&self, env: &KubeEnv, user: &str) -> Result<bool, String> {
        let mut args = vec!["auth", "can-i", self.verb, self.resource.as_str()];
        let sub = self.subresource.map(|s| format!("--subresource={s}"));
        args.extend(sub.as_deref());
        if let Some(ns) = &self.namespace {
            args.extend(["-n", ns.as_str()]);
        }
        let as_user = format!("--as={user}");
        args.push(&as_user);
        let out = kubectl_on(env, &args, None);
        match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => Ok(true),
            "no" => Ok(false),
            other => Err(format!(
                "{args:?}: {other:?} {}",
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
    fn describe(&self) -> String {
        let sub = self
            .subresource
            .map(|s| format!(" (subresource {s})"))
            .unwrap_or_default();
        let ns = self
            .namespace
            .as_deref()
            .map(|n| format!(" in {n}"))
            .unwrap_or_default();
        format!("{} {}{sub}{ns}", self.verb, self.resource)
    }
}

const NODEENIS: &str = "nodeenis.networking.k8s.aws";
const ATTACHMENTS: &str = "eniattachments.networking.k8s.aws";
const EVENTS: &str = "events.events.k8s.io";
const LEASES: &str = "leases.coordination.k8s.io";

/// What the controller must be able to do, and must not.
fn controller_table(ns: &str, release: &str) -> Vec<Can> {
    let lease = format!("{LEASES}/{release}-controller");
    let mut rows = vec![
        can("list", "nodes", true),
        can("watch", "nodes", true),
        can("list", NODEENIS, true),
        can("watch", NODEENIS, true),
        can("patch", NODEENIS, true),
        can("patch", NODEENIS, true).sub("status"),
        can("list", ATTACHMENTS, true),
        can("watch", ATTACHMENTS, true),
        can("create", ATTACHMENTS, true),
        can("patch", ATTACHMENTS, true),
        can("delete", ATTACHMENTS, true),
        can("patch", ATTACHMENTS, true).sub("status"),
        can("create", EVENTS, true).ns("default"),
        can("patch", EVENTS, true).ns("default"),
        can("create", LEASES, true).ns(ns),
        can("get", &lease, true).ns(ns),
        can("update", &lease, true).ns(ns),
    ];
    rows.extend([
        can("update", &format!("{LEASES}/someone-else"), false).ns(ns),
        can("delete", &lease, false).ns(ns),
        can("create", LEASES, false).ns("kube-system"),
        can("update", NODEENIS, false),
        can("create", NODEENIS, false),
        can("delete", NODEENIS, false),
        can("update", ATTACHMENTS, false),
        can("patch", "nodes", false),
        can("delete", "nodes", false),
        can("create", "pods", false).sub("exec").ns(ns),
        can("create", "pods", false).sub("exec").ns("kube-system"),
        can("delete", "pods", false).ns(ns),
        can("get", "secrets", false).ns(ns),
        can("list", "secrets", false).ns("kube-system"),
        can("get", "configmaps", false).ns(ns),
        can("update", "ec2nodeclasses.karpenter.k8s.aws", false),
    ]);
    rows
}

/// What the agent must be able to do, and must not.
fn agent_table(ns: &str) -> Vec<Can> {
    vec![
        can("list", ATTACHMENTS, true),
        can("watch", ATTACHMENTS, true),
        can("patch", ATTACHMENTS, true).sub("status"),
        can("create", EVENTS, true).ns("default"),
        can("patch", EVENTS, true).ns("default"),
        // Never the spec, never create or delete: the controller owns ENIAttachments.
        can("update", ATTACHMENTS, false),
        can("patch", ATTACHMENTS, false),
        can("create", ATTACHMENTS, false),
        can("delete", ATTACHMENTS, false),
        can("update", ATTACHMENTS, false).sub("status"),
        can("list", NODEENIS, false),
        can("patch", NODEENIS, false).sub("status"),
        can("list", "nodes", false),
        can("create", LEASES, false).ns(ns),
        can("get", "secrets", false).ns(ns),
        can("list", "secrets", false).ns("kube-system"),
        can("create", "pods", false).sub("exec").ns(ns),
        can("delete", "pods", false).ns(ns),
    ]
}

/// The RBAC objects (ServiceAccounts, roles, bindings) of a rendering.
fn rbac_only(rendering: &str) -> String {
    let kinds = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    let items: Vec<Value> = documents(rendering)
        .into_iter()
        .filter(|d| kinds.iter().any(|k| d["kind"] == *k))
        .collect();
    assert_eq!(
        items.len(),
        8,
        "2 ServiceAccounts, 2 ClusterRoles + bindings, 1 Role + binding"
    );
    serde_json::to_string(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
        .expect("serialise")
}

#[tokio::test]
async fn each_service_account_can_do_exactly_what_it_needs() {
    let env = KubeEnv::shared();
    let ns = prepare(env, "deploy-rbac").await;
    let release = unique("rbac");
    let name = format!("clusterName={CLUSTER}");
    let rendering = helm_template(&release, &ns, &["--set", &name]);
    kubectl_ok(
        env,
        &["apply", "-n", &ns, "-f", "-"],
        Some(&rbac_only(&rendering)),
    );

    let controller = format!("system:serviceaccount:{ns}:{release}-controller");
    let agent = format!("system:serviceaccount:{ns}:{release}-agent");
    // The authorizer learns of new bindings through its informers: wait until both took effect.
    multi_eni_testkit::wait_until(
        Duration::from_secs(30),
        "the new bindings to take effect",
        || {
            let ready = can("list", "nodes", true).ask(env, &controller) == Ok(true)
                && can("list", ATTACHMENTS, true).ask(env, &agent) == Ok(true);
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("not yet".to_string())
                }
            }
        },
    )
    .await;

    let mut wrong = Vec::new();
    let tables = [
        (&controller, controller_table(&ns, &release)),
        (&agent, agent_table(&ns)),
    ];
    for (user, table) in &tables {
        for row in table {
            match row.ask(env, user) {
                Ok(answer) if answer == row.allowed => {}
                Ok(answer) => wrong.push(format!(
                    "{user}: {} is {}, must be {}",
                    row.describe(),
                    if answer { "allowed" } else { "refused" },
                    if row.allowed { "allowed" } else { "refused" }
                )),
                Err(e) => wrong.push(format!("{user}: {}: {e}", row.describe())),
            }
        }
    }
    let asked: usize = tables.iter().map(|(_, t)| t.len()).sum();
    assert!(
        wrong.is_empty(),
        "{} of {asked} RBAC checks wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
