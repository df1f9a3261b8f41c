//! This node's ENIAttachments as the watch last showed them, and when that list is complete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::runtime::watcher::Event;
use multi_eni_api::EniAttachment;

/// The objects by name. A (re)list is collected aside and replaces the set only when complete,
/// so a restarting watch never makes the agent see a partial list.
#[derive(Debug, Default)]
pub(super) struct Attachments {
    by_name: BTreeMap<String, Arc<EniAttachment>>,
    relisting: Option<BTreeMap<String, Arc<EniAttachment>>>,
    synced: bool,
}

/// What one watch event changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Seen {
    /// The set of objects changed: reconcile.
    pub dirty: bool,
    /// UIDs of objects that are gone: whatever the agent remembers about them can go too.
    pub gone: Vec<String>,
}

fn name(o: &EniAttachment) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

fn uids(objects: &BTreeMap<String, Arc<EniAttachment>>) -> BTreeSet<&str> {
    objects
        .values()
        .filter_map(|o| o.metadata.uid.as_deref())
        .collect()
}

impl Attachments {
    pub fn apply(&mut self, ev: Event<EniAttachment>) -> Seen {
        match ev {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                Seen::default()
            }
            Event::InitApply(o) => {
                if let Some(list) = &mut self.relisting {
                    list.insert(name(&o), Arc::new(o));
                }
                Seen::default()
            }
            Event::InitDone => {
                let list = self.relisting.take().unwrap_or_default();
                // Objects deleted while the watch was down get no Delete event: the re-list is
                // the only news that they are gone.
                let now = uids(&list);
                let gone = uids(&self.by_name)
                    .difference(&now)
                    .map(|u| (*u).to_owned())
                    .collect();
                self.by_name = list;
                self.synced = true;
                Seen { dirty: true, gone }
            }
            Event::Apply(o) => {
                self.by_name.insert(name(&o), Arc::new(o));
                Seen {
                    dirty: true,
                    gone: Vec::new(),
                }
            }
            Event::Delete(o) => {
                self.by_name.remove(&name(&o));
                Seen {
                    dirty: true,
                    gone: o.metadata.uid.into_iter().collect(),
                }
            }
        }
    }

    /// The watch has listed once: the set is complete.
    pub fn synced(&self) -> bool {
        self.synced
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<EniAttachment>> {
        self.by_name.values()
    }

    pub fn by_uid(&self, uid: &str) -> Option<Arc<EniAttachment>> {
        self.iter()
            .find(|o| o.metadata.uid.as_deref() == Some(uid))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, uid: &str) -> EniAttachment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.aws/v1alpha1", "kind": "ENIAttachment",
            "metadata": {"name": name, "uid": uid},
            "spec": {"nodeENI": "ne", "nodeName": "node-a", "instanceID": "i-01234567",
                     "subnetID": "subnet-01234567", "securityGroupIDs": ["sg-01234567"],
                     "deviceIndex": 1}
        }))
        .expect("valid object")
    }

    fn names(a: &Attachments) -> Vec<String> {
        a.iter().map(|o| name(o)).collect()
    }

    fn relist(a: &mut Attachments, objects: &[EniAttachment]) -> Seen {
        assert_eq!(a.apply(Event::Init), Seen::default());
        for o in objects {
            assert_eq!(a.apply(Event::InitApply(o.clone())), Seen::default());
        }
        a.apply(Event::InitDone)
    }

    #[test]
    fn a_list_replaces_the_set_only_when_it_is_complete() {
        let mut a = Attachments::default();
        assert!(!a.synced());
        relist(&mut a, &[obj("x", "u1")]);
        assert!(a.synced());
        assert_eq!(names(&a), ["x"]);
        a.apply(Event::Init);
        a.apply(Event::InitApply(obj("y", "u2")));
        assert_eq!(
            names(&a),
            ["x"],
            "a re-list in progress changes nothing yet"
        );
        a.apply(Event::InitDone);
        assert_eq!(names(&a), ["y"]);
    }

    #[test]
    fn deleted_objects_are_reported_gone_by_uid() {
        let mut a = Attachments::default();
        relist(&mut a, &[obj("x", "u1"), obj("y", "u2")]);
        let seen = a.apply(Event::Delete(obj("x", "u1")));
        assert_eq!(
            seen,
            Seen {
                dirty: true,
                gone: vec!["u1".into()]
            }
        );
        assert_eq!(names(&a), ["y"]);
    }

    #[test]
    fn an_object_deleted_while_the_watch_was_down_is_gone_at_the_re_list() {
        let mut a = Attachments::default();
        assert_eq!(
            relist(&mut a, &[obj("x", "u1"), obj("y", "u2")]).gone,
            Vec::<String>::new()
        );
        // "x" was deleted and re-created (new UID) and "y" deleted, all while disconnected.
        let seen = relist(&mut a, &[obj("x", "u3")]);
        assert!(seen.dirty);
        assert_eq!(seen.gone, ["u1", "u2"]);
    }
}
