//! Client-side discovery: watches one cluster's tree and turns it into
//! [`slacker_core::membership::Change`]s, the only thing the multi-server caller knows about.
//!
//! One persistent recursive watch on `<root>/<cluster>` reports every node created, deleted or
//! changed below it. Each event is answered by re-reading only what it touched (one server's
//! data, one namespace's children, one election's lowest lock node), so a change reaches routing
//! within one watch notification plus one read. After a reconnect or a new session the watch is
//! armed again and everything is re-listed and diffed against what was published: persistent
//! watches lose events in the gap (ZOOKEEPER-4698), and `zookeeper-client` 0.11.2 does not
//! restore them on reconnect at all (its `resend_watches` never selects `SetWatches2`).
//!
//! ZooKeeper being unreachable is not "no servers": while disconnected (or re-opening an expired
//! session) nothing is removed and routing keeps using the last known membership. A namespace's
//! routing list only contains servers that are also registered under `servers/`, and its leader
//! is the election's current leader ([`crate::election::current_leader`] of
//! `namespaces/<ns>/_leader/mutex`), when that participant is among the namespace's servers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde_json::Value;
use slacker_core::backoff::{self, Backoff};
use slacker_core::membership::Change;
use slacker_core::{FunctionDesc, ServerAddr};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::paths::{ClusterPaths, Node, DEFAULT_ROOT};
use crate::session::{sleep_until, Session, SessionEvent, ZkOptions, ZkState};
use crate::{Error, Result};

mod reader;
mod view;

use reader::Reader;
use view::{diff, routable};

/// Where to discover.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// ZooKeeper connection.
    pub zk: ZkOptions,
    /// Root of all clusters (default [`DEFAULT_ROOT`]).
    pub root: String,
}

/// Builder methods, one per field (the struct is `#[non_exhaustive]`: start from `default()` /
/// `new(..)` and chain).
impl DiscoveryOptions {
    /// Sets [`DiscoveryOptions::zk`](Self::zk).
    pub fn zk(mut self, zk: ZkOptions) -> Self {
        self.zk = zk;
        self
    }

    /// Sets [`DiscoveryOptions::root`](Self::root).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }
}

impl DiscoveryOptions {
    /// Options for ZooKeeper `connect` under the default root.
    pub fn new(connect: impl Into<String>) -> Self {
        Self {
            zk: ZkOptions::new(connect),
            root: DEFAULT_ROOT.to_owned(),
        }
    }
}

/// One namespace as routing sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceView {
    /// Servers offering it (registered under both `namespaces/<ns>` and `servers/`), sorted.
    pub servers: Vec<ServerAddr>,
    /// The election winner, when it is among `servers`.
    pub leader: Option<ServerAddr>,
}

/// The cluster as last read from ZooKeeper.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// ZooKeeper connection state. While not `Connected` the rest is the last known state.
    pub zk: ZkState,
    /// Every registered server and its server-data.
    pub servers: BTreeMap<ServerAddr, Value>,
    /// Every namespace present in ZooKeeper.
    pub namespaces: BTreeMap<String, NamespaceView>,
    /// How many full re-lists have been done (1 after start; grows after reconnects).
    pub resyncs: u64,
}

impl Membership {
    /// The servers offering `namespace` (empty if none or unknown).
    pub fn servers_of(&self, namespace: &str) -> &[ServerAddr] {
        self.namespaces
            .get(namespace)
            .map_or(&[], |ns| ns.servers.as_slice())
    }
}

