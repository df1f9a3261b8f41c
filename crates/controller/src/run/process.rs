//! The whole controller process, given its clients: start-up checks, caches, the probe server,
//! leader election and the controllers, and an orderly stop.
//!
//! Stop order on shutdown: the controllers first (running reconciles finish, so no EC2 call is
//! cut off half-recorded), then the Lease is released (the standby takes over at its next look,
//! not after the lease duration), then the caches and the probe server.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use multi_eni_ec2::Ec2;
use multi_eni_probe_server::Probes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::context::{Context, ControllerConfig, Stores};
use super::controllers;
use super::leader::{Leader, LeaseConfig, Role};
use super::metrics::Metrics;
use super::preflight::{self, PreflightError};

/// What the process runs on.
pub struct Setup {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// EC2 (rate-limited and metered by whoever built it).
    pub ec2: Arc<dyn Ec2>,
    /// Settings.
    pub config: ControllerConfig,
    /// The Lease to elect a leader on; `None` runs as the only replica.
    pub lease: Option<LeaseConfig>,
    /// Metrics (the EC2 adapter's may already be registered in its registry).
    pub metrics: Arc<Metrics>,
    /// Where to serve `/metrics`, `/healthz` and `/readyz`; `None` serves nothing.
    pub probes: Option<TcpListener>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("config", &self.config)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// Runs the controller until `shutdown` completes, then stops it in order (see the module
/// docs). Fails only at start, when a check finds what waiting cannot fix.
pub async fn run(setup: Setup, shutdown: impl Future<Output = ()>) -> Result<(), PreflightError> {
    let Setup {
        client,
        ec2,
        config,
        lease,
        metrics,
        probes,
    } = setup;
    preflight::check(&client, &*ec2, &config.lifecycle.cluster).await?;
    let identity = lease.as_ref().map(|l| l.identity.clone());
    let (stores, keep_stores) = Stores::start(&client);
    let stores_task = tokio::spawn(keep_stores);
    let mut ctx = Context::new(client.clone(), ec2, config, stores, identity);
    ctx.metrics = metrics;
    let ctx = Arc::new(ctx);

    let election = Election::start(client, lease, ctx.metrics.clone());
    let synced = Arc::new(AtomicBool::new(false));
    let probe_task = probes.map(|l| {
        let probes = probe_handlers(&ctx, &synced, election.role.clone());
        tokio::spawn(multi_eni_probe_server::serve(l, probes))
    });

    tokio::pin!(shutdown);
    let stopped_early = tokio::select! {
        () = &mut shutdown => true,
        () = ctx.stores.ready() => false,
    };
    if !stopped_early {
        synced.store(true, Ordering::Relaxed);
        info!("caches synced");
        controllers::run(ctx.clone(), election.leading.clone(), shutdown).await;
    }
    election.stop().await;
    stores_task.abort();
    if let Some(t) = probe_task {
        t.abort();
    }
    info!("stopped");
    Ok(())
}

/// `/metrics`; `/healthz` while the caches are being kept; `/readyz` once they are synced and
/// this replica knows its role (leading, or standing by behind a known leader).
fn probe_handlers(
    ctx: &Arc<Context>,
    synced: &Arc<AtomicBool>,
    role: watch::Receiver<Role>,
) -> Probes {
    let metrics = ctx.metrics.clone();
    let synced = synced.clone();
    Probes::new(move || metrics.render())
        .healthy(|| true)
        .ready(move || synced.load(Ordering::Relaxed) && role.borrow().is_known())
}

/// Leader election, or a constant "leading" without it.
struct Election {
    leading: watch::Receiver<bool>,
    role: watch::Receiver<Role>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Without an election, the senders of the constant answers (a closed channel would read
    /// as "stopped leading").
    _constant: Option<(watch::Sender<bool>, watch::Sender<Role>)>,
}

impl Election {
    fn start(client: kube::Client, lease: Option<LeaseConfig>, metrics: Arc<Metrics>) -> Election {
        let stop = CancellationToken::new();
        let Some(lease) = lease else {
            info!("leader election off: this replica leads");
            metrics.leader.set(1);
            let (leading_tx, leading) = watch::channel(true);
            let (role_tx, role) = watch::channel(Role::Leading);
            return Election {
                leading,
                role,
                stop,
                task: None,
                _constant: Some((leading_tx, role_tx)),
            };
        };
        info!(namespace = %lease.namespace, name = %lease.name, identity = %lease.identity, "joining the leader election");
        let leader = Leader::new(client, lease).with_metrics(metrics);
        let (leading, role) = (leader.is_leader(), leader.role());
        let task = tokio::spawn(leader.run(stop.clone().cancelled_owned()));
        Election {
            leading,
            role,
            stop,
            task: Some(task),
            _constant: None,
        }
    }

    /// Stops taking part, releasing the Lease if held.
    async fn stop(self) {
        self.stop.cancel();
        if let Some(t) = self.task {
            // A panicked elector has nothing left to release.
            let _ = t.await;
        }
    }
}
