//! What slacker shows of itself: `tracing` spans, W3C trace context on the wire, Prometheus
//! metrics and per-function statistics. Previous hops: the server (`server/dispatch.rs`
//! records each request), the point-to-point client (`client/mod.rs` opens the call spans and
//! sends the trace context) and the cluster (`cluster/mod.rs` records each attempt); next hop:
//! whatever scrapes or subscribes (`server/http.rs` serves `/metrics`).
//!
//! # Spans
//! | span | where | fields |
//! |---|---|---|
//! | `slacker.call` | a [`Cluster`](crate::cluster::Cluster) call, or a point-to-point [`Client`](crate::Client) call | `namespace`, `function`, `grouping`, `servers` (chosen), `attempts`, `code`; point to point: `server`, `tid`, `code` |
//! | `slacker.attempt` | each server a cluster call goes to | `server`, `namespace`, `function`, `tid`, `code` |
//! | `slacker.handle` | each request on a server; the handler runs inside it | `namespace`, `function`, `peer`, `tid`, `trace_id`, `code` |
//!
//! All at DEBUG, as tower-http's `TraceLayer` makes its request spans: a log at INFO (membership
//! changes, elections, ZooKeeper state, warnings) does not pay for formatting a span per request
//! (BENCHMARKS.md: that costs a quarter of the throughput); turn them on with a filter such as
//! `slacker_core=debug`, or give them to OpenTelemetry (which samples). Without a subscriber they
//! cost an atomic load each.
//!
//! # Trace context
//! See [`trace`]: `traceparent` / `tracestate` request extensions; with the `otel` feature the
//! ids are the OpenTelemetry spans' ([`otel`]).
//!
//! # Metrics (Prometheus text format; all names start with `slacker_`)
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `slacker_server_calls_total` | counter | `namespace`, `function`, `code` | requests handled, by result code ([`ResultCode::label`](crate::ResultCode::label)) |
//! | `slacker_server_call_duration_seconds` | histogram | `namespace`, `function` | arrival to answer |
//! | `slacker_server_in_flight` | gauge | | requests running |
//! | `slacker_server_connections` | gauge | | open connections |
//! | `slacker_server_refusals_total` | counter | `reason` (`overloaded`, `shutting_down`, `unknown_namespace`) | answered without running |
//! | `slacker_client_calls_total` | counter | `server`, `code` (a result code, or `timeout`, `connection`, `backlog`, `codec`, `protocol`, `closed`) | cluster attempts |
//! | `slacker_client_call_duration_seconds` | histogram | `server` | one attempt, as the client saw it |
//! | `slacker_client_retries_total` | counter | | failovers made |
//! | `slacker_client_retries_refused_total` | counter | | failovers the retry budget refused |
//! | `slacker_client_partial_failures_total` | counter | | calls that succeeded with some servers failing |
//! | `slacker_client_ejections_total` | counter | `server` | ejections for failing |
//! | `slacker_cluster_servers` | gauge | `namespace` | membership size, as the client sees it |
//! | `slacker_zookeeper_connected` | gauge | | 1 while the ZooKeeper session is connected (slacker-zk) |
//! | `slacker_leader` | gauge | `namespace` | 1 on the namespace's leader (slacker-zk servers) |
//!
//! Per-function statistics (calls, errors, p50/p99/max from an HDR histogram) are always on and
//! answer inspect.

mod latency;
pub mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
pub mod trace;

pub use metrics::{encode_text, ClusterMetrics, ServerMetrics};
pub use trace::TraceContext;
