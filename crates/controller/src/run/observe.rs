//! What one attachment's world looks like now: its ENIs from the index (described only when
//! [`crate::plan::describe_need`] says the index cannot know), its instance from the batched
//! instance cache, and the subnet's CIDR from the lookup cache.
//!
//! Every ENI describe goes through [`describe`], which takes IDs and UIDs, so a coalescing batcher
//! can replace it without touching the callers.

use std::collections::BTreeSet;

use kube::ResourceExt;
use multi_eni_api::keys::TAG_ATTACHMENT;
use multi_eni_api::{EniAttachment, Phase};
use multi_eni_ec2::{
    AttachmentStatus, DescribeQuery, Ec2Error, Filter, InstanceState, LookupError,
    NetworkInterface, Op, collect_pages,
};

use super::context::Context;
use super::error::Error;
use crate::plan::{
    DescribeNeed, InstanceSeen, InstanceView, Observed, adoption_candidate, as_created,
    describe_need, take_described,
};

/// The facts [`crate::plan::next_step`] needs for `att`.
pub async fn observe(ctx: &Context, att: &EniAttachment) -> Result<Observed, Error> {
    let uid = att.uid().unwrap_or_default();
    let recorded = att.status.as_ref().and_then(|s| s.eni_id.clone());
    let mut enis = ctx.enis.for_attachment(&uid, recorded.as_deref());
    let now = ctx.now();
    let known: Vec<_> = enis
        .iter()
        .map(|e| {
            // An ENI our create returned moments ago stays as the create showed it until we
            // attach it: nothing to describe while its ID propagates.
            let young = as_created(ctx.enis.created_at(&e.id), now, &ctx.config.lifecycle);
            let seen = if young {
                Some(now)
            } else {
                ctx.enis.seen_at(&e.id)
            };
            (e.id.clone(), seen)
        })
        .collect();
    let need = describe_need(att, &known, now, ctx.config.lifecycle.poll);
    if !need.is_empty() {
        describe(ctx, &need).await?;
        enis = ctx.enis.for_attachment(&uid, recorded.as_deref());
    }
    let instance = instance(ctx, att, &enis).await?;
    let subnet_cidr = subnet_cidr(ctx, &att.spec.subnet_id).await?;
    let adoptable = match adoption_candidate(att) {
        Some(id) => adoptable(ctx, id).await?,
        None => None,
    };
    Ok(Observed {
        enis,
        instance,
        subnet_cidr,
        adoptable,
    })
}

/// The Go controller's ENI `id`, described for the adoption check. Kept out of the ENI index,
/// which holds only what is ours: it enters once it is adopted and tagged.
async fn adoptable(ctx: &Context, id: &str) -> Result<Option<NetworkInterface>, Ec2Error> {
    let found = ctx.describe.describe(vec![id.to_owned()]).await?;
    Ok(found.into_iter().find(|e| e.id == id))
}

/// Describes the ENIs with these IDs and those tagged with these attachment UIDs, and writes the
/// result into the index: found ones upserted, asked-for ones EC2 no longer lists removed.
pub async fn describe(ctx: &Context, need: &DescribeNeed) -> Result<(), Ec2Error> {
    if !need.ids.is_empty() {
        let found = ctx.describe.describe(need.ids.clone()).await?;
        let listed: BTreeSet<&str> = found.iter().map(|e| e.id.as_str()).collect();
        for id in need.ids.iter().filter(|id| !listed.contains(id.as_str())) {
            forget_unlisted(ctx, id);
        }
        merge(ctx, found);
    }
    if !need.uids.is_empty() {
        let found = list(
            ctx,
            Filter::new(format!("tag:{TAG_ATTACHMENT}"), need.uids.clone()),
        )
        .await?;
        let listed: BTreeSet<String> = found.iter().map(|e| e.id.clone()).collect();
        for uid in &need.uids {
            for gone in ctx.enis.for_attachment(uid, None) {
                if !listed.contains(&gone.id) {
                    forget_unlisted(ctx, &gone.id);
                }
            }
        }
        merge(ctx, found);
    }
    Ok(())
}

/// Drops an ENI a describe did not list from the index — unless the index saw it within the
/// visibility grace (our own create or attach proved it exists; EC2's reads lag its writes), so
/// a lagging describe does not make the reconciler wait, and describe, until EC2 catches up.
fn forget_unlisted(ctx: &Context, id: &str) {
    let grace = ctx.config.lifecycle.visibility_grace;
    let recent = ctx.enis.seen_at(id).is_some_and(|t| {
        let age = ctx
            .now()
            .as_millisecond()
            .saturating_sub(t.as_millisecond());
        u128::try_from(age).unwrap_or(u128::MAX) < grace.as_millis()
    });
    if !recent {
        ctx.enis.remove(id);
    }
}

