//! The NodeENI reconciler: gathers the facts [`plan::plan`] needs (nodes from the watch cache,
//! their instances in one batched describe, subnets and security groups through the cached
//! lookups, this NodeENI's ENIAttachments), carries the plan out as ENIAttachment creates,
//! spec patches and deletes, and records the outcome as status and Events. The EC2 work is the
//! ENIAttachments' own reconciler's; nothing here calls a mutating EC2 API.
//!
//! Every write is guarded or idempotent, so a stale cache costs a retry, never a wrong write:
//! names are deterministic (a create that finds its object is done), spec and finalizer patches
//! carry the `resourceVersion` they were decided on, deletes carry the UID. Nothing is written
//! when nothing changed: an unchanged fleet costs no API write at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use multi_eni_api::conditions::find;
use multi_eni_api::keys::{self, FINALIZER_NODEENI, condition};
use multi_eni_api::naming::label_value;
use multi_eni_api::node_eni::SecurityGroupRef;
use multi_eni_api::status_patch::{merge_diff, node_eni_status_patch, patch_status_metadata};
use multi_eni_api::{EniAttachment, EniAttachmentSpec, NodeEni, NodeEniStatus, SubnetRef};
use multi_eni_ec2::{Instance, InstanceTypeLimits, LookupError};
use serde_json::json;
use tracing::{debug, info, warn};

use super::context::Context;
use super::error::Error;
use super::vpc::VpcCache;
use crate::plan::ErrorClass;
use crate::plan::{
    self, FinalizerStep, FleetInput, GroupLookup, InstanceFacts, InstanceLookup, NodeFacts, Plan,
    Problem, ProblemKey, Severity, SubnetLookup,
};

/// The `kind` label of this reconciler's metrics.
const KIND: &str = "NodeENI";

/// The Events' `action`.
const EVENT_ACTION: &str = "Reconcile";

/// How soon to look again while a fact is missing (an instance or instance type not described
/// yet, EC2 busy) or a deleted NodeENI's ENIAttachments are still going. The watches usually
/// bring the change first; this is the floor.
const SOON: Duration = Duration::from_secs(10);

/// How soon a deleted NodeENI looks again at its ENIAttachments. The wake-up for an
/// attachment's deletion comes from the controller's own watch, which may run ahead of the cache
/// the reconcile reads (`Context::stores`); then only this recheck sees it gone. It reads the
/// cache only, so the state machine's poll interval costs nothing (the chaos campaign measured
/// ~10 s finalizer waits with [`SOON`] here: docs/reliability.md).
fn deletion_recheck(ctx: &Context) -> Duration {
    ctx.config.lifecycle.poll.min(SOON)
}

/// What the NodeENI reconciler remembers between reconciles (it lives in the [`Context`]).
#[derive(Debug, Default)]
pub struct FleetMemory {
    /// The VPC names are resolved in.
    pub vpc: VpcCache,
    /// The problems last published as Events, by NodeENI UID.
    published: Mutex<HashMap<String, BTreeSet<ProblemKey>>>,
}

impl FleetMemory {
    fn published(&self, uid: &str) -> Option<BTreeSet<ProblemKey>> {
        self.lock().get(uid).cloned()
    }

    fn remember(&self, uid: &str, keys: BTreeSet<ProblemKey>) {
        self.lock().insert(uid.to_owned(), keys);
    }

    fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BTreeSet<ProblemKey>>> {
        self.published.lock()
    }
}

/// Brings one NodeENI's ENIAttachments, finalizers and status in line with its spec.
pub async fn reconcile(ne: Arc<NodeEni>, ctx: Arc<Context>) -> Result<Action, Error> {
    let result = reconcile_one(&ne, &ctx).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.class().as_str(),
    };
    ctx.metrics.reconciled(KIND, outcome);
    result
}

/// After a failed reconcile: look again once the error's class says it may have passed (the
/// controller adds its per-key backoff).
pub fn error_policy(ne: Arc<NodeEni>, err: &Error, ctx: Arc<Context>) -> Action {
    if err.class() == ErrorClass::Conflict {
        // Written from a cache a moment stale: the watch brings the new version, then redo.
        debug!(nodeeni = %ne.name_any(), error = %err, "NodeENI changed meanwhile; redoing");
    } else {
        warn!(nodeeni = %ne.name_any(), error = %err, "NodeENI reconcile failed");
    }
    Action::requeue(err.requeue_after().min(ctx.config.max_retry_delay))
}

