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
//! [`ClusterServer`] runs a slacker server and one [`Registration`]: it binds, checks that the
//! port answers, then registers; on shutdown it deregisters before it drains (see
//! [`ClusterServer::shutdown`]). A disconnect within the session loses nothing; after expiry the
//! driver opens a new session and re-creates every node from the current state.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use slacker_core::server::{ServerBuilder, ServerInterceptor};
use slacker_core::{
    Client, ClientOptions, NamespaceInfo, RunningServer, Server, ServerAddr, ServerOptions, Service,
};
use tokio::net::ToSocketAddrs;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use crate::election::{Election, Leadership};
use crate::manager::{ManagerAuth, ManagerServer, ServerManager};
use crate::paths::{check_name, ClusterPaths, DEFAULT_ROOT};
use crate::session::{local_ip_towards, Session, SessionEvent, ZkAuth, ZkOptions, ZkState};
use crate::{Error, Result};

/// Where and how to register.
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
                    SessionEvent::Disconnected => {}
                    SessionEvent::Reconnected => {
                        if !self.in_sync {
                            let result = self.sync_all().await;
                            let _ = self.logged(result);
                        }
                    }
                    SessionEvent::NewSession => {
                        self.current.send_replace(self.session.client().clone());
                        let result = self.sync_all().await;
                        let _ = self.logged(result);
                    }
                    SessionEvent::Closed => {
                        tracing::error!(addr = %self.addr, "ZooKeeper session closed; registration stopped");
                        return;
                    }
                },
            }
            state.send_replace(self.state());
        }
    }

    /// Logs a failed write and remembers that ZooKeeper is behind: the next reconnect (or new
    /// session) writes the whole current state.
    fn logged(&mut self, result: Result<()>) -> Result<()> {
        if let Err(err) = &result {
            self.in_sync = false;
            tracing::warn!(addr = %self.addr, error = %err, "registration not in sync with ZooKeeper; retrying after reconnect");
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

    /// Writes the whole current state; ZooKeeper is in sync when it succeeds.
    async fn sync_all(&mut self) -> Result<()> {
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
        for (ns, online) in &self.online {
            let path = self.paths.namespace_server(ns, self.addr.as_str());
            if *online {
                ensure_ephemeral(&client, &path, b"", self.session.acls()).await?;
                if !self.elections.contains_key(ns) {
                    let election = self.join_election(ns)?;
                    self.elections.insert(ns.clone(), election);
                }
            } else {
                if let Some(election) = self.elections.remove(ns) {
                    leave(election).await;
                }
                delete_own(&client, &path).await?;
            }
        }
        Ok(())
    }

    fn join_election(&self, ns: &str) -> Result<Election> {
        let current = self.current.subscribe();
        let sessions = move || {
            let client = current.borrow().clone();
            async move { Ok::<_, zk::Error>(client) }
        };
        let (leader, addr) = (self.paths.leader(ns), self.addr.clone());
        let mutex = self.paths.leader_mutex(ns);
        let (leading, ns) = (self.leading.clone(), ns.to_owned());
        Election::builder(mutex.clone(), self.addr.as_str())
            .auto_requeue(true)
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

/// True for `host:port` and `[v6]:port`, false for `host`, `v6` and `[v6]`.
fn has_port(addr: &str) -> bool {
    match addr.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => addr.matches(':').count() == 1,
    }
}

/// Creates (or updates) our ephemeral node at `path`, replacing a node left by another session.
async fn ensure_ephemeral(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    acls: zk::Acls<'_>,
) -> Result<()> {
    let me = client.session_id().0;
    let mode = zk::CreateMode::Ephemeral.with_acls(acls);
    for _ in 0..5 {
        match client.create(path, data, &mode).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(Error::zk("create", path, e)),
        }
        match client.get_data(path).await {
            Ok((current, stat)) if stat.ephemeral_owner == me => {
                if current == data {
                    return Ok(());
                }
                match client.set_data(path, data, Some(stat.version)).await {
                    Ok(_) => return Ok(()),
                    Err(zk::Error::BadVersion | zk::Error::NoNode) => {}
                    Err(e) => return Err(Error::zk("set_data", path, e)),
                }
            }
            Ok((_, stat)) => {
                tracing::info!(
                    path,
                    owner = format_args!("{:#x}", stat.ephemeral_owner),
                    "replacing a registration left by another session"
                );
                match client.delete(path, Some(stat.version)).await {
                    Ok(()) | Err(zk::Error::NoNode | zk::Error::BadVersion) => {}
                    Err(e) => return Err(Error::zk("delete", path, e)),
                }
            }
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(Error::zk("get_data", path, e)),
        }
    }
    Err(Error::zk("create", path, zk::Error::NodeExists))
}

/// Deletes `path` if it is an ephemeral of our session (never another server's node).
async fn delete_own(client: &zk::Client, path: &str) -> Result<()> {
    match client.check_stat(path).await {
        Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => {
            match client.delete(path, Some(stat.version)).await {
                Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                Err(e) => Err(Error::zk("delete", path, e)),
            }
        }
        Ok(_) => Ok(()),
        Err(e) => Err(Error::zk("check_stat", path, e)),
    }
}

/// Creates a persistent node with `data`, or updates it if its data differs.
async fn put_persistent(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    acls: zk::Acls<'_>,
) -> Result<()> {
    let mode = zk::CreateMode::Persistent.with_acls(acls);
    match client.create(path, data, &mode).await {
        Ok(_) => return Ok(()),
        Err(zk::Error::NodeExists) => {}
        Err(e) => return Err(Error::zk("create", path, e)),
    }
    let (current, _) = client
        .get_data(path)
        .await
        .map_err(|e| Error::zk("get_data", path, e))?;
    if current != data {
        client
            .set_data(path, data, None)
            .await
            .map_err(|e| Error::zk("set_data", path, e))?;
    }
    Ok(())
}

/// How long a stopping server keeps serving after its namespace nodes are deleted, so that
/// clients hear of it (one watch notification plus one read, measured at 5-30 ms on loopback)
/// before new calls start being refused. See [`ClusterServer::shutdown`].
pub const DEFAULT_ROUTING_GRACE: Duration = Duration::from_millis(500);

/// Builds a [`ClusterServer`]: a slacker server plus its registration.
#[derive(Debug)]
pub struct ClusterServerBuilder {
    server: ServerBuilder,
    namespaces: Vec<&'static NamespaceInfo>,
    options: RegistryOptions,
    advertise: Option<String>,
    routing_grace: Duration,
    manager_secret: Option<String>,
    http: bool,
}

impl ClusterServerBuilder {
    /// Hosts and announces a namespace.
    pub fn service(mut self, service: impl Service) -> Self {
        self.namespaces.push(service.info());
        self.server = self.server.service(service);
        self
    }

    /// Adds a server interceptor.
    pub fn interceptor(mut self, interceptor: impl ServerInterceptor) -> Self {
        self.server = self.server.interceptor(interceptor);
        self
    }

    /// Also serves HTTP on `addr`, as [`ServerBuilder::http`] does, with the cluster's view
    /// added: `/health` answers 503 while the server is offline or not registered, and
    /// `/metrics` adds `slacker_zookeeper_connected` and `slacker_leader{namespace}`.
    pub fn http(mut self, addr: SocketAddr) -> Self {
        self.server = self.server.http(addr);
        self.http = true;
        self
    }

    /// Replaces the slacker server's options.
    pub fn server_options(mut self, options: ServerOptions) -> Self {
        self.server = self.server.options(options);
        self
    }

    /// Sets the initial server-data (default `null`).
    pub fn server_data(mut self, data: Value) -> Self {
        self.options.server_data = data;
        self
    }

    /// Sets the ZooKeeper session timeout (default 10 s).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.options.zk.session_timeout = timeout;
        self
    }

    /// Sets the cluster secret: the nodes this server creates are writable only with it (see
    /// [`ZkAuth`]). Default: none, open ACLs.
    pub fn zk_auth(mut self, auth: ZkAuth) -> Self {
        self.options.zk.auth = Some(auth);
        self
    }

    /// Sets the root of all clusters (default [`DEFAULT_ROOT`]).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.options.root = root.into();
        self
    }

    /// Also serves the manager namespace ([`crate::manager`]; off by default). Without a
    /// [`ClusterServerBuilder::manager_secret`], only loopback callers may use it.
    pub fn manager(mut self, manager: bool) -> Self {
        self.options.manager = manager;
        self
    }

    /// The shared secret manager calls must carry (see [`crate::manager`]).
    pub fn manager_secret(mut self, secret: impl Into<String>) -> Self {
        self.manager_secret = Some(secret.into());
        self
    }

    /// The address to announce: `host` (the bound port is appended) or `host:port`. Default:
    /// the local IP of a TCP connection to a ZooKeeper host, and the bound port.
    pub fn advertise(mut self, addr: impl Into<String>) -> Self {
        self.advertise = Some(addr.into());
        self
    }

    /// How long [`ClusterServer::shutdown`] keeps serving after deregistering
    /// (default [`DEFAULT_ROUTING_GRACE`]).
    pub fn routing_grace(mut self, grace: Duration) -> Self {
        self.routing_grace = grace;
        self
    }

    /// Binds `addr`, checks that the port answers calls, then registers.
    ///
    /// # Errors
    /// [`Error::Core`] if the port cannot be bound or does not answer; [`Error::Io`] if the
    /// advertised address cannot be detected; registration errors as [`Registration::start`].
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<ClusterServer> {
        let mut server = self.server;
        // Served but never announced: it is not in `self.namespaces`.
        let manager = self.options.manager.then(ServerManager::default);
        let observed = crate::observe::ServerView::default();
        if self.http {
            server = server.http_extension(observed.http_extension());
        }
        if let Some(manager) = &manager {
            server = server
                .interceptor(ManagerAuth::new(self.manager_secret))
                .service(ManagerServer::new(manager.clone()));
        }
        let server = server.bind(addr).await?;
        let port = server.local_addr().port();
        let advertised = match self.advertise {
            Some(a) if has_port(&a) => a,
            Some(host) if host.contains(':') && !host.starts_with('[') => {
                format!("[{host}]:{port}")
            }
            Some(host) => format!("{host}:{port}"),
            None => {
                let ip = local_ip_towards(&self.options.zk.connect).await?;
                SocketAddr::new(ip, port).to_string()
            }
        };
        // Register only once the port answers: a client that learns of us can call at once.
        let bound = server.local_addr();
        let probe = if bound.ip().is_unspecified() {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)
        } else {
            bound
        };
        let own = Client::connect(probe, ClientOptions::default()).await?;
        own.close().await;
        let registration =
            Registration::start(self.options, ServerAddr::from(advertised), &self.namespaces)
                .await?;
        tracing::info!(addr = %registration.addr(), "registered in the cluster");
        let inner = Arc::new(Inner {
            local_addr: server.local_addr(),
            http_addr: server.http_addr(),
            server: Mutex::new(Some(server)),
            registration,
            routing_grace: self.routing_grace,
            stopped: watch::Sender::new(false),
        });
        if let Some(manager) = manager {
            manager.attach(&inner);
        }
        observed.attach(&inner);
        Ok(ClusterServer { inner })
    }
}

