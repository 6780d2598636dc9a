//! [`ClusterClient`]: a [`Caller`] over every server of a cluster, fed by [`Discovery`].
//!
//! Discovery's membership changes keep one lazy [`Client`] per registered server (opened on
//! `Insert`, closed on `Remove`) and one routing list per namespace. A call goes to a random
//! server of its namespace among those whose connection is up; a server whose connection drops
//! is skipped at once and used again as soon as its connection recovers, as long as it is still
//! registered. Only when no connection of the namespace is up are servers still connecting
//! tried (so the first calls after start wait for the lazy connect instead of failing).
//!
//! While ZooKeeper is unreachable the last known membership keeps routing. A call refused
//! before it ran (`ShuttingDown`, `Overloaded`, a connection closed because its server just
//! left) is retried once on another server; a call that may have run is retried only if its
//! method allows retries. The connection of a departed server is closed once its in-flight calls
//! are done.
//!
//! This router is deliberately small (random choice, one server per call) and is to be replaced
//! by `slacker_core::cluster` (grouping, fan-out), which consumes the same changes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::Stream;
use rand::seq::SliceRandom;
use serde_json::Value;
use slacker_core::membership::Change;
use slacker_core::{
    Call, Caller, Client, ClientOptions, ConnState, ContentType, Error as CallError, Replies,
    Reply, ServerAddr,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::discovery::{Discovery, DiscoveryOptions, Membership};
use crate::paths::DEFAULT_ROOT;
use crate::session::ZkOptions;
use crate::Result;

/// Options of a [`ClusterClient`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Root of all clusters (default [`DEFAULT_ROOT`]).
    pub root: String,
    /// ZooKeeper session timeout.
    pub session_timeout: std::time::Duration,
    /// Options of each per-server connection.
    pub client: ClientOptions,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            root: DEFAULT_ROOT.to_owned(),
            session_timeout: ZkOptions::new("").session_timeout,
            client: ClientOptions::default(),
        }
    }
}

/// A client of every server in a cluster. Cheap to clone; closes when the last clone is dropped
/// or [`ClusterClient::close`] is called.
#[derive(Clone, Debug)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    discovery: Discovery,
    routes: Arc<RwLock<Routes>>,
    content_type: ContentType,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The routing table: one connection per registered server, one list per namespace.
#[derive(Debug, Default)]
struct Routes {
    clients: HashMap<ServerAddr, Client>,
    namespaces: HashMap<String, Vec<ServerAddr>>,
    options: ClientOptions,
}

impl Routes {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Insert(addr, _) => {
                let options = &self.options;
                self.clients
                    .entry(addr)
                    .or_insert_with_key(|addr| Client::lazy(addr.clone(), options.clone()));
            }
            Change::Remove(addr) => {
                if let Some(client) = self.clients.remove(&addr) {
                    tokio::spawn(close_when_idle(client));
                }
            }
            Change::Namespace {
                namespace, servers, ..
            } => {
                self.namespaces.insert(namespace, servers);
            }
            // Changes this router does not use.
            _ => {}
        }
    }

    /// A random server of `namespace` whose connection is up (else one still connecting),
    /// other than `exclude`.
    fn pick(&self, namespace: &str, exclude: Option<&ServerAddr>) -> Option<Client> {
        let servers = self.namespaces.get(namespace)?;
        let candidates = |wanted: &[ConnState]| -> Vec<&Client> {
            servers
                .iter()
                .filter(|a| Some(*a) != exclude)
                .filter_map(|a| self.clients.get(a))
                .filter(|c| wanted.contains(&*c.state().borrow()))
                .collect()
        };
        let mut rng = rand::thread_rng();
        let up = candidates(&[ConnState::Connected]);
        if let Some(client) = up.choose(&mut rng) {
            return Some((*client).clone());
        }
        candidates(&[ConnState::Connecting])
            .choose(&mut rng)
            .map(|c| (*c).clone())
    }

    fn pinned(&self, addr: &ServerAddr) -> Option<Client> {
        self.clients.get(addr).cloned()
    }
}

