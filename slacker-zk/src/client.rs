//! [`ClusterClient`]: a [`Caller`] over every server of a cluster: [`Discovery`] feeding
//! `slacker_core::cluster` ([`Cluster`]). Previous hop: a generated stub; next hop: the core's
//! multi-server caller, which owns grouping, fan-out, failover and the per-server connections.
//!
//! Discovery turns the ZooKeeper tree into membership changes; this file only pipes them into
//! the [`Cluster`] in order, and adds what needs ZooKeeper (the membership as read, server-data
//! change notifications). Everything about choosing servers is documented on
//! [`slacker_core::cluster`]: one lazy connection per registered server (opened on `Insert`,
//! closed once idle after `Remove`), a down connection skipped at once and used again when it
//! recovers, grouping per call > per method > [`ClusterOptions::grouping`], partial failures on
//! [`ClusterClient::partial_failures`].
//!
//! While ZooKeeper is unreachable the last known membership keeps routing.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde_json::Value;
pub use slacker_core::cluster::ClusterOptions;
use slacker_core::cluster::{Cluster, ClusterView, PartialFailure};
use slacker_core::membership::Change;
use slacker_core::merge::MergePolicy;
use slacker_core::{
    Call, CallOptions, Caller, Client, ContentType, Error as CallError, FunctionDesc, Replies,
    ServerAddr,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::discovery::{Discovery, DiscoveryOptions, Membership};
use crate::paths::DEFAULT_ROOT;
use crate::session::{ZkAuth, ZkOptions};
use crate::Result;

/// Builds a [`ClusterClient`]: the cluster's ZooKeeper settings here, routing in
/// [`ClusterOptions`] (the core's, the one set of cluster options).
#[derive(Debug, Clone)]
pub struct ClusterClientBuilder {
    cluster: String,
    zk: ZkOptions,
    root: String,
    options: ClusterOptions,
}

impl ClusterClientBuilder {
    /// Root of all clusters (default [`DEFAULT_ROOT`]).
    pub fn root(mut self, root: impl Into<String>) -> Self {
        self.root = root.into();
        self
    }

    /// The discovery session's timeout (default 10 s).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.zk = self.zk.session_timeout(timeout);
        self
    }

    /// Authenticates the discovery session (reading needs no secret; see [`ZkAuth`]).
    pub fn zk_auth(mut self, auth: ZkAuth) -> Self {
        self.zk = self.zk.auth(auth);
        self
    }

    /// Grouping, timeouts, connections, ejection, retry budget and merge policy.
    pub fn options(mut self, options: ClusterOptions) -> Self {
        self.options = options;
        self
    }

    /// Connects to ZooKeeper, reads the whole cluster and opens (lazily) a connection to each
    /// server. Returns once routing reflects that first full read.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a bad cluster name or connect string;
    /// [`crate::Error::ZooKeeper`] if ZooKeeper cannot be reached or read.
    pub async fn connect(self) -> Result<ClusterClient> {
        let discovery_options = DiscoveryOptions {
            zk: self.zk,
            root: self.root,
        };
        let (discovery, mut changes) = Discovery::start(&self.cluster, discovery_options).await?;
        let routing = Cluster::new(self.options);
        while let Ok(change) = changes.try_recv() {
            routing.apply(change);
        }
        let task = tokio::spawn(follow(changes, routing.clone()));
        Ok(ClusterClient {
            inner: Arc::new(Inner {
                discovery,
                cluster: routing,
                task,
            }),
        })
    }
}

