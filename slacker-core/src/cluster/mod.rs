//! The multi-server caller: [`Cluster`], a [`Caller`] over every server of a cluster, fed by
//! membership [`Change`]s. Previous hop: a generated stub (or [`Cluster::call_by_name`]); next
//! hop: `table.rs` (which servers), then each chosen server's [`Client`]; each outcome goes
//! back to `health.rs` (ejection), each retry asks `budget.rs`.
//!
//! Why it exists: slacker's grouping (choose servers, merge results, decide failures) has to sit
//! on *persistent* per-server state, not on a balancer rebuilt per call. The cluster keeps one
//! lazy [`Client`] per registered server across calls and membership changes; its in-flight
//! count drives `least_in_flight` and its connection state takes a down server out of routing at
//! once (and back when it reconnects) while it is still registered.
//!
//! The core never knows where changes come from: `slacker-zk` feeds ZooKeeper discovery into
//! [`Cluster::apply`], tests feed a static list. Between changes the cluster keeps routing on
//! what it last heard, so a registry outage is never mistaken for "no servers".
//!
//! # Options, and who wins
//! Grouping and timeout: per call ([`CallOptions`](crate::CallOptions)) beats per method (`#[remote(...)]`) beats
//! per cluster ([`ClusterOptions`]).
//!
//! # Failures
//! * A grouping that yields no server fails the call with [`Error::Unavailable`] (a method with
//!   an `unavailable_value` returns that value instead).
//! * Fan-out (`all`, or a grouping function returning several servers) runs the calls
//!   concurrently, each bounded by the call's deadline: a slow server's timeout is that
//!   server's failure alone. The stub then applies the method's `grouping_exceptions`.
//! * Partial failures (the call succeeded, some servers failed) are logged at WARN and published
//!   on [`Cluster::partial_failures`].
//!
//! # Failover
//! A single-server call that fails is retried on another server (chosen by the same grouping,
//! each server at most once, within the same deadline) when:
//! * the error proves the request never ran and could succeed elsewhere
//!   ([`Error::may_succeed_elsewhere`]: backlog full,
//!   overloaded, shutting down, unknown namespace or function): for **any** method, since nothing ran
//!   (at most `max(retries, 1)` times); never bad arguments, which would fail everywhere;
//! * the error is connection-level ([`Error::is_retryable`]: the request may or may not have
//!   run) and the method is idempotent (`MethodInfo::retries > 0`): at most `retries` times.
//!
//! Timeouts and application errors are never retried. Every retry also needs the cluster's
//! retry budget (`budget.rs`: about 20% of calls, plus 10 per second), so a brown-out cannot
//! multiply the load.
//!
//! # Ejection
//! Each attempt's outcome feeds the server's failure accrual (`health.rs`): five connection
//! errors or timeouts in a row eject it from single-server routing for a backoff period, and
//! calls still pending on it fail at once (idempotent ones fail over). A call pinned to a server
//! (`CallOptions::server`) or to the leader never moves to another server. When every attempt
//! fails the call fails with [`Error::Grouped`] listing each server tried; when a retry
//! succeeds, the servers left behind are reported as a partial failure.

mod budget;
mod health;
mod options;
mod table;
mod untyped;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::Instrument;

use crate::client::Bound;
use crate::membership::Change;
use crate::merge::MergePolicy;
use crate::observe::ClusterMetrics;
use crate::{
    Call, Caller, Client, ConnState, ContentType, Error, Grouping, Replies, Reply, Result,
    ServerAddr,
};
pub use budget::RetryBudget;
pub use health::OutlierEjection;
use health::Verdict;
pub use options::ClusterOptions;
use table::{Chosen, Table, Target};

