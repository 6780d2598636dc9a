//! Waiting for a condition: poll it under a deadline.
//!
//! Tests never sleep to "let things settle": a fixed sleep is either too short on a loaded CI
//! machine (flaky) or too long everywhere else (slow). They wait for an event, or poll a
//! condition here with a generous deadline ([`DEADLINE`]); a timeout is a test failure that names
//! what was awaited.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The default deadline for conditions in tests: generous, because CI machines are slow and
/// busy, and a passing test only waits as long as it must.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Delay between two polls of a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A condition did not hold before its deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("condition not met within {timeout:?}")]
pub struct TimedOut {
    /// The deadline that passed.
    pub timeout: Duration,
}

/// Polls `condition` every 20 ms until it returns `true`, for at most `timeout`. The condition is
/// evaluated at least once, and once more after the deadline.
///
/// ```no_run
/// # async fn demo(proxy: slacker_tests::Proxy) {
/// use slacker_tests::{wait_until, DEADLINE};
/// wait_until(DEADLINE, || async { proxy.accepted() >= 2 }).await.expect("the client reconnected");
/// # }
/// ```
///
/// # Errors
///
/// [`TimedOut`] when the condition is still false at the deadline.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> Result<(), TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(timeout, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Polls `probe` every 20 ms until it returns `Some`, for at most `timeout`, and returns the
/// value: for waits that produce something (the leader's index, a registered address).
///
/// # Errors
///
/// [`TimedOut`] when the probe still returns `None` at the deadline.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let expired = Instant::now() >= deadline;
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if expired {
            return Err(TimedOut { timeout });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Bounds `future` by [`DEADLINE`], so that a broken test fails naming `what` instead of
/// hanging. For awaiting one event (a reply, a state change); poll conditions with
/// [`wait_until`].
///
/// # Panics
/// When `future` is not ready within [`DEADLINE`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?}: {what}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{wait_for, wait_until};

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let polls = AtomicUsize::new(0);
        let result = wait_until(Duration::from_secs(20), || async {
            polls.fetch_add(1, Ordering::SeqCst) == 3
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(polls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn times_out_naming_the_deadline() {
        let polls = AtomicUsize::new(0);
        let timeout = Duration::from_millis(100);
        let err = wait_until(timeout, || async {
            polls.fetch_add(1, Ordering::SeqCst);
            false
        })
        .await
        .expect_err("never true");
        assert_eq!(err.timeout, timeout);
        assert!(
            polls.load(Ordering::SeqCst) >= 2,
            "polled again at the deadline"
        );
    }

    #[tokio::test]
    async fn wait_for_returns_the_value() {
        let polls = AtomicUsize::new(0);
        let value = wait_for(Duration::from_secs(20), || async {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            (n == 2).then_some(n * 10)
        })
        .await;
        assert_eq!(value.expect("found"), 20);
    }
}
