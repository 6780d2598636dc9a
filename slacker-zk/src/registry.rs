//! Server-side registration: puts one server into the cluster's ZooKeeper tree (see
//! [`crate::paths`]) and keeps it there across disconnects and session expiry.
//!
//! One driver task owns the ZooKeeper [`Session`] *and* the server's current state (server-data,
//! which namespaces are online). Every change (`set_server_data`, `offline_ns`, ...) goes through
//! that task, so a re-registration after expiry always writes the *current* state and can never
//! race an offline into a phantom registration (Curator's CURATOR-164/181). Ephemerals are
//! created with "delete-then-create": a node at our path owned by another session (a stale
//! registration of an earlier incarnation at the same address) is replaced, one owned by our
//! session is updated in place.
//!
//! Each online namespace joins the election ([`crate::election`], Curator `LeaderSelector`
//! compatible) at `namespaces/<ns>/_leader/mutex` with its `host:port` as participant id; the
//! winner writes its address to `namespaces/<ns>/_leader`. Elections take their session from the
//! driver (the current one, also after expiry) and re-queue by themselves after a lost term.
//!
//! A disconnect within the session loses nothing; after expiry the driver opens a new session
//! and re-creates every node from the current state. Previous hop: `server.rs`
//! ([`crate::ClusterServer`] registers once its port answers); next hops: `znode.rs` (the
//! node writes) and [`crate::election`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use slacker_core::backoff::{self, Backoff};
use slacker_core::{NamespaceInfo, ServerAddr};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::election::{Election, Leadership};
use crate::paths::{check_name, ClusterPaths, DEFAULT_ROOT};
use crate::session::{sleep_until, Session, SessionEvent, ZkOptions, ZkState};
use crate::znode::{delete_own, ensure_ephemeral, put_persistent};
use crate::{Error, Result};

/// The longest a registration waits before writing its nodes again in a new session (a random
/// part of it): after a partition or an overloaded ensemble every server of a cluster gets its
/// new session at about the same moment, and their writes go through ZooKeeper's leader.
pub const REREGISTER_JITTER: Duration = Duration::from_millis(500);

/// Where and how to register.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Cluster name.
    pub cluster: String,
    /// ZooKeeper connection.
    pub zk: ZkOptions,
    /// Root of all clusters (default [`DEFAULT_ROOT`]).
    pub root: String,
    /// Server-data published at `servers/<addr>` (any JSON; `null` by default).
    pub server_data: Value,
    /// Whether this server also serves the manager namespace (carried for the manager API).
    pub manager: bool,
}

/// Builder methods, one per field (the struct is `#[non_exhaustive]`: start from `default()` /
/// `new(..)` and chain).
impl RegistryOptions {
    /// Sets [`RegistryOptions::zk`](Self::zk).
    pub fn zk(mut self, zk: ZkOptions) -> Self {
        self.zk = zk;
        self
    }

    /// Sets [`RegistryOptions::root`](Self::root).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }

    /// Sets [`RegistryOptions::server_data`](Self::server_data).
    pub fn server_data(mut self, server_data: Value) -> Self {
        self.server_data = server_data;
        self
    }

    /// Sets [`RegistryOptions::manager`](Self::manager).
    pub fn manager(mut self, manager: bool) -> Self {
        self.manager = manager;
        self
    }
}

impl RegistryOptions {
    /// Options for `cluster` on ZooKeeper `connect`, with defaults for the rest.
    pub fn new(cluster: impl Into<String>, connect: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            zk: ZkOptions::new(connect),
            root: DEFAULT_ROOT.to_owned(),
            server_data: Value::Null,
            manager: false,
        }
    }
}

/// The server's registration state, as last applied by the driver task.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationState {
    /// Current server-data.
    pub server_data: Value,
    /// Each served namespace and whether it is online (announced under `namespaces/`).
    pub namespaces: BTreeMap<String, bool>,
    /// ZooKeeper connection state.
    pub zk: ZkState,
    /// Id of the current ZooKeeper session.
    pub session_id: i64,
    /// Sessions opened so far (grows by one after each expiry).
    pub sessions: u64,
    /// False from a failed write until the whole state has been written again (on reconnect or
    /// in a new session).
    pub in_sync: bool,
}