/// A slacker server registered in a cluster. See the module docs for what survives what.
#[derive(Debug)]
pub struct ClusterServer {
    inner: Arc<Inner>,
}

/// What [`ClusterServer`] and the manager's `shutdown` share: whichever stops the server first
/// takes the [`RunningServer`]; the other waits for `stopped`.
#[derive(Debug)]
pub(crate) struct Inner {
    local_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    server: Mutex<Option<RunningServer>>,
    registration: Registration,
    routing_grace: Duration,
    stopped: watch::Sender<bool>,
}

impl Inner {
    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    fn server(&self) -> std::sync::MutexGuard<'_, Option<RunningServer>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The graceful stop of [`ClusterServer::shutdown`]; a second caller waits for the first.
    pub(crate) async fn stop(&self, drain: Duration) -> Result<()> {
        let Some(server) = self.server().take() else {
            let _ = self.stopped.subscribe().wait_for(|s| *s).await;
            return Ok(());
        };
        let offline = self.registration.offline().await;
        if let Err(err) = &offline {
            tracing::warn!(error = %err, "could not deregister namespaces before stopping");
        }
        tokio::time::sleep(self.routing_grace).await;
        server.shutdown(drain).await;
        let closed = self.registration.close().await;
        self.stopped.send_replace(true);
        offline.and(closed)
    }
}