/// A client of every server in a cluster. Cheap to clone; closes when the last clone is dropped
/// or [`ClusterClient::close`] is called.
///
/// # Examples
///
/// ```no_run
/// # use slacker_core::{remote, CallOptions, Grouping};
/// # use slacker_zk::{ClusterClient, ClusterOptions};
/// # #[remote(namespace = "calc")]
/// # pub trait Calc { async fn add(&self, a: i64, b: i64) -> i64; }
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = ClusterClient::builder("shop", "zk1:2181,zk2:2181,zk3:2181")
///     .session_timeout(std::time::Duration::from_secs(10))
///     .options(ClusterOptions::default())
///     .connect()
///     .await?;
/// let calc = CalcClient::new(cluster.clone()); // routed by live membership
/// let three = calc.add(1, 2).await?;
/// // Untyped, on every server, merged into a map by server.
/// let all = CallOptions::new().grouping(Grouping::All).results(slacker_core::ResultsMode::Map);
/// let by_server = cluster.call_merged("calc", "add", serde_json::json!([1, 2]), all).await?;
/// # let _ = (three, by_server);
/// # Ok(()) }
/// ```
///
/// The crate's tutorial (with the `local` feature) runs a cluster on a private ZooKeeper.
#[derive(Clone, Debug)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    discovery: Discovery,
    cluster: Cluster,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ClusterClient {
    /// A builder for a client of `cluster` through the ZooKeeper ensemble `connect`.
    pub fn builder(cluster: impl Into<String>, connect: impl Into<String>) -> ClusterClientBuilder {
        ClusterClientBuilder {
            cluster: cluster.into(),
            zk: ZkOptions::new(connect),
            root: DEFAULT_ROOT.to_owned(),
            options: ClusterOptions::default(),
        }
    }

    /// `ClusterClient::builder(cluster, connect).options(options).connect()`: default
    /// ZooKeeper settings.
    ///
    /// # Errors
    /// As [`ClusterClientBuilder::connect`].
    pub async fn connect(cluster: &str, connect: &str, options: ClusterOptions) -> Result<Self> {
        Self::builder(cluster, connect)
            .options(options)
            .connect()
            .await
    }

    /// The membership as discovery last read it (servers per namespace, server-data, leaders,
    /// ZooKeeper connection state). A watch: `changed().await` follows it.
    pub fn membership(&self) -> watch::Receiver<Membership> {
        self.inner.discovery.membership()
    }

    /// The client's metrics in the Prometheus text format: the cluster's (calls, latency,
    /// retries, partial failures, ejections per server, servers per namespace; see
    /// `slacker_core::observe`) and `slacker_zookeeper_connected` of its discovery session.
    pub fn metrics_text(&self) -> String {
        let connected = self.inner.discovery.membership().borrow().zk == crate::ZkState::Connected;
        let mut text = self.inner.cluster.metrics_text();
        text.push_str(
            "# HELP slacker_zookeeper_connected 1 while the discovery's ZooKeeper session is connected.\n\
             # TYPE slacker_zookeeper_connected gauge\n",
        );
        text.push_str(&format!(
            "slacker_zookeeper_connected {}\n",
            u8::from(connected)
        ));
        text
    }

    /// The routing cluster's metrics (for the program's own exporter).
    pub fn metrics(&self) -> &slacker_core::observe::ClusterMetrics {
        self.inner.cluster.metrics()
    }

    /// What routing holds now: every server with its connection state and in-flight calls, and
    /// every namespace's routing list and leader.
    pub fn snapshot(&self) -> ClusterView {
        self.inner.cluster.snapshot()
    }

    /// The servers a call to `namespace` may go to now: registered for it and connected.
    pub fn routable(&self, namespace: &str) -> Vec<ServerAddr> {
        self.inner.cluster.routable(namespace)
    }

    /// The connection to a registered server (for inspect and other per-server tooling).
    pub fn client(&self, server: &ServerAddr) -> Option<Client> {
        self.inner.cluster.client(server)
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
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Multi-server calls that succeeded although some servers failed, and calls that
    /// succeeded after failing over (see [`Cluster::partial_failures`]). Each is also logged
    /// at WARN.
    pub fn partial_failures(&self) -> broadcast::Receiver<PartialFailure> {
        self.inner.cluster.partial_failures()
    }

    /// Calls `namespace/function` with JSON arguments on the servers the grouping chooses and
    /// returns each server's JSON result (see [`Cluster::call_by_name`]).
    ///
    /// # Errors
    /// As [`Cluster::call_by_name`].
    ///
    /// # Cancel safety
    /// Dropping the future cancels the calls on every server.
    pub async fn call_by_name(
        &self,
        namespace: &str,
        function: &str,
        args: Value,
        options: CallOptions,
    ) -> slacker_core::Result<Vec<(ServerAddr, slacker_core::Result<Value>)>> {
        self.inner
            .cluster
            .call_by_name(namespace, function, args, options)
            .await
    }

    /// Calls `namespace/function` with dynamic arguments on the servers the grouping chooses
    /// and merges their answers into one JSON value (see [`Cluster::call_merged`]): the
    /// exceptions policy and results shape of `options`, else this client's
    /// [`ClusterOptions::merge`] policy.
    ///
    /// # Errors
    /// As [`Cluster::call_merged`].
    pub async fn call_merged(
        &self,
        namespace: &str,
        function: &str,
        args: Value,
        options: CallOptions,
    ) -> slacker_core::Result<Value> {
        self.inner
            .cluster
            .call_merged(namespace, function, args, options)
            .await
    }

    /// The functions of `namespace` as its servers registered them in ZooKeeper (see
    /// [`Discovery::functions`]): the cluster-level inspect, without calling any server.
    ///
    /// # Errors
    /// As [`Discovery::functions`].
    pub async fn functions(&self, namespace: &str) -> Result<Vec<FunctionDesc>> {
        self.inner.discovery.functions(namespace).await
    }

    /// Closes every server connection and stops discovery (for every clone).
    pub async fn close(&self) {
        self.inner.discovery.stop();
        self.inner.task.abort();
        self.inner.cluster.close().await;
    }
}

impl Caller for ClusterClient {
    fn content_type(&self) -> ContentType {
        self.inner.cluster.content_type()
    }

    fn merge_policy(&self) -> Option<&MergePolicy> {
        self.inner.cluster.merge_policy()
    }

    async fn call(&self, call: Call) -> slacker_core::Result<Replies> {
        self.inner.cluster.call(call).await
    }

    fn partial_failure(
        &self,
        namespace: &str,
        function: &str,
        failures: &[(ServerAddr, CallError)],
    ) {
        self.inner
            .cluster
            .partial_failure(namespace, function, failures);
    }
}

/// Applies discovery's changes to routing until discovery stops.
async fn follow(mut changes: mpsc::UnboundedReceiver<Change>, cluster: Cluster) {
    while let Some(change) = changes.recv().await {
        cluster.apply(change);
    }
}

// A cluster client is a `tower::Service` too, so tower's middleware stacks on it (see
// `slacker_core::stack`).
slacker_core::__impl_tower_service!(ClusterClient);
