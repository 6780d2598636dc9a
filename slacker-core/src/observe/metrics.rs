//! Prometheus metrics of a server ([`ServerMetrics`]) and of a cluster client
//! ([`ClusterMetrics`]), each in its own registry, so that several servers or clients in one
//! process each report their own. Names and units are in the [module docs](super).
//!
//! The per-call path touches only handles resolved once: a server resolves each hosted
//! function's handles when it binds (requests for unknown names are not recorded, so random
//! names cannot grow a label set); a cluster resolves a server's handles when it first calls
//! it. Gauges (in flight, connections, membership) are read when scraped, not kept per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::latency::{Latency, LatencyVec};
use crate::inspect::FunctionStats;
use crate::names::NameMap;
use crate::{Error, NamespaceInfo, ResultCode};

/// Latency buckets: 50 µs doubling to about 26 s.
fn latency_buckets() -> Vec<f64> {
    (0..20).map(|i| 50e-6 * f64::from(1u32 << i)).collect()
}

fn registry() -> Registry {
    Registry::new_custom(Some("slacker".into()), None).unwrap_or_default()
}

/// Registers `metric`; a name clash inside our own fixed set would be a bug, so it is logged
/// rather than propagated.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!(error = %e, "metric not registered");
    }
    metric
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric());
    register(registry, metric)
}

fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(latency_buckets());
    let metric = HistogramVec::new(opts, labels).unwrap_or_else(|_| unreachable_metric());
    register(registry, metric)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).unwrap_or_else(|_| unreachable_metric());
    register(registry, metric)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric =
        IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric());
    register(registry, metric)
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric());
    register(registry, metric)
}

/// Our metric names and label sets are fixed and valid; the constructors only fail on invalid
/// names. Kept out of the way so that no `unwrap` sits on the call path.
#[cold]
fn unreachable_metric<T>() -> T {
    panic!("slacker's own metric definitions are valid")
}

/// Encodes registries in the Prometheus text format (0.0.4).
pub fn encode_text(registries: &[&Registry]) -> String {
    let families: Vec<_> = registries.iter().flat_map(|r| r.gather()).collect();
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
        tracing::error!(error = %e, "metrics did not encode");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Every result code, in the order of the per-function counter slots.
const CODES: [ResultCode; 13] = [
    ResultCode::Success,
    ResultCode::ApplicationError,
    ResultCode::UnknownNamespace,
    ResultCode::UnknownFunction,
    ResultCode::BadArguments,
    ResultCode::HandlerPanicked,
    ResultCode::DeadlineExceeded,
    ResultCode::Canceled,
    ResultCode::Overloaded,
    ResultCode::Unauthorized,
    ResultCode::ProtocolError,
    ResultCode::ShuttingDown,
    ResultCode::Internal,
];

fn code_slot(code: ResultCode) -> usize {
    CODES
        .iter()
        .position(|c| *c == code)
        .unwrap_or(CODES.len() - 1)
}

/// The metrics of one server.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    in_flight: IntGauge,
    connections: IntGauge,
    refusal_overloaded: IntCounter,
    refusal_shutting_down: IntCounter,
    refusal_unknown_namespace: IntCounter,
    methods: NameMap<NameMap<Arc<MethodObs>>>,
}

/// What is recorded for one hosted function.
#[derive(Debug)]
pub(crate) struct MethodObs {
    namespace: &'static str,
    function: &'static str,
    calls_vec: IntCounterVec,
    by_code: [OnceLock<IntCounter>; CODES.len()],
    latency: Histogram,
    /// Microseconds, for inspect's p50/p99 (3 significant digits, up to an hour).
    hdr: Mutex<hdrhistogram::Histogram<u64>>,
}

impl MethodObs {
    /// Records one finished request.
    pub(crate) fn record(&self, code: ResultCode, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
        let us = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        {
            let mut hdr = self.hdr.lock().unwrap_or_else(|e| e.into_inner());
            hdr.saturating_record(us);
        }
        // Last: inspect counts calls from these, and a counted call is in the histogram.
        let slot = code_slot(code);
        self.by_code[slot]
            .get_or_init(|| {
                self.calls_vec
                    .with_label_values(&[self.namespace, self.function, code.label()])
            })
            .inc();
    }

