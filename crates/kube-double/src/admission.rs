//! What every write must pass before it is stored: object-name and label rules (kube's ObjectMeta
//! validation, via `multi-eni-k8s-names`), and for custom resources the CRD schema (prune,
//! default, OpenAPI and CEL validation, via `multi-eni-crd-schema`).

use rand::Rng;
use serde_json::Value;

use crate::resource::ResourceType;
use crate::status::{ApiError, Cause};

/// What is wrong with `name` as `metadata.name`, in kube-apiserver's words (empty when nothing):
/// a DNS-1123 label for Namespaces, a DNS-1123 subdomain for everything else.
pub fn name_problems(name: &str, label_only: bool) -> Vec<String> {
    if label_only {
        multi_eni_k8s_names::dns1123_label(name)
    } else {
        multi_eni_k8s_names::dns1123_subdomain(name)
    }
}

/// kube's `SimpleNameGenerator`: five characters from an alphabet without vowels or look-alikes.
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    // kube keeps 58 bytes of the prefix. Inside a multi-byte character, keep all of it: the
    // name is no DNS name either way, and admit_object says so (kube's byte cut does the same).
    let cut = (58.min(prefix.len())..=prefix.len())
        .find(|i| prefix.is_char_boundary(*i))
        .unwrap_or(prefix.len());
    let base = &prefix[..cut];
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

/// A 422 about one field of an object of `rt`.
pub fn invalid_field(
    rt: &ResourceType,
    name: &str,
    field: &str,
    reason: &str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::invalid(
        &rt.kind,
        &rt.group,
        name,
        vec![Cause::new(field, reason, message)],
    )
}

/// kube's `ValidateObjectMeta` on `metadata.name`: one Invalid cause per problem.
fn name_causes(rt: &ResourceType, name: &str) -> Vec<Cause> {
    name_problems(name, rt.is_namespace())
        .into_iter()
        .map(|why| {
            Cause::new(
                "metadata.name",
                "FieldValueInvalid",
                format!("Invalid value: {name:?}: {why}"),
            )
        })
        .collect()
}

/// kube's `ValidateLabels` on `metadata.labels`: every problem of every key and value is an
/// Invalid cause on `metadata.labels` carrying the bad key or value.
pub fn label_causes(obj: &Value) -> Vec<Cause> {
    let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) else {
        return vec![];
    };
    let invalid = |bad: &str, why: String| {
        Cause::new(
            "metadata.labels",
            "FieldValueInvalid",
            format!("Invalid value: {bad:?}: {why}"),
        )
    };
    let mut causes = Vec::new();
    for (key, value) in labels {
        causes.extend(
            multi_eni_k8s_names::label_key(key)
                .into_iter()
                .map(|why| invalid(key, why)),
        );
        // A label value that is no string never gets here: decoding ObjectMeta refuses it.
        let value = value.as_str().unwrap_or_default();
        causes.extend(
            multi_eni_k8s_names::label_value(value)
                .into_iter()
                .map(|why| invalid(value, why)),
        );
    }
    causes
}

/// What kube-apiserver checks of an object on create (`old` is `None`) and update: the name (on
/// create; names never change), the labels (every kind), then for custom resources the CRD
/// schema. Returns the pruned paths (for `Warning` headers) or the one 422 listing every cause,
/// metadata first, as kube-apiserver sends it.
pub fn admit_object(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<Vec<String>, ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut causes = match old {
        None => name_causes(rt, &name),
        Some(_) => Vec::new(),
    };
    causes.extend(label_causes(obj));
    let mut pruned = Vec::new();
    if let Some(schema) = &rt.schema {
        match schema.admit(obj, old) {
            Ok(admitted) => pruned = admitted.pruned,
            Err(invalid) => causes.extend(invalid.causes.iter().map(|c| {
                let body = c
                    .message
                    .strip_prefix(&format!("{}: ", c.field))
                    .unwrap_or(&c.message)
                    .to_string();
                Cause::new(c.field.clone(), c.reason(), body)
            })),
        }
    }
    if causes.is_empty() {
        return Ok(pruned);
    }
    Err(ApiError::invalid(&rt.kind, &rt.group, &name, causes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_rules() {
        assert!(name_problems("ip-10-0-0-1.ec2.internal", false).is_empty());
        assert_eq!(
            name_problems("ip-10-0-0-1.ec2.internal", true),
            vec!["must not contain dots"],
            "labels have no dots"
        );
        for bad in [
            "",
            "Upper",
            "-lead",
            "trail-",
            "a_b",
            "a..b",
            "a.-b",
            &"x".repeat(254),
        ] {
            assert!(!name_problems(bad, false).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_name_is_refused_with_kube_apiservers_status() {
        let rt = crate::builtin::builtin_resources()
            .into_iter()
            .find(|r| r.plural == "nodes")
            .expect("nodes");
        let mut obj = serde_json::json!({"metadata": {"name": "a..b"}});
        let err = admit_object(&rt, &mut obj, None).expect_err("a..b is no DNS subdomain");
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "Node \"a..b\" is invalid: metadata.name: Invalid value: \"a..b\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        let details = err.details.expect("causes");
        assert_eq!(details["causes"][0]["field"], "metadata.name");
        assert_eq!(details["causes"][0]["reason"], "FieldValueInvalid");
    }

    #[test]
    fn bad_label_keys_and_values_are_refused_on_any_kind() {
        let rt = crate::builtin::builtin_resources()
            .into_iter()
            .find(|r| r.plural == "nodes")
            .expect("nodes");
        let mut ok = serde_json::json!({"metadata": {"name": "n", "labels": {"networking.k8s.aws/node": "ip-10-0-0-1.ec2.internal", "empty": ""}}});
        assert_eq!(
            admit_object(&rt, &mut ok, None).expect("valid labels"),
            Vec::<String>::new()
        );
        let mut bad = serde_json::json!({"metadata": {"name": "n", "labels": {"a..b/x": "ok", "app": "-web"}}});
        let err = admit_object(&rt, &mut bad, None).expect_err("bad labels");
        assert_eq!(err.code, 422);
        let causes = err.details.expect("causes")["causes"].clone();
        let messages: Vec<&str> = causes
            .as_array()
            .expect("causes")
            .iter()
            .map(|c| c["message"].as_str().expect("message"))
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].starts_with(
                "Invalid value: \"a..b/x\": prefix part a lowercase RFC 1123 subdomain"
            ),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("Invalid value: \"-web\": a valid label must be"),
            "{messages:?}"
        );
        assert!(
            causes
                .as_array()
                .expect("causes")
                .iter()
                .all(|c| c["field"] == "metadata.labels")
        );
    }

    #[test]
    fn generated_names_keep_the_prefix_and_are_valid() {
        let n = generate_name("eni-");
        assert!(n.starts_with("eni-") && n.len() == 9, "{n}");
        assert!(name_problems(&n, false).is_empty());
    }

    #[test]
    fn long_prefixes_are_cut_to_58_bytes_but_not_inside_a_character() {
        let ascii = generate_name(&"a".repeat(70));
        assert_eq!(ascii.len(), 63, "{ascii}");
        assert!(ascii.starts_with(&"a".repeat(58)));
        let wide = format!("{}ébc", "a".repeat(57));
        let n = generate_name(&wide);
        assert!(n.starts_with(&format!("{}é", "a".repeat(57))), "{n}");
        assert_eq!(n.len(), 64, "{n}");
        assert!(!name_problems(&n, false).is_empty(), "still no DNS name");
    }
}
