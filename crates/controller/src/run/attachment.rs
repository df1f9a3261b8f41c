//! The ENIAttachment reconciler: observe, then take the state machine's steps — store the status
//! it announces, make the EC2 call, fold the result in, decide again — until it waits. Every
//! intent is stored before its call (see the crate docs' table), so a reconcile that stops
//! anywhere is resumed by the next one from status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use multi_eni_api::conditions::find;
use multi_eni_api::keys::{FINALIZER_ENI_CLEANUP, condition, reason};
use multi_eni_api::status_patch::status_patch;
use multi_eni_api::{EniAttachment, EniAttachmentStatus, Phase};
use multi_eni_ec2::Ec2Error;
use serde_json::json;
use tracing::{debug, info};

use super::context::Context;
use super::error::Error;
use super::executor::execute;
use super::observe::observe;
use crate::plan::{
    Ec2Action, Ec2Outcome, ErrorClass, Observed, Step, Verdict, adoption_candidate, attach_wait,
    next_step, on_error, verdict,
};

/// Steps one reconcile takes at most before handing the object back to the queue (at once), so
/// one busy attachment cannot hold a worker.
pub const MAX_STEPS: usize = 16;

const KIND: &str = "ENIAttachment";

/// When to look at the object again; `None`: on its next change (or the resync's drift signal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The delay.
    pub requeue_after: Option<Duration>,
}

impl From<Next> for Action {
    fn from(n: Next) -> Action {
        match n.requeue_after {
            Some(d) => Action::requeue(d),
            None => Action::await_change(),
        }
    }
}

/// The reconcile the controller runs for every ENIAttachment.
pub async fn reconcile(att: Arc<EniAttachment>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_next(att, ctx).await.map(Action::from)
}

/// [`reconcile`], with the delay readable (kube's [`Action`] does not expose it).
pub async fn reconcile_next(att: Arc<EniAttachment>, ctx: Arc<Context>) -> Result<Next, Error> {
    let key = backoff_key(&att);
    match drive(&ctx, EniAttachment::clone(&att)).await {
        Ok(Ended::Done(next)) => {
            ctx.metrics.reconciled(KIND, "ok");
            ctx.backoff.succeeded(&key);
            Ok(next)
        }
        Ok(Ended::Failed { class, after }) => {
            ctx.metrics.reconciled(KIND, class.as_str());
            let extra = ctx.backoff.failed(&key);
            Ok(Next {
                requeue_after: Some((after + extra).min(ctx.config.max_retry_delay)),
            })
        }
        Err(e) => {
            ctx.metrics.reconciled(KIND, e.class().as_str());
            Err(e)
        }
    }
}

/// What to do after [`reconcile`] failed with `err`: its class's delay plus the object's backoff.
pub fn error_policy(att: Arc<EniAttachment>, err: &Error, ctx: Arc<Context>) -> Action {
    let extra = ctx.backoff.failed(&backoff_key(&att));
    debug!(name = %att.name_any(), error = %err, "reconcile failed");
    Action::requeue((err.requeue_after() + extra).min(ctx.config.max_retry_delay))
}

fn backoff_key(att: &EniAttachment) -> String {
    att.uid().unwrap_or_else(|| att.name_any())
}

/// How a reconcile ended without a Kubernetes or lookup error.
enum Ended {
    Done(Next),
    /// An EC2 call failed; its recovery is stored.
    Failed {
        class: ErrorClass,
        after: Duration,
    },
}

async fn drive(ctx: &Context, mut att: EniAttachment) -> Result<Ended, Error> {
    ensure_finalizer(ctx, &mut att).await?;
    let mut seen = observe(ctx, &att).await?;
    for _ in 0..MAX_STEPS {
        let action = match next_step(&att, &seen, ctx.now(), &ctx.config.lifecycle) {
            Step::Persist { status, then } => {
                let refused = adoption_refused(ctx, &att, &seen, then.as_ref());
                persist(ctx, &mut att, &status).await?;
                if let Some(note) = refused {
                    let object = att.object_ref(&());
                    ctx.events
                        .warning(&object, reason::ADOPTION_REFUSED, "Adopt", note)
                        .await;
                }
                match then {
                    Some(a) => a,
                    None => continue,
                }
            }
            Step::Ec2(a) => a,
            Step::Wait(w) => {
                debug!(name = %att.name_any(), reason = ?w.reason, "waiting");
                return Ok(Ended::Done(Next {
                    requeue_after: w.requeue_after,
                }));
            }
            Step::DropFinalizer => {
                let dropped = drop_finalizer(ctx, &att).await?;
                return Ok(Ended::Done(Next {
                    requeue_after: (!dropped).then_some(Duration::from_millis(200)),
                }));
            }
        };
        if let Some(left) = settling(ctx, &action) {
            debug!(name = %att.name_any(), "waiting for the new ENI's ID to reach EC2's attach API");
            return Ok(Ended::Done(Next {
                requeue_after: Some(left),
            }));
        }
        if let Some(failed) = act(ctx, &mut att, &mut seen, &action).await? {
            return Ok(failed);
        }
    }
    // Still busy: back in the queue at once, behind the others.
    Ok(Ended::Done(Next {
        requeue_after: Some(Duration::ZERO),
    }))
}