async fn reconcile_one(ne: &NodeEni, ctx: &Context) -> Result<Action, Error> {
    let name = ne
        .meta()
        .name
        .clone()
        .ok_or_else(|| Error::Malformed("a NodeENI without a name".into()))?;
    let uid = ne
        .uid()
        .ok_or_else(|| Error::Malformed(format!("NodeENI {name} has no UID")))?;
    let existing = attachments_of(ctx, &name);
    let deleting = ne.metadata.deletion_timestamp.is_some();
    let mut current = None;
    match plan::finalizer_step(ne, &existing) {
        FinalizerStep::Add => {
            let mut finalizers = ne.finalizers().to_vec();
            finalizers.push(FINALIZER_NODEENI.to_owned());
            current = Some(set_finalizers(ctx, ne, finalizers).await?);
        }
        FinalizerStep::DeleteAttachments(names) => {
            info!(nodeeni = %name, count = names.len(), "NodeENI deleted: deleting its ENIAttachments");
            delete_attachments(ctx, &existing, &names).await?;
            return Ok(Action::requeue(deletion_recheck(ctx)));
        }
        FinalizerStep::WaitForAttachments { remaining } => {
            debug!(nodeeni = %name, remaining, "waiting for ENIAttachments to go");
            return Ok(Action::requeue(deletion_recheck(ctx)));
        }
        FinalizerStep::Remove(ours) => {
            let rest: Vec<String> = ne
                .finalizers()
                .iter()
                .filter(|f| !ours.contains(&f.as_str()))
                .cloned()
                .collect();
            set_finalizers(ctx, ne, rest).await?;
            ctx.fleet.forget(&uid);
            return Ok(Action::await_change());
        }
        FinalizerStep::Nothing if deleting => return Ok(Action::await_change()),
        FinalizerStep::Nothing => {}
    }
    let ne = current.as_ref().unwrap_or(ne);
    let facts = gather(ctx, ne).await?;
    let plan = plan::plan(&facts.input(ne, &existing));
    apply(ctx, &plan, &existing).await?;
    let status = plan::node_eni_status(ne, &plan, &existing, ctx.now());
    write_status(ctx, ne, &status).await?;
    publish(ctx, ne, &uid, &plan.problems).await;
    let held = plan
        .problems
        .iter()
        .any(|p| p.severity == Severity::Progressing);
    Ok(Action::requeue(if held {
        // Never later than the look a converged NodeENI gets.
        SOON.min(ctx.config.resync_period)
    } else {
        ctx.config.resync_period
    }))
}

/// This NodeENI's ENIAttachments, from the watch cache, by label (and spec, which a
/// hash-shortened label value cannot confuse).
/// Shared with the cache, not copied: a fleet of thousands is read without a copy of it.
fn attachments_of(ctx: &Context, name: &str) -> Vec<Arc<EniAttachment>> {
    let label = label_value(name);
    ctx.stores
        .attachments
        .state()
        .into_iter()
        .filter(|a| a.labels().get(keys::LABEL_NODEENI) == Some(&label) && a.spec.node_eni == name)
        .collect()
}

/// Replaces the NodeENI's finalizers, guarded by the resourceVersion they were read at.
async fn set_finalizers(
    ctx: &Context,
    ne: &NodeEni,
    finalizers: Vec<String>,
) -> Result<NodeEni, Error> {
    let api: Api<NodeEni> = Api::all(ctx.client.clone());
    let patch = json!({
        "metadata": {"resourceVersion": ne.resource_version(), "finalizers": finalizers}
    });
    Ok(api
        .patch(
            &ne.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
}

/// Everything the plan looks at, gathered.
struct Facts {
    nodes: Vec<NodeFacts>,
    instances: BTreeMap<String, InstanceLookup>,
    subnets: Vec<SubnetLookup>,
    groups: Vec<GroupLookup>,
}

impl Facts {
    fn input<'a>(&'a self, ne: &'a NodeEni, existing: &'a [Arc<EniAttachment>]) -> FleetInput<'a> {
        FleetInput {
            node_eni: ne,
            nodes: &self.nodes,
            subnets: &self.subnets,
            security_groups: &self.groups,
            instances: &self.instances,
            existing,
        }
    }
}

