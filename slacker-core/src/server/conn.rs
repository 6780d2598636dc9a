//! What a connection shares with the requests running on it ([`Conn`]): the writer's queue,
//! the in-flight count and the cancel switches by tid. Written by `connection.rs` (a TCP
//! connection) and `gateway.rs` (a virtual one per HTTP call); read by `dispatch.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use crate::codec::Outgoing;
use crate::protocol::Packet;
use crate::ResultCode;

/// What request tasks share with their connection.
pub(super) struct Conn {
    pub(super) peer: SocketAddr,
    /// The writer's queue; bounded, so a peer that does not read stops being read.
    pub(super) tx: mpsc::Sender<Outgoing>,
    pub(super) in_flight: AtomicUsize,
    /// Cancel switches of running requests, by tid, with the generation that tells a request
    /// from a later one reusing its tid.
    running: Mutex<HashMap<u64, (u64, oneshot::Sender<()>)>>,
    next_generation: AtomicU64,
}

/// A registered request's handle on its entry in [`Conn`]'s running map.
pub(super) struct Running {
    /// Which registration of the tid this is.
    pub(super) generation: u64,
    /// Fires when the peer cancels the request (or the connection closes).
    pub(super) cancel: oneshot::Receiver<()>,
}

impl Conn {
    /// A connection whose answers go to `tx`: a TCP connection's writer queue, or a virtual
    /// connection's (the HTTP gateway makes one per request, so gateway calls get the same
    /// admission, limits and cancellation as any other).
    pub(super) fn new(peer: SocketAddr, tx: mpsc::Sender<Outgoing>) -> Self {
        Self {
            peer,
            tx,
            in_flight: AtomicUsize::new(0),
            running: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
        }
    }

    /// Cancels every request still running on this connection (closed, or a virtual one whose
    /// HTTP client went away).
    pub(super) fn cancel_all(&self) {
        self.running().clear();
    }

    /// Cancels request `tid` if it is running (a cancel packet).
    pub(super) fn cancel(&self, tid: u64) {
        if let Some((_, cancel)) = self.running().remove(&tid) {
            let _ = cancel.send(());
        }
    }

    /// Queues a packet for the writer, waiting while the queue is full. A closed connection
    /// drops it: nobody is listening.
    pub(super) async fn send(&self, p: Packet) {
        let _ = self.tx.send(Outgoing::Packet(p)).await;
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (u64, oneshot::Sender<()>)>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether request `tid` is running (registered and not finished or cancelled).
    pub(super) fn is_running(&self, tid: u64) -> bool {
        self.running().contains_key(&tid)
    }

    /// Registers a running request; `None` if the tid is already running.
    pub(super) fn register(&self, tid: u64) -> Option<Running> {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let mut running = self.running();
        match running.entry(tid) {
            std::collections::hash_map::Entry::Occupied(_) => None,
            std::collections::hash_map::Entry::Vacant(v) => {
                let (tx, cancel) = oneshot::channel();
                v.insert((generation, tx));
                Some(Running { generation, cancel })
            }
        }
    }

    /// Removes the entry of request `tid` registered as `generation`, if it is still there
    /// (a cancel removed it, and a new request may have registered the tid since).
    pub(super) fn finish(&self, tid: u64, generation: u64) {
        let mut running = self.running();
        if running.get(&tid).is_some_and(|(g, _)| *g == generation) {
            running.remove(&tid);
        }
    }
}

/// An error answer to `tid`.
pub(super) fn error(tid: u64, code: ResultCode, message: String) -> Packet {
    Packet::Error { tid, code, message }
}