/// A multi-server call that succeeded although some servers failed (under
/// `grouping_exceptions = all` or a custom policy that accepted it), or that succeeded after
/// failing over from the servers listed.
#[derive(Debug, Clone)]
pub struct PartialFailure {
    /// Namespace called.
    pub namespace: String,
    /// Function called.
    pub function: String,
    /// Each failing server with its error.
    pub failures: Vec<(ServerAddr, Error)>,
}

/// What the cluster knows about one server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerStatus {
    /// Its server-data (`null` when none).
    pub data: Value,
    /// Its connection state.
    pub state: ConnState,
    /// Calls from this cluster currently pending on it.
    pub in_flight: usize,
    /// Its calls' failures in a row (connection errors, timeouts; see [`OutlierEjection`]).
    pub consecutive_failures: u32,
    /// Whether it sits out an ejection period (single-server groupings skip it).
    pub ejected: bool,
}

/// One namespace's routing list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceRoute {
    /// Servers offering it, as the last [`Change::Namespace`] listed them.
    pub servers: Vec<ServerAddr>,
    /// Its current leader, if any.
    pub leader: Option<ServerAddr>,
}

/// A snapshot of a cluster's membership and per-server state ([`Cluster::snapshot`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterView {
    /// Every registered server.
    pub servers: BTreeMap<ServerAddr, ServerStatus>,
    /// Every namespace heard of (possibly with no servers).
    pub namespaces: BTreeMap<String, NamespaceRoute>,
}

/// A [`Caller`] over every server of a cluster. Cheap to clone; clones share the connections.
///
/// ```no_run
/// # async fn demo() {
/// use slacker_core::cluster::{Cluster, ClusterOptions};
/// use slacker_core::membership::{Change, ServerInfo};
///
/// let cluster = Cluster::new(ClusterOptions::default());
/// let addr = slacker_core::ServerAddr::from("127.0.0.1:7000");
/// cluster.apply(Change::Insert(addr.clone(), ServerInfo { data: serde_json::Value::Null }));
/// cluster.apply(Change::Namespace { namespace: "ns".into(), servers: vec![addr], leader: None });
/// let mut partial = cluster.partial_failures();
/// // FooClient::new(cluster.clone()).bar().await ...
/// # }
/// ```
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClusterOptions,
    table: RwLock<Table>,
    budget: budget::Budget,
    metrics: ClusterMetrics,
    partial: broadcast::Sender<PartialFailure>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.table();
        f.debug_struct("Cluster")
            .field("servers", &table.servers.len())
            .field("namespaces", &table.namespaces.len())
            .finish()
    }
}

