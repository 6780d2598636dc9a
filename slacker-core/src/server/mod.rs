//! The server: one TCP port hosting any number of namespaces ([`NamespaceService`]s).
//!
//! `mod.rs` owns the builder, the accept loop and graceful shutdown. Next hops:
//! `connection.rs` (one task pair per connection: framed reads, batched writes, limits, cancel,
//! ping, hello, inspect) and `dispatch.rs` (a request runs in the connection's task until it
//! has to wait, then in a task of its own: interceptors, deadline, handler, panic catching,
//! reply).
//!
//! `http.rs` serves `/metrics` and `/health` on a port of its own when asked
//! ([`ServerBuilder::http`]).
//!
//! Every limit answers rather than queues: past `max_in_flight` a request gets `Overloaded`,
//! past `max_connections` a new connection gets one `Overloaded` error frame and is closed.
//!
//! Handlers are polled first in their connection's task (most answer there, with no task of
//! their own). A handler that computes for long before its first `.await` holds that
//! connection's reading meanwhile, as it would hold a tokio worker anyway: run such work with
//! `tokio::task::spawn_blocking`.

mod conn;
mod connection;
mod dispatch;
pub mod gateway;
mod http;
mod interceptor;
mod layer;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use http::{serve_router, HttpExtension, CONNECTION_LIFETIME, HEADER_TIMEOUT, MAX_CONNECTIONS};
pub use interceptor::{Outcome, Reject, RequestHead, ServerInterceptor};
pub use layer::{Dispatch, DispatchStack, Rejection, ServerRequest};

use crate::inspect::{ClientInfo, InspectRequest, InspectResponse, NamespaceDesc, ServerStatus};
use crate::names::NameMap;
use crate::observe::metrics::MethodObs;
use crate::observe::ServerMetrics;
use crate::protocol::KnownNames;
use crate::protocol::{DEFAULT_MAX_FRAME_LEN, PROTOCOL_VERSION, VERSION};
use crate::{stream, Error, NamespaceService, Result};

/// Server limits and timeouts.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest accepted frame (header + body), in bytes. Default 16 MiB.
    pub max_frame_len: usize,
    /// Open connections beyond this are refused. Default 10 000.
    pub max_connections: usize,
    /// Requests running at once on one connection; more get `Overloaded`. Default 2 000
    /// (a tenth of `max_in_flight`, so no single connection can fill the server).
    pub max_in_flight_per_connection: usize,
    /// Requests running at once on the server; more get `Overloaded`. Default 20 000. Once
    /// half of it is in use, each connection is held to its fair share (`max_in_flight` over
    /// the connections holding a slot), so a bystander always gets in.
    pub max_in_flight: usize,
    /// A peer that stops in the middle of a frame for about this long is disconnected.
    /// Default 30 s. Also the granularity (halved) of `idle_timeout`.
    pub read_timeout: Duration,
    /// A connection that sends no frame at all for about this long is closed (clients ping
    /// every few seconds, so only vanished peers hit it); zero disables. Default 60 s.
    pub idle_timeout: Duration,
    /// Accept only TLS connections, with this rustls configuration (feature `tls`). The
    /// handshake is bounded by `read_timeout`. Default `None`: plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Builder methods, one per field (the struct is `#[non_exhaustive]`: start from `default()` /
/// `new(..)` and chain).
impl ServerOptions {
    /// Sets [`ServerOptions::max_frame_len`](Self::max_frame_len).
    pub fn max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// Sets [`ServerOptions::max_connections`](Self::max_connections).
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets [`ServerOptions::max_in_flight_per_connection`](Self::max_in_flight_per_connection).
    pub fn max_in_flight_per_connection(mut self, max_in_flight_per_connection: usize) -> Self {
        self.max_in_flight_per_connection = max_in_flight_per_connection;
        self
    }

    /// Sets [`ServerOptions::max_in_flight`](Self::max_in_flight).
    pub fn max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// Sets [`ServerOptions::read_timeout`](Self::read_timeout).
    pub fn read_timeout(mut self, read_timeout: Duration) -> Self {
        self.read_timeout = read_timeout;
        self
    }

