//! What the handles, the calls in flight and the driver task share: the link to the current
//! connection, the pending calls (`pending.rs`: tid -> the caller's oneshot, and deadlines)
//! and the guard that takes a call out of them when the caller stops waiting. Previous hop:
//! `mod.rs` (a call parks itself here); next hop: `driver.rs` (the reader completes it).

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::pending::Pending;
use super::{ClientOptions, ConnState};
use crate::protocol::Packet;
use crate::{Error, Response, Result, ServerAddr};

/// What calls need from the driver: the current connection's writer, or why there is none.
#[derive(Debug, Clone)]
pub(super) enum Link {
    Connecting,
    Up(mpsc::Sender<Packet>),
    Down(Error),
    Closed,
}

impl Link {
    pub(super) fn state(&self) -> ConnState {
        match self {
            Self::Connecting => ConnState::Connecting,
            Self::Up(_) => ConnState::Connected,
            Self::Down(_) => ConnState::Disconnected,
            Self::Closed => ConnState::Closed,
        }
    }
}

/// State shared by handles, in-flight calls and the driver.
pub(super) struct Shared {
    pub(super) addr: ServerAddr,
    pub(super) options: ClientOptions,
    pub(super) next_tid: AtomicU64,
    /// Largest request frame to send: ours and the server's limit (from its hello).
    pub(super) frame_limit: AtomicUsize,
    pub(super) pending: Mutex<Pending>,
    /// Wakes the deadline sweeper (`pending::sweep`) for a deadline earlier than its own.
    pub(super) sweep: Notify,
    /// Frames read from the server so far, on any connection (a liveness probe's witness).
    pub(super) frames_read: AtomicU64,
    pub(super) link: watch::Sender<Link>,
    pub(super) state: watch::Sender<ConnState>,
    /// `state` as a number, for readers on the call path (a watch's borrow takes its lock).
    pub(super) conn: AtomicU8,
    pub(super) close: CancellationToken,
}

impl Shared {
    /// The connection state, without a lock.
    pub(super) fn conn_state(&self) -> ConnState {
        match self.conn.load(Ordering::Acquire) {
            s if s == ConnState::Connecting as u8 => ConnState::Connecting,
            s if s == ConnState::Connected as u8 => ConnState::Connected,
            s if s == ConnState::Disconnected as u8 => ConnState::Disconnected,
            _ => ConnState::Closed,
        }
    }

    pub(super) fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called after [`Pending::insert`] said so, with the lock released.
    pub(super) fn wake_sweeper(&self) {
        self.sweep.notify_one();
    }

    /// Asks the server to abort call `tid`. Best effort: with a full queue the server's own
    /// deadline ends the call. Request ids are unique across a client's connections, so after
    /// a reconnect the cancel finds nothing to cancel instead of another call.
    pub(super) fn send_cancel(&self, tid: u64) {
        if let Link::Up(tx) = &*self.link.borrow() {
            let _ = tx.try_send(Packet::Cancel { tid });
        }
    }

    pub(super) fn set_link(&self, link: Link) {
        let state = link.state();
        self.conn.store(state as u8, Ordering::Release);
        self.link.send_replace(link);
        self.state
            .send_if_modified(|s| std::mem::replace(s, state) != state);
    }

    /// Completes the pending call `tid`, if it is still waiting.
    pub(super) fn complete(&self, tid: u64, result: Result<Response>) {
        let slot = self.pending().remove(tid);
        if let Some(slot) = slot {
            let _ = slot.send(result);
        }
    }

    /// Fails every pending call with `err`; returns their tids.
    pub(super) fn fail_all(&self, err: &Error) -> Vec<u64> {
        let drained = self.pending().drain();
        if !drained.is_empty() {
            tracing::debug!(server = %self.addr, calls = drained.len(), error = %err, "failing pending calls");
        }
        drained
            .into_iter()
            .map(|(tid, slot)| {
                let _ = slot.send(Err(err.clone()));
                tid
            })
            .collect()
    }

    /// Fails every pending call with `err` while the connection stays up, and asks the server
    /// to cancel them (best effort: with a full queue the server's own deadline ends them).
    pub(super) fn abandon_all(&self, err: &Error) -> usize {
        let tids = self.fail_all(err);
        for &tid in &tids {
            self.send_cancel(tid);
        }
        tids.len()
    }
}

/// Removes a call that stopped waiting (timeout or dropped future) from the pending map and
/// tells the server to abort it.
pub(super) struct PendingGuard<'a> {
    pub(super) shared: &'a Shared,
    pub(super) tid: u64,
    pub(super) armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed && self.shared.pending().remove(self.tid).is_some() {
            self.shared.send_cancel(self.tid);
        }
    }
}
