//! The contract cases, by topic. Each starts from its own [`Case`](super::Case) (a client,
//! a name prefix, a label), asserts what kube-apiserver does, and deletes what it made; where
//! the double has a pinned [`Gap`](super::Gap) the case asserts what the double does instead.
//! The list of cases is [`kube_contract_case_list!`](crate::kube_contract_case_list).

mod crds;
mod finalizers;
mod leases_events;
mod patches;
mod selectors;
mod status;
mod watch;
mod writes;

pub use crds::*;
pub use finalizers::*;
pub use leases_events::*;
pub use patches::*;
pub use selectors::*;
pub use status::*;
pub use watch::*;
pub use writes::*;

use futures::{Stream, StreamExt};
use kube::api::WatchEvent;

/// Every event of a watch until the server ends it (by `timeoutSeconds`); fails the case if
/// the watch errs or outlives [`crate::TIMEOUT`].
async fn drain<K, S>(stream: S) -> Vec<WatchEvent<K>>
where
    S: Stream<Item = Result<WatchEvent<K>, kube::Error>>,
{
    let collect = stream
        .map(|e| e.unwrap_or_else(|e| panic!("watch failed: {e}")))
        .collect::<Vec<_>>();
    tokio::time::timeout(crate::TIMEOUT, collect)
        .await
        .unwrap_or_else(|_| panic!("the watch outlived {:?}", crate::TIMEOUT))
}

/// The event types, for messages.
fn kinds<K>(events: &[WatchEvent<K>]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        })
        .collect()
}