/// An attach of an ENI this process created moments ago waits out the new ID's propagation
/// ([`attach_wait`]) instead of being refused as not found. `Some`: how much longer.
fn settling(ctx: &Context, action: &Ec2Action) -> Option<Duration> {
    let Ec2Action::Attach(req) = action else {
        return None;
    };
    let created = ctx.enis.created_at(&req.network_interface_id);
    attach_wait(created, ctx.now(), &ctx.config.lifecycle)
}

/// Why the Go controller's ENI named on `att` is not adopted, when the state machine creates
/// one instead.
fn adoption_refused(
    ctx: &Context,
    att: &EniAttachment,
    seen: &Observed,
    then: Option<&Ec2Action>,
) -> Option<String> {
    let id = adoption_candidate(att)?;
    if !matches!(then, Some(Ec2Action::Create(_))) {
        return None;
    }
    match verdict(
        att,
        id,
        seen.adoptable.as_ref(),
        &ctx.config.lifecycle.cluster,
    ) {
        Verdict::Refuse(why) => Some(why),
        Verdict::Adopt => None,
    }
}

/// Makes one call and folds its result in; `Some` when it failed and the reconcile should stop.
async fn act(
    ctx: &Context,
    att: &mut EniAttachment,
    seen: &mut Observed,
    action: &Ec2Action,
) -> Result<Option<Ended>, Error> {
    match execute(ctx, action).await {
        Ok(outcome) => {
            call_event(ctx, att, action, &outcome).await;
            seen.fold(action, outcome);
            if let Ec2Action::Tag {
                network_interface_id,
                ..
            } = action
                && let Some(eni) = seen
                    .adoptable
                    .as_ref()
                    .filter(|e| &e.id == network_interface_id)
            {
                // Adopted and tagged: ours now, so the index (and the next reconcile) knows it.
                ctx.enis.upsert(eni.clone());
            }
            Ok(None)
        }
        Err(err) => recover(ctx, att, action, &err).await,
    }
}

/// Stores what a failure changes; `None` when the change (another index, a new token) can be
/// tried at once, in this reconcile.
async fn recover(
    ctx: &Context,
    att: &mut EniAttachment,
    action: &Ec2Action,
    err: &Ec2Error,
) -> Result<Option<Ended>, Error> {
    info!(name = %att.name_any(), error = %err, "EC2 call failed");
    let r = on_error(att, action, err, ctx.now());
    let adjusted = r.status.is_some();
    if let Some(status) = r.status {
        persist(ctx, att, &status).await?;
    }
    if adjusted && r.requeue_after.is_zero() && r.class == ErrorClass::Conflict {
        return Ok(None);
    }
    Ok(Some(Ended::Failed {
        class: r.class,
        after: r.requeue_after,
    }))
}