impl ClusterClient {
    /// Connects to ZooKeeper, reads the whole cluster and opens (lazily) a connection to each
    /// server. Returns once routing reflects that first full read.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a bad cluster name or connect string;
    /// [`crate::Error::ZooKeeper`] if ZooKeeper cannot be reached or read.
    pub async fn connect(cluster: &str, connect: &str, options: ClusterOptions) -> Result<Self> {
        let discovery_options = DiscoveryOptions {
            zk: ZkOptions::new(connect).session_timeout(options.session_timeout),
            root: options.root,
        };
        let (discovery, mut changes) = Discovery::start(cluster, discovery_options).await?;
        let content_type = options.client.content_type;
        let mut routes = Routes {
            options: options.client,
            ..Routes::default()
        };
        while let Ok(change) = changes.try_recv() {
            routes.apply(change);
        }
        let routes = Arc::new(RwLock::new(routes));
        let task = tokio::spawn(follow(changes, routes.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                discovery,
                routes,
                content_type,
                task,
            }),
        })
    }

    /// The membership as discovery last read it (servers per namespace, server-data, leaders,
    /// ZooKeeper connection state). A watch: `changed().await` follows it.
    pub fn membership(&self) -> watch::Receiver<Membership> {
        self.inner.discovery.membership()
    }

    /// The servers a call to `namespace` may go to now: registered for it and connected.
    pub fn routable(&self, namespace: &str) -> Vec<ServerAddr> {
        let routes = read(&self.inner.routes);
        let Some(servers) = routes.namespaces.get(namespace) else {
            return Vec::new();
        };
        servers
            .iter()
            .filter(|a| {
                routes
                    .clients
                    .get(*a)
                    .is_some_and(|c| *c.state().borrow() == ConnState::Connected)
            })
            .cloned()
            .collect()
    }

    /// The server-data of `server`, if it is registered.
    pub fn server_data(&self, server: &ServerAddr) -> Option<Value> {
        self.inner
            .discovery
            .membership()
            .borrow()
            .servers
            .get(server)
            .cloned()
    }

    /// Server-data changes of known servers, as `(server, new data)`. A slow reader may miss
    /// intermediate values (never the latest: read [`ClusterClient::server_data`]).
    pub fn server_data_changes(&self) -> impl Stream<Item = (ServerAddr, Value)> + Send + 'static {
        let rx = self.inner.discovery.server_data_changes();
        futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(item) => return Some((item, rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Closes every server connection and stops discovery (for every clone).
    pub async fn close(&self) {
        self.inner.discovery.stop();
        self.inner.task.abort();
        let clients: Vec<Client> = {
            let mut routes = write(&self.inner.routes);
            routes.namespaces.clear();
            routes.clients.drain().map(|(_, c)| c).collect()
        };
        for client in clients {
            client.close().await;
        }
    }

    async fn call_on(client: Client, call: Call) -> Reply {
        let server = client.addr().clone();
        let result = client.call_one(call).await;
        Reply { server, result }
    }
}

impl Caller for ClusterClient {
    fn content_type(&self) -> ContentType {
        self.inner.content_type
    }

    async fn call(&self, call: Call) -> slacker_core::Result<Replies> {
        let unavailable = || CallError::Unavailable {
            namespace: call.namespace.to_string(),
        };
        let first = {
            let routes = read(&self.inner.routes);
            match &call.options.server {
                Some(addr) => routes.pinned(addr),
                None => routes.pick(&call.namespace, None),
            }
        }
        .ok_or_else(unavailable)?;
        if call.options.server.is_some() || call.options.fire_and_forget {
            return Ok(Replies::One(Self::call_on(first, call).await));
        }
        let reply = Self::call_on(first, call.clone()).await;
        let retry = match &reply.result {
            // Closed: the server was removed between the pick and the send.
            Err(e) if e.is_not_executed() || matches!(e, CallError::Closed) => true,
            Err(e) => e.is_retryable() && call.method.is_some_and(|m| m.retries > 0),
            Ok(_) => false,
        };
        if !retry {
            return Ok(Replies::One(reply));
        }
        let second = read(&self.inner.routes).pick(&call.namespace, Some(&reply.server));
        match second {
            Some(client) => {
                tracing::debug!(from = %reply.server, to = %client.addr(), "retrying a call on another server");
                Ok(Replies::One(Self::call_on(client, call).await))
            }
            None => Ok(Replies::One(reply)),
        }
    }
}

/// Closes the connection of a departed server once its calls have finished (bounded by the
/// client's call timeout): a server leaving the registry may still be answering.
async fn close_when_idle(client: Client) {
    let deadline = tokio::time::Instant::now() + client.options().timeout;
    while client.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    client.close().await;
}

/// Applies discovery's changes to the routing table until discovery stops.
async fn follow(mut changes: mpsc::UnboundedReceiver<Change>, routes: Arc<RwLock<Routes>>) {
    while let Some(change) = changes.recv().await {
        write(&routes).apply(change);
    }
}

fn read(routes: &RwLock<Routes>) -> std::sync::RwLockReadGuard<'_, Routes> {
    routes.read().unwrap_or_else(|e| e.into_inner())
}

fn write(routes: &RwLock<Routes>) -> std::sync::RwLockWriteGuard<'_, Routes> {
    routes.write().unwrap_or_else(|e| e.into_inner())
}
