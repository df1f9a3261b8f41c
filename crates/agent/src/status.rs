//! The agent-owned part of the ENIAttachment status, `status.interface`, and the Events that go
//! with its transitions.
//!
//! Writes are JSON merge patches on the `/status` subresource containing only
//! `{"status":{"interface":{…}}}`: the controller's fields are never in the request, so they can
//! never be overwritten, and no resourceVersion is needed because nobody else writes
//! `status.interface`. Fields that disappear are sent as `null` (merge-patch deletion). A write
//! happens only when something other than `lastUpdated` changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource};
use multi_eni_api::conditions::{self, set_condition};
use multi_eni_api::keys::{condition, reason};
use multi_eni_api::{EniAttachment, InterfaceStatus, status_patch};
use serde_json::{Value, json};

use crate::plan::{Outcome, Report};

/// The InterfaceReady condition for an outcome: (status, reason, message).
pub fn condition_for(report: &Report) -> (bool, &'static str, String) {
    let o = &report.observed;
    let name = o.interface_name.as_deref().unwrap_or("the interface");
    match &report.outcome {
        Outcome::Configured => (
            true,
            reason::INTERFACE_CONFIGURED,
            format!(
                "{name} (ifindex {}) is up with MTU {}",
                o.if_index.unwrap_or_default(),
                o.mtu.unwrap_or_default()
            ),
        ),
        Outcome::DpdkBound => (
            true,
            reason::DPDK_BOUND,
            format!(
                "{} is bound to {} (kernel driver before: {})",
                o.pci.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                o.dpdk_driver.as_deref().unwrap_or("?"),
                o.original_driver.as_deref().unwrap_or("none")
            ),
        ),
        Outcome::InProgress => (false, reason::RECONCILING, format!("configuring {name}")),
        Outcome::NotFound(msg) => (false, reason::INTERFACE_NOT_FOUND, msg.clone()),
        Outcome::Failed { reason, message } => (false, reason, message.clone()),
        Outcome::Releasing => (
            false,
            reason::RECONCILING,
            "releasing the interface for detachment".into(),
        ),
        Outcome::Released => (
            false,
            reason::RELEASED,
            "released for detachment: DPDK driver restored, SR-IOV entries dropped, link down"
                .into(),
        ),
    }
}

/// The new `status.interface` for `report`, or `None` when it would not change anything but
/// `lastUpdated`. Pure (the caller passes the time).
pub fn next_interface(
    prev: Option<&InterfaceStatus>,
    report: &Report,
    generation: Option<i64>,
    now: Time,
) -> Option<InterfaceStatus> {
    let o = &report.observed;
    let prev_conditions = prev.map(|p| p.conditions.clone()).unwrap_or_default();
    let mut next = InterfaceStatus {
        interface_name: o.interface_name.clone(),
        if_index: o.if_index,
        mtu: o.mtu.and_then(|m| i32::try_from(m).ok()),
        up: o.up,
        dpdk_bound: o.dpdk_bound,
        dpdk_driver: o.dpdk_driver.clone(),
        pci_address: o.pci.as_ref().map(|p| p.to_string()),
        original_driver: o.original_driver.clone(),
        sriov_resource_name: o.sriov_resource.clone(),
        released: report.outcome == Outcome::Released,
        observed_generation: generation,
        last_updated: prev.and_then(|p| p.last_updated.clone()),
        conditions: prev_conditions,
    };
    let (status, reason, message) = condition_for(report);
    set_condition(
        &mut next.conditions,
        condition::INTERFACE_READY,
        status,
        reason,
        &message,
        generation,
        now.clone(),
    );
    if prev == Some(&next) {
        return None;
    }
    next.last_updated = Some(now);
    Some(next)
}

/// The merge patch that makes `status.interface` equal `next`, given what is there now: only
/// what changed, dropped fields as `null` (the controller's fields are never in it).
pub fn merge_patch(prev: Option<&InterfaceStatus>, next: &InterfaceStatus) -> Value {
    let prev = prev
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or_else(|| json!({}));
    let new = serde_json::to_value(next).unwrap_or_else(|_| json!({}));
    let diff = status_patch::merge_diff(&prev, &new).unwrap_or_else(|| json!({}));
    json!({ "status": { "interface": diff } })
}