    /// Sets [`ServerOptions::idle_timeout`](Self::idle_timeout).
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    #[cfg(feature = "tls")]
    /// Sets [`ServerOptions::tls`](Self::tls).
    pub fn tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_connections: 10_000,
            max_in_flight_per_connection: 2_000,
            max_in_flight: 20_000,
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl Server {
    /// A builder with no services, no interceptors and default options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            services: Vec::new(),
            interceptors: Vec::new(),
            layers: Vec::new(),
            options: ServerOptions::default(),
            http: None,
            http_extensions: Vec::new(),
        }
    }
}

/// Collects services, interceptors and options, then binds.
pub struct ServerBuilder {
    services: Vec<Arc<dyn NamespaceService>>,
    interceptors: Vec<Arc<dyn ServerInterceptor>>,
    layers: Vec<layer::LayerFn>,
    options: ServerOptions,
    http: Option<SocketAddr>,
    http_extensions: Vec<HttpExtension>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|s| s.info().name)
                    .collect::<Vec<_>>(),
            )
            .field("interceptors", &self.interceptors.len())
            .field("layers", &self.layers.len())
            .field("options", &self.options)
            .field("http", &self.http)
            .finish()
    }
}

impl ServerBuilder {
    /// Hosts a namespace.
    pub fn service(mut self, service: impl NamespaceService) -> Self {
        self.services.push(Arc::new(service));
        self
    }

    /// Adds an interceptor (`before` in the order added, `after` in reverse).
    pub fn interceptor(mut self, interceptor: impl ServerInterceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Wraps dispatch in a tower [`Layer`](tower::Layer) (the first added is outermost):
    /// its service sees each [`ServerRequest`] after admission, interceptors and the deadline
    /// check, and answers with the handler's [`HandlerOutput`](crate::HandlerOutput) or an error (see
    /// [`Rejection`]). For example `tower::limit::ConcurrencyLimitLayer`, or your own.
    ///
    /// ```
    /// # use slacker_core::Server;
    /// // Shed (answer `Overloaded` at once) what a 10 s timeout layer would otherwise hold.
    /// let builder = Server::builder()
    ///     .layer(tower::load_shed::LoadShedLayer::new())
    ///     .layer(tower::timeout::TimeoutLayer::new(std::time::Duration::from_secs(10)));
    /// # let _ = builder;
    /// ```
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<layer::Stack> + Send + Sync + 'static,
        L::Service: tower::Service<ServerRequest, Response = crate::HandlerOutput>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<ServerRequest>>::Error: Into<tower::BoxError>,
        <L::Service as tower::Service<ServerRequest>>::Future: Send + 'static,
    {
        use tower::ServiceExt;
        self.layers.push(Arc::new(move |inner| {
            tower::util::BoxCloneSyncService::new(layer.layer(inner).map_err(Into::into))
        }));
        self
    }

    /// Replaces the options.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// Also serves HTTP on `addr` (port 0 for a free one): `GET /metrics` in the Prometheus
    /// text format and `GET /health` (200 while serving, 503 with a JSON reason while draining
    /// or when a health check fails). See [`Server::http_addr`].
    pub fn http(mut self, addr: SocketAddr) -> Self {
        self.http = Some(addr);
        self
    }

    /// Adds metrics and health checks to the HTTP endpoint (used by slacker-zk).
    pub fn http_extension(mut self, extension: HttpExtension) -> Self {
        self.http_extensions.push(extension);
        self
    }

    /// Binds `addr` and starts serving.
    ///
    /// # Errors
    /// [`Error::Config`] when two services share a namespace or a limit is zero;
    /// [`Error::Io`] when the address cannot be bound.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server> {
        let o = &self.options;
        if o.max_connections == 0
            || o.max_in_flight == 0
            || o.max_in_flight_per_connection == 0
            || o.read_timeout.is_zero()
        {
            return Err(Error::Config(
                "server limits and read_timeout must be non-zero".into(),
            ));
        }
        let mut services = NameMap::default();
        for s in self.services {
            let name = s.info().name;
            if services.insert(name.to_owned(), s).is_some() {
                return Err(Error::Config(format!(
                    "namespace `{name}` registered twice"
                )));
            }
        }
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let http = match self.http {
            Some(addr) => Some(http::bind(addr).await?),
            None => None,
        };
        let metrics = ServerMetrics::new(services.values().map(|s| s.info()));
        let mut names = KnownNames::default();
        for info in services.values().map(|s| s.info()) {
            names.insert(info.name);
            for m in info.methods {
                names.insert(m.name);
            }
        }
        let services = services
            .into_iter()
            .map(|(name, service)| {
                let info = service.info();
                let functions = info
                    .methods
                    .iter()
                    .filter_map(|m| {
                        Some((
                            m.name.to_owned(),
                            metrics.method(info.name, m.name)?.clone(),
                        ))
                    })
                    .collect();
                (name, Hosted { service, functions })
            })
            .collect();
        let shared = Arc::new(Shared {
            metrics,
            services,
            names: Arc::new(names),
            interceptors: self.interceptors,
            stack: layer::build(&self.layers),
            options: self.options,
            started_at_ms: now_ms(),
            in_flight: AtomicUsize::new(0),
            busy_connections: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            idle: Notify::new(),
            draining: AtomicBool::new(false),
            close: CancellationToken::new(),
            clients: Mutex::new(HashMap::new()),
            next_conn_id: AtomicU64::new(1),
        });
        let stop_accept = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), stop_accept.clone()));
        let http_addr = http.map(|(listener, addr)| {
            tokio::spawn(http::serve(
                listener,
                shared.clone(),
                http::merge(self.http_extensions),
            ));
            addr
        });
        tracing::info!(%local_addr, ?http_addr, "slacker server listening");
        Ok(Server {
            local_addr,
            http_addr,
            shared,
            stop_accept,
            accept: Some(accept),
        })
    }
}

