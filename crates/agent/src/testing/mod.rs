//! Test fixtures shared by this crate's tests and the CLI's end-to-end test (feature `testing`):
//! a fake sysfs tree with a tiny kernel behind it, throwaway network namespaces, the
//! Kubernetes API double with the ENIAttachment CRD registered, and checks on what the agent
//! reports for waiting on it.

pub mod cluster;
pub mod netns;
pub mod status;
pub mod sysfs;

use std::future::Future;
use std::time::{Duration, Instant};

/// Waits until `check` returns `Some`, re-checking every few milliseconds, and panics with
/// `what` (and the last value seen, via `describe`) when `timeout` passes. A deadline, never a
/// bare sleep.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}
