//! Watch streams: newline-delimited `{"type","object"}` events read from a store's history, so
//! every watcher sees every change in resourceVersion order, however many there are. A watcher
//! that falls behind the kept history gets an `ERROR` 410 Expired event, as from kube-apiserver.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, WatchStart};
use crate::resource::ResourceType;
use crate::selector::Filter;
use crate::status::ApiError;
use crate::store::{Change, ChangeKind, Stored, json_bytes, watch_line};
use crate::table::{self, IncludeObject};

/// The connection was cut on purpose (fault hook): the body ends in an error, so hyper resets it.
#[derive(Debug, thiserror::Error)]
#[error("watch connection dropped by fault injection")]
pub struct WatchCut;

#[derive(Debug, Clone)]
pub struct WatchParams {
    pub filter: Filter,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
    /// `Some` for `kubectl get -w`: each event's object is a one-row Table.
    pub table: Option<IncludeObject>,
}

/// Changes handed to a watcher per lock acquisition: big enough to amortise the lock, small
/// enough that writers are not held up by a slow watcher's copying.
const BATCH: usize = 512;

struct Watcher {
    cluster: Arc<Cluster>,
    rt: Arc<ResourceType>,
    params: WatchParams,
    tx: mpsc::Sender<Result<Bytes, WatchCut>>,
    columns_sent: bool,
}

impl Watcher {
    fn object_bytes(&mut self, obj: &Stored) -> Bytes {
        match self.params.table {
            None => self.cluster.present(&self.rt, obj),
            Some(include) => {
                let t = table::single(&self.rt, obj, include, !self.columns_sent);
                self.columns_sent = true;
                json_bytes(&t)
            }
        }
    }

    /// The event this watcher sends for a change, if any: selector transitions become
    /// ADDED/DELETED as in kube-apiserver's filtered watches.
    fn render(&mut self, c: &Change) -> Option<Bytes> {
        let filter_empty = self.params.filter.is_empty();
        let now = filter_empty || self.params.filter.matches(&c.obj.value);
        let before = c
            .prev
            .as_ref()
            .is_some_and(|p| filter_empty || self.params.filter.matches(&p.value));
        let kind = match c.kind {
            ChangeKind::Added if now => ChangeKind::Added,
            ChangeKind::Added => return None,
            ChangeKind::Modified => match (before, now) {
                (true, true) => ChangeKind::Modified,
                (false, true) => ChangeKind::Added,
                (true, false) => ChangeKind::Deleted,
                (false, false) => return None,
            },
            ChangeKind::Deleted if now || before => ChangeKind::Deleted,
            ChangeKind::Deleted => return None,
        };
        let same_version = c
            .obj
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| self.rt.api_version_is(v));
        // The line rendered once at write time fits most watchers as it is.
        if kind == c.kind && same_version && self.params.table.is_none() {
            return Some(c.line.clone());
        }
        let obj = self.object_bytes(&c.obj);
        Some(watch_line(kind.as_str(), &obj))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta});
        watch_line("BOOKMARK", &json_bytes(&obj))
    }

    async fn send(&self, b: Bytes) -> bool {
        self.tx.send(Ok(b)).await.is_ok()
    }

    async fn run(mut self, start: WatchStart, cut: CancellationToken) {
        let WatchStart {
            initial,
            mut cursor,
            store,
            mut notify,
        } = start;
        for obj in &initial {
            let bytes = self.object_bytes(obj);
            if !self.send(watch_line("ADDED", &bytes)).await {
                return;
            }
        }
        if self.params.send_initial_events && self.params.bookmarks {
            let b = self.bookmark(cursor, true);
            if !self.send(b).await {
                return;
            }
        }
        let deadline = Instant::now() + self.params.timeout;
        let mut next_bookmark = Instant::now() + self.params.bookmark_interval;
        loop {
            notify.borrow_and_update();
            let batch = store.lock().changes_after(cursor, BATCH);
            match batch {
                Err(compacted) => {
                    let e = ApiError::expired(format!(
                        "too old resource version: {cursor} ({compacted})"
                    ));
                    let _ = self.send(error_line(&e)).await;
                    return;
                }
                Ok(b) if !b.is_empty() => {
                    for c in &b {
                        if let Some(line) = self.render(c)
                            && !self.send(line).await
                        {
                            return;
                        }
                        cursor = c.rv;
                    }
                    continue;
                }
                Ok(_) => {}
            }
            tokio::select! {
                changed = notify.changed() => {
                    if changed.is_err() {
                        return; // the store is gone (its CRD was deleted)
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tokio::time::sleep_until(next_bookmark), if self.params.bookmarks => {
                    let rv = {
                        let g = store.lock();
                        match g.changes_after(cursor, 1) {
                            Ok(b) if b.is_empty() => Some(self.cluster.current_rv()),
                            _ => None,
                        }
                    };
                    if let Some(rv) = rv {
                        cursor = cursor.max(rv);
                        let b = self.bookmark(cursor, false);
                        if !self.send(b).await {
                            return;
                        }
                    }
                    next_bookmark = Instant::now() + self.params.bookmark_interval;
                }
                _ = cut.cancelled() => {
                    let _ = self.tx.send(Err(WatchCut)).await;
                    return;
                }
                _ = self.tx.closed() => return,
            }
        }
    }
}

pub fn error_line(e: &ApiError) -> Bytes {
    watch_line("ERROR", &json_bytes(&e.to_status()))
}

/// Starts a watcher task; its events arrive on the returned channel.
pub fn spawn(
    cluster: Arc<Cluster>,
    rt: Arc<ResourceType>,
    start: Result<WatchStart, ApiError>,
    params: WatchParams,
    cut: CancellationToken,
) -> mpsc::Receiver<Result<Bytes, WatchCut>> {
    let (tx, rx) = mpsc::channel(64);
    match start {
        Err(e) => {
            tokio::spawn(async move {
                let _ = tx.send(Ok(error_line(&e))).await;
            });
        }
        Ok(start) => {
            let w = Watcher {
                cluster,
                rt,
                params,
                tx,
                columns_sent: false,
            };
            tokio::spawn(w.run(start, cut));
        }
    }
    rx
}
