//! Leader election on ZooKeeper, node-for-node compatible with Apache Curator's `LeaderSelector`.
//!
//! `zookeeper-client`'s `Client::lock` speaks the same node layout, but once it has returned the
//! lock it tells the holder nothing about a suspended connection or a deleted node, it does not
//! check the node's owner (CURATOR-696), and it reads no participant ids. The one promise an
//! election makes needs the first two: never two processes that believe they lead while ZooKeeper
//! has one lock owner.
//!
//! # How it works
//!
//! Each participant queues a protected EPHEMERAL_SEQUENTIAL node (see [Node layout](#node-layout),
//! shared with Curator). It watches only its predecessor (no herd; after a predecessor vanishes
//! between the listing and the watch it lists again), and when its node is first in the queue it
//! checks that the node's `ephemeralOwner` is its current session (CURATOR-696) before it leads.
//! The leader function then runs with a [`Leadership`] handle: a fencing token, the session and
//! node to fence writes with, and a [`Leadership::lost`] future.
//!
//! Leadership is an explicit state machine ([`Phase`]), driven by one task per [`Election`]:
//!
//! ```text
//!  Joining ──node created──▶ Following ──first in queue, node is ours──▶ Leading
//!     ▲                                                                     │ term ends
//!     │                                                                     ▼
//!     └──────────────── auto_requeue (new session if it was lost) ──── Leaving ──▶ Stopped
//!                                                           (no requeue, stop(), drop)
//! ```
//!
//! A term ends ([`LeadershipEnd`]), and [`Leadership::lost`] resolves, at the first of: the leader
//! function returns; [`Leadership::release`]; [`Election::stop`] or drop; the connection is
//! suspended (`Disconnected`, Curator's default `Standard` error policy: the client notices a dead
//! connection within a fraction of the session timeout, so the leader steps down before the server
//! can expire its session and elect someone else, CURATOR-460); the session ends; the node is
//! deleted. The phase leaves `Leading` at that instant. The election then waits for the leader
//! function to return (its cleanup runs while the node still keeps everyone else out), deletes the
//! node (after a suspension, once the connection is back or the session is gone), and with
//! `auto_requeue` joins again at the back of the queue, with a fresh session from its
//! [`SessionSource`] if the old one ended. Like Curator's `LeaderSelector`, a short blip of the
//! leader's connection therefore hands leadership to the next participant.
//!
//! What no election can promise: a process that is paused for longer than its session timeout
//! (GC, SIGSTOP, a frozen VM) still believes it leads when it resumes, until its client notices
//! that the connection is dead. Resources that must never accept a deposed leader's writes check
//! the [fencing token](Leadership::token), or take writes fenced on the lock node
//! ([`Leadership::node_path`]).
//!
//! # Node layout
//!
//! ```text
//! <path>                                   container (ancestors: persistent), made on first join
//! <path>/_c_<uuid>-lock-0000000007         EPHEMERAL_SEQUENTIAL, data = participant id (UTF-8)
//! <path>/_c_<uuid>-lock-0000000009         (one node per participant in the queue)
//! ```
//!
//! Queue order is the sequence after the last `lock-`; the first node's owner leads. Curator's
//! `getLeader()`/`getParticipants()` read the same nodes, and so do [`current_leader`] and
//! [`participants`], which need no [`Election`]. The fencing token is the leader node's `czxid`:
//! it grows with every term even if the parent is deleted and its sequence counter restarts.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), zookeeper_client::Error> {
//! use slacker_zk::election::Election;
//!
//! let election = Election::builder("/app/leader", "10.0.0.7:7000")
//!     .auto_requeue(true)
//!     .start(
//!         || zookeeper_client::Client::connect("127.0.0.1:2181"),
//!         |leadership| async move {
//!             println!("leading with token {}", leadership.token());
//!             let why = leadership.lost().await;
//!             println!("no longer leading: {why:?}");
//!         },
//!     )?;
//! let view = election.subscribe(); // phase and participants, as they change
//! println!("leader: {:?}", view.borrow().leader());
//! election.stop().await;
//! # Ok(())
//! # }
//! ```