impl Cluster {
    /// A cluster with no servers; feed it with [`Cluster::apply`].
    pub fn new(mut options: ClusterOptions) -> Self {
        options.client.timeout = options.timeout;
        let (partial, _) = broadcast::channel(options.partial_failure_capacity.max(1));
        Self {
            inner: Arc::new(Inner {
                budget: budget::Budget::new(options.retry_budget),
                metrics: ClusterMetrics::default(),
                options,
                table: RwLock::new(Table::default()),
                partial,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Applies one membership change, in order:
    /// * `Insert` opens a lazy connection to a new server (once; a known server only gets its
    ///   server-data updated);
    /// * `Remove` forgets the server; its connection closes once calls already running on it
    ///   have finished;
    /// * `Namespace` replaces the namespace's routing list and leader (servers not inserted yet
    ///   are routed to once they are).
    ///
    /// Ignored after [`Cluster::close`].
    ///
    /// # Panics
    /// Outside a tokio runtime (a new connection spawns its driver task).
    pub fn apply(&self, change: Change) {
        if self.inner.closed.load(Ordering::Acquire) {
            return;
        }
        tracing::debug!(?change, "cluster: membership change");
        let mut table = self.inner.table.write().unwrap_or_else(|e| e.into_inner());
        table.apply(change, &self.inner.options.client, &self.inner.metrics);
    }

    /// The cluster's metrics (calls, latency, retries, partial failures and ejections per
    /// server; see [`crate::observe`]).
    pub fn metrics(&self) -> &ClusterMetrics {
        &self.inner.metrics
    }

    /// The cluster's metrics in the Prometheus text format, membership gauges refreshed.
    pub fn metrics_text(&self) -> String {
        self.refresh_gauges();
        crate::observe::encode_text(&[self.inner.metrics.registry()])
    }

    /// Sets the scrape-time gauges (servers per namespace) from the table.
    pub fn refresh_gauges(&self) {
        let table = self.table();
        self.inner.metrics.set_servers(
            table
                .namespaces
                .iter()
                .map(|(ns, r)| (ns.as_str(), r.servers.len())),
        );
    }

    /// Subscribes to partial failures: multi-server calls that succeeded although some servers
    /// failed, and calls that succeeded after failing over. Each is also logged at WARN. A
    /// subscriber that falls more than `partial_failure_capacity` behind misses the oldest
    /// (`RecvError::Lagged`).
    pub fn partial_failures(&self) -> broadcast::Receiver<PartialFailure> {
        self.inner.partial.subscribe()
    }

    /// Every registered server with its state, and every namespace's routing list.
    pub fn snapshot(&self) -> ClusterView {
        let table = self.table();
        ClusterView {
            servers: table
                .servers
                .iter()
                .map(|(addr, m)| {
                    let status = ServerStatus {
                        data: m.data.clone(),
                        state: m.conn_state(),
                        in_flight: m.client.in_flight(),
                        consecutive_failures: m.health.consecutive_failures(),
                        ejected: m.health.is_ejected(),
                    };
                    (addr.clone(), status)
                })
                .collect(),
            namespaces: table
                .namespaces
                .iter()
                .map(|(ns, r)| {
                    let route = NamespaceRoute {
                        servers: r.servers.clone(),
                        leader: r.leader.clone(),
                    };
                    (ns.clone(), route)
                })
                .collect(),
        }
    }

    /// The servers of `namespace` that are registered and whose connection is up: those
    /// single-server groupings choose among (unless none is up: then every registered one is
    /// tried, so that the error is a real connection error).
    pub fn routable(&self, namespace: &str) -> Vec<ServerAddr> {
        self.table().routable(namespace)
    }

    /// The connection to a registered server (for inspect and other per-server tooling).
    pub fn client(&self, server: &ServerAddr) -> Option<Client> {
        self.table().servers.get(server).map(|m| m.client.clone())
    }

    /// Closes every connection and forgets every server; later calls fail with
    /// [`Error::Closed`] and later changes are ignored. Returns once every connection's driver
    /// has stopped.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let clients: Vec<Client> = {
            let mut table = self.inner.table.write().unwrap_or_else(|e| e.into_inner());
            table.drain()
        };
        for client in clients {
            client.close().await;
        }
    }

    fn table(&self) -> RwLockReadGuard<'_, Table> {
        self.inner.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn select(&self, call: &Call, grouping: &Grouping, tried: &[ServerAddr]) -> Result<Chosen> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.table().select(call, grouping, tried)
    }

    /// [`Cluster::fail_over`], boxed by a plain function (boxed inside the `async fn` that
    /// awaits it, the future would still take its full size there, before the box).
    fn fail_over_boxed<'a>(
        &'a self,
        call: &'a Call,
        grouping: &'a Grouping,
        first: Target,
        failed: Error,
        deadline: Instant,
        timeout: Duration,
    ) -> BoxFuture<'a, Replies> {
        Box::pin(self.fail_over(call, grouping, first, failed, deadline, timeout))
    }

    /// What follows a failed first attempt on a single server: retries on others as the module
    /// docs describe. Boxed by its caller (the common call never gets here).
    async fn fail_over(
        &self,
        call: &Call,
        grouping: &Grouping,
        first: Target,
        failed: Error,
        deadline: Instant,
        timeout: Duration,
    ) -> Replies {
        let mut failures: Vec<(ServerAddr, Error)> = Vec::new();
        let mut target = first;
        let mut err = failed;
        loop {
            let retry = may_retry(call, &err, failures.len()) && Instant::now() < deadline;
            failures.push((target.addr.clone(), err));
            if !retry {
                break;
            }
            if !self.inner.budget.withdraw() {
                self.inner.metrics.retries_refused.inc();
                tracing::debug!(server = %target.addr, "cluster: retry budget exhausted; not failing over");
                break;
            }
            self.inner.metrics.retries.inc();
            let tried: Vec<ServerAddr> = failures.iter().map(|(s, _)| s.clone()).collect();
            match self.select(call, grouping, &tried) {
                Ok(Chosen::One(next)) => {
                    tracing::debug!(from = %target.addr, to = %next.addr, "cluster: failing over");
                    target = next;
                }
                _ => break,
            }
            let reply = self
                .attempt(&target, call, Instant::now(), deadline, timeout)
                .await;
            err = match reply.result {
                Ok(response) => {
                    self.partial_failure(&call.namespace, &call.function, &failures);
                    return Replies::One(Reply {
                        server: reply.server,
                        result: Ok(response),
                    });
                }
                Err(e) => e,
            };
        }
        if failures.len() == 1 {
            if let Some((server, e)) = failures.pop() {
                return Replies::One(Reply {
                    server,
                    result: Err(e),
                });
            }
        }
        Replies::Many(
            failures
                .into_iter()
                .map(|(server, e)| Reply {
                    server,
                    result: Err(e),
                })
                .collect(),
        )
    }
}

