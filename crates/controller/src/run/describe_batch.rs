//! Describe-by-ID for many reconciles at once. When a rollout wakes hundreds of ENIAttachments
//! that each need fresh facts about their ENI, one DescribeNetworkInterfaces answers them all
//! instead of one call each — EC2's describe bucket is shared by the whole account.
//!
//! Requests that arrive within `window` of the first one, or while a call is in flight (or, when
//! paced, until `spacing` after the last call began), are answered by the next single call: the IDs of every waiting request, deduplicated, in the
//! `network-interface-id` filter (at most [`MAX_FILTER_VALUES`] values a call, paginated). A
//! filter rather than the ID list, because EC2 fails a whole ID-list request when one ID is
//! unknown; with the filter an unknown ENI is simply absent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use multi_eni_ec2::{
    DescribeQuery, Ec2, Ec2Error, ErrorKind, Filter, Instance, NetworkInterface, Op, Page,
    collect_pages, escape_wildcards,
};
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::oneshot;

use super::eni_index::EniIndex;

/// EC2's limit on values in one filter.
pub const MAX_FILTER_VALUES: usize = 200;

/// How long the first request of a batch waits for others to join it, by default: short next to
/// an attach (seconds) and the poll (2 s), long enough that the reconciles a rollout runs at once
/// share one call (at 50 ms the benchmark measured 0.38 ENI describes per ENI, at 200 ms 0.19).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(200);

/// How a [`Batch`] gathers requests into calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// How long the first request of a batch waits for others to join it.
    pub window: Duration,
    /// The least time from the start of one call to the start of the next.
    pub spacing: Duration,
}

impl Default for Pacing {
    /// A [`DEFAULT_WINDOW`], and calls at least 6 s apart: EC2 takes seconds to finish an
    /// attach or detach, so the attachments waiting on it lose little by sharing a look every
    /// few seconds, and a rollout paced by the attach bucket (2.5/s at half of it) then spends
    /// about one describe per fifteen ENIs — its teardown as many.
    fn default() -> Pacing {
        Pacing {
            window: DEFAULT_WINDOW,
            spacing: Duration::from_secs(6),
        }
    }
}

/// A describe-by-ID API a [`Batch`] can answer many callers with: ENIs
/// (`network-interface-id`) and instances (`instance-id`).
pub trait Described: Clone + Send + Sync + 'static {
    /// The action.
    const OP: Op;
    /// The filter that selects by ID (an unknown ID is absent instead of failing the call).
    const FILTER: &'static str;
    /// This item's ID.
    fn id(&self) -> &str;
    /// One page.
    fn call(
        ec2: Arc<dyn Ec2>,
        query: DescribeQuery,
    ) -> BoxFuture<'static, Result<Page<Self>, Ec2Error>>;
}

impl Described for NetworkInterface {
    const OP: Op = Op::DescribeNetworkInterfaces;
    const FILTER: &'static str = "network-interface-id";
    fn id(&self) -> &str {
        &self.id
    }
    fn call(
        ec2: Arc<dyn Ec2>,
        query: DescribeQuery,
    ) -> BoxFuture<'static, Result<Page<Self>, Ec2Error>> {
        Box::pin(async move { ec2.describe_network_interfaces(&query).await })
    }
}

impl Described for Instance {
    const OP: Op = Op::DescribeInstances;
    const FILTER: &'static str = "instance-id";
    fn id(&self) -> &str {
        &self.id
    }
    fn call(
        ec2: Arc<dyn Ec2>,
        query: DescribeQuery,
    ) -> BoxFuture<'static, Result<Page<Self>, Ec2Error>> {
        Box::pin(async move { ec2.describe_instances(&query).await })
    }
}

/// The coalescing describer of ENIs.
pub type DescribeBatch = Batch<NetworkInterface>;

/// The coalescing describer. Cheap to share: wrap it in an `Arc` (or keep it in the context).
pub struct Batch<T: Described> {
    inner: Arc<Inner<T>>,
}

impl<T: Described> std::fmt::Debug for Batch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DescribeBatch")
            .field("window", &self.inner.window)
            .finish_non_exhaustive()
    }
}

struct Inner<T> {
    ec2: Arc<dyn Ec2>,
    window: Duration,
    spacing: Duration,
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    waiting: Vec<Waiter<T>>,
    /// A task is collecting or calling; new requests join its next call.
    driving: bool,
}

impl<T> Default for Queue<T> {
    fn default() -> Queue<T> {
        Queue {
            waiting: Vec::new(),
            driving: false,
        }
    }
}

struct Waiter<T> {
    ids: Vec<String>,
    reply: oneshot::Sender<Result<Vec<T>, Ec2Error>>,
}

