//! Deterministic names: the ENIAttachment for (NodeENI, node, subnet) always has the same name,
//! so a crashed controller that re-plans finds the object it created instead of making another.
//!
//! Names are DNS-1123 subdomains (what Kubernetes requires of object names) and label values are
//! at most 63 characters; inputs that would break either are shortened and made unique with a hash
//! of the full input, never truncated silently.

use sha2::{Digest, Sha256};

/// Kubernetes' limit on an object name.
pub const MAX_NAME_LEN: usize = multi_eni_k8s_names::DNS1123_SUBDOMAIN_MAX_LEN;
/// Kubernetes' limit on a label value.
pub const MAX_LABEL_VALUE_LEN: usize = multi_eni_k8s_names::LABEL_VALUE_MAX_LEN;
/// Hex digits of hash in a name: 48 bits, so collisions need ~16 million objects per prefix.
const HASH_LEN: usize = 12;
/// Longest readable part kept from the NodeENI and node names.
const NODEENI_PART_MAX: usize = 80;
const NODE_PART_MAX: usize = 100;

/// The ENIAttachment name for one (NodeENI, node, subnet): readable parts plus a hash of the
/// exact triple. The hash is always present, so `("a-b", "c")` and `("a", "b-c")` never collide.
///
/// ```
/// let n = multi_eni_api::naming::attachment_name("storage", "ip-10-0-1-7.ec2.internal", "subnet-0123456789abcdef0");
/// assert!(n.starts_with("storage-ip-10-0-1-7-ec2-internal-subnet-0123456789abcdef0-"));
/// ```
pub fn attachment_name(node_eni: &str, node: &str, subnet_id: &str) -> String {
    let hash = short_hash(&[node_eni, node, subnet_id]);
    let parts = [
        readable_part(node_eni, NODEENI_PART_MAX),
        readable_part(node, NODE_PART_MAX),
        readable_part(subnet_id, 40),
    ];
    let mut name = String::new();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        name.push_str(p);
        name.push('-');
    }
    name.push_str(&hash);
    debug_assert!(name.len() <= MAX_NAME_LEN);
    name
}

/// A label value for an object name: the name itself when it fits in 63 characters, otherwise a
/// readable prefix and a hash of the whole name. Used for the node and NodeENI labels.
pub fn label_value(name: &str) -> String {
    if name.len() <= MAX_LABEL_VALUE_LEN && is_label_value(name) {
        return name.to_owned();
    }
    let hash = short_hash(&[name]);
    let keep = MAX_LABEL_VALUE_LEN - HASH_LEN - 1;
    let prefix = readable_part(name, keep);
    if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}-{hash}")
    }
}

/// Whether `s` is a valid label value (kube's rule, from `multi-eni-k8s-names`).
pub fn is_label_value(s: &str) -> bool {
    multi_eni_k8s_names::is_label_value(s)
}

/// Whether `s` is a valid object name: a DNS-1123 subdomain of at most 253 characters (kube's
/// rule, from `multi-eni-k8s-names`).
pub fn is_object_name(s: &str) -> bool {
    multi_eni_k8s_names::is_dns1123_subdomain(s)
}

/// Lower-case `[a-z0-9-]` only (dots become dashes), at most `max` long, no leading or trailing
/// dash, so that joining parts with `-` stays a valid name.
fn readable_part(s: &str, max: usize) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect();
    mapped.trim_matches('-').to_owned()
}

/// The first [`HASH_LEN`] hex digits of SHA-256 over the parts, NUL-separated so part boundaries
/// count.
fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let mut hex = hex::encode(h.finalize());
    hex.truncate(HASH_LEN);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_triple_same_name() {
        assert_eq!(
            attachment_name("ne", "node-1", "subnet-01234567"),
            attachment_name("ne", "node-1", "subnet-01234567")
        );
    }

    #[test]
    fn part_boundaries_change_the_name() {
        assert_ne!(
            attachment_name("a-b", "c", "subnet-01234567"),
            attachment_name("a", "b-c", "subnet-01234567")
        );
        assert_ne!(
            attachment_name("a", "node.x", "subnet-01234567"),
            attachment_name("a", "node-x", "subnet-01234567")
        );
    }

    #[test]
    fn every_input_of_legal_names_gives_a_legal_name() {
        let long_label = "a".repeat(63);
        let long_node = [long_label.as_str(); 3].join(".") + ".b"; // 193 chars, legal
        let cases = [
            ("x", "y", "subnet-01234567"),
            (
                "ne.with.dots",
                "ip-10-0-0-1.us-west-2.compute.internal",
                "subnet-0123456789abcdef0",
            ),
            (&*"n".repeat(253), &*long_node, "subnet-0123456789abcdef0"),
            ("-", "--", "subnet-01234567"),
        ];
        for (ne, node, subnet) in cases {
            let name = attachment_name(ne, node, subnet);
            assert!(is_object_name(&name), "{name:?} from {ne:?}/{node:?}");
            assert!(name.len() <= MAX_NAME_LEN);
        }
    }

    #[test]
    fn short_names_are_their_own_label_values() {
        assert_eq!(label_value("node-1"), "node-1");
        assert_eq!(
            label_value("ip-10-0-0-1.ec2.internal"),
            "ip-10-0-0-1.ec2.internal"
        );
    }

    #[test]
    fn long_names_get_hashed_label_values_that_stay_distinct() {
        let a = format!("{}.a", "x".repeat(70));
        let b = format!("{}.b", "x".repeat(70));
        let (la, lb) = (label_value(&a), label_value(&b));
        assert!(is_label_value(&la) && is_label_value(&lb));
        assert_eq!(la.len(), MAX_LABEL_VALUE_LEN);
        assert_ne!(la, lb);
        assert_eq!(la, label_value(&a));
    }

    #[test]
    fn label_value_rules() {
        assert!(is_label_value(""));
        assert!(is_label_value("a.b_c-d"));
        assert!(!is_label_value("-a"));
        assert!(!is_label_value("a-"));
        assert!(!is_label_value(&"a".repeat(64)));
    }

    #[test]
    fn object_name_rules() {
        assert!(is_object_name("a.b-c"));
        assert!(!is_object_name("A"));
        assert!(!is_object_name("a..b"));
        assert!(!is_object_name("a.-b"));
        assert!(!is_object_name(""));
    }
}
