//! Client-side discovery: watches one cluster's tree and turns it into
//! [`slacker_core::membership::Change`]s, the only thing the multi-server caller knows about.
//!
//! One persistent recursive watch on `<root>/<cluster>` reports every node created, deleted or
//! changed below it, in order. Events are applied as they come: a namespace member created or
//! deleted, a server gone, a lock node queued or removed change the state without any read;
//! what an event cannot say is read, and only that (a server's data when it registers or
//! changes it, an election's head when its first lock node changed). A burst of events is
//! drained and applied together, its reads batched into multi-reads. So a change reaches
//! routing within one watch notification plus at most one read, and costs a client O(1) reads
//! and O(changed) work, whatever the cluster's size. After a reconnect or a new session the
//! watch is armed again and everything is re-listed and diffed against what was published:
//! persistent watches lose events in the gap (ZOOKEEPER-4698), and `zookeeper-client` 0.11.2
//! does not restore them on reconnect at all (its `resend_watches` never selects `SetWatches2`).
//!
//! Events queued while a re-list reads may describe changes the re-list already saw; applying
//! them again in order ends in the same state (the last event of a node decides), which is why
//! the watch is armed before the re-list reads.
//!
//! ZooKeeper being unreachable is not "no servers": while disconnected (or re-opening an expired
//! session) nothing is removed and routing keeps using the last known membership. A namespace's
//! routing list only contains servers that are also registered under `servers/`, and its leader
//! is the election's current leader (the participant of the first lock node of
//! `namespaces/<ns>/_leader/mutex`, as [`crate::election::current_leader`] reads it), when
//! that participant is among the namespace's servers.

use std::collections::BTreeMap;
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

use crate::paths::{ClusterPaths, DEFAULT_ROOT};
use crate::session::{sleep_until, Session, SessionEvent, ZkOptions, ZkState};
use crate::{Error, Result};

mod reader;
mod state;
mod view;

use reader::Reader;
use state::{Dirty, HeadRead, Raw, ToRead};
use view::{diff, patch, view_of};

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
            dirty: Dirty::default(),
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
    /// once). A membership change costs at most a few, whatever the cluster's size: a server
    /// joining or changing its server-data one read, a lock node becoming an election's head
    /// one, a head leaving two (its queue listed again); members coming and going cost none.
    /// A full re-list (start, reconnect, new session) costs about
    /// `(servers + 3 * namespaces) / 256 + 3` requests.
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
    /// What in `raw` may differ from what was published.
    dirty: Dirty,
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

    /// Applies `first` and every event already queued behind it, then makes the reads they
    /// need (batched: one multi-read for every server to read, one for every new head).
    async fn refresh_burst(&mut self, first: zk::WatchedEvent) -> Result<()> {
        let mut events = vec![first];
        while events.len() < BURST {
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
                Some(event) => events.push(event),
                None => break,
            }
        }
        let mut to_read = ToRead::default();
        for event in &events {
            let node = self.paths.parse(&event.path);
            if !self
                .raw
                .apply(node, event.event_type, &mut to_read, &mut self.dirty)
            {
                return self.resync(false).await;
            }
        }
        self.read(to_read).await
    }

    /// Makes the reads a burst needed and applies their answers.
    async fn read(&mut self, to_read: ToRead) -> Result<()> {
        let reader = self.reader();
        if !to_read.servers.is_empty() {
            let addrs: Vec<String> = to_read.servers.into_iter().collect();
            let mut found: BTreeMap<String, Value> = reader
                .servers_data(addrs.clone())
                .await?
                .into_iter()
                .collect();
            for addr in addrs {
                let data = found.remove(&addr);
                let addr = ServerAddr::from(addr);
                match data {
                    Some(data) => self.raw.servers.insert(addr.clone(), data),
                    None => self.raw.servers.remove(&addr),
                };
                self.dirty.servers.insert(addr);
            }
        }
        if to_read.heads.is_empty() {
            return Ok(());
        }
        let (mut nodes, mut lookups) = (Vec::new(), Vec::new());
        for (ns, read) in to_read.heads {
            match read {
                HeadRead::Node(_, node) => nodes.push((ns, node)),
                HeadRead::Lookup => lookups.push(ns),
            }
        }
        let mut heads = reader.heads(nodes).await?;
        let lookups = lookups.into_iter().map(|ns| {
            let reader = &reader;
            async move { Ok::<_, Error>((ns.clone(), reader.head(&ns).await?)) }
        });
        heads.extend(futures::future::try_join_all(lookups).await?);
        for (ns, head) in heads {
            if let Some(view) = self.raw.namespaces.get_mut(&ns) {
                view.head = head;
                self.dirty.namespaces.insert(ns);
            }
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
        self.dirty.all = true;
        self.resyncs += 1;
        self.stale = false;
        Ok(())
    }

    fn reader(&self) -> Reader {
        Reader {
            client: self.session.client().clone(),
            paths: self.paths.clone(),
            reads: self.reads.clone(),
        }
    }

    /// Publishes the difference between the raw state and what was last published: after a
    /// re-list by diffing the whole view, otherwise only what the events since the last
    /// publish touched (O(changed), not O(servers): most wake-ups of a large cluster's client
    /// change one server and a few namespaces, or nothing).
    fn publish(&mut self) {
        let zk = self.session.state();
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.all {
            return self.publish_all(zk);
        }
        if dirty.is_empty() {
            if zk != self.view.borrow().zk {
                self.view.send_modify(|v| v.zk = zk);
            }
            return;
        }
        let mut patch = patch(&self.view.borrow(), &self.raw, dirty);
        if patch.is_empty() && zk == self.view.borrow().zk {
            return;
        }
        for (change, known) in patch.take_changes() {
            self.announce(change, known);
        }
        self.view.send_modify(|v| {
            v.zk = zk;
            patch.apply(v);
        });
    }

    /// Publishes a re-list: the whole view is rebuilt and diffed against the published one.
    fn publish_all(&mut self, zk: ZkState) {
        let next = view_of(&self.raw, zk, self.resyncs);
        // What was published lives only in the watch (no second copy of a large cluster).
        let view = self.view.clone();
        let published = view.borrow();
        if next == *published {
            return;
        }
        let changes: Vec<(Change, bool)> = diff(&published, &next)
            .into_iter()
            .map(|change| {
                let known = matches!(&change, Change::Insert(addr, _) if published.servers.contains_key(addr));
                (change, known)
            })
            .collect();
        drop(published);
        for (change, known) in changes {
            self.announce(change, known);
        }
        self.view.send_replace(next);
    }

    /// Logs one change and sends it to the routing table (and a server-data change of a
    /// `known` server to [`Discovery::server_data_changes`]).
    fn announce(&self, change: Change, known: bool) {
        match &change {
            Change::Insert(addr, info) if known => {
                tracing::info!(server = %addr, data = %info.data, "membership: server-data changed");
                let _ = self.data_changes.send((addr.clone(), info.data.clone()));
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
        // The receiver may be gone (client closing); the view still updates.
        let _ = self.changes.send(change);
    }
}

async fn next_node_event(watch: &mut Option<zk::PersistentWatcher>) -> zk::WatchedEvent {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}
