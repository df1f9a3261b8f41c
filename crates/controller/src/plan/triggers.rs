//! Which watch events are worth a reconcile. A Node's heartbeat, our own status writes and the
//! agent's routine status refreshes change an object's resourceVersion without changing anything
//! a decision reads; each kind of object therefore gets a *trigger key* — a hash of exactly the
//! fields its reconciler decides on — and an event whose key did not change triggers nothing.
//! Deletions always trigger.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use multi_eni_api::keys::{LABEL_NODE, LABEL_NODEENI, condition};
use multi_eni_api::{EniAttachment, NodeEni, conditions};

fn hash(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn deleting<K: kube::Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// What the fleet plan reads of a Node: labels, providerID, whether it is going. Not its status
/// (heartbeats, conditions, images).
pub fn node_key(node: &Node) -> u64 {
    hash((
        node.labels(),
        node.spec.as_ref().and_then(|s| s.provider_id.as_deref()),
        deleting(node),
    ))
}

/// What the fleet reads of its own NodeENI: the spec (by generation), finalizers and deletion —
/// never its status, which it writes itself.
pub fn node_eni_key(ne: &NodeEni) -> u64 {
    hash((ne.metadata.generation, ne.finalizers(), deleting(ne)))
}

/// What the ENIAttachment state machine reads that others write: the spec (by generation),
/// finalizers, deletion, and the agent's part of the status (whether it reported, released, and
/// its InterfaceReady condition). The controller's own status fields are left out: it already
/// acted on them.
pub fn attachment_key(att: &EniAttachment) -> u64 {
    let iface = att.status.as_ref().and_then(|s| s.interface.as_ref());
    let ready = iface
        .and_then(|i| conditions::find(&i.conditions, condition::INTERFACE_READY))
        .map(|c| (c.status.clone(), c.reason.clone()));
    hash((
        att.metadata.generation,
        att.finalizers(),
        deleting(att),
        iface.is_some(),
        iface.map(|i| i.released),
        ready,
    ))
}

/// What the NodeENI's status and finalizer read of its ENIAttachments: phase, readiness, deletion.
pub fn attachment_fleet_key(att: &EniAttachment) -> u64 {
    let s = att.status.as_ref();
    let ready = s
        .and_then(|s| conditions::find(&s.conditions, condition::READY))
        .map(|c| (c.status.clone(), c.reason.clone()));
    hash((
        s.and_then(|s| s.phase).map(|p| format!("{p:?}")),
        s.and_then(|s| s.eni_id.clone()),
        ready,
        deleting(att),
    ))
}

/// The NodeENIs a Node event concerns: those whose selector matches its labels now, and those
/// that have an ENIAttachment on it (the node may just have stopped matching).
pub fn node_enis_for_node(
    node: &Node,
    node_enis: &[impl AsRef<NodeEni>],
    attachments: &[impl AsRef<EniAttachment>],
) -> BTreeSet<String> {
    let name = node.name_any();
    let labels = node.labels();
    let mut out: BTreeSet<String> = node_enis
        .iter()
        .map(AsRef::as_ref)
        .filter(|ne| ne.spec.selects(labels))
        .map(ResourceExt::name_any)
        .collect();
    out.extend(
        attachments
            .iter()
            .map(AsRef::as_ref)
            .filter(|a| a.labels().get(LABEL_NODE) == Some(&name))
            .filter_map(|a| a.labels().get(LABEL_NODEENI).cloned()),
    );
    out
}

/// The last trigger key seen per object, so an event fires only when its key changed.
#[derive(Debug, Default)]
pub struct KeyFilter {
    seen: HashMap<String, u64>,
}

impl KeyFilter {
    /// An object was added or changed: whether to reconcile.
    pub fn changed(&mut self, id: &str, key: u64) -> bool {
        self.seen.insert(id.to_string(), key) != Some(key)
    }

    /// An object was deleted: always reconcile (and forget it).
    pub fn deleted(&mut self, id: &str) -> bool {
        self.seen.remove(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).expect("node")
    }

    fn att(v: serde_json::Value) -> EniAttachment {
        let mut base = json!({
            "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment",
            "metadata": {"name": "a", "generation": 1},
            "spec": {"nodeENI": "ne", "nodeName": "n1", "instanceID": "i-1", "subnetID": "subnet-1",
                     "securityGroupIDs": [], "deviceIndex": 1}
        });
        json_patch::merge(&mut base, &v);
        serde_json::from_value(base).expect("attachment")
    }

    #[test]
    fn node_heartbeat_does_not_trigger_but_labels_provider_and_deletion_do() {
        let base = json!({"metadata": {"name": "n1", "labels": {"a": "b"}},
                          "spec": {"providerID": "aws:///z/i-1"}});
        let k = node_key(&node(base.clone()));
        let mut hb = base.clone();
        hb["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        hb["metadata"]["resourceVersion"] = json!("99");
        assert_eq!(node_key(&node(hb)), k);
        let mut relabel = base.clone();
        relabel["metadata"]["labels"]["a"] = json!("c");
        assert_ne!(node_key(&node(relabel)), k);
        let mut moved = base.clone();
        moved["spec"]["providerID"] = json!("aws:///z/i-2");
        assert_ne!(node_key(&node(moved)), k);
        let mut going = base;
        going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_ne!(node_key(&node(going)), k);
    }

    #[test]
    fn controller_status_writes_do_not_retrigger_the_attachment_but_agent_reports_do() {
        let k = attachment_key(&att(json!({})));
        let ours =
            att(json!({"status": {"phase": "Attached", "eniID": "eni-1", "deviceIndex": 1}}));
        assert_eq!(attachment_key(&ours), k);
        let reported = att(json!({"status": {"interface": {"up": true}}}));
        assert_ne!(attachment_key(&reported), k);
        let released = att(json!({"status": {"interface": {"up": true, "released": true}}}));
        assert_ne!(attachment_key(&released), attachment_key(&reported));
        let spec = att(json!({"metadata": {"generation": 2}}));
        assert_ne!(attachment_key(&spec), k);
        let going = att(json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}));
        assert_ne!(attachment_key(&going), k);
    }

    #[test]
    fn the_fleet_hears_of_phase_changes_but_not_of_timers() {
        let a = att(json!({"status": {"phase": "Attaching", "eniID": "eni-1"}}));
        let timer = att(json!({"status": {"phase": "Attaching", "eniID": "eni-1",
                                          "phaseSince": "2026-01-01T00:00:00Z"}}));
        assert_eq!(attachment_fleet_key(&a), attachment_fleet_key(&timer));
        let attached = att(json!({"status": {"phase": "Attached", "eniID": "eni-1"}}));
        assert_ne!(attachment_fleet_key(&a), attachment_fleet_key(&attached));
    }

    #[test]
    fn a_node_event_concerns_matching_node_enis_and_those_with_attachments_on_it() {
        let ne = |name: &str, sel: serde_json::Value| -> Arc<NodeEni> {
            Arc::new(
                serde_json::from_value(json!({
                    "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "NodeENI",
                    "metadata": {"name": name},
                    "spec": {"nodeSelector": sel, "subnetID": "subnet-1",
                             "securityGroupIDs": ["sg-1"]}
                }))
                .expect("node eni"),
            )
        };
        let nes = vec![
            ne("match", json!({"role": "net"})),
            ne("other", json!({"role": "db"})),
            ne("was", json!({"role": "old"})),
        ];
        let on_node = Arc::new(att(json!({"metadata": {"labels": {
            LABEL_NODE: "n1", LABEL_NODEENI: "was"}}})));
        let elsewhere = Arc::new(att(json!({"metadata": {"name": "b", "labels": {
            LABEL_NODE: "n2", LABEL_NODEENI: "other"}}})));
        let n = node(json!({"metadata": {"name": "n1", "labels": {"role": "net"}}}));
        let got = node_enis_for_node(&n, &nes, &[on_node, elsewhere]);
        assert_eq!(
            got,
            BTreeSet::from(["match".to_string(), "was".to_string()])
        );
    }

    #[test]
    fn key_filter_passes_changes_and_deletions_only() {
        let mut f = KeyFilter::default();
        assert!(f.changed("a", 1));
        assert!(!f.changed("a", 1));
        assert!(f.changed("a", 2));
        assert!(f.deleted("a"));
        assert!(f.changed("a", 2), "a re-created object is new");
    }
}
