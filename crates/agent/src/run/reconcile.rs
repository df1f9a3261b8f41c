//! One wake-up: gather facts, plan, execute, re-read, plan again — a few rounds — then publish.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use multi_eni_api::keys::reason;
use tokio::task::JoinError;
use tokio::time::Instant;

use super::Loop;
use crate::address::{MacAddr, PciAddr};
use crate::dpdk::{Binding, DpdkError};
use crate::links::LinkError;
use crate::plan::{self, Action, AttachmentFacts, Facts, Intent, LinkFacts, Op, Plan};

/// Plan/act rounds per wake-up. Configuring a link takes one round, DPDK a couple; more means
/// something keeps undoing our changes, and we come back after [`KICK`] instead of spinning.
const MAX_ROUNDS: usize = 4;
/// Delay before trying again when rounds ran out or a status write failed.
pub(super) const KICK: Duration = Duration::from_secs(1);

/// The owned facts behind one [`Facts`].
struct Gathered {
    attachments: Vec<AttachmentFacts>,
    links: Vec<LinkFacts>,
    devices: BTreeMap<PciAddr, Option<String>>,
    bindings: Vec<Binding>,
}

/// A blocking step's result, with a panic in it (a failed join) as one more error.
pub(super) fn joined<T, E: std::fmt::Display>(
    res: Result<Result<T, E>, JoinError>,
) -> Result<T, String> {
    match res {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

impl Loop {
    pub(super) async fn reconcile(&mut self) {
        self.table.expire(Instant::now());
        let mut round = 0;
        let (plan, attachments) = loop {
            let g = self.gather();
            let held = self.backoff.held();
            let plan = plan::plan(&Facts {
                attachments: &g.attachments,
                links: &g.links,
                devices: &g.devices,
                bindings: &g.bindings,
                held: &held,
                naming: &self.config.naming,
                complete: self.attachments.synced(),
            });
            if plan.actions.is_empty() || round == MAX_ROUNDS {
                break (plan, g.attachments);
            }
            round += 1;
            for action in plan.actions {
                self.execute(action).await;
            }
        };
        if !plan.actions.is_empty() {
            tracing::warn!(
                actions = plan.actions.len(),
                "changes keep being needed; trying again shortly"
            );
            self.kick = Some(Instant::now() + KICK);
        }
        self.metrics.attachments.set(
            attachments
                .iter()
                .filter(|a| a.intent != Intent::Leave)
                .count() as i64,
        );
        let Plan { reports, sriov, .. } = plan;
        self.publish(reports, sriov).await;
    }

    /// The facts for one plan, read fresh from the link table and sysfs (our changes of the
    /// previous round show there, not in what we asked for).
    fn gather(&self) -> Gathered {
        let attachments: Vec<AttachmentFacts> = self
            .attachments
            .iter()
            .filter_map(|o| AttachmentFacts::from_object(o, &self.config.node_name))
            .collect();
        // Only links carrying one of our MACs get their sysfs device looked up.
        let macs: HashSet<MacAddr> = attachments.iter().filter_map(|a| a.mac).collect();
        let links: Vec<LinkFacts> = self
            .table
            .links()
            .cloned()
            .map(|mut l| {
                if l.mac.is_some_and(|m| macs.contains(&m)) {
                    l.pci = self.sysfs.pci_of_link(&l.name);
                }
                l
            })
            .collect();
        let bindings = self.dpdk.lock().bindings().to_vec();
        let mut pcis: BTreeSet<PciAddr> = links.iter().filter_map(|l| l.pci.clone()).collect();
        for a in &attachments {
            pcis.extend(a.dpdk.as_ref().and_then(|d| d.pci.clone()));
            pcis.extend(a.sriov.as_ref().and_then(|s| s.pci.clone()));
        }
        pcis.extend(bindings.iter().map(|b| b.pci.clone()));
        let devices = pcis
            .into_iter()
            .filter_map(|p| self.sysfs.driver_of(&p).ok().map(|d| (p, d)))
            .collect();
        Gathered {
            attachments,
            links,
            devices,
            bindings,
        }
    }

    async fn execute(&mut self, action: Action) {
        let Action { uid, op } = action;
        match op {
            Op::Link { index, mac, change } => match self.links.apply(index, mac, &change).await {
                Ok(()) => self.refresh(index).await,
                Err(e @ (LinkError::MacChanged { .. } | LinkError::Gone(_))) => {
                    // Our table was stale (a rename, a re-created link): re-read and re-plan.
                    tracing::info!(error = %e, "link changed under us; re-listing");
                    if let Err(e) = self.relist().await {
                        tracing::warn!(error = %e, "re-listing links failed");
                    }
                }
                Err(e) => self.hold(&uid, reason::INTERFACE_CONFIG_FAILED, e.to_string()),
            },
            Op::Bind {
                pci,
                driver,
                original_driver,
                attachment,
            } => {
                let dpdk = self.dpdk.clone();
                let u = uid.clone();
                let res = tokio::task::spawn_blocking(move || {
                    dpdk.lock()
                        .bind(&pci, &driver, original_driver, &u, &attachment)
                })
                .await;
                match res {
                    Ok(Ok(())) => self.metrics.dpdk_bind("bound"),
                    Ok(Err(e)) => {
                        self.metrics.dpdk_bind(match e {
                            DpdkError::RolledBack { .. } => "rolled_back",
                            DpdkError::RollbackFailed { .. } => "rollback_failed",
                            _ => "failed",
                        });
                        self.hold(&uid, reason::DPDK_BIND_FAILED, e.to_string());
                    }
                    Err(e) => self.hold(&uid, reason::DPDK_BIND_FAILED, e.to_string()),
                }
            }
            Op::Restore {
                pci,
                original_driver,
            } => {
                let dpdk = self.dpdk.clone();
                let res = tokio::task::spawn_blocking(move || {
                    dpdk.lock().restore(&pci, original_driver.as_deref())
                })
                .await;
                if let Err(e) = joined(res) {
                    self.hold(
                        &uid,
                        reason::INTERFACE_CONFIG_FAILED,
                        format!("restoring the kernel driver: {e}"),
                    );
                }
            }
        }
    }
}