/// Writes `status` (only what changed, resourceVersion-guarded) and takes the stored object as
/// the new local copy; then tells people about the transition.
async fn persist(
    ctx: &Context,
    att: &mut EniAttachment,
    status: &EniAttachmentStatus,
) -> Result<(), Error> {
    let rv = att.resource_version();
    let Some(patch) = status_patch(att.status.as_ref(), status, rv.as_deref()) else {
        return Ok(());
    };
    let before = att.status.clone().unwrap_or_default();
    let api: Api<EniAttachment> = Api::all(ctx.client.clone());
    *att = api
        .patch_status(
            &att.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    transition_event(ctx, att, &before).await;
    Ok(())
}

/// Adds our finalizer to a live object that lacks it, before anything exists in EC2. A merge
/// patch of the whole list, guarded by the resourceVersion read (409 when stale).
async fn ensure_finalizer(ctx: &Context, att: &mut EniAttachment) -> Result<(), Error> {
    let has = att.finalizers().iter().any(|f| f == FINALIZER_ENI_CLEANUP);
    if has || att.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let mut finalizers = att.finalizers().to_vec();
    finalizers.push(FINALIZER_ENI_CLEANUP.to_owned());
    let patch = json!({
        "metadata": { "resourceVersion": att.resource_version(), "finalizers": finalizers },
    });
    let api: Api<EniAttachment> = Api::all(ctx.client.clone());
    *att = api
        .patch(
            &att.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// Removes our finalizer, guarded by a `test` of the list as read, so a status write by the agent
/// in between does not fail it but a change of the list does. `false`: the list changed (422);
/// read again.
async fn drop_finalizer(ctx: &Context, att: &EniAttachment) -> Result<bool, Error> {
    let current = att.finalizers().to_vec();
    if !current.iter().any(|f| f == FINALIZER_ENI_CLEANUP) {
        return Ok(true);
    }
    let rest: Vec<&String> = current
        .iter()
        .filter(|f| *f != FINALIZER_ENI_CLEANUP)
        .collect();
    let ops = json!([
        { "op": "test", "path": "/metadata/finalizers", "value": current },
        { "op": "replace", "path": "/metadata/finalizers", "value": rest },
    ]);
    match json_patch(ctx, att, ops).await {
        Ok(_) => {}
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 422 => return Ok(false),
        // Already gone: someone else removed the last finalizer.
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => return Ok(true),
        Err(e) => return Err(e),
    }
    info!(name = %att.name_any(), "ENI cleaned up; finalizer removed");
    Ok(true)
}

async fn json_patch(
    ctx: &Context,
    att: &EniAttachment,
    ops: serde_json::Value,
) -> Result<EniAttachment, Error> {
    let patch: json_patch::Patch = serde_json::from_value(ops)
        .map_err(|e| Error::Malformed(format!("building a JSON patch: {e}")))?;
    let api: Api<EniAttachment> = Api::all(ctx.client.clone());
    Ok(api
        .patch(
            &att.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await?)
}

/// Events for the calls a person wants to see in `kubectl describe`.
async fn call_event(ctx: &Context, att: &EniAttachment, action: &Ec2Action, out: &Ec2Outcome) {
    let op = action.op().action();
    let note = match (action, out) {
        (Ec2Action::Create(req), Ec2Outcome::Created(eni)) => {
            format!("created ENI {} in {}", eni.id, req.subnet_id)
        }
        (
            Ec2Action::Detach {
                network_interface_id,
                request,
            },
            _,
        ) => {
            let how = if request.force {
                "forced detach"
            } else {
                "detach"
            };
            format!("{how} of ENI {network_interface_id} requested")
        }
        (
            Ec2Action::Delete {
                network_interface_id,
            },
            _,
        ) => {
            format!("deleted ENI {network_interface_id}")
        }
        (
            Ec2Action::Tag {
                network_interface_id,
                ..
            },
            _,
        ) => format!(
            "adopted ENI {network_interface_id} from the Go controller: it now carries our tags"
        ),
        _ => return,
    };
    let reason = match action {
        Ec2Action::Create(_) => "Created",
        Ec2Action::Detach { .. } => "Detached",
        Ec2Action::Tag { .. } => reason::ADOPTED,
        _ => "Deleted",
    };
    ctx.events
        .normal(&att.object_ref(&()), reason, op, note)
        .await;
}

/// Events and latency metrics for a stored status change.
async fn transition_event(ctx: &Context, att: &EniAttachment, before: &EniAttachmentStatus) {
    let Some(after) = att.status.as_ref() else {
        return;
    };
    let object = att.object_ref(&());
    let phase = after.phase.unwrap_or_default();
    let was = before.phase.unwrap_or_default();
    let ready = find(&after.conditions, condition::READY);
    let reason_was = find(&before.conditions, condition::READY).map(|c| c.reason.clone());
    if phase != was {
        let age = age_seconds(att, ctx.now());
        match phase {
            Phase::Attached if was != Phase::Ready => {
                ctx.metrics.attach_seconds.observe(age);
                let note = format!(
                    "ENI {} attached to {} at device index {}",
                    after.eni_id.as_deref().unwrap_or("?"),
                    att.spec.instance_id,
                    after.device_index.unwrap_or(att.spec.device_index)
                );
                ctx.events.normal(&object, "Attached", "Attach", note).await;
            }
            Phase::Ready => ctx.metrics.ready_seconds.observe(age),
            _ => {}
        }
    }
    let Some(c) = ready else { return };
    let problem = c.status == "False" && c.reason != reason::RECONCILING;
    if problem && reason_was.as_deref() != Some(c.reason.as_str()) {
        ctx.events
            .warning(&object, &c.reason, "Reconcile", c.message.clone())
            .await;
    }
}

fn age_seconds(att: &EniAttachment, now: Timestamp) -> f64 {
    let created = att.meta().creation_timestamp.as_ref().map_or(now, |t| t.0);
    let ms = now
        .as_millisecond()
        .saturating_sub(created.as_millisecond());
    // Milliseconds to seconds; precision far beyond what a histogram bucket needs.
    #[allow(clippy::cast_precision_loss)]
    let secs = ms.max(0) as f64 / 1000.0;
    secs
}
