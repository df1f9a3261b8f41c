//! A kubeconfig pointing at the double: plain HTTP, no credentials (the double does no authn).

/// Cluster, context and user name in the generated kubeconfig.
pub const CONTEXT: &str = "multi-eni-double";

pub fn kubeconfig_yaml(server_url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server_url}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user: {{}}
preferences: {{}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_parses_as_yaml_with_the_server() {
        let y: serde_json::Value =
            serde_yaml::from_str(&kubeconfig_yaml("http://127.0.0.1:1234")).expect("yaml");
        assert_eq!(
            y["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:1234"
        );
        assert_eq!(y["current-context"], CONTEXT);
    }
}