async fn gather(ctx: &Context, ne: &NodeEni) -> Result<Facts, Error> {
    let nodes: Vec<NodeFacts> = ctx
        .stores
        .nodes
        .state()
        .iter()
        .map(|n| NodeFacts::from_node(n))
        .collect();
    let ids: BTreeSet<String> = nodes
        .iter()
        .filter(|n| ne.spec.selects(&n.labels))
        .filter_map(|n| n.instance_id().map(str::to_owned))
        .collect();
    let ids: Vec<String> = ids.into_iter().collect();
    let seen = ctx.instances.get(&ids).await?;
    let vpc = ctx
        .fleet
        .vpc
        .resolve(ctx.config.vpc_id.as_deref(), seen.values().flatten());
    let subnets = subnet_lookups(ctx, vpc.as_deref(), ne.spec.subnet_refs()).await;
    let groups = group_lookups(ctx, vpc.as_deref(), ne.spec.security_group_refs()).await;
    Ok(Facts {
        instances: instance_lookups(ctx, seen).await,
        nodes,
        subnets,
        groups,
    })
}

/// What EC2 said about each instance, with its type's interface limits (`None` when they could
/// not be described: the plan then holds the node).
async fn instance_lookups(
    ctx: &Context,
    seen: BTreeMap<String, Option<Instance>>,
) -> BTreeMap<String, InstanceLookup> {
    let mut limits: BTreeMap<String, Option<InstanceTypeLimits>> = BTreeMap::new();
    for i in seen.values().flatten() {
        if limits.contains_key(&i.instance_type) {
            continue;
        }
        let found = match ctx.lookups.instance_type_limits(&i.instance_type).await {
            Ok(l) => Some(l),
            Err(e) => {
                warn!(instance_type = %i.instance_type, error = %e, "no interface limits");
                None
            }
        };
        limits.insert(i.instance_type.clone(), found);
    }
    seen.into_iter()
        .map(|(id, i)| {
            let lookup = match i {
                None => InstanceLookup::NotFound,
                Some(i) => InstanceLookup::Found(InstanceFacts {
                    limits: limits.get(&i.instance_type).cloned().flatten(),
                    availability_zone: i.availability_zone,
                    instance_type: i.instance_type,
                    state: i.state,
                }),
            };
            (id, lookup)
        })
        .collect()
}

/// A name cannot be looked up before the VPC is known.
fn vpc_unknown(what: &'static str, name: &str) -> LookupError {
    LookupError::NotFound {
        what,
        key: format!(
            "named {name:?} (the VPC to look in is not known yet: set the controller's VPC ID, or \
             it is learnt from a selected node's instance)"
        ),
    }
}

/// One lookup per reference, in spec order. The IDs are fetched first in one request, so the
/// single lookups after it are cache hits (an unknown ID fails only its own lookup).
async fn subnet_lookups(
    ctx: &Context,
    vpc: Option<&str>,
    refs: Vec<SubnetRef>,
) -> Vec<SubnetLookup> {
    let ids: Vec<String> = refs
        .iter()
        .filter_map(|r| match r {
            SubnetRef::Id(id) => Some(id.clone()),
            SubnetRef::Name(_) => None,
        })
        .collect();
    if ids.len() > 1 {
        // Only warms the cache: each reference's own result comes below.
        let _ = ctx.lookups.subnets(&ids).await;
    }
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let result = match (&r, vpc) {
            (SubnetRef::Id(id), _) => ctx.lookups.subnet(id).await,
            (SubnetRef::Name(name), Some(vpc)) => ctx.lookups.subnet_by_name(vpc, name).await,
            (SubnetRef::Name(name), None) => Err(vpc_unknown("subnet", name)),
        };
        out.push((r, result));
    }
    out
}

/// [`subnet_lookups`] for security groups.
async fn group_lookups(
    ctx: &Context,
    vpc: Option<&str>,
    refs: Vec<SecurityGroupRef>,
) -> Vec<GroupLookup> {
    let ids: Vec<String> = refs
        .iter()
        .filter_map(|r| match r {
            SecurityGroupRef::Id(id) => Some(id.clone()),
            SecurityGroupRef::Name(_) => None,
        })
        .collect();
    if ids.len() > 1 {
        // Only warms the cache: each reference's own result comes below.
        let _ = ctx.lookups.security_groups(&ids).await;
    }
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let result = match (&r, vpc) {
            (SecurityGroupRef::Id(id), _) => ctx.lookups.security_group(id).await,
            (SecurityGroupRef::Name(name), Some(vpc)) => {
                ctx.lookups.security_group_by_name(vpc, name).await
            }
            (SecurityGroupRef::Name(name), None) => Err(vpc_unknown("security group", name)),
        };
        out.push((r, result));
    }
    out
}

