//! [`ClusterServer`]: the composition root of a cluster server. It binds a slacker server
//! (with the manager namespace and the HTTP endpoint's cluster view when asked), checks that
//! the port answers, then starts one [`Registration`]; on shutdown it deregisters before it
//! drains (see [`ClusterServer::shutdown`]). Next hops: `registry.rs` (the registration),
//! `manager.rs` (through the narrow [`ManagedServer`] handle), `observe.rs`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use slacker_core::server::{ServerBuilder, ServerInterceptor};
use slacker_core::{
    Client, ClientOptions, NamespaceInfo, NamespaceService, Server, ServerAddr, ServerOptions,
};
use tokio::net::ToSocketAddrs;
use tokio::sync::watch;

use crate::manager::{ManagerAuth, ManagerServer, ServerManager};
use crate::registry::{Registration, RegistryOptions};
use crate::session::{local_ip_towards, ZkAuth};
use crate::Result;

/// What the manager namespace may do to the server it runs in: read and change its
/// registration, and stop it. [`ClusterServer`]'s shared state implements it; the manager holds
/// it weakly, so it never keeps a dropped server alive.
pub(crate) trait ManagedServer: Send + Sync + std::fmt::Debug {
    /// The server's registration.
    fn registration(&self) -> &Registration;
    /// The graceful stop (deregister, routing grace, drain, close).
    fn stop(&self, drain: Duration) -> futures::future::BoxFuture<'_, Result<()>>;
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
    pub fn service(mut self, service: impl NamespaceService) -> Self {
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

    /// Wraps dispatch in a tower layer (as
    /// [`ServerBuilder::layer`](slacker_core::server::ServerBuilder::layer)).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<slacker_core::server::DispatchStack> + Send + Sync + 'static,
        L::Service: tower::Service<
                slacker_core::server::ServerRequest,
                Response = slacker_core::HandlerOutput,
            > + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<slacker_core::server::ServerRequest>>::Error:
            Into<tower::BoxError>,
        <L::Service as tower::Service<slacker_core::server::ServerRequest>>::Future: Send + 'static,
    {
        self.server = self.server.layer(layer);
        self
    }

    /// Replaces the slacker server's options (as [`ServerBuilder::options`](slacker_core::server::ServerBuilder::options)).
    pub fn options(mut self, options: ServerOptions) -> Self {
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

    /// Sets the root of all clusters (default [`crate::paths::DEFAULT_ROOT`]).
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
    /// [`crate::Error::Core`] if the port cannot be bound or does not answer; [`crate::Error::Io`] if the
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
            let weak: std::sync::Weak<dyn ManagedServer> = Arc::downgrade(&inner) as _;
            manager.attach(weak);
        }
        observed.attach(Arc::downgrade(&inner) as _);
        Ok(ClusterServer { inner })
    }
}

/// A slacker server registered in a cluster. See the module docs for what survives what.
///
/// # Examples
///
/// ```no_run
/// # use slacker_core::remote;
/// # use slacker_zk::ClusterServer;
/// # #[remote(namespace = "calc")]
/// # pub trait Calc { async fn add(&self, a: i64, b: i64) -> i64; }
/// # struct CalcImpl;
/// # impl Calc for CalcImpl { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
/// # async fn demo() -> Result<(), slacker_zk::Error> {
/// let server = ClusterServer::builder("shop", "zk1:2181,zk2:2181,zk3:2181")
///     .service(CalcServer::new(CalcImpl))
///     .server_data(serde_json::json!({"zone": "a", "weight": 2}))
///     .bind("127.0.0.1:7000")
///     .await?;
/// println!("registered as {} (bound {})", server.addr(), server.local_addr());
/// server.registration().set_server_data(serde_json::json!({"zone": "a", "weight": 5})).await?;
/// // Deregister, let clients stop routing here, drain, leave.
/// server.shutdown(std::time::Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
///
/// The crate's tutorial (with the `local` feature) runs a cluster on a private ZooKeeper.
#[derive(Debug)]
pub struct ClusterServer {
    inner: Arc<Inner>,
}

/// What [`ClusterServer`] and the manager's `shutdown` share: whichever stops the server first
/// takes the [`Server`]; the other waits for `stopped`.
#[derive(Debug)]
pub(crate) struct Inner {
    local_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    server: Mutex<Option<Server>>,
    registration: Registration,
    routing_grace: Duration,
    stopped: watch::Sender<bool>,
}

impl ManagedServer for Inner {
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn stop(&self, drain: Duration) -> futures::future::BoxFuture<'_, Result<()>> {
        Box::pin(self.stop(drain))
    }
}

impl Inner {
    fn server(&self) -> std::sync::MutexGuard<'_, Option<Server>> {
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
        self.inner.server().as_ref().map_or(0, Server::in_flight)
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
    /// [`crate::Error::ZooKeeper`] if a node could not be deleted (it still vanishes with the session).
    pub async fn shutdown(self, drain: Duration) -> Result<()> {
        self.inner.stop(drain).await
    }
}

/// True for `host:port` and `[v6]:port`, false for `host`, `v6` and `[v6]`.
fn has_port(addr: &str) -> bool {
    match addr.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => addr.matches(':').count() == 1,
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
