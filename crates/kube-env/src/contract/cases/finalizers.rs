//! Finalizers and deletion timestamps, and a kube-rs `Controller` using the `finalizer` helper.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::contract::fixture::next_event;
use crate::contract::{Case, Cluster, Widget, code};

fn finalizers(list: &[&str]) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {"finalizers": list}}))
}

/// Deleting an object with finalizers sets `deletionTimestamp` and keeps it; it goes (one
/// `DELETED` event) when the last finalizer is removed.
pub async fn finalizers_hold_deletion_until_the_last_is_removed(c: &impl Cluster) {
    let k = Case::new(c, "fin-hold").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    let mut w = k.widget("w", 1);
    w.metadata.finalizers = Some(vec!["a.test/one".into(), "a.test/two".into()]);
    let created = widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    let wp = WatchParams::default()
        .labels(&k.selector())
        .timeout(30)
        .disable_bookmarks();
    let from = created.resource_version().expect("rv");
    let mut s = widgets.watch(&wp, &from).await.expect("watch").boxed();

    widgets
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let held = widgets.get(&name).await.expect("still there");
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "deletionTimestamp set"
    );
    let pp = PatchParams::default();
    widgets
        .patch(&name, &pp, &finalizers(&["a.test/two"]))
        .await
        .expect("remove one");
    assert!(
        widgets.get_opt(&name).await.expect("get").is_some(),
        "one left"
    );
    widgets
        .patch(&name, &pp, &finalizers(&[]))
        .await
        .expect("remove the last");
    assert!(widgets.get_opt(&name).await.expect("get").is_none(), "gone");

    let mut types = vec![];
    for n in 0..3 {
        types.push(match next_event(&mut s, &format!("event {n}")).await {
            kube::api::WatchEvent::Modified(w) => {
                assert!(w.metadata.deletion_timestamp.is_some());
                "MODIFIED"
            }
            kube::api::WatchEvent::Deleted(_) => "DELETED",
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(types, ["MODIFIED", "MODIFIED", "DELETED"]);
}

/// While an object is being deleted no finalizer may be added (422).
pub async fn no_new_finalizers_while_deleting(c: &impl Cluster) {
    let k = Case::new(c, "fin-new").await;
    let widgets = k.widgets().await;
    let name = k.name("w");
    let mut w = k.widget("w", 1);
    w.metadata.finalizers = Some(vec!["a.test/one".into()]);
    widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    widgets
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let pp = PatchParams::default();
    let e = widgets
        .patch(&name, &pp, &finalizers(&["a.test/one", "a.test/late"]))
        .await
        .expect_err("no new finalizers");
    assert_eq!(code(&e), 422);
    widgets
        .patch(&name, &pp, &finalizers(&[]))
        .await
        .expect("release");
}

const FINALIZER: &str = "contract.multi-eni.test/cleanup";

struct Ctx {
    client: Client,
    cleaned: Mutex<Vec<String>>,
}

async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, finalizer::Error<kube::Error>> {
    let api: Api<Widget> = Api::namespaced(ctx.client.clone(), &w.namespace().unwrap_or_default());
    let status_api = api.clone();
    finalizer(&api, FINALIZER, w, |event| async move {
        match event {
            FinalizerEvent::Apply(w) => {
                let status = json!({"status": {"observed": w.spec.size, "observedGeneration": w.metadata.generation}});
                status_api
                    .patch_status(&w.name_any(), &PatchParams::default(), &Patch::Merge(status))
                    .await?;
                Ok(Action::await_change())
            }
            FinalizerEvent::Cleanup(w) => {
                ctx.cleaned.lock().expect("lock").push(w.name_any());
                Ok(Action::await_change())
            }
        }
    })
    .await
}

fn error_policy(_: Arc<Widget>, _: &finalizer::Error<kube::Error>, _: Arc<Ctx>) -> Action {
    Action::requeue(std::time::Duration::from_millis(100))
}

/// A kube-rs `Controller` with the `finalizer` helper adds its finalizer, writes status,
/// follows a spec change (generation) and runs cleanup exactly once on delete.
pub async fn kube_rs_controller_with_finalizer_writes_status_and_cleans_up(c: &impl Cluster) {
    let k = Case::new(c, "fin-ctl").await;
    let widgets = k.widgets().await;
    let name = k.name("a");
    let ctx = Arc::new(Ctx {
        client: k.client.clone(),
        cleaned: Mutex::new(vec![]),
    });
    let cfg = watcher::Config::default().labels(&k.selector());
    let run = Controller::new(widgets.clone(), cfg)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let task = tokio::spawn(run);
    widgets
        .create(&PostParams::default(), &k.widget("a", 2))
        .await
        .expect("create");
    let observed = |want: i32| {
        let (widgets, name) = (widgets.clone(), name.clone());
        move || {
            let (widgets, name) = (widgets.clone(), name.clone());
            async move {
                let w = widgets.get(&name).await.map_err(|e| e.to_string())?;
                let seen = w.status.as_ref().and_then(|s| s.observed);
                if seen == Some(want) {
                    Ok(w)
                } else {
                    Err(format!("observed {seen:?}"))
                }
            }
        }
    };
    let w = k.wait("status.observed = 2", observed(2)).await;
    assert_eq!(w.finalizers(), [FINALIZER.to_string()]);
    assert_eq!(
        w.status.as_ref().and_then(|s| s.observed_generation),
        Some(1)
    );
    widgets
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .expect("spec change");
    let w = k.wait("status follows spec", observed(5)).await;
    assert_eq!(
        w.status.as_ref().and_then(|s| s.observed_generation),
        Some(2)
    );
    widgets
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    k.wait("widget removed after cleanup", || {
        let (widgets, name) = (widgets.clone(), name.clone());
        async move {
            match widgets.get_opt(&name).await {
                Ok(None) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert_eq!(
        *ctx.cleaned.lock().expect("lock"),
        vec![name.clone()],
        "cleanup ran once"
    );
    task.abort();
}
