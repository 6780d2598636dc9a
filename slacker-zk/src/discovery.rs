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
use slacker_core::membership::{Change, ServerInfo};
use slacker_core::ServerAddr;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::election::{current_leader, layout};
use crate::paths::{is_server_child, ClusterPaths, Node, DEFAULT_ROOT};
use crate::session::{sleep_until, Session, SessionEvent, ZkOptions, ZkState};
use crate::{Error, Result};

/// Where to discover.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// ZooKeeper connection.
    pub zk: ZkOptions,
    /// Root of all clusters (default [`DEFAULT_ROOT`]).
    pub root: String,
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
        let mut driver = Driver {
            paths,
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
        };
        driver.resync(false).await?;
        driver.publish();
        let task = tokio::spawn(driver.run());
        Ok((
            Self {
                view,
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

/// The routing view of one namespace: members that are registered servers, and the leader if
/// it is one of them.
fn routable(raw: &RawNamespace, servers: &BTreeMap<ServerAddr, Value>) -> NamespaceView {
    let members: Vec<ServerAddr> = raw
        .members
        .iter()
        .filter(|a| servers.contains_key(*a))
        .cloned()
        .collect();
    let leader = raw.leader.clone().filter(|l| members.contains(l));
    NamespaceView {
        servers: members,
        leader,
    }
}

/// The changes that turn `old` into `new`: inserts first, then namespace lists, then removals,
/// so a namespace never lists a server its consumer has not heard of.
fn diff(old: &Membership, new: &Membership) -> Vec<Change> {
    let mut out = Vec::new();
    for (addr, data) in &new.servers {
        if old.servers.get(addr) != Some(data) {
            out.push(Change::Insert(
                addr.clone(),
                ServerInfo { data: data.clone() },
            ));
        }
    }
    let names: BTreeSet<&String> = old.namespaces.keys().chain(new.namespaces.keys()).collect();
    for ns in names {
        let now = new.namespaces.get(ns);
        if old.namespaces.get(ns) != now {
            let now = now.cloned().unwrap_or_default();
            out.push(Change::Namespace {
                namespace: ns.clone(),
                servers: now.servers,
                leader: now.leader,
            });
        }
    }
    for addr in old.servers.keys() {
        if !new.servers.contains_key(addr) {
            out.push(Change::Remove(addr.clone()));
        }
    }
    out
}

/// One thing a watch event touched, re-read as a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Server(String),
    Namespace(String),
    Election(String),
}

/// Server-data nodes read per multi-read request during a full re-list.
const MULTI_READ: usize = 256;

/// What one read of a multi-read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOp {
    Data,
    Children,
}

impl ReadOp {
    fn name(self) -> &'static str {
        match self {
            Self::Data => "get_data",
            Self::Children => "list_children",
        }
    }
}

/// One answer of a multi-read.
enum Read {
    Data(Vec<u8>),
    Children(Vec<String>),
}

/// The driver's reads, each request counted (see [`Discovery::reads`]).
struct Reader {
    client: zk::Client,
    paths: ClusterPaths,
    reads: Arc<AtomicU64>,
}

impl Reader {
    fn count(&self, requests: u64) {
        self.reads.fetch_add(requests, Ordering::Relaxed);
    }

    /// Children of `path`; a missing node has none.
    async fn children(&self, path: &str) -> Result<Vec<String>> {
        self.count(1);
        match self.client.list_children(path).await {
            Ok(children) => Ok(children),
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(Error::zk("list_children", path, e)),
        }
    }

