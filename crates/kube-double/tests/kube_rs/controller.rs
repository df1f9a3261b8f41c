//! A kube-rs `Controller` with a finalizer and status updates runs to completion against the double.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::support::{Widget, eventually, start, widget, widget_api};

const FINALIZER: &str = "example.com/cleanup";

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

#[tokio::test]
async fn controller_adds_finalizer_writes_status_and_cleans_up_on_delete() {
    let server = start().await;
    let widgets = widget_api(&server).await;
    let client = server.client().expect("client");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        cleaned: Mutex::new(vec![]),
    });
    let run = Controller::new(widgets.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let task = tokio::spawn(run);

    widgets
        .create(&PostParams::default(), &widget("a", 2))
        .await
        .expect("create");
    let w = eventually("status.observed = 2", || async {
        let w = widgets.get("a").await.ok()?;
        (w.status.as_ref()?.observed == Some(2)).then_some(w)
    })
    .await;
    assert_eq!(w.finalizers(), [FINALIZER.to_string()]);
    assert_eq!(
        w.status.as_ref().and_then(|s| s.observed_generation),
        Some(1)
    );

    widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .expect("spec change");
    let w = eventually("status follows spec", || async {
        let w = widgets.get("a").await.ok()?;
        (w.status.as_ref()?.observed == Some(5)).then_some(w)
    })
    .await;
    assert_eq!(
        w.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    assert_eq!(
        w.status.as_ref().and_then(|s| s.observed_generation),
        Some(2)
    );

    widgets
        .delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("widget removed after cleanup", || async {
        widgets.get_opt("a").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        *ctx.cleaned.lock().expect("lock"),
        vec!["a".to_string()],
        "cleanup ran exactly once"
    );
    task.abort();
}