impl Cluster {
    /// One attempt, its outcome recorded in the server's failure accrual. When it ejects the
    /// server, every other call pending there fails at once (and fails over if it may).
    async fn attempt(
        &self,
        target: &Target,
        call: &Call,
        started: Instant,
        deadline: Instant,
        timeout: Duration,
    ) -> Reply {
        // The client bounds its exchange (and its interceptors, if any) by the deadline.
        let bound = Bound {
            timeout: deadline.saturating_duration_since(started),
            deadline,
        };
        let result = match target.client.attempt(call, bound).await {
            Err(Error::Timeout { .. }) => Err(Error::Timeout {
                server: Some(target.addr.clone()),
                after: timeout,
            }),
            result => result,
        };
        target.obs.record(&result, started.elapsed());
        let reply = Reply {
            server: target.addr.clone(),
            result,
        };
        let policy = &self.inner.options.ejection;
        if let Some(period) = target.health.record(Verdict::of(&reply.result), policy) {
            let why = match &reply.result {
                Err(e) => e.to_string(),
                Ok(_) => String::new(),
            };
            let abandoned = target.client.abandon_pending(&Error::connection(
                &target.addr,
                format!(
                    "ejected for {} ms after {} failures in a row (last: {why})",
                    period.as_millis(),
                    policy.consecutive_failures
                ),
            ));
            target.obs.ejected();
            tracing::warn!(server = %target.addr, period_ms = period.as_millis() as u64, abandoned, last_error = %why, "cluster: server ejected");
        }
        reply
    }
}

