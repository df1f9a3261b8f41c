//! The periodic look at the whole cluster's ENIs: one paginated, cluster-tag-filtered
//! DescribeNetworkInterfaces per period refreshes the [`EniIndex`](super::EniIndex), wakes the
//! ENIAttachments EC2 drifted from ([`plan::drift`]) and collects orphans ([`plan::gc`]).
//!
//! A pass costs O(pages) describes however many ENIs there are, plus one call per orphan the GC
//! acts on — never a call per ENI. Attachment state is compared in memory (the
//! `attachment.*` filters would cost a call per question, and moto answers them with HTTP 500).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use multi_eni_api::EniAttachment;
use multi_eni_api::keys::TAG_CLUSTER;
use multi_eni_ec2::{
    DescribeQuery, DetachEni, Ec2Error, ErrorKind, Filter, NetworkInterface, Op, collect_pages,
};
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::context::Context;
use super::error::Error;
use crate::plan::{self, DriftReason, GcInput, GcPlan};

/// Page size of the listing: EC2's maximum, so a pass costs as few calls as possible.
pub const PAGE_SIZE: i32 = 1000;

/// The shortest period [`run`] accepts (a zero period would spin).
const MIN_PERIOD: Duration = Duration::from_millis(10);

/// What the GC remembers between passes: when each current orphan was first seen orphaned.
/// Starts empty (a restarted controller waits a full cooldown again, which only delays).
#[derive(Debug, Clone, Default)]
pub struct GcState {
    seen: BTreeMap<String, Timestamp>,
}

impl GcState {
    /// ENI ID → when it was first seen orphaned, for every ENI orphaned at the last pass.
    pub fn orphans(&self) -> &BTreeMap<String, Timestamp> {
        &self.seen
    }
}

/// What one pass saw and did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// ENIs listed.
    pub listed: usize,
    /// DescribeNetworkInterfaces pages fetched (one call each).
    pub pages: usize,
    /// ENIAttachments to reconcile because EC2 differs from their status or spec.
    pub drifted: Vec<(ObjectRef<EniAttachment>, DriftReason)>,
    /// Orphans deleted.
    pub deleted: Vec<String>,
    /// Orphans already gone when the GC deleted them.
    pub already_gone: Vec<String>,
    /// Attached orphans detached (they are deleted on a later pass).
    pub detached: Vec<String>,
    /// GC calls that failed, by ENI ID; retried next pass.
    pub failed: Vec<(String, Ec2Error)>,
}

/// Runs a pass now and then every `ctx.config.resync_period`, forever, calling `drift` for each
/// ENIAttachment to reconcile (from the loop itself: keep it quick, e.g. a send into the
/// attachment controller's trigger channel). A failed pass is logged and retried at the next
/// period. A drift report is a hint, not a verdict: the listing may predate the reconciler's own
/// last step, and the reconcile it triggers looks again.
pub async fn run(
    ctx: Arc<Context>,
    drift: impl Fn(ObjectRef<EniAttachment>) + Send + Sync + 'static,
) {
    let mut state = GcState::default();
    let mut tick = tokio::time::interval(ctx.config.resync_period.max(MIN_PERIOD));
    // A slow pass (throttled describes) pushes the next one back instead of bunching them.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match pass(&ctx, &mut state).await {
            Ok(report) => {
                info!(
                    listed = report.listed,
                    pages = report.pages,
                    drifted = report.drifted.len(),
                    gc_deleted = report.deleted.len(),
                    gc_detached = report.detached.len(),
                    gc_waiting = state.seen.len(),
                    "resync pass"
                );
                for (r, _) in report.drifted {
                    drift(r);
                }
            }
            Err(e) => warn!(error = %e, "resync pass failed; next at the next period"),
        }
    }
}

