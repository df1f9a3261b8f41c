//! `multi-eni controller` refuses to start with a message that says what to do, when what it
//! needs is missing: a Region, credentials, Kubernetes access, sane lease timing.

use std::process::Command;

/// Runs the binary with a clean environment plus `env`; returns (success, stderr + stdout).
fn controller(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_multi-eni"))
        .arg("controller")
        .args([
            "--cluster-name",
            "startup-test",
            "--metrics-address",
            "127.0.0.1:0",
        ])
        .args(args)
        .env_clear()
        .env("HOME", "/nonexistent")
        // No instance metadata service to ask for a Region or a role.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .envs(env.iter().copied())
        .output()
        .expect("run multi-eni");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.success(), text)
}

const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
];

#[test]
fn no_region_says_how_to_give_one() {
    let (ok, out) = controller(&[], &KEYS);
    assert!(!ok, "{out}");
    assert!(out.contains("no AWS Region: pass --aws-region"), "{out}");
}

#[test]
fn no_credentials_says_how_to_give_them() {
    let (ok, out) = controller(&["--aws-region", "us-east-1"], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("no AWS credentials"), "{out}");
    assert!(out.contains("IRSA or EKS Pod Identity"), "{out}");
}

#[test]
fn no_kubernetes_access_says_where_to_run() {
    let (ok, out) = controller(&["--aws-region", "us-east-1"], &KEYS);
    assert!(!ok, "{out}");
    assert!(out.contains("no Kubernetes API access"), "{out}");
}

#[test]
fn a_renew_interval_that_does_not_fit_the_lease_is_refused() {
    let (ok, out) = controller(
        &["--lease-duration", "10s", "--lease-renew-interval", "6s"],
        &KEYS,
    );
    assert!(!ok, "{out}");
    assert!(out.contains("--lease-renew-interval"), "{out}");
}
