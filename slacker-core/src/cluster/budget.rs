//! The retry budget: failover may add at most a fixed share of load (Finagle's `RetryBudget`).
//! Previous hop: `cluster/mod.rs` deposits for every call and withdraws for every retry.
//!
//! Every single-server call deposits `ratio` of a token (default 0.2); every retry on another
//! server withdraws one. On top of that a floor of `min_per_second` retries per second is always
//! allowed, so a quiet client still fails over. So in a brown-out, when every call fails,
//! retries stay at about 20% of calls (plus the floor) instead of multiplying the load by the
//! number of servers. The balance is capped, so a long quiet spell cannot save up a storm.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Retry budget settings of a cluster. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryBudget {
    /// Retries allowed per call made, as a fraction (0.2: one retry per five calls).
    pub ratio: f64,
    /// Retries allowed per second whatever the call rate. Default 10.
    pub min_per_second: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_second: 10,
        }
    }
}

impl RetryBudget {
    /// Sets the ratio (clamped to 0..=1000) and the floor.
    pub fn new(ratio: f64, min_per_second: u32) -> Self {
        let ratio = if ratio.is_finite() {
            ratio.clamp(0.0, 1000.0)
        } else {
            0.0
        };
        Self {
            ratio,
            min_per_second,
        }
    }
}

/// Thousandths of a token.
const MILLI: i64 = 1000;
/// Most tokens the ratio part may hold.
const CAP_TOKENS: i64 = 100;

/// A running budget.
#[derive(Debug)]
pub(super) struct Budget {
    deposit: i64,
    balance: AtomicI64,
    min_per_second: u32,
    /// The floor's token bucket: (last refill, tokens).
    floor: Mutex<(Instant, f64)>,
}

impl Budget {
    pub(super) fn new(options: RetryBudget) -> Self {
        let options = RetryBudget::new(options.ratio, options.min_per_second);
        #[allow(clippy::cast_possible_truncation)]
        let deposit = (options.ratio * MILLI as f64).round() as i64;
        Self {
            deposit,
            balance: AtomicI64::new(0),
            min_per_second: options.min_per_second,
            floor: Mutex::new((Instant::now(), f64::from(options.min_per_second))),
        }
    }

    /// One call was made.
    pub(super) fn deposit(&self) {
        if self.deposit == 0 {
            return;
        }
        let cap = CAP_TOKENS.max(self.deposit / MILLI) * MILLI;
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b < cap).then(|| (b + self.deposit).min(cap))
            });
    }

    /// Asks for one retry; true when the budget allows it.
    pub(super) fn withdraw(&self) -> bool {
        let took = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b >= MILLI).then_some(b - MILLI)
            })
            .is_ok();
        took || self.withdraw_floor()
    }

    fn withdraw_floor(&self) -> bool {
        if self.min_per_second == 0 {
            return false;
        }
        let mut floor = self.floor.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let per_second = f64::from(self.min_per_second);
        let refill = now.duration_since(floor.0).as_secs_f64() * per_second;
        *floor = (now, (floor.1 + refill).min(per_second));
        if floor.1 >= 1.0 {
            floor.1 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_ratio_plus_the_floor() {
        let budget = Budget::new(RetryBudget::new(0.2, 10));
        let mut retries = 0;
        for _ in 0..10_000 {
            budget.deposit();
            if budget.withdraw() {
                retries += 1;
            }
        }
        // 20% of 10,000 plus at most the floor's 10 (and what it refills during the loop).
        assert!((2_000..=2_100).contains(&retries), "{retries}");
    }

    #[test]
    fn the_floor_allows_a_few_retries_without_calls() {
        let budget = Budget::new(RetryBudget::new(0.0, 3));
        let granted = (0..10).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn the_balance_is_capped() {
        let budget = Budget::new(RetryBudget::new(1.0, 0));
        for _ in 0..10_000 {
            budget.deposit();
        }
        let granted = (0..10_000).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, CAP_TOKENS as usize);
    }
}