/// Records a call's servers, attempts and outcome on its `slacker.call` span (when enabled).
fn record_outcome(span: &tracing::Span, replies: &Result<Replies>) {
    if span.is_disabled() {
        return;
    }
    if let Ok(replies) = replies {
        let all = replies
            .iter()
            .map(|r| r.server.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let ok = replies.iter().all(|r| r.result.is_ok());
        span.record("servers", all);
        span.record("attempts", replies.len());
        span.record("code", if ok { "success" } else { "failed" });
    } else {
        span.record("code", "unavailable");
    }
}

/// Whether a failed single-server attempt may move to another server (see the module docs).
fn may_retry(call: &Call, err: &Error, retries_done: usize) -> bool {
    let retries = call.method.map_or(0, |m| m.retries) as usize;
    if err.may_succeed_elsewhere() {
        retries_done < retries.max(1)
    } else if err.is_not_executed() {
        // Never ran, but would fail the same way everywhere (bad arguments, a refused caller).
        false
    } else {
        err.is_retryable() && retries_done < retries
    }
}

impl Caller for Cluster {
    fn content_type(&self) -> ContentType {
        self.inner.options.client.content_type
    }

    fn merge_policy(&self) -> Option<&MergePolicy> {
        Some(&self.inner.options.merge)
    }

    // Not an `async fn`, nor is `call_in`: an `async fn` keeps its arguments twice in its
    // state, and this future is moved a few times per call.
    fn call(&self, call: Call) -> impl Future<Output = Result<Replies>> + Send {
        let span = tracing::debug_span!(
            "slacker.call",
            namespace = %call.namespace,
            function = %call.function,
            grouping = tracing::field::Empty,
            servers = tracing::field::Empty,
            attempts = tracing::field::Empty,
            code = tracing::field::Empty,
        );
        let recorded = span.clone();
        self.call_in(call, span.clone())
            .instrument(span)
            .map(move |replies| {
                record_outcome(&recorded, &replies);
                replies
            })
    }

    fn partial_failure(&self, namespace: &str, function: &str, failures: &[(ServerAddr, Error)]) {
        self.inner.metrics.partial_failures.inc();
        for (server, err) in failures {
            tracing::warn!(%server, namespace, function, error = %err, "partial failure in multi-server call");
        }
        // No subscriber is fine: the failures were logged.
        let _ = self.inner.partial.send(PartialFailure {
            namespace: namespace.to_owned(),
            function: function.to_owned(),
            failures: failures.to_vec(),
        });
    }
}

impl Cluster {
    /// The call, inside its `slacker.call` span.
    #[allow(clippy::manual_async_fn)] // An `async fn` would hold `call` twice.
    fn call_in(
        &self,
        call: Call,
        span: tracing::Span,
    ) -> impl Future<Output = Result<Replies>> + Send + '_ {
        async move {
            let timeout = call.effective_timeout(self.inner.options.timeout);
            let now = Instant::now();
            let deadline = now + timeout;
            let grouping = call
                .options
                .grouping
                .as_ref()
                .or_else(|| call.method.and_then(|m| m.grouping.as_ref()))
                .unwrap_or(&self.inner.options.grouping);
            if !span.is_disabled() {
                span.record("grouping", tracing::field::debug(grouping));
            }
            let chosen = match self.select(&call, grouping, &[]) {
                Ok(chosen) => chosen,
                Err(e) => {
                    // Failing before any I/O (no server) would complete without ever yielding, so
                    // a caller retrying in a loop would starve every other task on its thread
                    // (ZooKeeper's included: membership could never come back). Every attempt
                    // consumes the cooperative budget in `Client::call_in`; this path must too.
                    tokio::task::consume_budget().await;
                    return Err(e);
                }
            };
            let first = match chosen {
                Chosen::One(first) => first,
                // A list of one is a single-server call too (it may fail over).
                Chosen::Many(mut targets) if targets.len() == 1 => targets.swap_remove(0),
                Chosen::Many(targets) => {
                    let fan_out = join_all(
                        targets
                            .iter()
                            .map(|t| self.attempt(t, &call, now, deadline, timeout)),
                    );
                    return Ok(Replies::Many(Box::pin(fan_out).await));
                }
            };
            // The common call: one attempt, inline; what a failure leads to is boxed.
            self.inner.budget.deposit();
            let reply = self.attempt(&first, &call, now, deadline, timeout).await;
            Ok(match reply.result {
                Ok(_) => Replies::One(reply),
                Err(e) => {
                    self.fail_over_boxed(&call, grouping, first, e, deadline, timeout)
                        .await
                }
            })
        }
    }
}
