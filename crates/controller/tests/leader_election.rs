//! Leader election on a Lease, on the API double and on the real kube-apiserver: one leader of
//! two, a handover on shutdown without waiting for expiry, stepping down when renewals fail or
//! the Lease is taken.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use multi_eni_controller::run::leader::{Leader, LeaseConfig, Role};
use multi_eni_controller::run::metrics::Metrics;
use multi_eni_kube_double::{ApiServer, ApiServerHandle, FaultRule, ServerConfig, Verb};
use multi_eni_kube_env::KubeEnv;
use multi_eni_testkit::wait_until;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const NS: &str = "default";
const WAIT: Duration = Duration::from_secs(20);
const RENEW: Duration = Duration::from_millis(100);

/// One replica taking part in the election.
struct Elector {
    id: String,
    leading: watch::Receiver<bool>,
    role: watch::Receiver<Role>,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Elector {
    fn start(client: &kube::Client, lease: &str, id: &str, duration: Duration) -> Elector {
        let metrics = Arc::new(Metrics::default());
        let leader = Leader::new(
            client.clone(),
            LeaseConfig {
                namespace: NS.into(),
                name: lease.into(),
                identity: id.into(),
                duration,
                renew: RENEW,
            },
        )
        .with_metrics(metrics.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (leading, role) = (leader.is_leader(), leader.role());
        let task = tokio::spawn(leader.run(async move {
            let _ = stopped.await;
        }));
        Elector {
            id: id.into(),
            leading,
            role,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    fn leads(&self) -> bool {
        *self.leading.borrow()
    }

    /// Shuts the elector down and waits until it has released the Lease and ended.
    async fn shut_down(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the elector ends after shutdown")
            .expect("the elector does not panic");
    }
}

/// Records whether two electors ever lead at the same moment.
fn watch_overlap(a: &Elector, b: &Elector) -> Arc<AtomicBool> {
    let overlap = Arc::new(AtomicBool::new(false));
    let (mut a, mut b) = (a.leading.clone(), b.leading.clone());
    let seen = overlap.clone();
    tokio::spawn(async move {
        loop {
            if *a.borrow_and_update() && *b.borrow_and_update() {
                seen.store(true, Ordering::SeqCst);
            }
            tokio::select! {
                r = a.changed() => if r.is_err() { break },
                r = b.changed() => if r.is_err() { break },
            }
        }
    });
    overlap
}

async fn wait_leads(e: &Elector, what: &str) {
    wait_until(WAIT, what, || async {
        if e.leads() {
            Ok(())
        } else {
            Err(format!("{} is {:?}", e.id, *e.role.borrow()))
        }
    })
    .await
}

async fn wait_role(e: &Elector, want: Role, what: &str) {
    wait_until(WAIT, what, || async {
        let role = e.role.borrow().clone();
        if role == want {
            Ok(())
        } else {
            Err(format!("{} is {role:?}", e.id))
        }
    })
    .await
}

async fn holder(client: &kube::Client, lease: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), NS)
        .get(lease)
        .await
        .expect("read the Lease")
        .spec
        .and_then(|s| s.holder_identity)
}

/// Two electors: exactly one leads, the other follows it; never both at once.
async fn one_of_two_leads(client: kube::Client, lease: &str) {
    let a = Elector::start(&client, lease, "replica-a", Duration::from_secs(10));
    let b = Elector::start(&client, lease, "replica-b", Duration::from_secs(10));
    let overlap = watch_overlap(&a, &b);
    wait_until(WAIT, "one of the two to lead", || async {
        match (a.leads(), b.leads()) {
            (true, false) | (false, true) => Ok(()),
            seen => Err(format!("leading: {seen:?}")),
        }
    })
    .await;
    let (leader, follower) = if a.leads() { (&a, &b) } else { (&b, &a) };
    wait_role(
        follower,
        Role::Following(leader.id.clone()),
        "the other to follow the leader",
    )
    .await;
    assert_eq!(
        holder(&client, lease).await.as_deref(),
        Some(leader.id.as_str())
    );
    assert!(
        leader.leads(),
        "the leader still leads after the follower settled"
    );
    assert!(!overlap.load(Ordering::SeqCst), "both led at once");
    assert!(
        leader
            .metrics
            .render()
            .contains("multi_eni_controller_leader 1")
    );
    assert!(
        follower
            .metrics
            .render()
            .contains("multi_eni_controller_leader 0")
    );
    a.shut_down().await;
    b.shut_down().await;
    Api::<Lease>::namespaced(client, NS)
        .delete(lease, &DeleteParams::default())
        .await
        .expect("delete the Lease");
}

/// The leader shuts down: the follower takes over long before the Lease could expire.
async fn shutdown_hands_over_at_once(client: kube::Client, lease: &str) {
    // An hour: the follower can only take over this fast because the Lease was released.
    let hour = Duration::from_secs(3600);
    let a = Elector::start(&client, lease, "first", hour);
    wait_leads(&a, "the first replica to lead").await;
    let b = Elector::start(&client, lease, "second", hour);
    wait_role(&b, Role::Following("first".into()), "the second to follow").await;
    let overlap = watch_overlap(&a, &b);
    let a_leading = a.leading.clone();
    let a_metrics = a.metrics.clone();
    a.shut_down().await;
    assert!(!*a_leading.borrow(), "a shut-down replica does not lead");
    assert!(a_metrics.render().contains("multi_eni_controller_leader 0"));
    wait_leads(&b, "the second replica to take over").await;
    assert!(!overlap.load(Ordering::SeqCst), "both led at once");
    assert_eq!(holder(&client, lease).await.as_deref(), Some("second"));
    b.shut_down().await;
    assert_eq!(holder(&client, lease).await, None, "released on shutdown");
    Api::<Lease>::namespaced(client, NS)
        .delete(lease, &DeleteParams::default())
        .await
        .expect("delete the Lease");
}

/// Someone else writes itself into the Lease: the leader notices at its next renewal.
async fn taken_lease_makes_the_leader_follow(client: kube::Client, lease: &str) {
    let a = Elector::start(&client, lease, "incumbent", Duration::from_secs(10));
    wait_leads(&a, "the incumbent to lead").await;
    let api = Api::<Lease>::namespaced(client.clone(), NS);
    // Overwrite with a fresh renewal by another holder (a guarded update, retried on conflict
    // with the incumbent's renewals).
    wait_until(WAIT, "the Lease to be overwritten", || async {
        let mut l = api.get(lease).await.map_err(|e| e.to_string())?;
        let spec = l.spec.get_or_insert_default();
        spec.holder_identity = Some("usurper".into());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        api.replace(lease, &PostParams::default(), &l)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
    wait_role(
        &a,
        Role::Following("usurper".into()),
        "the incumbent to follow",
    )
    .await;
    assert!(!a.leads());
    a.shut_down().await;
    assert_eq!(
        holder(&client, lease).await.as_deref(),
        Some("usurper"),
        "a follower does not release someone else's Lease"
    );
    api.delete(lease, &DeleteParams::default())
        .await
        .expect("delete the Lease");
}

async fn double() -> (ApiServerHandle, kube::Client) {
    let server = ApiServer::start(ServerConfig::default())
        .await
        .expect("start the API double");
    let client = server.client().expect("client for the double");
    (server, client)
}

#[tokio::test]
async fn double_one_of_two_leads() {
    let (_server, client) = double().await;
    one_of_two_leads(client, "one-of-two").await;
}

#[tokio::test]
async fn double_shutdown_hands_over_at_once() {
    let (_server, client) = double().await;
    shutdown_hands_over_at_once(client, "handover").await;
}

#[tokio::test]
async fn double_taken_lease_makes_the_leader_follow() {
    let (_server, client) = double().await;
    taken_lease_makes_the_leader_follow(client, "taken").await;
}

/// Renewals fail (the API server refuses every Lease update): the leader keeps leading until
/// its deadline (duration − renew interval after the last renewal), then steps down — before
/// the Lease expires for anyone else.
#[tokio::test]
async fn double_failing_renewals_step_down_before_expiry() {
    let (server, client) = double().await;
    let duration = Duration::from_secs(2);
    let a = Elector::start(&client, "failing", "lonely", duration);
    wait_leads(&a, "the replica to lead").await;
    let last_renewal = Instant::now();
    let fault = server
        .faults()
        .fail(FaultRule::any().verb(Verb::Update).resource("leases"), 500);
    wait_role(&a, Role::Unknown, "the leader to step down").await;
    let after = last_renewal.elapsed();
    assert!(!a.leads());
    assert!(
        fault.hits() >= 2,
        "renewals were tried and failed: {}",
        fault.hits()
    );
    // The last successful renewal was at most one interval before the fault.
    let deadline = duration - RENEW;
    assert!(
        after + RENEW >= deadline,
        "stepped down after {after:?}: before its deadline {deadline:?}"
    );
    assert!(
        after < duration + RENEW,
        "stepped down only after {after:?}"
    );
    // Once the API answers again, it leads again.
    fault.remove();
    wait_leads(&a, "the replica to lead again").await;
    a.shut_down().await;
}

#[tokio::test]
async fn real_one_of_two_leads() {
    let client = KubeEnv::shared().client().await;
    one_of_two_leads(client, "real-one-of-two").await;
}

#[tokio::test]
async fn real_shutdown_hands_over_at_once() {
    let client = KubeEnv::shared().client().await;
    shutdown_hands_over_at_once(client, "real-handover").await;
}

#[tokio::test]
async fn real_taken_lease_makes_the_leader_follow() {
    let client = KubeEnv::shared().client().await;
    taken_lease_makes_the_leader_follow(client, "real-taken").await;
}