impl<T: Described> Batch<T> {
    /// Batches requests arriving within `window` of each other ([`DEFAULT_WINDOW`] is a good
    /// choice); `Duration::ZERO` still merges everything that arrives while a call is in flight.
    pub fn new(ec2: Arc<dyn Ec2>, window: Duration) -> Batch<T> {
        Batch::paced(ec2, window, Duration::ZERO)
    }

    /// [`Batch::new`], with calls at least `spacing` apart (from the start of one to the start
    /// of the next): while requests keep coming — a rollout's attaches waiting for EC2 to finish
    /// them — they share one call per `spacing` instead of one per call's round trip.
    pub fn paced(ec2: Arc<dyn Ec2>, window: Duration, spacing: Duration) -> Batch<T> {
        Batch {
            inner: Arc::new(Inner {
                ec2,
                window,
                spacing,
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// The items among `ids` that EC2 knows, as one shared call shows them (those it does not
    /// know are absent). An error of that call reaches every request it was answering.
    ///
    /// Must run inside a tokio runtime: the first request of a batch spawns the task that makes
    /// the call, so a caller that gives up (a cancelled reconcile) never strands the others.
    pub async fn describe(&self, ids: Vec<String>) -> Result<Vec<T>, Ec2Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.inner.lock();
            q.waiting.push(Waiter { ids, reply });
            !std::mem::replace(&mut q.driving, true)
        };
        if start {
            tokio::spawn(drive(self.inner.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(Ec2Error::codeless(
                T::OP,
                ErrorKind::Transient,
                "the batched describe ended without an answer",
            ))
        })
    }
}

impl Batch<NetworkInterface> {
    /// [`Batch::describe`], and what it found recorded in `index`. ENIs not found are
    /// left in the index: right after a create EC2 may not list an ENI yet, and only the caller
    /// knows whether absence means gone (it then calls [`EniIndex::remove`]).
    pub async fn refresh(
        &self,
        ids: Vec<String>,
        index: &EniIndex,
    ) -> Result<Vec<NetworkInterface>, Ec2Error> {
        let found = self.describe(ids).await?;
        for eni in &found {
            index.upsert(eni.clone());
        }
        Ok(found)
    }
}

impl<T: Described> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock()
    }

    /// One describe (a call per [`MAX_FILTER_VALUES`] IDs, each paginated) for all of `ids`.
    async fn fetch(&self, ids: BTreeSet<String>) -> Result<Vec<T>, Ec2Error> {
        let ids: Vec<String> = ids.into_iter().collect();
        let mut found = Vec::new();
        for chunk in ids.chunks(MAX_FILTER_VALUES) {
            let values = chunk.iter().map(|id| escape_wildcards(id));
            let query = DescribeQuery::filters(vec![Filter::new(T::FILTER, values)]);
            let page = collect_pages(T::OP, query, |q| T::call(self.ec2.clone(), q)).await?;
            found.extend(page);
        }
        Ok(found)
    }
}

/// Collects for one window, then calls until nobody is waiting.
async fn drive<T: Described>(inner: Arc<Inner<T>>) {
    let mut guard = Driving {
        inner: inner.clone(),
        armed: true,
    };
    tokio::time::sleep(inner.window).await;
    loop {
        let batch = {
            let mut q = inner.lock();
            if q.waiting.is_empty() {
                q.driving = false;
                guard.armed = false;
                return;
            }
            std::mem::take(&mut q.waiting)
        };
        let ids: BTreeSet<String> = batch.iter().flat_map(|w| w.ids.iter().cloned()).collect();
        let next_call = tokio::time::Instant::now() + inner.spacing;
        match inner.fetch(ids).await {
            Ok(found) => answer(batch, found),
            Err(e) => {
                for w in batch {
                    // A waiter that gave up dropped its receiver: nothing to tell it.
                    let _ = w.reply.send(Err(e.clone()));
                }
            }
        }
        // Requests arriving meanwhile join the next call; this driver stays until then, so a
        // new one cannot call sooner.
        tokio::time::sleep_until(next_call).await;
    }
}

fn answer<T: Described>(batch: Vec<Waiter<T>>, found: Vec<T>) {
    let by_id: BTreeMap<&str, &T> = found.iter().map(|e| (e.id(), e)).collect();
    for w in batch {
        let wanted: BTreeSet<&str> = w.ids.iter().map(String::as_str).collect();
        let mine = wanted
            .into_iter()
            .filter_map(|id| by_id.get(id).map(|e| (*e).clone()))
            .collect();
        let _ = w.reply.send(Ok(mine));
    }
}

/// Should the driving task end other than by running out of work (a panic, its runtime shutting
/// down), lets the next request start a new one and fails the stranded requests at once
/// (dropping their senders) instead of leaving them waiting forever.
struct Driving<T: Described> {
    inner: Arc<Inner<T>>,
    armed: bool,
}

impl<T: Described> Drop for Driving<T> {
    fn drop(&mut self) {
        if self.armed {
            let mut q = self.inner.lock();
            q.driving = false;
            q.waiting.clear();
        }
    }
}
