//! What every multi-eni test suite shares. Today: waiting for a condition with a deadline,
//! never a bare sleep — the one poll-until helper of the workspace.

use std::future::Future;
use std::time::Duration;

/// How often [`wait_until`] re-checks. Short: the conditions waited for are cheap to check and
/// the servers behind them are local.
const POLL: Duration = Duration::from_millis(10);

/// Re-checks `check` until it returns `Ok`, and panics with `what` and the last `Err` seen when
/// `timeout` passes. The `Err` says what was seen instead, so a failure explains itself.
///
/// Uses tokio's clock, so a test on paused time waits in virtual time.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match poll_until(timeout, check).await {
        Ok(v) => v,
        Err(last) => panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}"),
    }
}

/// [`wait_until`] that returns the last `Err` seen instead of panicking, for callers that count
/// a timeout as a finding (the chaos campaign) rather than a failed test.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(last) if tokio::time::Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// [`wait_until`] for checks that have nothing to say when they fail.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_until(timeout, what, || {
        let fut = check();
        async move { fut.await.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_the_first_success() {
        let calls = AtomicU32::new(0);
        let v = wait_until(Duration::from_secs(5), "the third call", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n >= 2 {
                    Ok(n)
                } else {
                    Err(format!("call {n}"))
                }
            }
        })
        .await;
        assert_eq!(v, 2);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "waiting for never; last seen: still no")]
    async fn panics_with_the_last_thing_seen_after_the_deadline() {
        wait_until::<(), _, _>(Duration::from_secs(1), "never", || async {
            Err("still no".to_string())
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn poll_until_returns_the_last_thing_seen_after_the_deadline() {
        let r = poll_until::<(), _, _>(Duration::from_secs(1), || async {
            Err("still no".to_string())
        })
        .await;
        assert_eq!(r, Err("still no".to_string()));
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out after 1s waiting for nothing")]
    async fn wait_for_panics_after_the_deadline() {
        wait_for::<(), _, _>(Duration::from_secs(1), "nothing", || async { None }).await;
    }
}
