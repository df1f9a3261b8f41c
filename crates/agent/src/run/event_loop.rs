//! Waiting for the next wake-up — a link notification, a watch event, a back-off or retry
//! timer — and keeping the loop's picture of the node current in between.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use multi_eni_api::EniAttachment;
use tokio::time::Instant;

use super::Loop;
use crate::AgentError;
use crate::links::{LinkEvent, LinkEvents};
use crate::plan::Held;

/// How long to sleep when no timer is pending; any event wakes the loop earlier.
const IDLE: Duration = Duration::from_secs(3600);

impl Loop {
    pub(super) async fn event_loop(
        &mut self,
        watch: impl futures::Stream<Item = Result<WatchEvent<EniAttachment>, watcher::Error>>,
        mut events: LinkEvents,
        shutdown: impl Future<Output = ()>,
        healthy: &AtomicBool,
    ) -> Result<(), AgentError> {
        let mut watch = pin!(watch);
        let mut shutdown = pin!(shutdown);
        self.relist().await?;
        tracing::info!(node = %self.config.node_name, links = self.table.len(), "agent started");
        loop {
            let deadline = self
                .backoff
                .next_retry()
                .into_iter()
                .chain(self.kick)
                .min()
                .unwrap_or_else(|| Instant::now() + IDLE);
            let dirty = tokio::select! {
                biased;
                () = &mut shutdown => break,
                ev = events.next() => match ev {
                    None => return Err(AgentError::NetlinkClosed),
                    Some(ev) => { self.on_link_event(ev).await?; true }
                },
                ev = watch.next() => match ev {
                    None => return Err(AgentError::WatchEnded),
                    Some(Ok(ev)) => self.on_watch_event(ev),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "ENIAttachment watch failed; retrying with back-off");
                        false
                    }
                },
                () = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    self.backoff.expire(now);
                    if self.kick.is_some_and(|k| k <= now) {
                        self.kick = None;
                    }
                    true
                }
            };
            if self.attachments.synced() {
                healthy.store(true, Ordering::Relaxed);
                if dirty {
                    self.reconcile().await;
                }
            }
        }
        Ok(())
    }

    fn on_watch_event(&mut self, ev: WatchEvent<EniAttachment>) -> bool {
        let seen = self.attachments.apply(ev);
        for uid in &seen.gone {
            self.written.remove(uid);
            self.backoff.forget(uid);
        }
        seen.dirty
    }

    async fn on_link_event(&mut self, ev: LinkEvent) -> Result<(), AgentError> {
        match ev {
            LinkEvent::Changed(l) => self.table.changed(l, Instant::now()),
            LinkEvent::Removed(index) => self.table.removed(index),
            LinkEvent::Overrun => {
                tracing::warn!("netlink notifications were lost; re-listing links");
                self.relist().await?;
            }
        }
        Ok(())
    }

    pub(super) async fn relist(&mut self) -> Result<(), AgentError> {
        self.table.replace(self.links.dump().await?);
        Ok(())
    }

    /// Re-reads one link after changing it, so the next round plans on what the kernel did.
    pub(super) async fn refresh(&mut self, index: u32) {
        match self.links.get(index).await {
            Ok(link) => self.table.refreshed(index, link),
            Err(e) => tracing::warn!(error = %e, index, "re-reading a link failed"),
        }
    }

    /// Puts an attachment on hold after a failed action; it is retried when the hold is over.
    pub(super) fn hold(&mut self, uid: &str, reason: &'static str, message: String) {
        let held = Held {
            reason,
            message: message.clone(),
        };
        let retry_in = self.backoff.fail(uid, held, Instant::now());
        tracing::warn!(attachment_uid = uid, reason, %message, ?retry_in, "action failed");
        self.metrics.config_error(reason);
    }
}
