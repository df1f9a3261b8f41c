//! The cluster's ENIs as EC2 last showed them: filled by the resync (one paginated,
//! cluster-tag-filtered DescribeNetworkInterfaces per period) and kept current between resyncs
//! by what the executor's own calls prove. Reconcilers read it instead of describing one ENI at a
//! time, which is what keeps describes O(pages) rather than O(ENIs).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use multi_eni_api::keys::TAG_ATTACHMENT;
use multi_eni_ec2::NetworkInterface;
use parking_lot::RwLock;

use crate::plan::take_described;

/// ENIs by ID, with the time of the listing they came from.
#[derive(Debug, Default)]
pub struct EniIndex {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    enis: BTreeMap<String, NetworkInterface>,
    /// When each entry was last shown (by a listing, a describe or a call's result).
    seen: BTreeMap<String, Timestamp>,
    /// When a call's result or a targeted describe last showed each entry — not a listing: the
    /// proof that lets a young entry outlive a listing that does not show it yet.
    shown: BTreeMap<String, Timestamp>,
    /// When our own create returned each ENI, while it is young: a new ENI's ID takes a while
    /// to reach every EC2 API (see [`EniIndex::created_at`]).
    created: BTreeMap<String, Timestamp>,
    listed_at: Option<Timestamp>,
}

impl EniIndex {
    /// Replaces everything with a complete listing taken at `at` — except where the index saw
    /// within `grace` what the listing may not show yet (EC2's reads lag its writes): an ENI
    /// created moments ago, and whatever [`take_described`] keeps of a describe (our own
    /// attach, detach or modify moments ago). Past the grace the listing wins: that is how a
    /// change behind our back (an instance terminated, an ENI detached by hand) arrives.
    pub fn replace(&self, enis: Vec<NetworkInterface>, at: Timestamp, grace: Duration) {
        let mut g = self.inner.write();
        let recent = |t: &Timestamp| {
            let age = at.as_millisecond().saturating_sub(t.as_millisecond());
            u128::try_from(age).unwrap_or(u128::MAX) < grace.as_millis()
        };
        let mut next = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for e in enis {
            let known_at = g.seen.get(&e.id).copied();
            // Only a call's or a describe's proof outranks the listing (`shown`), not an
            // earlier listing's.
            let proven_at = g.shown.get(&e.id).copied();
            match g.enis.get(&e.id) {
                Some(known) if !take_described(Some(known), proven_at, &e, at, grace) => {
                    next.insert(e.id.clone(), known.clone());
                    seen.extend(known_at.map(|t| (e.id.clone(), t)));
                }
                _ => {
                    seen.insert(e.id.clone(), at);
                    next.insert(e.id.clone(), e);
                }
            }
        }
        // Not listed, but shown to us by a call or a describe moments ago (a create the listing
        // does not show yet). What only an earlier listing showed is gone when this one omits it.
        for (id, t) in &g.shown {
            if !next.contains_key(id)
                && recent(t)
                && let Some(e) = g.enis.get(id)
            {
                next.insert(id.clone(), e.clone());
                seen.insert(id.clone(), g.seen.get(id).copied().unwrap_or(*t));
            }
        }
        let shown = std::mem::take(&mut g.shown);
        g.shown = shown
            .into_iter()
            .filter(|(id, t)| next.contains_key(id) && recent(t))
            .collect();
        let created = std::mem::take(&mut g.created);
        g.created = created
            .into_iter()
            .filter(|(id, _)| next.contains_key(id))
            .collect();
        g.enis = next;
        g.seen = seen;
        g.listed_at = Some(at);
    }

    /// Records an ENI our own create just returned, at `at`.
    pub fn created(&self, eni: NetworkInterface, at: Timestamp) {
        {
            let mut g = self.inner.write();
            // Only the young matter; a minute is far past any ID's propagation.
            g.created
                .retain(|_, t| at.as_millisecond().saturating_sub(t.as_millisecond()) < 60_000);
            g.created.insert(eni.id.clone(), at);
        }
        self.upsert(eni);
    }

    /// When our own create returned `id`; `None` when this process did not create it (or
    /// the index forgot it). A new ENI's ID reaches EC2's other APIs a few seconds after the
    /// create: an attach before that is refused as not found.
    pub fn created_at(&self, id: &str) -> Option<Timestamp> {
        self.inner.read().created.get(id).copied()
    }

    /// Records what a call or a targeted describe showed about one ENI.
    pub fn upsert(&self, eni: NetworkInterface) {
        let mut g = self.inner.write();
        let now = Timestamp::now();
        g.seen.insert(eni.id.clone(), now);
        g.shown.insert(eni.id.clone(), now);
        g.enis.insert(eni.id.clone(), eni);
    }

    /// Forgets an ENI that was deleted (or that EC2 no longer knows).
    pub fn remove(&self, id: &str) {
        let mut g = self.inner.write();
        g.enis.remove(id);
        g.seen.remove(id);
        g.shown.remove(id);
        g.created.remove(id);
    }