    /// The server-data of `addr`; `None` if it is not registered.
    async fn server_data(&self, addr: &str) -> Result<Option<Value>> {
        let path = self.paths.server(addr);
        self.count(1);
        match self.client.get_data(&path).await {
            Ok((data, _)) => Ok(Some(parse_server_data(addr, &data))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(Error::zk("get_data", path, e)),
        }
    }

    /// One read per path (data or children), [`MULTI_READ`] per request; `None` for a node
    /// that does not exist.
    async fn multi_read(&self, paths: &[String], op: ReadOp) -> Result<Vec<Option<Read>>> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(MULTI_READ) {
            let mut multi = self.client.new_multi_reader();
            for path in chunk {
                let added = match op {
                    ReadOp::Data => multi.add_get_data(path),
                    ReadOp::Children => multi.add_get_children(path),
                };
                added.map_err(|e| Error::zk(op.name(), path.clone(), e))?;
            }
            self.count(1);
            let results = multi.commit().await.map_err(|e| {
                let first = chunk.first().cloned().unwrap_or_default();
                Error::zk("multi_read", first, e)
            })?;
            for (path, result) in chunk.iter().zip(results) {
                out.push(match result {
                    zk::MultiReadResult::Data { data, .. } if op == ReadOp::Data => {
                        Some(Read::Data(data))
                    }
                    zk::MultiReadResult::Children { children } if op == ReadOp::Children => {
                        Some(Read::Children(children))
                    }
                    zk::MultiReadResult::Error {
                        err: zk::Error::NoNode,
                    } => None,
                    zk::MultiReadResult::Error { err } => {
                        return Err(Error::zk(op.name(), path.clone(), err))
                    }
                    _ => {
                        return Err(Error::zk(
                            op.name(),
                            path.clone(),
                            zk::Error::UnexpectedError("a reply of the other kind".into()),
                        ))
                    }
                });
            }
        }
        Ok(out)
    }

    /// The server-data of each of `addrs` still registered.
    async fn servers_data(&self, addrs: Vec<String>) -> Result<Vec<(String, Value)>> {
        let paths: Vec<String> = addrs.iter().map(|a| self.paths.server(a)).collect();
        let reads = self.multi_read(&paths, ReadOp::Data).await?;
        Ok(addrs
            .into_iter()
            .zip(reads)
            .filter_map(|(addr, read)| match read {
                Some(Read::Data(data)) => {
                    let value = parse_server_data(&addr, &data);
                    Some((addr, value))
                }
                _ => None,
            })
            .collect())
    }

    /// `paths`' children (`None` for a missing node).
    async fn children_of(&self, paths: &[String]) -> Result<Vec<Option<Vec<String>>>> {
        let reads = self.multi_read(paths, ReadOp::Children).await?;
        Ok(reads
            .into_iter()
            .map(|read| match read {
                Some(Read::Children(children)) => Some(children),
                _ => None,
            })
            .collect())
    }

    /// Every namespace of `names` that exists, with its members and leader, in a few
    /// multi-reads whatever their number: the children of every namespace node, the children
    /// of every election, the head node of every election.
    async fn namespaces(&self, names: Vec<String>) -> Result<BTreeMap<String, RawNamespace>> {
        let node_paths: Vec<String> = names.iter().map(|ns| self.paths.namespace(ns)).collect();
        let mutexes: Vec<String> = names.iter().map(|ns| self.paths.leader_mutex(ns)).collect();
        let members = self.children_of(&node_paths).await?;
        let queues = self.children_of(&mutexes).await?;
        let mut out = BTreeMap::new();
        let mut heads = Vec::new();
        for ((ns, members), (mutex, queue)) in names
            .into_iter()
            .zip(members)
            .zip(mutexes.iter().zip(queues))
        {
            let Some(members) = members else { continue };
            let members = members
                .into_iter()
                .filter(|c| is_server_child(c))
                .map(ServerAddr::new)
                .collect();
            if let Some(head) = queue.and_then(|q| layout::queue(q).into_iter().next()) {
                heads.push((ns.clone(), layout::node_path(mutex, &head)));
            }
            let leader = None;
            out.insert(ns, RawNamespace { members, leader });
        }
        let head_paths: Vec<String> = heads.iter().map(|(_, path)| path.clone()).collect();
        let reads = self.multi_read(&head_paths, ReadOp::Data).await?;
        for ((ns, _), read) in heads.iter().zip(reads) {
            let leader = match read {
                Some(Read::Data(data)) => Some(layout::id_of(&data))
                    .filter(|id| !id.is_empty())
                    .map(ServerAddr::from),
                // The head left between the listing and the read: ask again for this one.
                _ => self.leader(ns).await?,
            };
            if let Some(view) = out.get_mut(ns) {
                view.leader = leader;
            }
        }
        Ok(out)
    }

