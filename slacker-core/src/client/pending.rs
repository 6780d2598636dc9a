//! The calls waiting for a reply, and their deadlines. Previous hop: `Client::exchange`
//! registers a call here; next hops: the driver completes it (`driver.rs`), or the sweeper
//! below fails it when its deadline passes.
//!
//! One timer per client instead of one per call: a per-call `tokio::time::Sleep` is an insert
//! into and a removal from tokio's timer wheel, each under that wheel's lock, about 500
//! instructions of a 16-byte call. Here a call's deadline is a push onto a heap under the
//! lock the pending map already takes (with the client's one timeout, deadlines come in
//! order and the push is a single comparison), and one task sleeps until the earliest.
//! Calls that end before their deadline leave their heap entry behind; the heap is compacted
//! when it holds more than twice the calls in flight (plus [`SLACK`]), so it stays small
//! whatever the timeout and the call rate.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::shared::Shared;
use crate::names::FastBuild;
use crate::{Error, Response, Result};

/// Where a call's outcome goes.
pub(super) type Slot = oneshot::Sender<Result<Response>>;

/// Stale heap entries tolerated beyond twice the calls in flight before compacting.
const SLACK: usize = 64;

/// The pending calls, keyed by the client's own request ids (a fast hash: no peer inserts
/// into it; see `names.rs`), and their deadlines.
#[derive(Default)]
pub(super) struct Pending {
    calls: HashMap<u64, Slot, FastBuild>,
    /// (deadline, tid, timeout), earliest first; includes calls that already ended.
    deadlines: BinaryHeap<Reverse<(Instant, u64, Duration)>>,
    /// The deadline the sweeper sleeps until; `None` while it waits for a first call.
    armed: Option<Instant>,
}

impl Pending {
    pub(super) fn len(&self) -> usize {
        self.calls.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Registers call `tid`, to fail with a timeout of `timeout` at `deadline`. Returns
    /// whether the sweeper must be woken (the deadline is earlier than the one it sleeps
    /// until): then call [`Shared::wake_sweeper`] once the lock is released.
    #[must_use]
    pub(super) fn insert(
        &mut self,
        tid: u64,
        slot: Slot,
        deadline: Instant,
        timeout: Duration,
    ) -> bool {
        self.calls.insert(tid, slot);
        if self.deadlines.len() > 2 * self.calls.len() + SLACK {
            let calls = &self.calls;
            self.deadlines
                .retain(|Reverse((_, tid, _))| calls.contains_key(tid));
        }
        self.deadlines.push(Reverse((deadline, tid, timeout)));
        let wake = self.armed.is_none_or(|at| deadline < at);
        if wake {
            self.armed = Some(deadline);
        }
        wake
    }

    pub(super) fn remove(&mut self, tid: u64) -> Option<Slot> {
        self.calls.remove(&tid)
    }

    /// Takes every call, for failing them all.
    pub(super) fn drain(&mut self) -> Vec<(u64, Slot)> {
        self.deadlines.clear();
        self.calls.drain().collect()
    }

    /// Takes the calls whose deadline is at or before `now` into `out` (with their timeout)
    /// and returns the next deadline to sleep until.
    fn expired(&mut self, now: Instant, out: &mut Vec<(u64, Slot, Duration)>) -> Option<Instant> {
        while let Some(&Reverse((at, tid, timeout))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(slot) = self.calls.remove(&tid) {
                out.push((tid, slot, timeout));
            }
        }
        self.armed = self.deadlines.peek().map(|Reverse((at, ..))| *at);
        self.armed
    }

    /// Heap entries, live and stale (for the tests).
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.deadlines.len()
    }
}

/// The client's sweeper: fails each call whose deadline passed with [`Error::Timeout`] and
/// asks the server to cancel it, until the client closes. A reply that arrives first wins:
/// whoever takes the call out of the pending map completes it.
pub(super) async fn sweep(shared: Arc<Shared>) {
    let mut expired = Vec::new();
    loop {
        let next = shared.pending().expired(Instant::now(), &mut expired);
        for (tid, slot, after) in expired.drain(..) {
            let _ = slot.send(Err(Error::Timeout {
                server: Some(shared.addr.clone()),
                after,
            }));
            shared.send_cancel(tid);
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.close.cancelled() => return,
            () = shared.sweep.notified() => {}
            () = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> (Slot, oneshot::Receiver<Result<Response>>) {
        oneshot::channel()
    }

    #[test]
    fn expired_calls_come_out_in_deadline_order_and_the_next_deadline_is_armed() {
        let mut p = Pending::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let (a, _ra) = slot();
        let (b, _rb) = slot();
        let (c, _rc) = slot();
        assert!(
            p.insert(1, a, t0 + ms(30), ms(30)),
            "the first deadline wakes the sweeper"
        );
        assert!(!p.insert(2, b, t0 + ms(40), ms(40)), "a later one does not");
        assert!(p.insert(3, c, t0 + ms(10), ms(10)), "an earlier one does");
        let mut out = Vec::new();
        assert_eq!(p.expired(t0 + ms(30), &mut out), Some(t0 + ms(40)));
        let tids: Vec<_> = out.iter().map(|(tid, _, after)| (*tid, *after)).collect();
        assert_eq!(tids, [(3, ms(10)), (1, ms(30))]);
        assert_eq!(p.len(), 1);
        out.clear();
        assert_eq!(p.expired(t0 + ms(40), &mut out), None);
        assert_eq!(out.len(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn a_call_that_ended_is_not_expired_and_its_entry_does_not_pile_up() {
        let mut p = Pending::default();
        let t0 = Instant::now();
        let timeout = Duration::from_secs(10);
        let mut receivers = Vec::new();
        for tid in 1..=10_000u64 {
            let (s, r) = slot();
            receivers.push(r);
            let _ = p.insert(tid, s, t0 + timeout, timeout);
            assert!(p.remove(tid).is_some());
            assert!(
                p.entries() <= 2 * (p.len() + 1) + SLACK + 1,
                "{} entries",
                p.entries()
            );
        }
        let (s, _r) = slot();
        let _ = p.insert(10_001, s, t0 + timeout, timeout);
        let mut out = Vec::new();
        assert_eq!(p.expired(t0 + timeout, &mut out), None);
        let tids: Vec<_> = out.iter().map(|(tid, ..)| *tid).collect();
        assert_eq!(tids, [10_001], "only the call still pending times out");
    }
}
