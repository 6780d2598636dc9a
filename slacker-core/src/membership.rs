//! How discovery reaches the core: a stream of membership changes, in tower's
//! `Change::Insert/Remove` shape plus per-namespace routing lists.
//!
//! The core never knows where changes come from (ZooKeeper in `slacker-zk`, a static list in
//! tests). A multi-server caller applies them in order; between changes it keeps routing on what
//! it last heard, so a registry outage is never mistaken for "no servers".

use crate::ServerAddr;

/// What the registry says about one server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// The server's server-data (any JSON; `null` when none).
    pub data: serde_json::Value,
}

/// One membership change.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// A server is registered, or its server-data changed.
    Insert(ServerAddr, ServerInfo),
    /// A server left the cluster: close its connection.
    Remove(ServerAddr),
    /// The full, current list of servers offering `namespace` (empty: none right now), and the
    /// server that currently holds its leadership, if any.
    Namespace {
        /// Namespace name.
        namespace: String,
        /// Servers offering it now, sorted by address.
        servers: Vec<ServerAddr>,
        /// Current election winner, if it is known and among `servers`.
        leader: Option<ServerAddr>,
    },
}
