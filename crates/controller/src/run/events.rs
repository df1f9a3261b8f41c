//! Kubernetes Events for the transitions a person wants to see in `kubectl describe`, with the
//! same reasons as the conditions (`keys::reason`).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

/// Publishes Events as the controller. Failing to publish one is logged, never fatal: an Event is
/// a courtesy, the status is the record.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
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
            recorder: Recorder::new(client, reporter),
        }
    }

    /// A Normal event on `object`.
    pub async fn normal(&self, object: &ObjectReference, reason: &str, action: &str, note: String) {
        self.publish(object, EventType::Normal, reason, action, note)
            .await;
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
