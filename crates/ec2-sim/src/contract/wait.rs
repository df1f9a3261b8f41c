//! Waiting for a condition with a deadline — never a bare sleep. EC2 is eventually
//! consistent and attachments take time, so cases poll until what they expect holds. Both
//! helpers are the workspace's one poll loop (`multi_eni_testkit`) with the contract's deadline.

use std::future::Future;
use std::time::Duration;

/// How long a case waits for any one condition (real time; worlds run fast enough that a
/// healthy condition holds within a fraction of this).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `probe` until it returns `Some`, or panics naming `what` after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    multi_eni_testkit::wait_for(DEADLINE, what, probe).await
}

/// Retries `attempt` until it succeeds or fails with an error `settled` accepts as final,
/// tolerating the errors of eventual consistency meanwhile (a new ID not yet known,
/// throttling). Returns the final result.
pub async fn eventually<T, E, F, Fut>(
    what: &str,
    mut attempt: F,
    retry: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    multi_eni_testkit::wait_until(DEADLINE, what, || {
        let fut = attempt();
        let retry = &retry;
        async move {
            match fut.await {
                Err(e) if retry(&e) => Err(format!("{e:?}")),
                settled => Ok(settled),
            }
        }
    })
    .await
}
