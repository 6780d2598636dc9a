//! The server's HTTP listener (`ServerBuilder::http(addr)`): `GET /metrics` (Prometheus text
//! format), `GET /health`, and the gateway (`POST /ns/fn.json`, `GET /functions`; see
//! `gateway.rs`), on a port of its own so that nothing on it can slow the RPC port.
//! Previous hop: `server/mod.rs` binds it; the routes read the server's shared state and the
//! [`HttpExtension`]s that layers above add (slacker-zk: registration health and ZooKeeper
//! metrics).
//!
//! axum routes on hyper's HTTP/1 connection builder. Every connection is bounded: at most
//! [`MAX_CONNECTIONS`] open (more are closed at once), the request head must arrive within
//! [`HEADER_TIMEOUT`], and a connection lives at most [`CONNECTION_LIFETIME`]; request bodies
//! are capped by axum's default limit (2 MiB). A client that sends garbage, never finishes its
//! headers or never reads its answer holds one bounded slot for a bounded time.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{gateway, Shared};
use crate::observe::metrics::encode_text;

/// Open HTTP connections at most; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 256;
/// The request line and headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one HTTP connection (keep-alive included).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

type HealthCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;
type Hook = Arc<dyn Fn() + Send + Sync>;

/// What a layer above the core adds to a server's HTTP endpoint: more metrics, a hook that
/// refreshes them before each scrape, and health checks (`/health` answers 503 with the first
/// failing check's reason).
#[derive(Clone, Default)]
pub struct HttpExtension {
    registries: Vec<Registry>,
    before_scrape: Vec<Hook>,
    health: Vec<HealthCheck>,
}

impl std::fmt::Debug for HttpExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExtension")
            .field("registries", &self.registries.len())
            .field("health_checks", &self.health.len())
            .finish()
    }
}

impl HttpExtension {
    /// Nothing added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a registry to `/metrics`.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registries.push(registry);
        self
    }

    /// Runs `hook` before each scrape (to set gauges read from elsewhere).
    pub fn before_scrape(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_scrape.push(Arc::new(hook));
        self
    }

    /// Adds a health check: `Err(reason)` makes `/health` answer 503 with that reason.
    pub fn health_check(
        mut self,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.health.push(Arc::new(check));
        self
    }

    fn extend(&mut self, other: HttpExtension) {
        self.registries.extend(other.registries);
        self.before_scrape.extend(other.before_scrape);
        self.health.extend(other.health);
    }
}

/// Merges extensions in the order given.
pub(super) fn merge(extensions: Vec<HttpExtension>) -> HttpExtension {
    let mut all = HttpExtension::default();
    for e in extensions {
        all.extend(e);
    }
    all
}

#[derive(Clone)]
pub(super) struct HttpState {
    pub(super) shared: Arc<Shared>,
    extension: Arc<HttpExtension>,
}

/// Serves HTTP on `listener` until the server closes.
pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>, extension: HttpExtension) {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/", get(gateway::functions))
        .route("/functions", get(gateway::functions))
        .route("/{namespace}/{file}", post(gateway::call))
        .layer(DefaultBodyLimit::max(gateway::MAX_BODY))
        .with_state(HttpState {
            shared: shared.clone(),
            extension: Arc::new(extension),
        });
    serve_router(listener, router, shared.close.clone()).await;
}

/// Serves `router` on `listener` with the same bounds as a server's HTTP port (at most
/// [`MAX_CONNECTIONS`] connections, [`HEADER_TIMEOUT`], [`CONNECTION_LIFETIME`]) until `close`
/// is cancelled. Handlers may extract `ConnectInfo<SocketAddr>`. The `slacker gateway` and
/// `slacker console` commands serve their routers with it.
pub async fn serve_router(listener: TcpListener, router: Router, close: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = close.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::select! {
                    _ = close.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "HTTP connection refused: too many open");
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let closing = close.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = closing.cancelled() => {}
                r = tokio::time::timeout(CONNECTION_LIFETIME, conn) => {
                    if let Ok(Err(e)) = r {
                        tracing::debug!(%peer, error = %e, "HTTP connection ended");
                    }
                }
            }
            drop(slot);
        });
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    for hook in &state.extension.before_scrape {
        hook();
    }
    let shared = &state.shared;
    shared.metrics.set_gauges(
        shared.in_flight.load(Ordering::Acquire),
        shared.connections.load(Ordering::Acquire),
    );
    let mut registries = vec![shared.metrics.registry()];
    registries.extend(state.extension.registries.iter());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        encode_text(&registries),
    )
        .into_response()
}

async fn health(State(state): State<HttpState>) -> Response {
    let verdict = if state.shared.draining.load(Ordering::Acquire) {
        Err(("draining", "the server is shutting down".to_owned()))
    } else {
        state
            .extension
            .health
            .iter()
            .find_map(|check| check().err())
            .map_or(Ok(()), |reason| Err(("unavailable", reason)))
    };
    match verdict {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "serving" })),
        )
            .into_response(),
        Err((status, reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": status, "reason": reason })),
        )
            .into_response(),
    }
}

/// Binds the HTTP listener.
pub(super) async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