impl ClusterServer {
    /// A builder for `cluster` on ZooKeeper `connect` (`host:port[,...][/chroot]`).
    pub fn builder(cluster: impl Into<String>, connect: impl Into<String>) -> ClusterServerBuilder {
        ClusterServerBuilder {
            server: Server::builder(),
            namespaces: Vec::new(),
            options: RegistryOptions::new(cluster, connect),
            advertise: None,
            routing_grace: DEFAULT_ROUTING_GRACE,
            manager_secret: None,
            http: false,
        }
    }

    /// The announced address.
    pub fn addr(&self) -> &ServerAddr {
        self.inner.registration.addr()
    }

    /// The HTTP address (`/metrics`, `/health`), when [`ClusterServerBuilder::http`] asked for
    /// one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.inner.http_addr
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Requests running now (0 once stopped).
    pub fn in_flight(&self) -> usize {
        self.inner
            .server()
            .as_ref()
            .map_or(0, RunningServer::in_flight)
    }

    /// The registration: `set_server_data`, `offline_ns`, `online_ns`, `offline`, `online`, and
    /// the registration state.
    pub fn registration(&self) -> &Registration {
        &self.inner.registration
    }

    /// Resolves once the server has stopped: after [`ClusterServer::shutdown`], or after the
    /// manager's `shutdown` (a server program should wait on this as well as on its signals).
    pub async fn stopped(&self) {
        let _ = self.inner.stopped.subscribe().wait_for(|s| *s).await;
    }