mod driver;
pub(crate) mod layout;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use zookeeper_client as zk;

pub use layout::{current_leader, participants, Participant};

/// Where an election gets its ZooKeeper sessions: once at start, and again after a session
/// expires or is closed.
///
/// Any `Fn() -> impl Future<Output = Result<zk::Client, zk::Error>>` is one, e.g.
/// `|| zk::Client::connector().with_session_timeout(t).connect(addr)`. A session supervisor that
/// owns the process's session can implement it by handing out its current live client. A source
/// that returns an error or an already terminated client is asked again after a backoff.
pub trait SessionSource: Send + Sync + 'static {
    /// Returns a connected client with a live session.
    fn session(&self) -> BoxFuture<'static, Result<zk::Client, zk::Error>>;
}

impl<F, Fut> SessionSource for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<zk::Client, zk::Error>> + Send + 'static,
{
    fn session(&self) -> BoxFuture<'static, Result<zk::Client, zk::Error>> {
        Box::pin(self())
    }
}

/// Where a participant is in the election. See the [module docs](self) for the transitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Not in the queue: waiting for a session or creating its node.
    Joining,
    /// In the queue behind another participant.
    Following,
    /// Leading, with this fencing token (see [`Leadership::token`]).
    Leading {
        /// The term's fencing token.
        token: i64,
    },
    /// A term just ended: waiting for the leader function to return, then deleting the node.
    Leaving,
    /// Out of the election for good.
    Stopped,
}

/// Why a term of leadership ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeadershipEnd {
    /// The leader function returned.
    Returned,
    /// [`Leadership::release`] was called.
    Released,
    /// [`Election::stop`] was called or the [`Election`] was dropped.
    Stopped,
    /// The connection to ZooKeeper was lost (`Disconnected`); the session may still be alive.
    Suspended,
    /// The session expired, was closed or failed authentication.
    SessionLost,
    /// The lock node was deleted by someone else (or no longer belongs to this session).
    NodeLost,
}

/// A participant's view of the election: its own phase and the queue as last read.
///
/// `phase` is authoritative for this participant. `participants` is refreshed from a child watch
/// on the election path (one listing and one multi-read per change and participant; the
/// election itself only ever watches its predecessor), so [`ElectionView::leader`] may briefly
/// lag a handover; it stays empty with [`ElectionBuilder::track_participants`] off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionView {
    /// This participant's phase.
    pub phase: Phase,
    /// Every participant in queue order: the first one leads.
    pub participants: Vec<Participant>,
}

impl ElectionView {
    /// Whether this participant leads right now.
    pub fn is_leader(&self) -> bool {
        matches!(self.phase, Phase::Leading { .. })
    }

    /// The id of the leader as last read from ZooKeeper (Curator's `getLeader()`).
    pub fn leader(&self) -> Option<&str> {
        self.participants.first().map(|p| p.id.as_str())
    }
}

/// The handle a leader function gets for one term of leadership. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Leadership {
    token: i64,
    client: zk::Client,
    node: Arc<str>,
    end: watch::Receiver<Option<LeadershipEnd>>,
    release: Arc<Notify>,
}

impl Leadership {
    /// The fencing token of this term: the lock node's `czxid`. Every later term of this
    /// election, by any participant, has a larger one; pass it to resources that must reject a
    /// deposed leader's writes.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The ZooKeeper session this term is held under.
    pub fn client(&self) -> &zk::Client {
        &self.client
    }

    /// The full path of this term's lock node. Writes that must only happen while this term
    /// lasts can be fenced on it: `client().new_check_writer(node_path(), None)` makes a
    /// multi-op that fails once the node is gone.
    pub fn node_path(&self) -> &str {
        &self.node
    }

    /// Whether this term has ended.
    pub fn is_lost(&self) -> bool {
        self.end.borrow().is_some()
    }

    /// Resolves when this term ends, with the reason. Leader functions should return soon after:
    /// the election waits for them before it frees the lock for the next leader.
    pub async fn lost(&self) -> LeadershipEnd {
        let mut end = self.end.clone();
        let ended = end.wait_for(Option::is_some).await.map(|end| *end);
        // A closed channel means the election task is gone: leadership is gone with it.
        ended.ok().flatten().unwrap_or(LeadershipEnd::Stopped)
    }

