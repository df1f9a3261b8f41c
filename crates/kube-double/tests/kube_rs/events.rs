//! kube-rs's event `Recorder` (events.k8s.io/v1) against the double, and the same Events seen
//! as core/v1 with the field selectors `kubectl describe` uses.

use k8s_openapi::api::core::v1::{Event as CoreEvent, Node};
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::Resource;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::support::{create_named, start};

#[tokio::test]
async fn recorder_events_are_stored_and_visible_as_core_events_with_series() {
    let server = start().await;
    let client = server.client().expect("client");
    let nodes: Api<Node> = Api::all(client.clone());
    let node = create_named(&nodes, "n1").await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "multi-eni-test".into(),
            instance: Some("pod-1".into()),
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "ENIAttached".into(),
        note: Some("eni-123 attached at index 1".into()),
        action: "Attach".into(),
        secondary: None,
    };
    let reference = node.object_ref(&());
    recorder.publish(&ev, &reference).await.expect("publish");
    recorder
        .publish(&ev, &reference)
        .await
        .expect("publish again (series)");

    let v1: Api<EventV1> = Api::namespaced(client.clone(), "default");
    let list = v1.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        list.items.len(),
        1,
        "the repeat became a series, not a second event"
    );
    let e = &list.items[0];
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("n1")
    );
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(e.reporting_controller.as_deref(), Some("multi-eni-test"));

    let core: Api<CoreEvent> = Api::all(client);
    let fields = format!(
        "involvedObject.name=n1,involvedObject.kind=Node,involvedObject.uid={}",
        node.metadata.uid.clone().unwrap_or_default()
    );
    let seen = core
        .list(&ListParams::default().fields(&fields))
        .await
        .expect("list core");
    assert_eq!(seen.items.len(), 1);
    assert_eq!(
        seen.items[0].message.as_deref(),
        Some("eni-123 attached at index 1")
    );
    assert_eq!(seen.items[0].reason.as_deref(), Some("ENIAttached"));
    let none = core
        .list(&ListParams::default().fields("involvedObject.name=other"))
        .await
        .expect("list");
    assert!(none.items.is_empty());
}