    fn stats(&self) -> Option<FunctionStats> {
        // Counted once, by the per-code counters (no second set of atomics per request).
        let count = |slot: &OnceLock<IntCounter>| slot.get().map_or(0, IntCounter::get);
        let calls: u64 = self.by_code.iter().map(count).sum();
        if calls == 0 {
            return None;
        }
        let hdr = self.hdr.lock().unwrap_or_else(|e| e.into_inner());
        Some(FunctionStats {
            namespace: self.namespace.to_owned(),
            function: self.function.to_owned(),
            calls,
            errors: calls - count(&self.by_code[code_slot(ResultCode::Success)]),
            p50_us: hdr.value_at_quantile(0.5),
            p99_us: hdr.value_at_quantile(0.99),
            max_us: hdr.max(),
        })
    }
}

/// Why a request was refused without running.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    Overloaded,
    ShuttingDown,
    UnknownNamespace,
}

impl ServerMetrics {
    /// Metrics for a server hosting `namespaces`.
    pub(crate) fn new<'a>(namespaces: impl IntoIterator<Item = &'a NamespaceInfo>) -> Self {
        let registry = registry();
        let calls = counter_vec(
            &registry,
            "server_calls_total",
            "Requests handled, by namespace, function and result code.",
            &["namespace", "function", "code"],
        );
        let latency = histogram_vec(
            &registry,
            "server_call_duration_seconds",
            "Time from a request's arrival to its answer, by namespace and function.",
            &["namespace", "function"],
        );
        let refusals = counter_vec(
            &registry,
            "server_refusals_total",
            "Requests answered without running: overloaded (an in-flight limit), shutting_down, unknown_namespace.",
            &["reason"],
        );
        let methods = namespaces
            .into_iter()
            .map(|ns| {
                let fns = ns
                    .methods
                    .iter()
                    .map(|m| {
                        let obs = MethodObs {
                            namespace: ns.name,
                            function: m.name,
                            calls_vec: calls.clone(),
                            by_code: Default::default(),
                            latency: latency.with_label_values(&[ns.name, m.name]),
                            hdr: Mutex::new(
                                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                                    .unwrap_or_else(|_| unreachable_metric()),
                            ),
                        };
                        (m.name.to_owned(), Arc::new(obs))
                    })
                    .collect();
                (ns.name.to_owned(), fns)
            })
            .collect();
        Self {
            in_flight: gauge(&registry, "server_in_flight", "Requests running now."),
            connections: gauge(&registry, "server_connections", "Open client connections."),
            refusal_overloaded: refusals.with_label_values(&["overloaded"]),
            refusal_shutting_down: refusals.with_label_values(&["shutting_down"]),
            refusal_unknown_namespace: refusals.with_label_values(&["unknown_namespace"]),
            methods,
            registry,
        }
    }

    /// The handles of a hosted function; `None` for names the server does not host.
    pub(crate) fn method(&self, namespace: &str, function: &str) -> Option<&Arc<MethodObs>> {
        self.methods.get(namespace)?.get(function)
    }

    pub(crate) fn refused(&self, why: Refusal) {
        match why {
            Refusal::Overloaded => self.refusal_overloaded.inc(),
            Refusal::ShuttingDown => self.refusal_shutting_down.inc(),
            Refusal::UnknownNamespace => self.refusal_unknown_namespace.inc(),
        }
    }

    /// Sets the scrape-time gauges.
    pub(crate) fn set_gauges(&self, in_flight: usize, connections: usize) {
        self.in_flight
            .set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.connections
            .set(i64::try_from(connections).unwrap_or(i64::MAX));
    }

    /// The registry (for an HTTP endpoint or the program's own exporter).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Per-function statistics for inspect, sorted by namespace then function.
    pub fn function_stats(&self) -> Vec<FunctionStats> {
        let mut out: Vec<FunctionStats> = self
            .methods
            .values()
            .flat_map(HashMap::values)
            .filter_map(|m| m.stats())
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.function).cmp(&(&b.namespace, &b.function)));
        out
    }
}

/// Outcome labels of client-side attempts: the result codes, then the local errors.
const OUTCOMES: [&str; CODES.len() + 7] = [
    "success",
    "application_error",
    "unknown_namespace",
    "unknown_function",
    "bad_arguments",
    "handler_panicked",
    "deadline_exceeded",
    "canceled",
    "overloaded",
    "unauthorized",
    "protocol_error",
    "shutting_down",
    "internal",
    "timeout",
    "connection",
    "backlog",
    "codec",
    "protocol",
    "closed",
    "other",
];

