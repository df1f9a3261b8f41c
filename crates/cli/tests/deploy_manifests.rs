//! The shipped agent manifests (`deploy/agent/`) agree with the binary: every environment variable
//! they set is a real flag of `multi-eni agent`, the arguments parse, mounts match the paths the
//! flags point at, the probe hits the metrics port, and RBAC grants what the agent uses.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Container;
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde::Deserialize;

fn documents(file: &str) -> Vec<serde_yaml::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/agent")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).expect("valid YAML document"))
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> T {
    let doc = documents(file)
        .into_iter()
        .find(|d| d.get("kind").and_then(|k| k.as_str()) == Some(kind))
        .unwrap_or_else(|| panic!("{file} has no {kind}"));
    serde_yaml::from_value(doc).unwrap_or_else(|e| panic!("{file}: {kind} does not parse: {e}"))
}

fn agent_container() -> Container {
    let ds: DaemonSet = of_kind("daemonset.yaml", "DaemonSet");
    let pod = ds.spec.expect("spec").template.spec.expect("pod spec");
    assert_eq!(
        pod.host_network,
        Some(true),
        "the agent configures host links"
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("multi-eni-agent"));
    pod.containers
        .into_iter()
        .find(|c| c.name == "agent")
        .expect("agent container")
}

fn env_value(c: &Container, name: &str) -> String {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
        .unwrap_or_else(|| panic!("{name} not set"))
}

#[test]
fn daemonset_env_and_args_are_real_agent_flags() {
    let c = agent_container();
    let help = Command::new(env!("CARGO_BIN_EXE_multi-eni"))
        .args(["agent", "--help"])
        .output()
        .expect("multi-eni runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for e in c.env.iter().flatten() {
        assert!(
            help.contains(&format!("[env: {}=", e.name)),
            "{} is not an agent flag's env var",
            e.name
        );
    }
    let node = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME");
    let field = node
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .map(|f| f.field_path.as_str());
    assert_eq!(
        field,
        Some("spec.nodeName"),
        "NODE_NAME comes from the downward API"
    );

    let mut args = c.args.clone().unwrap_or_default();
    args.push("--help".into());
    let parsed = Command::new(env!("CARGO_BIN_EXE_multi-eni"))
        .args(&args)
        .output()
        .expect("runs");
    assert!(
        parsed.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
}

#[test]
fn daemonset_is_unprivileged_with_net_admin_and_mounts_what_the_flags_name() {
    let c = agent_container();
    let sc = c.security_context.clone().expect("securityContext");
    assert_eq!(sc.privileged, Some(false));
    let caps = sc.capabilities.and_then(|c| c.add).unwrap_or_default();
    assert_eq!(caps, vec!["NET_ADMIN".to_owned()]);

    let mounts: Vec<(String, bool)> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.mount_path.clone(), m.read_only.unwrap_or(false)))
        .collect();
    let mounted_rw = |path: &str| {
        mounts
            .iter()
            .any(|(m, ro)| !ro && Path::new(path).starts_with(m))
    };
    assert!(
        mounted_rw(&env_value(&c, "MULTI_ENI_STATE_DIR")),
        "state dir must be a writable host mount"
    );
    assert!(
        mounted_rw(&env_value(&c, "MULTI_ENI_SRIOV_CONFIG")),
        "SR-IOV config dir must be a writable host mount"
    );

    let metrics_port: i32 = env_value(&c, "MULTI_ENI_AGENT_METRICS_ADDRESS")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("address has a port");
    let probe = c
        .liveness_probe
        .and_then(|p| p.http_get)
        .expect("HTTP liveness probe");
    assert_eq!(probe.path.as_deref(), Some("/healthz"));
    assert_eq!(
        probe.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(metrics_port)
    );
}

#[test]
fn rbac_grants_exactly_what_the_agent_uses() {
    let role: ClusterRole = of_kind("rbac.yaml", "ClusterRole");
    let mut granted: Vec<(String, String, String)> = Vec::new();
    for rule in role.rules.iter().flatten() {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    granted.push((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    granted.sort();
    // The agent watches its node's ENIAttachments (list+watch, get on conflicts), merge-patches
    // their status, and records Events through kube-rs's Recorder (create, then patch for series).
    let mut used: Vec<(String, String, String)> = [
        ("networking.k8s.aws", "eniattachments", "get"),
        ("networking.k8s.aws", "eniattachments", "list"),
        ("networking.k8s.aws", "eniattachments", "watch"),
        ("networking.k8s.aws", "eniattachments/status", "patch"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
    ]
    .iter()
    .map(|(g, r, v)| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned()))
    .collect();
    used.sort();
    assert_eq!(granted, used);
}