    /// Gives up leadership: ends this term (and only this one).
    pub fn release(&self) {
        self.release.notify_one();
    }
}

/// Configures and starts an [`Election`].
#[derive(Clone, Debug)]
pub struct ElectionBuilder {
    path: String,
    id: String,
    auto_requeue: bool,
    track_participants: bool,
}

impl ElectionBuilder {
    /// Re-enter the election after each term and after a lost session (default: `false`, the
    /// participant contends once: it leaves after its first term or when its session ends).
    pub fn auto_requeue(mut self, auto_requeue: bool) -> Self {
        self.auto_requeue = auto_requeue;
        self
    }

    /// Keep [`ElectionView::participants`] current (default: `true`). It costs a listing and a
    /// multi-read per change of the queue, in every participant: with `P` participants a change
    /// costs the election `2P` reads, so `P` participants joining cost `2P²`. A participant
    /// that only needs its own phase (a server in a large cluster: its namespace's routing
    /// reads the leader from discovery) turns it off; `participants` then stays empty.
    pub fn track_participants(mut self, track: bool) -> Self {
        self.track_participants = track;
        self
    }

    /// Joins the election: spawns its task on the current tokio runtime. `leader` runs once per
    /// term of leadership.
    ///
    /// # Errors
    /// [`zk::Error::BadArguments`] if the path is not an absolute ZooKeeper path other than `/`.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start<S, F, Fut>(self, sessions: S, leader: F) -> Result<Election, zk::Error>
    where
        S: SessionSource,
        F: FnMut(Leadership) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let path = &self.path;
        if !path.starts_with('/') || path.ends_with('/') || path.contains("//") {
            return Err(zk::Error::BadArguments(
                &"election path must be absolute, not / and not end with /",
            ));
        }
        let (stop, stop_rx) = watch::channel(false);
        let (view_tx, view) = watch::channel(ElectionView {
            phase: Phase::Joining,
            participants: Vec::new(),
        });
        let driver = driver::Driver {
            ctx: driver::Ctx {
                path: self.path,
                id: self.id,
                auto_requeue: self.auto_requeue,
                track_participants: self.track_participants,
                view: view_tx,
                stop: stop_rx,
                leftovers: std::sync::Mutex::default(),
            },
            sessions: Box::new(sessions),
            leader,
        };
        let task = tokio::spawn(driver.run());
        Ok(Election {
            stop,
            view,
            task: Some(task),
        })
    }
}

/// A participant in a leader election. Dropping it leaves the election (in the background);
/// [`Election::stop`] does the same and waits until the node is gone.
#[derive(Debug)]
pub struct Election {
    stop: watch::Sender<bool>,
    view: watch::Receiver<ElectionView>,
    task: Option<JoinHandle<()>>,
}

impl Election {
    /// Starts configuring a participant with id `id` (stored as its node's data, what Curator's
    /// `getLeader()` reports) in the election at `path`.
    pub fn builder(path: impl Into<String>, id: impl Into<String>) -> ElectionBuilder {
        ElectionBuilder {
            path: path.into(),
            id: id.into(),
            auto_requeue: false,
            track_participants: true,
        }
    }

    /// Whether this participant leads right now.
    pub fn is_leader(&self) -> bool {
        self.view.borrow().is_leader()
    }

    /// The current view: phase and participants.
    pub fn view(&self) -> ElectionView {
        self.view.borrow().clone()
    }

    /// A stream of view changes (a `watch`: intermediate states may be skipped, the latest is
    /// always seen).
    pub fn subscribe(&self) -> watch::Receiver<ElectionView> {
        self.view.clone()
    }

    /// Leaves the election: ends a term in progress, waits for the leader function to return
    /// (it should watch [`Leadership::lost`]) and for the node to be deleted. While ZooKeeper is unreachable this waits for the connection
    /// to come back or the session to expire; bound it with a timeout if needed.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            if let Err(err) = task.await {
                tracing::error!(%err, "election task failed");
            }
        }
    }
}