/// The outcome label of a client-side call's result (a result code, or a local error's kind).
pub(crate) fn result_label(result: &Result<crate::Response, Error>) -> &'static str {
    OUTCOMES[outcome_slot(result)]
}

/// The slot in [`OUTCOMES`] of a client-side attempt's result.
fn outcome_slot(result: &Result<crate::Response, Error>) -> usize {
    let local = |i: usize| CODES.len() + i;
    match result {
        Ok(r) => code_slot(r.code),
        Err(Error::Remote { code, .. }) => code_slot(*code),
        Err(Error::Timeout { .. }) => local(0),
        Err(Error::Connection { .. }) => local(1),
        Err(Error::Backlog { .. }) => local(2),
        Err(Error::Codec { .. }) => local(3),
        Err(Error::Protocol { .. }) => local(4),
        Err(Error::Closed) => local(5),
        Err(_) => local(6),
    }
}

/// The metrics of a cluster client.
#[derive(Debug)]
pub struct ClusterMetrics {
    registry: Registry,
    calls: IntCounterVec,
    latency: LatencyVec,
    pub(crate) retries: IntCounter,
    pub(crate) retries_refused: IntCounter,
    pub(crate) partial_failures: IntCounter,
    ejections: IntCounterVec,
    servers: IntGaugeVec,
}

/// A cluster's handles for one server.
#[derive(Debug)]
pub(crate) struct ServerObs {
    server: String,
    calls_vec: IntCounterVec,
    by_outcome: [OnceLock<IntCounter>; OUTCOMES.len()],
    latency: Arc<Latency>,
    ejections: IntCounter,
}

impl ServerObs {
    pub(crate) fn record(&self, result: &Result<crate::Response, Error>, elapsed: Duration) {
        let slot = outcome_slot(result);
        self.by_outcome[slot]
            .get_or_init(|| {
                self.calls_vec
                    .with_label_values(&[self.server.as_str(), OUTCOMES[slot]])
            })
            .inc();
        self.latency.observe(elapsed);
    }

    pub(crate) fn ejected(&self) {
        self.ejections.inc();
    }
}

impl Default for ClusterMetrics {
    fn default() -> Self {
        let registry = registry();
        Self {
            calls: counter_vec(
                &registry,
                "client_calls_total",
                "Attempts made by a cluster client, by server and outcome (a result code, or timeout, connection, backlog, codec, protocol, closed).",
                &["server", "code"],
            ),
            // Observed by every attempt: sharded per thread (see `latency.rs`).
            latency: register(
                &registry,
                LatencyVec::new(
                    "client_call_duration_seconds",
                    "Time of one attempt as the client saw it, by server.",
                    "server",
                    latency_buckets(),
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            retries: counter(
                &registry,
                "client_retries_total",
                "Attempts made on another server after a failure (failover).",
            ),
            retries_refused: counter(
                &registry,
                "client_retries_refused_total",
                "Failovers not made because the retry budget was spent.",
            ),
            partial_failures: counter(
                &registry,
                "client_partial_failures_total",
                "Multi-server calls that succeeded with some servers failing, or after failing over.",
            ),
            ejections: counter_vec(
                &registry,
                "client_ejections_total",
                "Times a server was ejected from routing for failing, by server.",
                &["server"],
            ),
            servers: gauge_vec(
                &registry,
                "cluster_servers",
                "Servers offering each namespace, as the client's membership lists them.",
                &["namespace"],
            ),
            registry,
        }
    }
}

impl ClusterMetrics {
    pub(crate) fn server(&self, server: &str) -> Arc<ServerObs> {
        Arc::new(ServerObs {
            server: server.to_owned(),
            calls_vec: self.calls.clone(),
            by_outcome: Default::default(),
            latency: self.latency.with_label(server),
            ejections: self.ejections.with_label_values(&[server]),
        })
    }

    /// Sets the membership gauge of every namespace.
    pub(crate) fn set_servers<'a>(&self, namespaces: impl IntoIterator<Item = (&'a str, usize)>) {
        self.servers.reset();
        for (ns, n) in namespaces {
            self.servers
                .with_label_values(&[ns])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The registry (for the program's own exporter).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
