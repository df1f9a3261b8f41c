//! Waiting for a condition with a deadline — never a bare sleep. EC2 is eventually
//! consistent and attachments take time, so cases poll until what they expect holds.

use std::future::Future;
use std::time::Duration;

/// How long a case waits for any one condition (real time; worlds run fast enough that a
/// healthy condition holds within a fraction of this).
pub const DEADLINE: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(10);

/// Polls `probe` until it returns `Some`, or panics naming `what` after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
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
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match attempt().await {
            Err(e) if retry(&e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out after {DEADLINE:?} retrying {what}; last error {e:?}"
                );
                tokio::time::sleep(POLL).await;
            }
            other => return other,
        }
    }
}