    /// When the entry for `id` was last shown, so a reconciler can tell whether it is fresher
    /// than a poll (and skip a describe).
    pub fn seen_at(&self, id: &str) -> Option<Timestamp> {
        self.inner.read().seen.get(id).copied()
    }

    /// One ENI by ID.
    pub fn get(&self, id: &str) -> Option<NetworkInterface> {
        self.inner.read().enis.get(id).cloned()
    }

    /// Every ENI tagged with this ENIAttachment UID, plus the one recorded in its status (when
    /// known and not tagged, e.g. a Go controller ENI being adopted).
    pub fn for_attachment(&self, uid: &str, recorded: Option<&str>) -> Vec<NetworkInterface> {
        let g = self.inner.read();
        g.enis
            .values()
            .filter(|e| {
                e.tags.get(TAG_ATTACHMENT).map(String::as_str) == Some(uid)
                    || recorded == Some(e.id.as_str())
            })
            .cloned()
            .collect()
    }

    /// Every ENI, for garbage collection.
    pub fn all(&self) -> Vec<NetworkInterface> {
        self.inner.read().enis.values().cloned().collect()
    }

    /// When the last complete listing was taken; `None` before the first.
    pub fn listed_at(&self) -> Option<Timestamp> {
        self.inner.read().listed_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::{AttachmentStatus, EniAttachment, EniStatus, Tags};

    fn eni(id: &str, attachment: Option<(AttachmentStatus, bool)>) -> NetworkInterface {
        NetworkInterface {
            id: id.into(),
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: "us-east-1a".into(),
            mac_address: "02:00:00:00:00:0a".into(),
            private_ip_address: None,
            status: if attachment.is_some() {
                EniStatus::InUse
            } else {
                EniStatus::Available
            },
            attachment: attachment.map(|(status, dot)| EniAttachment {
                attachment_id: format!("{id}-attach"),
                instance_id: Some("i-1".into()),
                device_index: 1,
                network_card_index: 0,
                status,
                delete_on_termination: dot,
            }),
            security_group_ids: vec![],
            description: String::new(),
            tags: Tags::new(),
        }
    }

    fn ms(n: i64) -> Timestamp {
        Timestamp::from_millisecond(n).expect("valid time")
    }

    /// A listing lags EC2's writes as a describe does: what our own calls showed moments ago
    /// survives it where the listing cannot tell better; everything else is the listing's.
    /// What only a listing showed goes as soon as a listing omits it, however soon after (an ENI
    /// deleted behind our back); only a call's or a describe's proof outlives a lagging listing.
    #[test]
    fn what_only_a_listing_showed_goes_with_the_next_listing() {
        let grace = Duration::from_secs(3);
        let index = EniIndex::default();
        let now = Timestamp::now();
        index.replace(vec![eni("eni-a", None), eni("eni-b", None)], now, grace);
        index.replace(
            vec![eni("eni-b", None)],
            ms(now.as_millisecond() + 100),
            grace,
        );
        assert!(index.get("eni-a").is_none(), "deleted behind our back");
        assert!(index.get("eni-b").is_some());
    }

    #[test]
    fn a_listing_replaces_the_index_but_not_what_it_cannot_show_yet() {
        let grace = Duration::from_secs(3);
        let index = EniIndex::default();
        let attached = Some((AttachmentStatus::Attached, true));
        let before = Some((AttachmentStatus::Attached, false));
        // Seen (our modify, our create) a moment before the listing…
        index.upsert(eni("eni-modified", attached.clone()));
        index.created(eni("eni-new", None), Timestamp::now());
        index.upsert(eni("eni-detached-by-hand", attached));
        // …and a listing that still shows the old attribute, not the new ENI, and the hand-made
        // detach. Then one long after.
        let now = Timestamp::now();
        let listing = vec![
            eni("eni-modified", before),
            eni("eni-detached-by-hand", None),
        ];
        index.replace(listing.clone(), now, grace);
        let dot = |id: &str| {
            index
                .get(id)
                .and_then(|e| e.attachment)
                .map(|a| a.delete_on_termination)
        };
        assert_eq!(dot("eni-modified"), Some(true), "our modify is kept");
        assert!(index.get("eni-new").is_some(), "the new ENI is kept");
        assert!(index.created_at("eni-new").is_some());
        assert!(
            index
                .get("eni-detached-by-hand")
                .is_some_and(|e| e.attachment.is_some()),
            "within the grace a listing without the attachment may just lag our attach"
        );
        let later = ms(now.as_millisecond() + 10_000);
        index.replace(listing, later, grace);
        assert_eq!(
            index.get("eni-detached-by-hand").map(|e| e.attachment),
            Some(None),
            "past it, a change behind our back is taken"
        );
        assert_eq!(
            dot("eni-modified"),
            Some(false),
            "past the grace the listing wins"
        );
        assert!(index.get("eni-new").is_none(), "never listed: gone");
        assert!(index.created_at("eni-new").is_none());
        assert_eq!(index.listed_at(), Some(later));
    }
}