    /// Graceful stop, in this order:
    ///
    /// 1. delete every `namespaces/<ns>/<addr>` node (and leave the elections): clients stop
    ///    routing new calls here when their watch fires;
    /// 2. keep serving for the routing grace (default 500 ms): the rule is "one watch round
    ///    trip, bounded"; a call that still arrives is served;
    /// 3. stop accepting and drain in-flight calls for up to `drain` (calls arriving now are
    ///    refused with `ShuttingDown`, which clients retry elsewhere: it never ran);
    /// 4. delete `servers/<addr>` and close the ZooKeeper session.
    ///
    /// If the manager's `shutdown` already started the stop, this waits for it to finish.
    ///
    /// # Errors
    /// [`Error::ZooKeeper`] if a node could not be deleted (it still vanishes with the session).
    pub async fn shutdown(self, drain: Duration) -> Result<()> {
        self.inner.stop(drain).await
    }
}

#[cfg(test)]
mod tests {
    use super::has_port;

    #[test]
    fn advertised_addresses() {
        assert!(has_port("10.0.0.1:7000"));
        assert!(has_port("host.example:7000"));
        assert!(has_port("[::1]:7000"));
        assert!(!has_port("10.0.0.1"));
        assert!(!has_port("::1"));
        assert!(!has_port("[::1]"));
    }
}