    /// One namespace's members and leader; `None` if the namespace node does not exist.
    async fn namespace(&self, ns: &str) -> Result<Option<RawNamespace>> {
        let path = self.paths.namespace(ns);
        self.count(1);
        let members = match self.client.list_children(&path).await {
            Ok(children) => children
                .into_iter()
                .filter(|c| is_server_child(c))
                .map(ServerAddr::new)
                .collect(),
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(Error::zk("list_children", path, e)),
        };
        let leader = self.leader(ns).await?;
        Ok(Some(RawNamespace { members, leader }))
    }

    /// The current leader of `ns`: the participant id of the first lock node of its election
    /// (a listing and one read).
    async fn leader(&self, ns: &str) -> Result<Option<ServerAddr>> {
        let mutex = self.paths.leader_mutex(ns);
        self.count(2);
        match current_leader(&self.client, &mutex).await {
            Ok(id) => Ok(id.filter(|id| !id.is_empty()).map(ServerAddr::from)),
            Err(e) => Err(Error::zk("current_leader", mutex, e)),
        }
    }
}

/// Server-data is JSON; empty is `null`, and anything unparsable is `null` plus a warning (a
/// bad registration must not stop discovery).
fn parse_server_data(addr: &str, data: &[u8]) -> Value {
    if data.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(data).unwrap_or_else(|err| {
        tracing::warn!(server = addr, error = %err, "server-data is not JSON; using null");
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ServerAddr {
        ServerAddr::from(s)
    }

    fn membership(servers: &[&str], ns: &[(&str, &[&str], Option<&str>)]) -> Membership {
        Membership {
            zk: ZkState::Connected,
            servers: servers.iter().map(|s| (addr(s), Value::Null)).collect(),
            namespaces: ns
                .iter()
                .map(|(n, s, l)| {
                    (
                        (*n).to_owned(),
                        NamespaceView {
                            servers: s.iter().map(|x| addr(x)).collect(),
                            leader: l.map(addr),
                        },
                    )
                })
                .collect(),
            resyncs: 1,
        }
    }

    #[test]
    fn diff_orders_inserts_namespaces_removes() {
        let old = membership(&["a:1", "b:1"], &[("ns", &["a:1", "b:1"], Some("a:1"))]);
        let new = membership(&["b:1", "c:1"], &[("ns", &["b:1", "c:1"], Some("b:1"))]);
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                Change::Insert(addr("c:1"), ServerInfo { data: Value::Null }),
                Change::Namespace {
                    namespace: "ns".into(),
                    servers: vec![addr("b:1"), addr("c:1")],
                    leader: Some(addr("b:1")),
                },
                Change::Remove(addr("a:1")),
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn removed_namespace_becomes_empty_list() {
        let old = membership(&["a:1"], &[("ns", &["a:1"], None)]);
        let new = membership(&["a:1"], &[]);
        assert_eq!(
            diff(&old, &new),
            vec![Change::Namespace {
                namespace: "ns".into(),
                servers: vec![],
                leader: None
            }]
        );
    }

    #[test]
    fn routable_filters_unregistered_members_and_leaders() {
        let servers = [(addr("a:1"), Value::Null)].into_iter().collect();
        let raw = RawNamespace {
            members: [addr("a:1"), addr("b:1")].into_iter().collect(),
            leader: Some(addr("b:1")),
        };
        assert_eq!(
            routable(&raw, &servers),
            NamespaceView {
                servers: vec![addr("a:1")],
                leader: None
            }
        );
    }

    #[test]
    fn bad_server_data_is_null() {
        assert_eq!(parse_server_data("a:1", b""), Value::Null);
        assert_eq!(parse_server_data("a:1", b"{oops"), Value::Null);
        assert_eq!(
            parse_server_data("a:1", b"{\"w\":2}"),
            serde_json::json!({"w": 2})
        );
    }
}