/// The reason of the InterfaceReady condition in `s`, if any.
pub fn ready_reason(s: Option<&InterfaceStatus>) -> Option<&str> {
    s.and_then(|s| conditions::find(&s.conditions, condition::INTERFACE_READY))
        .map(|c| c.reason.as_str())
}

/// Writes statuses and publishes Events through the Kubernetes API.
#[derive(Clone)]
pub struct Reporter {
    api: Api<EniAttachment>,
    recorder: Recorder,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter").finish_non_exhaustive()
    }
}

impl Reporter {
    /// Reports as `multi-eni-agent` on `node`.
    pub fn new(client: Client, node: &str) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "multi-eni-agent".into(),
                instance: Some(node.to_owned()),
            },
        );
        Reporter {
            api: Api::all(client),
            recorder,
        }
    }

    /// Patches `status.interface` of `att` with `patch` (from [`merge_patch`]).
    pub async fn write(&self, att: &EniAttachment, patch: &Value) -> Result<(), kube::Error> {
        let name = att.metadata.name.as_deref().unwrap_or_default();
        self.api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(drop)
    }

    /// Publishes an Event about `att`. Failures are logged, not returned: an Event is a
    /// courtesy, the status is the record.
    pub async fn event(&self, att: &EniAttachment, warning: bool, reason: &str, note: String) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(note),
            action: "ConfigureInterface".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &att.object_ref(&())).await {
            tracing::warn!(error = %e, attachment = ?att.metadata.name, "publishing an event failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Observed;
    use k8s_openapi::jiff::Timestamp;

    fn at(s: i64) -> Time {
        Time(Timestamp::from_second(s).expect("valid"))
    }

    fn report(outcome: Outcome) -> Report {
        Report {
            uid: "u".into(),
            outcome,
            observed: Observed {
                interface_name: Some("ens6".into()),
                if_index: Some(7),
                mtu: Some(9001),
                up: true,
                ..Observed::default()
            },
        }
    }

    #[test]
    fn unchanged_report_needs_no_write_and_time_moves_only_on_change() {
        let first = next_interface(None, &report(Outcome::Configured), Some(1), at(10))
            .expect("first write");
        assert_eq!(first.last_updated, Some(at(10)));
        assert_eq!(first.mtu, Some(9001));
        assert!(
            next_interface(Some(&first), &report(Outcome::Configured), Some(1), at(20)).is_none()
        );
        let released = next_interface(Some(&first), &report(Outcome::Released), Some(1), at(30))
            .expect("changed");
        assert!(released.released);
        assert_eq!(released.last_updated, Some(at(30)));
        assert_eq!(ready_reason(Some(&released)), Some(reason::RELEASED));
    }

    #[test]
    fn merge_patch_touches_only_status_interface_and_nulls_dropped_fields() {
        let prev =
            next_interface(None, &report(Outcome::Configured), Some(1), at(10)).expect("write");
        let mut gone = report(Outcome::DpdkBound);
        gone.observed = Observed {
            dpdk_bound: true,
            dpdk_driver: Some("vfio-pci".into()),
            ..Observed::default()
        };
        let next = next_interface(Some(&prev), &gone, Some(2), at(20)).expect("changed");
        let patch = merge_patch(Some(&prev), &next);
        let obj = patch.as_object().expect("object");
        assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["status"]);
        let status = patch["status"].as_object().expect("status");
        assert_eq!(status.keys().collect::<Vec<_>>(), vec!["interface"]);
        assert_eq!(patch["status"]["interface"]["interfaceName"], Value::Null);
        assert!(
            patch["status"]["interface"]
                .as_object()
                .expect("interface")
                .contains_key("interfaceName")
        );
        assert_eq!(patch["status"]["interface"]["dpdkBound"], true);
    }
}
