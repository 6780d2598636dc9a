//! [`Backoff`]: the one retry schedule of the framework. Every loop that retries something
//! that failed (the client's reconnects; in slacker-zk the election's steps, re-opening an
//! expired session, re-registering and re-listing after an outage) waits by it, so none of them
//! can hot-loop and a crowd of them does not retry in lockstep.

use std::time::Duration;

/// Exponential backoff with "equal jitter": the n-th wait is drawn from
/// `[d/2, d]` where `d = first * 2^n`, capped at `max`. The jitter spreads a herd (hundreds of
/// clients that lost the same ZooKeeper at the same instant) over half the window, while each
/// retry still waits at least half the nominal delay.
///
/// ```
/// use std::time::Duration;
/// use slacker_core::backoff::Backoff;
///
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
/// let first = b.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// for _ in 0..10 {
///     assert!(b.next_delay() <= Duration::from_secs(2));
/// }
/// b.reset();
/// assert!(b.next_delay() <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    nominal: Duration,
}

impl Backoff {
    /// Starts at `first` (at least 1 ms, so that no schedule is a hot loop) and doubles up to
    /// `max` (at least `first`).
    pub fn new(first: Duration, max: Duration) -> Self {
        let first = first.max(Duration::from_millis(1));
        Self {
            first,
            max: max.max(first),
            nominal: first,
        }
    }

    /// The next wait, jittered; the nominal delay doubles for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.nominal;
        self.nominal = (self.nominal * 2).min(self.max);
        nominal.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }

    /// Back to `first` (after a success).
    pub fn reset(&mut self) {
        self.nominal = self.first;
    }

    /// Sleeps for [`Backoff::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

/// A random delay in `[0, max]`: spreads the first action of a crowd that woke up together
/// (every client re-listing the moment ZooKeeper comes back).
pub fn jitter(max: Duration) -> Duration {
    max.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        for nominal in [100u64, 200, 400, 800, 800, 800] {
            let d = b.next_delay();
            let nominal = Duration::from_millis(nominal);
            assert!(d >= nominal / 2 && d <= nominal, "{d:?} for {nominal:?}");
        }
    }

    #[test]
    fn never_zero() {
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert!(b.next_delay() >= Duration::from_micros(500));
    }
}