/// Writes described ENIs into the index, except where it knows better ([`take_described`]).
fn merge(ctx: &Context, found: Vec<NetworkInterface>) {
    let now = ctx.now();
    let grace = ctx.config.lifecycle.visibility_grace;
    for eni in found {
        let known = ctx.enis.get(&eni.id);
        let known_at = ctx.enis.seen_at(&eni.id);
        if take_described(known.as_ref(), known_at, &eni, now, grace) {
            ctx.enis.upsert(eni);
        }
    }
}

async fn list(ctx: &Context, filter: Filter) -> Result<Vec<NetworkInterface>, Ec2Error> {
    let ec2 = &*ctx.ec2;
    let query = DescribeQuery::filters(vec![filter]);
    collect_pages(Op::DescribeNetworkInterfaces, query, |q| async move {
        ec2.describe_network_interfaces(&q).await
    })
    .await
}

/// The instance, described afresh when a device index is about to be chosen or an ENI created
/// again, else from the instance cache (which the fleet filled moments ago for new attachments).
async fn instance(
    ctx: &Context,
    att: &EniAttachment,
    enis: &[NetworkInterface],
) -> Result<InstanceSeen, Error> {
    let id = &att.spec.instance_id;
    let phase = att
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    let on_instance = enis.iter().any(|e| {
        e.attachment.as_ref().is_some_and(|a| {
            a.instance_id.as_deref() == Some(id.as_str()) && a.status != AttachmentStatus::Detached
        })
    });
    // A device index is chosen from the cached instance: our own attaches are written into it
    // (`Instances::record_attach`), and an index someone else took since is refused by EC2 as
    // DeviceIndexInUse, which moves on to the next one — so a rollout costs no DescribeInstances
    // per attachment. Described afresh only where the cache cannot serve: the instance is not
    // cached as ready for an attach (pending, or not listed yet), or the recorded ENI is gone or
    // off the instance and a create again is next (is the instance itself still there?).
    let recorded = att.status.as_ref().is_some_and(|s| s.eni_id.is_some());
    let attaching = matches!(phase, Phase::Creating | Phase::Attaching);
    let deleting = att.metadata.deletion_timestamp.is_some();
    let leaving = leaving(ctx, att);
    // Ready for an attach, and not showing one of our ENIs on its way out in the way (whether it
    // has left by now only a describe can tell).
    let cached_ready = matches!(
        ctx.instances.peek(id),
        Some(Some(i)) if matches!(i.state, InstanceState::Running | InstanceState::Stopped)
            && !i.network_interfaces.iter().any(|n| leaving.contains(&n.network_interface_id))
    );
    let stale = if attaching { !cached_ready } else { recorded };
    if stale && !on_instance && !deleting {
        ctx.instances.forget(id);
    }
    let Some(instance) = ctx.instances.one(id).await? else {
        return Ok(InstanceSeen::NotFound);
    };
    let card = u32::try_from(att.spec.network_card_index).unwrap_or(0);
    let max_interfaces_on_card = match ctx
        .lookups
        .instance_type_limits(&instance.instance_type)
        .await
    {
        Ok(limits) => limits.max_interfaces_on_card(card),
        // Unknown to DescribeInstanceTypes: EC2 itself refuses an index past the limit.
        Err(LookupError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(InstanceSeen::Found(Box::new(InstanceView {
        leaving,
        instance,
        max_interfaces_on_card,
    })))
}

/// ENIs of the other ENIAttachments on this instance that are on their way out.
fn leaving(ctx: &Context, att: &EniAttachment) -> BTreeSet<String> {
    let me = att.uid();
    ctx.stores
        .attachments
        .state()
        .iter()
        .filter(|o| o.spec.instance_id == att.spec.instance_id && o.uid() != me)
        .filter(|o| {
            let phase = o.status.as_ref().and_then(|s| s.phase);
            o.metadata.deletion_timestamp.is_some()
                || matches!(phase, Some(Phase::Detaching | Phase::Deleting))
        })
        .filter_map(|o| o.status.as_ref().and_then(|s| s.eni_id.clone()))
        .collect()
}

async fn subnet_cidr(ctx: &Context, subnet_id: &str) -> Result<Option<String>, Error> {
    match ctx.lookups.subnet(subnet_id).await {
        Ok(s) => Ok(Some(s.cidr_block)),
        // Deleted under us: the create says so in the Ready condition; a removal needs no CIDR.
        Err(LookupError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
