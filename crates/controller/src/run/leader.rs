//! Leader election on a `coordination.k8s.io/v1` Lease, so that of two controller replicas only
//! one makes EC2 calls while the other stands by with warm caches.
//!
//! Every `renew` interval the elector reads the Lease, asks [`plan::lease_step`] what to do and
//! writes with the resourceVersion it read: of two replicas racing for a free Lease exactly one
//! write succeeds, the other gets 409 and follows. A leader that cannot renew stops leading
//! [`LeaseTiming::deadline`] after its last renewal, before anyone may take over; on shutdown it
//! clears the holder so the standby takes over at its next look instead of after the duration.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;

use super::metrics::Metrics;
use crate::plan::{self, LeaseStep, LeaseTiming};

/// Where the Lease lives, who we are, and its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the controller's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// Our holder identity: unique per replica (the pod name).
    pub identity: String,
    /// `leaseDurationSeconds`: how long after the last renewal the standby may take over.
    pub duration: Duration,
    /// How often the leader renews and the standby looks.
    pub renew: Duration,
}

impl LeaseConfig {
    /// The timing part, for the plan.
    pub fn timing(&self) -> LeaseTiming {
        LeaseTiming {
            duration: self.duration,
            renew: self.renew,
        }
    }
}

/// What this replica knows about the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not known yet (no successful look at the Lease), or leadership lost without a successful
    /// look since.
    Unknown,
    /// We hold the Lease.
    Leading,
    /// Another replica holds it (its identity; empty when a write lost a race and the winner
    /// has not been read yet).
    Following(String),
}

impl Role {
    /// Leading, or standing by behind a known leader: the replica is where it should be (for
    /// `/readyz`).
    pub fn is_known(&self) -> bool {
        !matches!(self, Role::Unknown)
    }
}

/// The elector. Build it, take [`Leader::is_leader`] / [`Leader::role`] receivers, then
/// spawn [`Leader::run`].
#[derive(Debug)]
pub struct Leader {
    api: Api<Lease>,
    config: LeaseConfig,
    metrics: Option<Arc<Metrics>>,
    leading: watch::Sender<bool>,
    role: watch::Sender<Role>,
}

impl Leader {
    /// An elector for the Lease `config.namespace/config.name`. Check the timing with
    /// [`LeaseTiming::validate`] first (the flags do).
    pub fn new(client: kube::Client, config: LeaseConfig) -> Leader {
        Leader {
            api: Api::namespaced(client, &config.namespace),
            config,
            metrics: None,
            leading: watch::Sender::new(false),
            role: watch::Sender::new(Role::Unknown),
        }
    }

    /// Keeps `metrics.leader` at 1 while leading, 0 otherwise.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Leader {
        metrics.leader.set(0);
        self.metrics = Some(metrics);
        self
    }

    /// `true` while this replica leads.
    pub fn is_leader(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// The replica's [`Role`].
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Takes part in the election until `shutdown` completes; then stops leading (published
    /// first, so the gated work stops) and releases the Lease if it is ours.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_renewed: Option<Timestamp> = None;
        loop {
            let round = async {
                self.step(&mut last_renewed).await;
                tokio::time::sleep(self.config.renew).await;
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = round => {}
            }
        }
        self.publish(Role::Unknown);
        self.release().await;
    }

    /// One look at the Lease, and what it means for our role.
    async fn step(&self, last_renewed: &mut Option<Timestamp>) {
        let now = Timestamp::now();
        match self.round(now).await {
            Ok(Role::Leading) => {
                *last_renewed = Some(now);
                self.publish(Role::Leading);
            }
            Ok(role) => {
                *last_renewed = None;
                self.publish(role);
            }
            Err(e) => {
                let timing = self.config.timing();
                let leading =
                    last_renewed.is_some_and(|t| plan::still_leading(t, Timestamp::now(), timing));
                tracing::warn!(lease = %self.config.name, error = %e, leading, "leader election: the Lease could not be read or written");
                if !leading && *self.role.borrow() == Role::Leading {
                    tracing::warn!(lease = %self.config.name, "leader election: renewals failed for too long; stepping down");
                    *last_renewed = None;
                    self.publish(Role::Unknown);
                }
            }
        }
    }

    /// Reads the Lease and writes what the plan says; the role that results.
    async fn round(&self, now: Timestamp) -> Result<Role, kube::Error> {
        let current = self.api.get_opt(&self.config.name).await?;
        let spec = current.as_ref().map(|l| l.spec.clone().unwrap_or_default());
        let step = plan::lease_step(
            spec.as_ref(),
            &self.config.identity,
            now,
            self.config.timing(),
        );
        let written = match step {
            LeaseStep::Follow { holder } => return Ok(Role::Following(holder)),
            LeaseStep::Create(spec) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            LeaseStep::Acquire(spec) | LeaseStep::Renew(spec) => {
                self.write(current.unwrap_or_default(), spec).await
            }
        };
        match written {
            Ok(_) => Ok(Role::Leading),
            // Another replica wrote first (409 on the guarded update, or on create: it exists).
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Role::Following(self.holder().await)),
            Err(e) => Err(e),
        }
    }

    /// Replaces the Lease's spec, guarded by the resourceVersion it was read with.
    async fn write(&self, mut lease: Lease, spec: LeaseSpec) -> Result<Lease, kube::Error> {
        lease.spec = Some(spec);
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
    }

    /// The holder now, after losing a race (empty when it cannot be read).
    async fn holder(&self) -> String {
        match self.api.get_opt(&self.config.name).await {
            Ok(Some(l)) => l.spec.and_then(|s| s.holder_identity).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Clears the holder if it is us, so the standby need not wait for the Lease to expire.
    async fn release(&self) {
        let current = match self.api.get_opt(&self.config.name).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(lease = %self.config.name, error = %e, "leader election: could not read the Lease to release it");
                return;
            }
        };
        let spec = current.spec.clone().unwrap_or_default();
        let Some(free) = plan::released(&spec, &self.config.identity, Timestamp::now()) else {
            return;
        };
        match self.write(current, free).await {
            Ok(_) => tracing::info!(lease = %self.config.name, "leader election: Lease released"),
            Err(e) => {
                tracing::warn!(lease = %self.config.name, error = %e, "leader election: could not release the Lease; the standby takes over when it expires")
            }
        }
    }

    fn publish(&self, role: Role) {
        let leading = role == Role::Leading;
        let was = *self.leading.borrow();
        if was != leading {
            tracing::info!(lease = %self.config.name, identity = %self.config.identity, leading, "leader election: role changed");
        }
        self.leading
            .send_if_modified(|v| std::mem::replace(v, leading) != leading);
        self.role
            .send_if_modified(|r| std::mem::replace(r, role.clone()) != role);
        if let Some(m) = &self.metrics {
            m.leader.set(i64::from(leading));
        }
    }
}

/// A holder identity for when no pod name is given: the host name and a random suffix, so two
/// replicas on one host (host networking) still differ.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "multi-eni-controller".into());
    // The clock's nanoseconds and our pid are random enough to tell two processes apart.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}_{:08x}", nanos ^ std::process::id().rotate_left(16))
}