enum Command {
    SetData(Value, oneshot::Sender<Result<()>>),
    Online {
        namespace: Option<String>,
        online: bool,
        reply: oneshot::Sender<Result<()>>,
    },
    Close(oneshot::Sender<Result<()>>),
}

/// A live registration of one server. Dropping it closes the session, which removes every
/// ephemeral node; prefer [`Registration::close`] for an orderly exit.
#[derive(Debug)]
pub struct Registration {
    addr: ServerAddr,
    paths: ClusterPaths,
    manager: bool,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<RegistrationState>,
    leading: Arc<Mutex<BTreeSet<String>>>,
    task: JoinHandle<()>,
}

impl Registration {
    /// Registers `addr` serving `namespaces`: creates the persistent directories, writes function
    /// metadata, creates `servers/<addr>` and one `namespaces/<ns>/<addr>` per namespace, and
    /// joins each namespace's election. Returns once all of it is in ZooKeeper.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad cluster or namespace name or connect string;
    /// [`Error::ZooKeeper`] when ZooKeeper cannot be reached or refuses a write.
    pub async fn start(
        options: RegistryOptions,
        addr: ServerAddr,
        namespaces: &[&'static NamespaceInfo],
    ) -> Result<Self> {
        let paths = ClusterPaths::new(&options.root, &options.cluster)?;
        check_name("server address", addr.as_str())?;
        for ns in namespaces {
            check_name("namespace", ns.name)?;
        }
        let session = Session::connect(options.zk.clone()).await?;
        let (current, _) = watch::channel(session.client().clone());
        let mut driver = Driver {
            paths: paths.clone(),
            addr: addr.clone(),
            data: options.server_data.clone(),
            online: namespaces
                .iter()
                .map(|ns| (ns.name.to_owned(), true))
                .collect(),
            session,
            current,
            elections: BTreeMap::new(),
            leading: Arc::default(),
            in_sync: false,
            retry_at: None,
            retry: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        };
        let leading = driver.leading.clone();
        driver.create_directories(namespaces).await?;
        driver.sync_all().await?;
        let (state_tx, state) = watch::channel(driver.state());
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(driver.run(rx, state_tx));
        Ok(Self {
            addr,
            paths,
            manager: options.manager,
            commands,
            state,
            leading,
            task,
        })
    }

    /// The namespaces whose election this server leads now.
    pub fn leading(&self) -> BTreeSet<String> {
        self.leading
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The registered address.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The cluster's paths.
    pub fn paths(&self) -> &ClusterPaths {
        &self.paths
    }

    /// Whether the server was started as a manager.
    pub fn is_manager(&self) -> bool {
        self.manager
    }

    /// The current state (server-data, online namespaces, session).
    pub fn state(&self) -> watch::Receiver<RegistrationState> {
        self.state.clone()
    }

    /// The current server-data.
    pub fn server_data(&self) -> Value {
        self.state.borrow().server_data.clone()
    }

    /// Replaces the server-data. Clients see it as an `Insert` of this server.
    ///
    /// # Errors
    /// [`Error::ZooKeeper`] if it could not be written now: it is kept as current state and
    /// written when the session reconnects (or a new one is opened). [`Error::Closed`] after
    /// [`Registration::close`].
    pub async fn set_server_data(&self, data: Value) -> Result<()> {
        self.request(|reply| Command::SetData(data, reply)).await
    }

    /// Takes `namespace` offline: its `namespaces/<ns>/<addr>` node is deleted (clients stop
    /// routing it there) and this server leaves its election. The server keeps serving calls.
    ///
    /// # Errors
    /// [`Error::Config`] if the server does not serve `namespace`; otherwise as
    /// [`Registration::set_server_data`].
    pub async fn offline_ns(&self, namespace: &str) -> Result<()> {
        self.set_online(Some(namespace), false).await
    }

    /// Puts `namespace` back online. Errors as [`Registration::offline_ns`].
    ///
    /// # Errors
    /// As [`Registration::offline_ns`].
    pub async fn online_ns(&self, namespace: &str) -> Result<()> {
        self.set_online(Some(namespace), true).await
    }

    /// Takes every namespace offline (the server stays in `servers/`).
    ///
    /// # Errors
    /// As [`Registration::set_server_data`].
    pub async fn offline(&self) -> Result<()> {
        self.set_online(None, false).await
    }

    /// Puts every namespace online.
    ///
    /// # Errors
    /// As [`Registration::set_server_data`].
    pub async fn online(&self) -> Result<()> {
        self.set_online(None, true).await
    }

    async fn set_online(&self, namespace: Option<&str>, online: bool) -> Result<()> {
        if let Some(ns) = namespace {
            if !self.state.borrow().namespaces.contains_key(ns) {
                return Err(Error::Config(format!(
                    "this server does not serve namespace `{ns}`"
                )));
            }
        }
        let namespace = namespace.map(str::to_owned);
        self.request(|reply| Command::Online {
            namespace,
            online,
            reply,
        })
        .await
    }

    /// Deregisters: deletes every namespace node, then `servers/<addr>`, then closes the session.
    ///
    /// # Errors
    /// [`Error::ZooKeeper`] if a delete failed (the nodes still vanish with the session).
    pub async fn close(&self) -> Result<()> {
        // The driver closes the session before it answers.
        self.request(Command::Close).await
    }

    async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<()>>) -> Command,
    ) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(make(reply)).map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Owns the session and the current state; see the module docs.
struct Driver {
    paths: ClusterPaths,
    addr: ServerAddr,
    data: Value,
    online: BTreeMap<String, bool>,
    session: Session,
    /// The current session's client, for the elections.
    current: watch::Sender<zk::Client>,
    elections: BTreeMap<String, Election>,
    /// The namespaces whose election this server leads now (shared with the leader terms).
    leading: Arc<Mutex<BTreeSet<String>>>,
    in_sync: bool,
    /// When ZooKeeper is behind (a failed write), the next full write is tried then, by
    /// `retry`'s schedule, besides on every reconnect.
    retry_at: Option<Instant>,
    retry: Backoff,
}

impl Driver {
    fn state(&self) -> RegistrationState {
        RegistrationState {
            server_data: self.data.clone(),
            namespaces: self.online.clone(),
            zk: self.session.state(),
            session_id: self.session.id(),
            sessions: self.session.sessions(),
            in_sync: self.in_sync,
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        state: watch::Sender<RegistrationState>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    // The new state is published before ZooKeeper is written: it is the
                    // server's state from now on, whether or not the write gets through.
                    Some(Command::SetData(data, reply)) => {
                        self.data = data;
                        state.send_replace(self.state());
                        let result = self.put_server().await;
                        let _ = reply.send(self.logged(result));
                    }
                    Some(Command::Online { namespace, online, reply }) => {
                        for (ns, flag) in &mut self.online {
                            if namespace.as_deref().is_none_or(|n| n == ns) {
                                *flag = online;
                            }
                        }
                        state.send_replace(self.state());
                        let result = self.put_namespaces().await;
                        let _ = reply.send(self.logged(result));
                    }
                    Some(Command::Close(reply)) => {
                        let result = self.deregister().await;
                        // Dropping the driver drops the session's client, which closes it.
                        drop(self);
                        let _ = reply.send(result);
                        return;
                    }
                    None => return,
                },
                event = self.session.next_event() => match event {
                    // Published below; the next call opens a new session.
                    SessionEvent::Disconnected | SessionEvent::Expired => {}
                    SessionEvent::Reconnected => {
                        if !self.in_sync {
                            let result = self.sync_all().await;
                            let _ = self.logged(result);
                        }
                    }
                    SessionEvent::NewSession => {
                        // The published state still has the session before this one.
                        if self.session.id() == state.borrow().session_id {
                            // Resumed: the nodes are there; checking them costs reads only.
                            let result = self.sync_all().await;
                            let _ = self.logged(result);
                        } else {
                            // A new session: every node must be written again, and every
                            // server of the cluster lost its session at the same moment (a
                            // partition, an overloaded ensemble). A random part of
                            // REREGISTER_JITTER spreads their writes (the elections' too: they
                            // get the new session from `sync_all`); the retry timer runs it.
                            self.in_sync = false;
                            let after = backoff::jitter(REREGISTER_JITTER);
                            self.retry_at = Some(Instant::now() + after);
                        }
                    }
                    SessionEvent::Closed => {
                        tracing::error!(addr = %self.addr, "ZooKeeper session closed; registration stopped");
                        return;
                    }
                },
                // Only with a live session: a retry would fail anyway, and firing would
                // cancel the session's renewal under way.
                () = sleep_until(self.retry_at),
                    if self.retry_at.is_some() && self.session.state() == ZkState::Connected => {
                    self.retry_at = None;
                    if !self.in_sync {
                        let result = self.sync_all().await;
                        let _ = self.logged(result);
                    }
                }
            }
            state.send_replace(self.state());
        }
    }

    /// Logs a failed write and remembers that ZooKeeper is behind: the next reconnect (or new
    /// session) writes the whole current state.
    fn logged(&mut self, result: Result<()>) -> Result<()> {
        match &result {
            Err(err) => {
                self.in_sync = false;
                let after = self.retry.next_delay();
                self.retry_at = Some(Instant::now() + after);
                tracing::warn!(addr = %self.addr, error = %err, retry_in = ?after, "registration not in sync with ZooKeeper; retrying");
            }
            Ok(()) if self.in_sync => {
                self.retry.reset();
                self.retry_at = None;
            }
            Ok(()) => {}
        }
        result
    }

    async fn create_directories(&self, namespaces: &[&'static NamespaceInfo]) -> Result<()> {
        let client = self.session.client();
        let acls = self.session.acls();
        if self.session.options().auth.is_some() {
            // The root stays open so that other clusters (other secrets) can live beside us.
            if let Some((root, _)) = self
                .paths
                .base()
                .rsplit_once('/')
                .filter(|(r, _)| !r.is_empty())
            {
                let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                client
                    .mkdir(root, &open)
                    .await
                    .map_err(|e| Error::zk("mkdir", root, e))?;
            }
        }
        let dir = zk::CreateMode::Persistent.with_acls(acls);
        let mut dirs = vec![self.paths.servers()];
        for ns in namespaces {
            dirs.push(self.paths.leader_mutex(ns.name));
            dirs.push(self.paths.functions(ns.name));
        }
        for path in &dirs {
            client
                .mkdir(path, &dir)
                .await
                .map_err(|e| Error::zk("mkdir", path.clone(), e))?;
        }
        for ns in namespaces {
            for method in ns.methods {
                let path = self.paths.function(ns.name, method.name);
                let desc = serde_json::to_vec(&method.describe())
                    .map_err(|e| Error::Config(format!("function metadata of {path}: {e}")))?;
                put_persistent(client, &path, &desc, acls).await?;
            }
        }
        Ok(())
    }

    /// Writes the whole current state; ZooKeeper is in sync when it succeeds. The elections
    /// get the current session first (they wait for it after an expiry).
    async fn sync_all(&mut self) -> Result<()> {
        if self.current.borrow().state().is_terminated() {
            self.current.send_replace(self.session.client().clone());
        }
        self.in_sync = false;
        self.put_server().await?;
        self.put_namespaces().await?;
        self.in_sync = true;
        Ok(())
    }

    async fn put_server(&mut self) -> Result<()> {
        let data = serde_json::to_vec(&self.data)
            .map_err(|e| Error::Config(format!("server-data: {e}")))?;
        ensure_ephemeral(
            self.session.client(),
            &self.paths.server(self.addr.as_str()),
            &data,
            self.session.acls(),
        )
        .await
    }

    async fn put_namespaces(&mut self) -> Result<()> {
        let client = self.session.client().clone();
        // The online namespaces' nodes are written concurrently (ZooKeeper pipelines them on
        // the session): a server in ten namespaces joins in about one round trip, not ten.
        let writes = self
            .online
            .iter()
            .filter(|(_, online)| **online)
            .map(|(ns, _)| {
                let path = self.paths.namespace_server(ns, self.addr.as_str());
                let (client, acls) = (&client, self.session.acls());
                async move { ensure_ephemeral(client, &path, b"", acls).await }
            });
        futures::future::try_join_all(writes).await?;
        let mut leaving = Vec::new();
        let mut offline = Vec::new();
        for (ns, online) in &self.online {
            if *online {
                if !self.elections.contains_key(ns) {
                    let election = self.join_election(ns)?;
                    self.elections.insert(ns.clone(), election);
                }
            } else {
                leaving.extend(self.elections.remove(ns));
                offline.push(self.paths.namespace_server(ns, self.addr.as_str()));
            }
        }
        // Going offline: the elections first (a leader hands over), then the nodes; each step
        // concurrently across namespaces.
        futures::future::join_all(leaving.into_iter().map(leave)).await;
        let deletes = offline.iter().map(|path| delete_own(&client, path));
        futures::future::try_join_all(deletes).await?;
        Ok(())
    }

    fn join_election(&self, ns: &str) -> Result<Election> {
        let current = self.current.subscribe();
        // While the driver re-opens an expired session the election waits for the new one
        // (rather than being handed the dead one and asking again by its backoff: at 5,500
        // elections that was ~40,000 retries in one ensemble restart).
        let sessions = move || {
            let mut current = current.clone();
            async move {
                let live = current.wait_for(|c| !c.state().is_terminated()).await;
                live.map(|c| c.clone()).map_err(|_| zk::Error::ClientClosed)
            }
        };
        let (leader, addr) = (self.paths.leader(ns), self.addr.clone());
        let mutex = self.paths.leader_mutex(ns);
        let (leading, ns) = (self.leading.clone(), ns.to_owned());
        // Routing learns the leader from discovery: the servers need not each follow their
        // namespace's queue (which would cost every change 2 reads per server in it).
        Election::builder(mutex.clone(), self.addr.as_str())
            .auto_requeue(true)
            .track_participants(false)
            .start(sessions, move |term| {
                let (leading, ns) = (leading.clone(), ns.clone());
                let term_task = lead(term, leader.clone(), addr.clone());
                async move {
                    set_leading(&leading, &ns, true);
                    term_task.await;
                    set_leading(&leading, &ns, false);
                }
            })
            .map_err(|e| Error::zk("election", mutex, e))
    }

    async fn deregister(&mut self) -> Result<()> {
        for flag in self.online.values_mut() {
            *flag = false;
        }
        let namespaces = self.put_namespaces().await;
        let server = delete_own(
            self.session.client(),
            &self.paths.server(self.addr.as_str()),
        )
        .await;
        namespaces.and(server)
    }
}

fn set_leading(leading: &Mutex<BTreeSet<String>>, ns: &str, on: bool) {
    let mut leading = leading.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        leading.insert(ns.to_owned());
    } else {
        leading.remove(ns);
    }
}

/// One term of leadership: writes our address to `_leader` (retried through disconnects while
/// the term lasts), then holds the term until it ends.
async fn lead(term: Leadership, leader: String, addr: ServerAddr) {
    tracing::info!(%addr, path = leader, "became leader");
    while !term.is_lost() {
        match term
            .client()
            .set_data(&leader, addr.as_str().as_bytes(), None)
            .await
        {
            Ok(_) => break,
            Err(zk::Error::ConnectionLoss) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => {
                tracing::warn!(path = leader, error = %err, "cannot write the leader node");
                break;
            }
        }
    }
    let end = term.lost().await;
    tracing::info!(%addr, path = leader, ?end, "leadership ended");
}

/// Leaves an election, waiting (briefly) until our node is gone so the next leader is chosen
/// before we report the namespace offline; past the bound it finishes in the background.
async fn leave(election: Election) {
    let _ = tokio::time::timeout(Duration::from_secs(2), election.stop()).await;
}
