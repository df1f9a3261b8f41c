//! The wiring: two kube-rs Controllers and the resync, run only while this replica leads.
//!
//! * NodeENI controller ([`super::fleet`]): its NodeENIs, plus Nodes (mapped to the NodeENIs that
//!   select them or have ENIAttachments on them) and ENIAttachments (mapped to their NodeENI).
//! * ENIAttachment controller ([`super::attachment`]): its ENIAttachments, plus the resync's
//!   drift reports.
//!
//! Both take their triggers from the shared stores' watches ([`super::feed`]) and read those
//! stores: one watch and one cache per kind in the process. Every change passes through a trigger
//! key ([`crate::plan::node_key`] and friends), so Node heartbeats, our own status writes and the
//! agent's routine refreshes cause no reconcile.

use std::future::Future;
use std::sync::Arc;

use futures::channel::mpsc;
use futures::{FutureExt, Stream, StreamExt, future};
use k8s_openapi::api::core::v1::Node;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use multi_eni_api::keys::LABEL_NODEENI;
use multi_eni_api::{EniAttachment, NodeEni};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::context::Context;
use super::feed::Change;
use super::{attachment, fleet, resync};
use crate::plan::{
    KeyFilter, attachment_fleet_key, attachment_key, node_eni_key, node_enis_for_node, node_key,
};

/// Runs the controllers while `leading` says so: starts them when this replica becomes leader,
/// stops them (letting running reconciles finish) when it stops leading, and returns once
/// `shutdown` resolves and they have stopped.
pub async fn run(
    ctx: Arc<Context>,
    mut leading: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            r = leading.wait_for(|l| *l) => if r.is_err() { return },
        }
        info!("leading: starting the controllers");
        let stop = CancellationToken::new();
        let work = tokio::spawn(lead(ctx.clone(), stop.clone()));
        let done = tokio::select! {
            () = &mut shutdown => true,
            r = leading.wait_for(|l| !*l) => r.is_err(),
        };
        info!("stopping the controllers");
        stop.cancel();
        if let Err(e) = work.await {
            warn!(error = %e, "the controllers ended abnormally");
        }
        if done {
            return;
        }
    }
}

/// Both controllers and the resync, until `stop`.
async fn lead(ctx: Arc<Context>, stop: CancellationToken) {
    let (drift_tx, drift_rx) = mpsc::unbounded();
    let resync = tokio::spawn(resync::run(ctx.clone(), move |r| {
        // The receiver lives as long as the attachment controller; a send after it stopped
        // has nobody to tell.
        let _ = drift_tx.unbounded_send(r);
    }));
    let fleet = node_eni_controller(ctx.clone(), stop.clone());
    let attachments = attachment_controller(ctx.clone(), drift_rx, stop.clone());
    future::join(fleet, attachments).await;
    resync.abort();
}

fn node_eni_controller(
    ctx: Arc<Context>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send {
    let stores = &ctx.stores;
    let own = changes(stores.node_eni_changes.subscribe(), node_eni_key);
    let nodes = changes(stores.node_changes.subscribe(), node_key);
    let attachments = changes(stores.attachment_changes.subscribe(), attachment_fleet_key);
    let reader = stores.node_enis.clone();
    let map_ctx = ctx.clone();
    let synced = reader.clone();
    let controller = Controller::for_stream(own, reader)
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .watches_stream(nodes, move |node: Node| {
            let stores = &map_ctx.stores;
            node_enis_for_node(
                &node,
                &stores.node_enis.state(),
                &stores.attachments.state(),
            )
            .into_iter()
            .map(|name| ObjectRef::<NodeEni>::new(&name))
        })
        .watches_stream(attachments, |att: EniAttachment| {
            att.labels()
                .get(LABEL_NODEENI)
                .map(|name| ObjectRef::<NodeEni>::new(name))
        })
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(fleet::reconcile, fleet::error_policy, ctx.clone())
        .for_each(|r| {
            log_result("NodeENI", r);
            future::ready(())
        });
    until_stopped(controller, synced, stop)
}

fn attachment_controller(
    ctx: Arc<Context>,
    drift: mpsc::UnboundedReceiver<ObjectRef<EniAttachment>>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send {
    let own = changes(ctx.stores.attachment_changes.subscribe(), attachment_key);
    let reader = ctx.stores.attachments.clone();
    let synced = reader.clone();
    let controller = Controller::for_stream(own, reader)
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .reconcile_on(drift)
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(attachment::reconcile, attachment::error_policy, ctx)
        .for_each(|r| {
            log_result("ENIAttachment", r);
            future::ready(())
        });
    until_stopped(controller, synced, stop)
}

/// Runs `controller` until it ends after `stop` (its graceful shutdown). A controller whose
/// cache had not synced when `stop` came is dropped instead: kube-runtime holds every reconcile
/// until that cache is ready, and would wait forever for a watch that is no longer read — a
/// process that never exits on SIGTERM, a replica that never stands by after losing the Lease.
/// The shared caches are ready before the controllers start (`process::run`), so this guards a
/// caller that starts them earlier; nothing can be running in such a controller.
async fn until_stopped<K>(
    controller: impl Future<Output = ()> + Send,
    synced: reflector::Store<K>,
    stop: CancellationToken,
) where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    tokio::pin!(controller);
    tokio::select! {
        () = &mut controller => {}
        () = stop.cancelled() => {
            if matches!(synced.wait_until_ready().now_or_never(), Some(Ok(()))) {
                controller.await;
            } else {
                info!("stopped before its cache synced: nothing was running");
            }
        }
    }
}

/// The objects of a feed whose trigger key changed, and every deleted one (a copy of each for
/// the controller, which keeps only its key).
fn changes<K>(
    feed: impl Stream<Item = Change<K>> + Send + 'static,
    key: fn(&K) -> u64,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + Send + Sync + 'static,
{
    let mut filter = KeyFilter::default();
    feed.filter_map(move |change| {
        let out = match &change {
            Change::Applied(o) => {
                let id = id_of(o.as_ref());
                filter.changed(&id, key(o)).then(|| Ok(K::clone(o)))
            }
            Change::Deleted(o) => {
                let id = id_of(o.as_ref());
                filter.deleted(&id).then(|| Ok(K::clone(o)))
            }
        };
        future::ready(out)
    })
}

fn id_of<K: Resource>(o: &K) -> String {
    let m = o.meta();
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

fn log_result<K, E: std::fmt::Display, Q: std::fmt::Display>(
    kind: &str,
    r: Result<(ObjectRef<K>, controller::Action), controller::Error<E, Q>>,
) where
    K: Resource,
    K::DynamicType: Clone,
{
    match r {
        Ok((obj, _)) => debug!(kind, name = %obj.name, "reconciled"),
        // The error policies log failures with their class; a deleted object's queued
        // reconcile finds nothing to do.
        Err(controller::Error::ReconcilerFailed(e, obj)) => {
            debug!(kind, name = %obj.name, error = %e, "reconcile failed");
        }
        Err(controller::Error::ObjectNotFound(obj)) => {
            debug!(kind, name = %obj.name, "gone before its reconcile");
        }
        Err(e) => warn!(kind, error = %e, "controller error"),
    }
}