/// A bound, serving server: what [`Server::builder`]`()...bind(addr)` returns and what you
/// hold. Dropping it closes every connection at once; prefer [`Server::shutdown`].
///
/// # Examples
///
/// ```
/// # use slacker_core::{remote, Client, ClientOptions, Server};
/// # #[remote(namespace = "calc")]
/// # pub trait Calc { async fn add(&self, a: i64, b: i64) -> i64; }
/// # struct CalcImpl;
/// # impl Calc for CalcImpl { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), slacker_core::Error> {
/// let server = Server::builder()
///     .service(CalcServer::new(CalcImpl)) // any number of namespaces on one port
///     .bind("127.0.0.1:0")
///     .await?;
/// println!("serving on {}", server.local_addr());
/// // Stop accepting, let running calls finish (at most 5 s), close.
/// server.shutdown(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop_accept: CancellationToken,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound HTTP address, when [`ServerBuilder::http`] asked for one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The server's metrics (also on `/metrics` with [`ServerBuilder::http`]).
    pub fn metrics(&self) -> &ServerMetrics {
        &self.shared.metrics
    }

    /// The server's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let shared = &self.shared;
        shared.metrics.set_gauges(
            shared.in_flight.load(Ordering::Acquire),
            shared.connections.load(Ordering::Acquire),
        );
        crate::observe::encode_text(&[shared.metrics.registry()])
    }

    /// Requests running now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Stops accepting, lets running requests finish for up to `grace` (new requests get
    /// `ShuttingDown`), then closes every connection. The port is free when this returns.
    pub async fn shutdown(mut self, grace: Duration) {
        let shared = self.shared.clone();
        shared.draining.store(true, Ordering::Release);
        self.stop_accept.cancel();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        let drained = tokio::time::timeout(
            grace,
            shared.wait_until(|s| s.in_flight.load(Ordering::Acquire) == 0),
        )
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = shared.in_flight.load(Ordering::Acquire),
                "shutdown grace elapsed; aborting running requests"
            );
        }
        shared.close.cancel();
        // Connection tasks exit at once when `close` fires; bound the wait all the same.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            shared.wait_until(|s| s.connections.load(Ordering::Acquire) == 0),
        )
        .await;
        tracing::info!(local_addr = %self.local_addr, "slacker server stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_accept.cancel();
        self.shared.close.cancel();
    }
}