/// Carries the plan out: every change is tried (one node's conflict must not stall the others),
/// and the first failure is returned so the whole reconcile is retried.
async fn apply(ctx: &Context, plan: &Plan, existing: &[Arc<EniAttachment>]) -> Result<(), Error> {
    let api: Api<EniAttachment> = Api::all(ctx.client.clone());
    let mut first_err = delete_attachments(ctx, existing, &plan.delete).await.err();
    for (name, spec) in &plan.update {
        let Some(old) = existing.iter().find(|e| e.name_any() == *name) else {
            continue;
        };
        if let Err(e) = update_spec(&api, old, spec).await {
            first_err.get_or_insert(e);
        }
    }
    for a in &plan.create {
        match api.create(&PostParams::default(), a).await {
            Ok(_) => {
                info!(attachment = %a.name_any(), node = %a.spec.node_name, "created ENIAttachment")
            }
            // Deterministic names: it exists, so the create is done (the watch was behind).
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(e) => {
                first_err.get_or_insert(e.into());
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Patches only the spec fields that changed, guarded by the resourceVersion the plan saw.
async fn update_spec(
    api: &Api<EniAttachment>,
    old: &EniAttachment,
    spec: &EniAttachmentSpec,
) -> Result<(), Error> {
    let to_value = |s: &EniAttachmentSpec| {
        serde_json::to_value(s).map_err(|e| Error::Malformed(format!("ENIAttachment spec: {e}")))
    };
    let Some(diff) = merge_diff(&to_value(&old.spec)?, &to_value(spec)?) else {
        return Ok(());
    };
    let patch = json!({"metadata": {"resourceVersion": old.resource_version()}, "spec": diff});
    api.patch(
        &old.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    info!(attachment = %old.name_any(), "updated ENIAttachment spec");
    Ok(())
}

/// Deletes these ENIAttachments (their finalizer then takes the ENI away), each only if it is
/// still the object the decision was made on (UID precondition); one already gone is done.
async fn delete_attachments(
    ctx: &Context,
    existing: &[Arc<EniAttachment>],
    names: &[String],
) -> Result<(), Error> {
    let api: Api<EniAttachment> = Api::all(ctx.client.clone());
    let mut first_err = None;
    for e in existing.iter().filter(|e| names.contains(&e.name_any())) {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: e.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&e.name_any(), &params).await {
            Ok(_) => {
                info!(attachment = %e.name_any(), node = %e.spec.node_name, "deleting ENIAttachment")
            }
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(err) => {
                first_err.get_or_insert(Error::from(err));
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Writes the status when it changed, as a minimal merge patch guarded by the resourceVersion
/// it was computed from.
async fn write_status(ctx: &Context, ne: &NodeEni, status: &NodeEniStatus) -> Result<(), Error> {
    if !plan::status_changed(ne.status.as_ref(), status) {
        return Ok(());
    }
    let rv = ne.resource_version();
    let Some(patch) = node_eni_status_patch(ne.status.as_ref(), status, rv.as_deref()) else {
        return Ok(());
    };
    let api: Api<NodeEni> = Api::all(ctx.client.clone());
    // The answer is the metadata only: the watch brings the whole object to the cache.
    patch_status_metadata(&ctx.client, &api, &ne.name_any(), &patch).await?;
    Ok(())
}

/// Publishes the problems not published before as Events: Warnings for what a person must fix,
/// Normal for the rest, each related to the node it concerns.
async fn publish(ctx: &Context, ne: &NodeEni, uid: &str, problems: &[Problem]) {
    let published = ctx.fleet.published(uid);
    let stored = ne.status.as_ref();
    let degraded = stored.and_then(|s| find(&s.conditions, condition::DEGRADED));
    let fresh = plan::unpublished(problems, published.as_ref(), degraded);
    let object = ne.object_ref(&());
    for n in plan::notices(&fresh) {
        let node = n.node.map(|name| ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(name),
            ..ObjectReference::default()
        });
        ctx.events
            .related(&object, node, n.warning, n.reason, EVENT_ACTION, n.note)
            .await;
    }
    ctx.fleet
        .remember(uid, problems.iter().map(Problem::key).collect());
}