/// A running discovery. Dropping it stops the watch and closes its session.
#[derive(Debug)]
pub struct Discovery {
    view: watch::Receiver<Membership>,
    client: watch::Receiver<zk::Client>,
    paths: ClusterPaths,
    data_changes: broadcast::Sender<(ServerAddr, Value)>,
    reads: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Discovery {
    /// Connects, arms the watch and reads the whole cluster. Returns once that first full read
    /// is done; the receiver then yields the changes that bring an empty routing table to it,
    /// and every change after.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad cluster name or connect string; [`Error::ZooKeeper`] if
    /// ZooKeeper cannot be reached or read.
    pub async fn start(
        cluster: &str,
        options: DiscoveryOptions,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Change>)> {
        let paths = ClusterPaths::new(&options.root, cluster)?;
        let session = Session::connect(options.zk).await?;
        let (changes, rx) = mpsc::unbounded_channel();
        let (data_changes, _) = broadcast::channel(64);
        let empty = Membership {
            zk: ZkState::Connected,
            servers: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            resyncs: 0,
        };
        let (view_tx, view) = watch::channel(empty.clone());
        let reads = Arc::new(AtomicU64::new(0));
        let (client_tx, client) = watch::channel(session.client().clone());
        let mut driver = Driver {
            paths: paths.clone(),
            session,
            watch: None,
            raw: Raw::default(),
            resyncs: 0,
            stale: true,
            resync_at: None,
            dirty: true,
            rearm: false,
            reads: reads.clone(),
            changes,
            view: view_tx,
            data_changes: data_changes.clone(),
            client: client_tx,
        };
        driver.resync(false).await?;
        driver.publish();
        let task = tokio::spawn(driver.run());
        Ok((
            Self {
                view,
                client,
                paths,
                data_changes,
                reads,
                task,
            },
            rx,
        ))
    }

    /// The current membership (a watch: `changed().await` to follow it).
    pub fn membership(&self) -> watch::Receiver<Membership> {
        self.view.clone()
    }

    /// The functions of `namespace` as its servers registered them under
    /// `functions/<namespace>/` (name, arguments, return type, doc), sorted by name: the
    /// cluster-level inspect, from ZooKeeper alone. Empty for an unknown namespace.
    ///
    /// # Errors
    /// [`Error::ZooKeeper`] when ZooKeeper cannot be read; [`Error::Config`] for a
    /// description that is not valid JSON.
    pub async fn functions(&self, namespace: &str) -> Result<Vec<FunctionDesc>> {
        let client = self.client.borrow().clone();
        let path = self.paths.functions(namespace);
        let names = match client.list_children(&path).await {
            Ok(names) => names,
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(Error::zk("list_children", path, e)),
        };
        let reads = names.iter().map(|name| {
            let path = self.paths.function(namespace, name);
            let client = &client;
            async move {
                match client.get_data(&path).await {
                    Ok((data, _)) => serde_json::from_slice::<FunctionDesc>(&data)
                        .map(Some)
                        .map_err(|e| {
                            Error::Config(format!("{path}: not a function description: {e}"))
                        }),
                    Err(zk::Error::NoNode) => Ok(None),
                    Err(e) => Err(Error::zk("get_data", path, e)),
                }
            }
        });
        let mut out: Vec<FunctionDesc> = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Stops watching and closes the ZooKeeper session; the membership keeps its last value.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// ZooKeeper read requests issued so far (a multi-read counts once, arming the watch
    /// once). A membership change costs a handful, whatever the cluster's size; a full
    /// re-list (start, reconnect, new session, a too-wide burst) about `namespaces * 3 +
    /// servers / 256`.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Server-data changes of already known servers, as `(server, new data)`.
    pub fn server_data_changes(&self) -> broadcast::Receiver<(ServerAddr, Value)> {
        self.data_changes.subscribe()
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What ZooKeeper holds, before filtering.
#[derive(Debug, Default, Clone)]
struct Raw {
    servers: BTreeMap<ServerAddr, Value>,
    namespaces: BTreeMap<String, RawNamespace>,
}

#[derive(Debug, Default, Clone)]
struct RawNamespace {
    members: BTreeSet<ServerAddr>,
    leader: Option<ServerAddr>,
}

struct Driver {
    paths: ClusterPaths,
    session: Session,
    watch: Option<zk::PersistentWatcher>,
    raw: Raw,
    resyncs: u64,
    /// A full re-list is needed (events may have been lost, or a read failed); it is
    /// scheduled at `resync_at`.
    stale: bool,
    resync_at: Option<Instant>,
    /// `raw` may differ from what was published.
    dirty: bool,
    /// The scheduled re-list arms the watch again first.
    rearm: bool,
    reads: Arc<AtomicU64>,
    changes: mpsc::UnboundedSender<Change>,
    view: watch::Sender<Membership>,
    data_changes: broadcast::Sender<(ServerAddr, Value)>,
    /// The current session's client, for one-off reads by the owner ([`Discovery::functions`]).
    client: watch::Sender<zk::Client>,
}

enum Wake {
    Session(SessionEvent),
    Node(zk::WatchedEvent),
    /// The scheduled re-list (after a reconnect, or a failed read) is due.
    Resync,
}

/// The most distinct things (servers, namespaces, elections) one burst of watch events may
/// touch and still be re-read one by one; beyond it one full re-list is cheaper.
const REFRESH_CAP: usize = 64;

/// How long a re-list caused by a too-wide burst waits (plus up to as much again, random), so
/// that the events that keep coming in a storm are read by it rather than each burst causing one.
const STORM_DELAY: Duration = Duration::from_millis(200);

/// The most events drained into one burst.
const BURST: usize = 1024;

/// The longest a re-list waits after a reconnect, plus 1 ms per known server. Every client of a
/// cluster loses ZooKeeper at the same instant (an ensemble restart), so each waits a random
/// part of this before re-reading the whole tree: the herd is spread instead of hitting
/// ZooKeeper at once. The last known membership keeps routing meanwhile.
pub const RESYNC_JITTER: Duration = Duration::from_secs(1);

impl Driver {
    async fn run(mut self) {
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        // Re-lists failed since the last success: a reconnect then waits by the backoff too,
        // so an overloaded ZooKeeper that keeps dropping connections is not re-listed ever
        // faster (each drop would otherwise start a fresh 0-1 s jitter).
        let mut failing = false;
        loop {
            // A re-list needs a live session. While there is none the timer is off: it would
            // fail anyway, and firing would cancel the session's renewal under way (renewing
            // can take longer than a retry interval in a herd, and would never finish).
            let due = self
                .resync_at
                .filter(|_| self.session.state() == ZkState::Connected);
            let wake = tokio::select! {
                biased;
                event = self.session.next_event() => Wake::Session(event),
                event = next_node_event(&mut self.watch) => Wake::Node(event),
                () = sleep_until(due), if due.is_some() => Wake::Resync,
            };
            match &wake {
                Wake::Session(event) => tracing::debug!(?event, "discovery: session event"),
                Wake::Node(event) => {
                    tracing::debug!(?event.event_type, ?event.session_state, path = event.path, "discovery: watch event")
                }
                Wake::Resync => tracing::debug!("discovery: re-listing"),
            }
            let result = match wake {
                Wake::Session(SessionEvent::Disconnected | SessionEvent::Expired) => Ok(()),
                Wake::Session(event @ (SessionEvent::Reconnected | SessionEvent::NewSession)) => {
                    if event == SessionEvent::NewSession {
                        self.watch = None;
                        self.client.send_replace(self.session.client().clone());
                    }
                    let after = if failing {
                        retry.next_delay()
                    } else {
                        self.resync_jitter()
                    };
                    self.schedule_resync(after, true);
                    Ok(())
                }
                Wake::Session(SessionEvent::Closed) => {
                    self.publish();
                    return;
                }
                Wake::Node(event) if event.event_type == zk::EventType::Session => {
                    // Never poll a persistent watcher after a terminal state: it panics.
                    if event.session_state.is_terminated() {
                        self.watch = None;
                    }
                    Ok(())
                }
                // A re-list is scheduled: it reads everything this event touched too.
                Wake::Node(_) if self.stale => Ok(()),
                Wake::Node(event) => {
                    let deadline = self.read_deadline();
                    let read = tokio::time::timeout(deadline, self.refresh_burst(event)).await;
                    read.unwrap_or_else(|_| Err(self.timed_out("refresh", deadline)))
                }
                Wake::Resync => {
                    let deadline = self.read_deadline();
                    let read = tokio::time::timeout(deadline, self.resync(false)).await;
                    read.unwrap_or_else(|_| {
                        // It may have stopped before or while arming the watch.
                        self.rearm = true;
                        Err(self.timed_out("re-list", deadline))
                    })
                }
            };
            match result {
                Ok(()) if !self.stale => {
                    retry.reset();
                    failing = false;
                }
                Ok(()) => {}
                Err(err) => {
                    // Keep the last known state; re-list after a backoff (not only on the next
                    // event: none may come, e.g. when the watch itself could not be armed).
                    tracing::warn!(error = %err, "discovery read failed; keeping the last known membership");
                    failing = true;
                    self.schedule_resync(retry.next_delay(), false);
                }
            }
            self.publish();
        }
    }

    /// The random wait before a re-list after a reconnect: within [`RESYNC_JITTER`] plus 1 ms
    /// per known server (capped at 10 s), so that the crowd of clients of a large cluster,
    /// whose re-lists are larger, is spread wider.
    fn resync_jitter(&self) -> Duration {
        let per_server = Duration::from_millis(self.raw.servers.len() as u64);
        backoff::jitter((RESYNC_JITTER + per_server).min(Duration::from_secs(10)))
    }

    /// How long one refresh or re-list may take: a read that has not been answered within the
    /// session timeout is treated as failed (and retried), so that no lost reply can wedge the
    /// driver.
    fn read_deadline(&self) -> Duration {
        self.session
            .options()
            .session_timeout
            .max(Duration::from_secs(1))
    }

    fn timed_out(&self, what: &str, after: Duration) -> Error {
        Error::zk(
            "read",
            format!("{} ({what})", self.paths.base()),
            zk::Error::UnexpectedError(format!("no answer within {after:?}")),
        )
    }

    /// Marks the view stale and schedules a full re-list `after` from now (an earlier one
    /// already scheduled stands).
    fn schedule_resync(&mut self, after: Duration, rearm: bool) {
        self.stale = true;
        self.rearm |= rearm;
        let at = Instant::now() + after;
        self.resync_at = Some(self.resync_at.map_or(at, |t| t.min(at)));
    }

    /// Applies `first` and every event already queued behind it: each thing they touched is
    /// re-read once, or everything is re-listed when they touched more than [`REFRESH_CAP`].
    async fn refresh_burst(&mut self, first: zk::WatchedEvent) -> Result<()> {
        let mut paths = BTreeSet::from([first.path]);
        while paths.len() < BURST {
            let Some(watch) = self.watch.as_mut() else {
                break;
            };
            match watch.changed().now_or_never() {
                Some(event) if event.event_type == zk::EventType::Session => {
                    if event.session_state.is_terminated() {
                        self.watch = None;
                    }
                    break;
                }
                Some(event) => {
                    paths.insert(event.path);
                }
                None => break,
            }
        }
        let mut units = BTreeSet::new();
        for path in &paths {
            match self.paths.parse(path) {
                Node::Base | Node::Servers | Node::Namespaces => return self.resync(false).await,
                Node::Server(addr) => units.insert(Unit::Server(addr.to_owned())),
                Node::Namespace(ns) | Node::NamespaceServer(ns, _) => {
                    units.insert(Unit::Namespace(ns.to_owned()))
                }
                Node::Election(ns) => units.insert(Unit::Election(ns.to_owned())),
                Node::Leader(_) | Node::Other => false,
            };
        }
        // A namespace re-read includes its leader.
        let namespaces: BTreeSet<String> = units
            .iter()
            .filter_map(|u| match u {
                Unit::Namespace(ns) => Some(ns.clone()),
                _ => None,
            })
            .collect();
        units.retain(|u| !matches!(u, Unit::Election(ns) if namespaces.contains(ns)));
        if units.len() > REFRESH_CAP {
            // A storm (every server re-registering after an outage): one re-list shortly,
            // covering this burst and every event until then, instead of one per burst.
            tracing::debug!(
                events = paths.len(),
                touched = units.len(),
                "discovery: burst too wide; re-listing shortly"
            );
            self.schedule_resync(STORM_DELAY + backoff::jitter(STORM_DELAY), false);
            return Ok(());
        }
        for unit in units {
            self.refresh(unit).await?;
        }
        Ok(())
    }

    /// Arms the watch (again, if `rearm` or it has none) and re-reads everything.
    async fn resync(&mut self, rearm: bool) -> Result<()> {
        // This is the scheduled re-list, or replaces it; a failure schedules the next one.
        self.resync_at = None;
        let rearm = std::mem::take(&mut self.rearm) || rearm || self.watch.is_none();
        let base = self.paths.base().to_owned();
        if rearm {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let armed = self
                .session
                .client()
                .watch(&base, zk::AddWatchMode::PersistentRecursive)
                .await;
            let watcher = armed.map_err(|e| {
                self.rearm = true;
                Error::zk("watch", base.clone(), e)
            })?;
            // The old watcher is dropped after the new one is registered, so dropping it does
            // not remove the server-side watch.
            self.watch = Some(watcher);
        }
        let reader = self.reader();
        let mut raw = Raw::default();
        let servers = reader.children(&self.paths.servers()).await?;
        for (addr, data) in reader.servers_data(servers).await? {
            raw.servers.insert(ServerAddr::new(addr), data);
        }
        let namespaces = reader.children(&self.paths.namespaces()).await?;
        raw.namespaces = reader.namespaces(namespaces).await?;
        self.raw = raw;
        self.dirty = true;
        self.resyncs += 1;
        self.stale = false;
        Ok(())
    }

    /// Re-reads one server, namespace or election.
    async fn refresh(&mut self, unit: Unit) -> Result<()> {
        let reader = self.reader();
        self.dirty = true;
        match unit {
            Unit::Server(addr) => match reader.server_data(&addr).await? {
                Some(data) => {
                    self.raw.servers.insert(ServerAddr::from(addr), data);
                }
                None => {
                    self.raw.servers.remove(&ServerAddr::from(addr));
                }
            },
            Unit::Namespace(ns) => match reader.namespace(&ns).await? {
                Some(view) => {
                    self.raw.namespaces.insert(ns, view);
                }
                None => {
                    self.raw.namespaces.remove(&ns);
                }
            },
            Unit::Election(ns) => {
                let leader = reader.leader(&ns).await?;
                if let Some(view) = self.raw.namespaces.get_mut(&ns) {
                    view.leader = leader;
                }
            }
        }
        Ok(())
    }

    fn reader(&self) -> Reader {
        Reader {
            client: self.session.client().clone(),
            paths: self.paths.clone(),
            reads: self.reads.clone(),
        }
    }

    /// Publishes the difference between the raw state and what was last published.
    fn publish(&mut self) {
        // Most wake-ups change nothing (events covered by a scheduled re-list, session
        // events): building and comparing a large cluster's view for them would cost O(servers)
        // each, the clients' main CPU cost in a storm.
        let zk = self.session.state();
        if !self.dirty && zk == self.view.borrow().zk {
            return;
        }
        self.dirty = false;
        let next = Membership {
            zk,
            servers: self.raw.servers.clone(),
            namespaces: self
                .raw
                .namespaces
                .iter()
                .map(|(ns, raw)| (ns.clone(), routable(raw, &self.raw.servers)))
                .collect(),
            resyncs: self.resyncs,
        };
        // What was published lives only in the watch (no second copy of a large cluster).
        let view = self.view.clone();
        let published = view.borrow();
        if next == *published {
            return;
        }
        for change in diff(&published, &next) {
            match &change {
                Change::Insert(addr, info) if published.servers.contains_key(addr) => {
                    tracing::info!(server = %addr, data = %info.data, "membership: server-data changed");
                }
                Change::Insert(addr, info) => {
                    tracing::info!(server = %addr, data = %info.data, "membership: server joined");
                }
                Change::Remove(addr) => tracing::info!(server = %addr, "membership: server left"),
                Change::Namespace {
                    namespace,
                    servers,
                    leader,
                } => {
                    let servers: Vec<&str> = servers.iter().map(ServerAddr::as_str).collect();
                    let leader = leader.as_ref().map(ServerAddr::as_str);
                    tracing::info!(%namespace, ?servers, ?leader, "membership: namespace changed");
                }
                _ => {}
            }
            if let Change::Insert(addr, info) = &change {
                if published.servers.contains_key(addr) {
                    let _ = self.data_changes.send((addr.clone(), info.data.clone()));
                }
            }
            // The receiver may be gone (client closing); the view below still updates.
            let _ = self.changes.send(change);
        }
        drop(published);
        self.view.send_replace(next);
    }
}

async fn next_node_event(watch: &mut Option<zk::PersistentWatcher>) -> zk::WatchedEvent {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// One thing a watch event touched, re-read as a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Server(String),
    Namespace(String),
    Election(String),
}
