//! Kubernetes Events for the transitions a person wants to see in `kubectl describe`, with the
//! same reasons as the conditions (`keys::reason`).
//!
//! Warnings go through kube-runtime's [`Recorder`], which folds a repeated one into a series.
//! It does so by remembering every Event it published for six minutes; a rollout of thousands
//! of ENIs publishes a Normal transition or two for each (Created, Attached, …), once per object,
//! which never repeat and would only fill that memory. They are created as they are, unfolded.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

/// Publishes Events as the controller. Failing to publish one is logged, never fatal: an Event is
/// a courtesy, the status is the record.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
    client: kube::Client,
    reporter: Reporter,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// Events reported by `multi-eni-controller` from `instance` (the pod name).
    pub fn new(client: kube::Client, instance: Option<String>) -> Events {
        let reporter = Reporter {
            controller: "multi-eni-controller".into(),
            instance,
        };
        Events {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            client,
            reporter,
        }
    }

    /// A Normal event on `object`: a one-off transition, created unfolded and not remembered.
    pub async fn normal(&self, object: &ObjectReference, reason: &str, action: &str, note: String) {
        let event = unfolded(
            &self.reporter,
            object,
            reason,
            action,
            note,
            Timestamp::now(),
        );
        let namespace = object.namespace.as_deref().unwrap_or("default");
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            warn!(error = %e, reason, "could not publish an Event");
        }
    }

    /// A Warning event on `object`.
    pub async fn warning(
        &self,
        object: &ObjectReference,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish(object, EventType::Warning, reason, action, note)
            .await;
    }

    /// An Event on `object` that concerns `related` too (e.g. the Node a NodeENI's problem is
    /// about). The recorder folds Events with the same type, reason and related object into one
    /// series, so a related object keeps one node's Event apart from another's.
    pub async fn related(
        &self,
        object: &ObjectReference,
        related: Option<ObjectReference>,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let type_ = if warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        self.send(object, related, type_, reason, action, note)
            .await;
    }

    async fn publish(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.send(object, None, type_, reason, action, note).await;
    }

    async fn send(
        &self,
        object: &ObjectReference,
        secondary: Option<ObjectReference>,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary,
        };
        if let Err(e) = self.recorder.publish(&ev, object).await {
            warn!(error = %e, reason, "could not publish an Event");
        }
    }
}

/// A Normal Event as kube-runtime's recorder writes a new one (same name scheme, reporter and
/// fields), without a series.
fn unfolded(
    reporter: &Reporter,
    object: &ObjectReference,
    reason: &str,
    action: &str,
    note: String,
    now: Timestamp,
) -> K8sEvent {
    let name = object.name.as_deref().unwrap_or(&reporter.controller);
    K8sEvent {
        metadata: ObjectMeta {
            namespace: object.namespace.clone(),
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            ..ObjectMeta::default()
        },
        action: Some(action.into()),
        reason: Some(reason.into()),
        note: Some(note),
        event_time: Some(MicroTime(now)),
        regarding: Some(object.clone()),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(
            reporter
                .instance
                .clone()
                .unwrap_or_else(|| reporter.controller.clone()),
        ),
        type_: Some("Normal".into()),
        ..K8sEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normal_event_is_the_recorders_shape_without_a_series() {
        let reporter = Reporter {
            controller: "multi-eni-controller".into(),
            instance: Some("pod-1".into()),
        };
        let object = ObjectReference {
            api_version: Some("networking.k8s.aws/v1alpha1".into()),
            kind: Some("ENIAttachment".into()),
            name: Some("ne-node-1-abc".into()),
            uid: Some("u-1".into()),
            ..ObjectReference::default()
        };
        let now = Timestamp::from_second(1_800_000_000).expect("a valid time");
        let e = unfolded(
            &reporter,
            &object,
            "Attached",
            "Attach",
            "ENI eni-1".into(),
            now,
        );
        assert_eq!(
            e.metadata.name.as_deref(),
            Some(format!("ne-node-1-abc.{:x}", now.as_nanosecond()).as_str())
        );
        assert_eq!(e.metadata.namespace, None);
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(e.reason.as_deref(), Some("Attached"));
        assert_eq!(e.action.as_deref(), Some("Attach"));
        assert_eq!(e.note.as_deref(), Some("ENI eni-1"));
        assert_eq!(e.regarding.as_ref(), Some(&object));
        assert_eq!(
            e.reporting_controller.as_deref(),
            Some("multi-eni-controller")
        );
        assert_eq!(e.reporting_instance.as_deref(), Some("pod-1"));
        assert_eq!(e.series, None);
        assert_eq!(e.event_time, Some(MicroTime(now)));
    }
}
