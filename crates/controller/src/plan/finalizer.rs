//! The NodeENI finalizer: a NodeENI goes only after its ENIAttachments (and so their ENIs) are
//! gone. On the way out it also drops the Go controller's legacy finalizer, which nothing else
//! would ever remove from a migrated object.

use std::sync::Arc;

use kube::ResourceExt;
use multi_eni_api::keys::{FINALIZER_NODEENI, LEGACY_FINALIZER_NODEENI};
use multi_eni_api::{EniAttachment, NodeEni};

/// The next finalizer action on a NodeENI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalizerStep {
    /// Add our finalizer before creating any ENIAttachment.
    Add,
    /// Delete these ENIAttachments (the NodeENI is being deleted).
    DeleteAttachments(Vec<String>),
    /// Wait until the ENIAttachments being deleted are gone.
    WaitForAttachments {
        /// How many are left.
        remaining: usize,
    },
    /// Remove these finalizers (ours and the legacy one, as present): the NodeENI can go.
    Remove(Vec<&'static str>),
    /// Nothing to do.
    Nothing,
}

/// What to do about the finalizers of `ne`, whose ENIAttachments are `existing`.
pub fn finalizer_step(ne: &NodeEni, existing: &[Arc<EniAttachment>]) -> FinalizerStep {
    let has = |f: &str| ne.finalizers().iter().any(|x| x == f);
    if ne.metadata.deletion_timestamp.is_none() {
        return if has(FINALIZER_NODEENI) {
            FinalizerStep::Nothing
        } else {
            FinalizerStep::Add
        };
    }
    let live: Vec<String> = existing
        .iter()
        .filter(|e| e.metadata.deletion_timestamp.is_none())
        .map(|e| e.name_any())
        .collect();
    if !live.is_empty() {
        return FinalizerStep::DeleteAttachments(live);
    }
    if !existing.is_empty() {
        return FinalizerStep::WaitForAttachments {
            remaining: existing.len(),
        };
    }
    let ours: Vec<&'static str> = [FINALIZER_NODEENI, LEGACY_FINALIZER_NODEENI]
        .into_iter()
        .filter(|f| has(f))
        .collect();
    if ours.is_empty() {
        FinalizerStep::Nothing
    } else {
        FinalizerStep::Remove(ours)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn with_finalizers(fs: &[&str], deleting: bool) -> NodeEni {
        let mut ne = node_eni(serde_json::json!({}));
        ne.metadata.finalizers = Some(fs.iter().map(|f| (*f).to_owned()).collect());
        if deleting {
            ne.metadata.deletion_timestamp = Some(time(100));
        }
        ne
    }

    #[test]
    fn live_node_eni_without_our_finalizer_gets_it() {
        let ne = with_finalizers(&[], false);
        assert_eq!(finalizer_step(&ne, &[]), FinalizerStep::Add);
        let ne = with_finalizers(&[FINALIZER_NODEENI], false);
        assert_eq!(finalizer_step(&ne, &[]), FinalizerStep::Nothing);
    }

    #[test]
    fn deleted_node_eni_deletes_its_attachments_first() {
        let ne = with_finalizers(&[FINALIZER_NODEENI], true);
        let a = existing_attachment("a", "n1", SUBNET_A, 1);
        let mut b = existing_attachment("b", "n1", SUBNET_B, 2);
        b.metadata.deletion_timestamp = Some(time(90));
        assert_eq!(
            finalizer_step(&ne, &[a.into(), b.clone().into()]),
            FinalizerStep::DeleteAttachments(vec!["a".into()])
        );
        assert_eq!(
            finalizer_step(&ne, &[b.into()]),
            FinalizerStep::WaitForAttachments { remaining: 1 }
        );
    }

    #[test]
    fn once_attachments_are_gone_ours_and_the_legacy_finalizer_are_dropped() {
        let ne = with_finalizers(
            &[
                FINALIZER_NODEENI,
                "someone.else/keep",
                LEGACY_FINALIZER_NODEENI,
            ],
            true,
        );
        assert_eq!(
            finalizer_step(&ne, &[]),
            FinalizerStep::Remove(vec![FINALIZER_NODEENI, LEGACY_FINALIZER_NODEENI])
        );
        let ne = with_finalizers(&["someone.else/keep"], true);
        assert_eq!(finalizer_step(&ne, &[]), FinalizerStep::Nothing);
    }
}
