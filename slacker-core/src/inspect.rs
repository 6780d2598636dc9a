//! What a server says about itself: namespaces, functions, connected clients and call
//! statistics. Travels as JSON in inspect packets whatever the content type of calls, so that
//! any tool can read it.

use serde::{Deserialize, Serialize};

use crate::FunctionDesc;

/// What to describe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectRequest {
    /// Only this namespace; `None` for all.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A server's self-description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectResponse {
    /// Version, uptime, clients.
    pub server: ServerStatus,
    /// Hosted namespaces (filtered by the request).
    pub namespaces: Vec<NamespaceDesc>,
    /// Per-function statistics of the functions called so far (always on; `None` only from
    /// servers older than that).
    #[serde(default)]
    pub stats: Option<Vec<FunctionStats>>,
}

/// Server status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// slacker version of the server.
    pub version: String,
    /// Wire protocol version.
    pub protocol_version: u8,
    /// Start time, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Requests running now.
    pub in_flight: usize,
    /// Open connections.
    pub clients: Vec<ClientInfo>,
}

/// One open client connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Peer socket address.
    pub addr: String,
    /// Name from the client's hello (`None` before, or without, a hello).
    pub name: Option<String>,
    /// Version from the client's hello.
    pub version: Option<String>,
    /// Connection time, milliseconds since the Unix epoch.
    pub connected_at_ms: u64,
}

/// One hosted namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceDesc {
    /// Namespace name.
    pub name: String,
    /// Doc comment of the trait.
    pub doc: String,
    /// Its functions.
    pub functions: Vec<FunctionDesc>,
}

/// Call statistics of one function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionStats {
    /// Namespace.
    pub namespace: String,
    /// Function.
    pub function: String,
    /// Requests handled (arguments decoded or not; refusals before dispatch are not counted).
    pub calls: u64,
    /// Requests that did not end in `Success`.
    pub errors: u64,
    /// Median latency, microseconds (HDR histogram, 3 significant digits).
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Largest latency, microseconds.
    pub max_us: u64,
}