/// A namespace the server hosts: its service, and each function's metric handles (found
/// with the service: one lookup by namespace per request, not one for each).
struct Hosted {
    service: Arc<dyn NamespaceService>,
    functions: NameMap<Arc<MethodObs>>,
}

/// State shared by the accept loop, connections and request tasks.
struct Shared {
    metrics: ServerMetrics,
    services: NameMap<Hosted>,
    /// The services' namespace and function names, for the request decoder.
    names: Arc<KnownNames>,
    interceptors: Vec<Arc<dyn ServerInterceptor>>,
    /// The tower layers around dispatch, if any ([`ServerBuilder::layer`]).
    stack: Option<layer::Stack>,
    options: ServerOptions,
    started_at_ms: u64,
    in_flight: AtomicUsize,
    /// Connections holding at least one in-flight slot (for fair admission, `dispatch.rs`).
    busy_connections: AtomicUsize,
    connections: AtomicUsize,
    /// Notified whenever `in_flight` or `connections` drops to zero.
    idle: Notify,
    draining: AtomicBool,
    /// Closes every connection.
    close: CancellationToken,
    clients: Mutex<HashMap<u64, ClientInfo>>,
    next_conn_id: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("in_flight", &self.in_flight)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl Shared {
    async fn wait_until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }

    fn decrement(&self, counter: &AtomicUsize) {
        if counter.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ClientInfo>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn inspect(&self, req: &InspectRequest) -> InspectResponse {
        let mut namespaces: Vec<NamespaceDesc> = self
            .services
            .values()
            .map(|h| h.service.info())
            .filter(|info| req.namespace.as_deref().is_none_or(|n| n == info.name))
            .map(|info| NamespaceDesc {
                name: info.name.to_owned(),
                doc: info.doc.to_owned(),
                functions: info.methods.iter().map(|m| m.describe()).collect(),
            })
            .collect();
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        let mut clients: Vec<ClientInfo> = self.clients().values().cloned().collect();
        clients.sort_by_key(|c| c.connected_at_ms);
        InspectResponse {
            server: ServerStatus {
                version: VERSION.to_owned(),
                protocol_version: PROTOCOL_VERSION,
                started_at_ms: self.started_at_ms,
                in_flight: self.in_flight.load(Ordering::Acquire),
                clients,
            },
            namespaces,
            stats: Some(self.metrics.function_stats()),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            _ = shared.close.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                if shared.connections.fetch_add(1, Ordering::AcqRel)
                    >= shared.options.max_connections
                {
                    shared.decrement(&shared.connections);
                    tracing::warn!(%peer, "connection refused: max_connections reached");
                    tokio::spawn(connection::refuse(stream, shared.options.max_frame_len));
                    continue;
                }
                let id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve_connection(shared.clone(), stream, peer, id));
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, id: u64) {
    shared.clients().insert(
        id,
        ClientInfo {
            addr: peer.to_string(),
            name: None,
            version: None,
            connected_at_ms: now_ms(),
        },
    );
    if let Some((read, write)) = open_stream(&shared, stream, peer).await {
        connection::serve(shared.clone(), read, write, peer, id).await;
    }
    shared.clients().remove(&id);
    shared.decrement(&shared.connections);
}

/// Splits the connection, after the TLS handshake when TLS is on; `None` if the handshake
/// fails (a plaintext client, an untrusted client certificate, a stall) or the server closes.
async fn open_stream(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<(stream::ReadHalf, stream::WriteHalf)> {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    #[cfg(feature = "tls")]
    if let Some(config) = &shared.options.tls {
        let accept = tokio_rustls::TlsAcceptor::from(config.clone()).accept(stream);
        let accepted = tokio::select! {
            _ = shared.close.cancelled() => return None,
            r = tokio::time::timeout(shared.options.read_timeout, accept) => r,
        };
        return match accepted {
            Ok(Ok(tls)) => Some(stream::tls(tls)),
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::warn!(%peer, "TLS handshake timed out");
                None
            }
        };
    }
    #[cfg(not(feature = "tls"))]
    let _ = shared;
    Some(stream::plain(stream))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
