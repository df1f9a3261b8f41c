//! Which device index to attach at. The fleet plan asks for `deviceIndex + ordinal`; when an
//! interface we do not own already sits there (the VPC CNI, another operator, a person), we take
//! the next free index on the same network card and status records the one used. An index held
//! by one of *our* ENIs that is being removed frees up soon, so we wait for it instead — that is
//! the usual case after a device-index change, and moving on would shuffle every index after it.

use multi_eni_api::validation::DEVICE_INDEX_MAX;
use multi_eni_ec2::attach_conflict::occupant;

use super::lifecycle::InstanceView;

/// The outcome of choosing a device index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexChoice {
    /// Attach here.
    Free(i32),
    /// Held by an ENI of ours on its way out: wait.
    BeingFreed(i32),
    /// Every index from the wanted one up to the card's limit is taken.
    NoneFree,
}

/// The first usable index from `start` on `card`, for ENI `ours` (which may already hold one).
pub fn choose_index(view: &InstanceView, start: i32, card: i32, ours: &str) -> IndexChoice {
    let card_limit = view
        .max_interfaces_on_card
        .map_or(DEVICE_INDEX_MAX + 1, |m| {
            i32::try_from(m).unwrap_or(i32::MAX)
        });
    let end = card_limit.min(DEVICE_INDEX_MAX + 1);
    for index in start..end {
        match occupant(&view.instance, index, card, ours) {
            None => return IndexChoice::Free(index),
            Some(eni) if view.leaving.contains(eni) => return IndexChoice::BeingFreed(index),
            Some(_) => {}
        }
    }
    IndexChoice::NoneFree
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn free_wanted_index_is_taken() {
        let v = view(&[("eni-primary", 0, 0)], 4);
        assert_eq!(choose_index(&v, 1, 0, "eni-ours"), IndexChoice::Free(1));
    }

    #[test]
    fn foreign_interfaces_are_skipped_to_the_next_free_index() {
        let v = view(
            &[("eni-primary", 0, 0), ("eni-cni", 1, 0), ("eni-cni2", 2, 0)],
            4,
        );
        assert_eq!(choose_index(&v, 1, 0, "eni-ours"), IndexChoice::Free(3));
    }

    #[test]
    fn an_index_on_another_network_card_does_not_count() {
        let v = view(&[("eni-primary", 0, 0), ("eni-other-card", 1, 1)], 4);
        assert_eq!(choose_index(&v, 1, 0, "eni-ours"), IndexChoice::Free(1));
    }

    #[test]
    fn our_own_eni_at_the_index_is_not_a_conflict() {
        let v = view(&[("eni-ours", 1, 0)], 4);
        assert_eq!(choose_index(&v, 1, 0, "eni-ours"), IndexChoice::Free(1));
    }

    #[test]
    fn index_held_by_our_leaving_eni_is_waited_for() {
        let mut v = view(&[("eni-old", 1, 0)], 4);
        v.leaving.insert("eni-old".into());
        assert_eq!(
            choose_index(&v, 1, 0, "eni-ours"),
            IndexChoice::BeingFreed(1)
        );
    }

    #[test]
    fn no_index_below_the_card_limit_is_none_free() {
        let v = view(
            &[("eni-primary", 0, 0), ("eni-x", 1, 0), ("eni-y", 2, 0)],
            3,
        );
        assert_eq!(choose_index(&v, 1, 0, "eni-ours"), IndexChoice::NoneFree);
    }
}