/// One pass: list, refresh the index, find drift, collect orphans.
pub async fn pass(ctx: &Context, state: &mut GcState) -> Result<PassReport, Error> {
    let cluster = ctx.config.lifecycle.cluster.as_str();
    if cluster.is_empty() {
        return Err(Error::Malformed(
            "no cluster name: the resync would have no tag to scope garbage collection by".into(),
        ));
    }
    // The live set must come from a complete list, or every ENI would look orphaned. Fails only
    // when the store's writer is gone, when the store keeps its last state.
    let _ = ctx.stores.attachments.wait_until_ready().await;
    let now = ctx.now();
    let mut report = PassReport::default();
    let query =
        DescribeQuery::filters(vec![Filter::tag(TAG_CLUSTER, cluster)]).page_size(PAGE_SIZE);
    let pages = &mut report.pages;
    let listing = collect_pages(Op::DescribeNetworkInterfaces, query, |q| {
        *pages += 1;
        let ec2 = ctx.ec2.clone();
        async move { ec2.describe_network_interfaces(&q).await }
    })
    .await?;
    report.listed = listing.len();
    ctx.enis
        .replace(listing.clone(), now, ctx.config.lifecycle.visibility_grace);

    // Read after the listing, so every listed ENI's ENIAttachment had as long as possible to
    // reach the store; the GC cooldown covers a watch that is slower still.
    let attachments = ctx.stores.attachments.state();
    report.drifted = plan::drift(&listing, attachments.iter().map(AsRef::as_ref))
        .into_iter()
        .map(|d| (ObjectRef::from_obj(d.attachment), d.reason))
        .collect();
    let live: BTreeSet<String> = attachments
        .iter()
        .filter_map(|a| a.metadata.uid.clone())
        .collect();
    let gc = plan::gc(&GcInput {
        cluster,
        enis: &listing,
        live: &live,
        seen: &state.seen,
        now,
        cooldown: ctx.config.gc_cooldown,
    });
    state.seen = gc.seen.clone();
    collect(ctx, &gc, &listing, state, &mut report).await;
    Ok(report)
}

/// Carries out the GC's deletes and detaches. A throttled call ends this pass's GC: the rest
/// waits for the next pass rather than adding to the pressure.
async fn collect(
    ctx: &Context,
    gc: &GcPlan,
    listing: &[NetworkInterface],
    state: &mut GcState,
    report: &mut PassReport,
) {
    let tags = |id: &str| listing.iter().find(|e| e.id == id).map(|e| e.tags.clone());
    for id in &gc.delete {
        match ctx.ec2.delete_network_interface(id).await {
            Ok(()) => {
                ctx.metrics.gc_deleted.inc();
                info!(eni = %id, tags = ?tags(id), "deleted orphan ENI");
                report.deleted.push(id.clone());
            }
            Err(e) if matches!(e.kind, ErrorKind::NotFound(_)) => {
                report.already_gone.push(id.clone());
            }
            Err(e) => {
                warn!(eni = %id, tags = ?tags(id), error = %e, "could not delete orphan ENI");
                let stop = e.kind == ErrorKind::Throttled;
                report.failed.push((id.clone(), e));
                if stop {
                    return;
                }
                continue;
            }
        }
        ctx.enis.remove(id);
        state.seen.remove(id);
    }
    for d in &gc.detach {
        let req = DetachEni {
            attachment_id: d.attachment_id.clone(),
            force: false,
        };
        match ctx.ec2.detach_network_interface(&req).await {
            Ok(()) => {
                info!(eni = %d.eni_id, tags = ?tags(&d.eni_id), "detached orphan ENI; deleting it once available");
                report.detached.push(d.eni_id.clone());
            }
            // Already detached: the delete follows once EC2 lists it available.
            Err(e) if matches!(e.kind, ErrorKind::NotFound(_)) => {}
            Err(e) => {
                warn!(eni = %d.eni_id, error = %e, "could not detach orphan ENI");
                let stop = e.kind == ErrorKind::Throttled;
                report.failed.push((d.eni_id.clone(), e));
                if stop {
                    return;
                }
            }
        }
    }
}
