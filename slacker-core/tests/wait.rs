//! Waiting helpers shared by the test support modules (`common`, `cluster_lab`): poll a condition
//! or bound a future, both under a 20 s deadline, so a broken test fails instead of hanging.

use std::future::Future;
use std::time::Duration;

/// Polls `cond` every 5 ms until it holds; panics after 20 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Bounds a future by 20 s so that a broken test fails instead of hanging.
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
