//! Per-server failure accrual and outlier ejection (Finagle's `FailureAccrualFactory`, Envoy's
//! consecutive-errors outlier detection). Previous hop: `cluster/mod.rs` records each attempt's
//! outcome here; next hop: `table.rs` skips ejected servers when it chooses one.
//!
//! A server whose calls fail `consecutive_failures` times in a row, with a failure that speaks
//! of the server's health (the connection failed, the call timed out, the peer broke the
//! protocol), is ejected: single-server groupings stop choosing it for `base`, doubled on each
//! ejection in a row up to `max`, and every call still pending on it fails at once (the
//! stub fails over when the method is idempotent). When the period ends the server is chosen
//! again: one success restores it, one more failure ejects it again for longer. Application
//! errors, bad arguments and refusals (`Overloaded`, unknown function, ...) say nothing about
//! the server's health and reset nothing.
//!
//! `leader` and `all` ignore ejection: a call never goes to a non-leader, and a broadcast
//! reports every server's answer. When every candidate is ejected, they are chosen anyway.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::Error;

/// Outlier ejection settings of a cluster. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutlierEjection {
    /// Failures in a row that eject a server; 0 disables ejection. Default 5.
    pub consecutive_failures: u32,
    /// First ejection period, doubled per ejection in a row. Default 1 s.
    pub base: Duration,
    /// Longest ejection period. Default 30 s.
    pub max: Duration,
}

impl Default for OutlierEjection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl OutlierEjection {
    /// Ejection switched off.
    pub fn disabled() -> Self {
        Self {
            consecutive_failures: 0,
            ..Self::default()
        }
    }

    /// Sets how many failures in a row eject a server (0 disables).
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// Sets the first and the longest ejection period.
    pub fn period(mut self, base: Duration, max: Duration) -> Self {
        self.base = base;
        self.max = max.max(base);
        self
    }
}

/// What one attempt's outcome says about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It answered.
    Healthy,
    /// It failed in a way that points at the server or the path to it.
    Failing,
    /// Nothing either way.
    Neutral,
}

impl Verdict {
    pub(super) fn of(result: &Result<crate::Response, Error>) -> Self {
        match result {
            Ok(_) => Self::Healthy,
            Err(Error::Connection { .. } | Error::Timeout { .. } | Error::Protocol { .. }) => {
                Self::Failing
            }
            // The server answered: it is alive, whatever the code says.
            Err(Error::Remote { .. }) => Self::Healthy,
            Err(_) => Self::Neutral,
        }
    }
}

/// One server's failure accrual state; lock-free, read on every selection.
#[derive(Debug, Default)]
pub(super) struct Health {
    consecutive: AtomicU32,
    /// Ejections in a row (for the doubling period); reset by a success.
    ejections: AtomicU32,
    /// End of the current ejection, in nanoseconds since [`epoch`]; 0 when not ejected.
    ejected_until: AtomicU64,
}

/// Ejection periods are stored as offsets from one process-wide instant.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Health {
    /// True while the server sits out an ejection period.
    pub(super) fn is_ejected(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Acquire);
        until != 0 && now_nanos() < until
    }

    /// Failures in a row so far.
    pub(super) fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Ordering::Acquire)
    }

    /// Records one attempt. Returns the ejection period when this outcome ejects the server.
    pub(super) fn record(&self, verdict: Verdict, policy: &OutlierEjection) -> Option<Duration> {
        match verdict {
            Verdict::Neutral => None,
            Verdict::Healthy => {
                if self.consecutive.load(Ordering::Relaxed) != 0 {
                    self.consecutive.store(0, Ordering::Release);
                }
                if self.ejections.load(Ordering::Relaxed) != 0 {
                    self.ejections.store(0, Ordering::Release);
                    self.ejected_until.store(0, Ordering::Release);
                }
                None
            }
            Verdict::Failing => {
                let failures = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
                if policy.consecutive_failures == 0
                    || failures < policy.consecutive_failures
                    || self.is_ejected()
                {
                    return None;
                }
                let ejections = self.ejections.fetch_add(1, Ordering::AcqRel);
                let period = policy
                    .base
                    .saturating_mul(1u32 << ejections.min(16))
                    .min(policy.max.max(policy.base));
                let until = now_nanos()
                    .saturating_add(u64::try_from(period.as_nanos()).unwrap_or(u64::MAX));
                self.ejected_until.store(until, Ordering::Release);
                Some(period)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(health: &Health, policy: &OutlierEjection, n: u32) -> Vec<Option<Duration>> {
        (0..n)
            .map(|_| health.record(Verdict::Failing, policy))
            .collect()
    }

    #[test]
    fn ejects_after_consecutive_failures_and_doubles_the_period() {
        let policy = OutlierEjection::default().period(Duration::ZERO, Duration::ZERO);
        let health = Health::default();
        let first = failing(&health, &policy, 5);
        assert_eq!(first[..4], [None, None, None, None]);
        assert_eq!(first[4], Some(Duration::ZERO), "the fifth failure ejects");
        // A zero period is over at once: the next failure (a failed probe) ejects again.
        assert!(!health.is_ejected());
        assert_eq!(
            health.record(Verdict::Failing, &policy),
            Some(Duration::ZERO)
        );

        let policy =
            OutlierEjection::default().period(Duration::from_secs(1), Duration::from_secs(3));
        let health = Health::default();
        assert_eq!(
            failing(&health, &policy, 5)[4],
            Some(Duration::from_secs(1))
        );
        assert!(health.is_ejected());
        assert_eq!(
            health.record(Verdict::Failing, &policy),
            None,
            "already out"
        );
    }

    #[test]
    fn a_success_or_a_remote_answer_resets_the_count() {
        let policy = OutlierEjection::default();
        let health = Health::default();
        failing(&health, &policy, 4);
        health.record(Verdict::Healthy, &policy);
        assert_eq!(health.consecutive_failures(), 0);
        assert_eq!(failing(&health, &policy, 4), [None, None, None, None]);
        let remote = Err(Error::Remote {
            server: "s:1".into(),
            code: crate::ResultCode::Overloaded,
            message: String::new(),
        });
        assert_eq!(Verdict::of(&remote), Verdict::Healthy);
        assert_eq!(Verdict::of(&Err(Error::Closed)), Verdict::Neutral);
    }

    #[test]
    fn disabled_never_ejects() {
        let health = Health::default();
        let policy = OutlierEjection::disabled();
        assert!(failing(&health, &policy, 50).iter().all(Option::is_none));
    }
}
