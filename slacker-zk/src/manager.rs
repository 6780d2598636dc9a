//! The manager namespace `slacker.cluster.manager`: operate one cluster server from outside
//! (take it or one namespace offline and back, change its server-data, stop it), written as an
//! ordinary `#[remote]` trait so the `slacker` command and any program use the generated
//! [`ManagerClient`].
//!
//! slacker-cluster's manager had no authentication at all: anyone who could reach the port could
//! stop the server. Here it is off unless the cluster server enables it, and when on,
//! [`ManagerAuth`] refuses (with `Unauthorized`) every manager call that does not carry the
//! configured shared secret in the [`SECRET_EXTENSION`] extension, compared in constant time;
//! with no secret configured only loopback callers are allowed. Other namespaces are untouched.
//!
//! The namespace is never announced under `namespaces/` (clients must not route application
//! calls to it); callers reach it by address ([`connect`]).

use std::net::IpAddr;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slacker_core::server::{Reject, RequestHead, ServerInterceptor};
use slacker_core::{remote, Client, ClientOptions, ResultCode, ServerAddr};

/// The manager's namespace.
pub const NAMESPACE: &str = "slacker.cluster.manager";

/// The request extension carrying the manager's shared secret.
pub const SECRET_EXTENSION: &str = "slacker-manager-secret";

/// Operations on one cluster server. Served by a cluster server started with the manager
/// enabled; reach it with [`connect`].
#[remote(namespace = "slacker.cluster.manager")]
pub trait Manager {
    /// Takes every namespace of this server offline: its `namespaces/<ns>/<addr>` nodes are
    /// deleted and it leaves the elections. It keeps serving connected and direct calls.
    async fn offline(&self) -> Result<(), ManagerError>;

    /// Takes one namespace of this server offline.
    async fn offline_ns(&self, ns: String) -> Result<(), ManagerError>;

    /// Puts every namespace back online and rejoins the elections.
    async fn online(&self) -> Result<(), ManagerError>;

    /// Puts one namespace back online.
    async fn online_ns(&self, ns: String) -> Result<(), ManagerError>;

    /// Replaces the server-data published at `servers/<addr>`.
    async fn set_server_data(&self, data: Value) -> Result<(), ManagerError>;

    /// The current server-data.
    async fn server_data(&self) -> Value;

    /// Replies, then stops the server gracefully (deregister, drain, close).
    async fn shutdown(&self) -> Result<(), ManagerError>;
}

/// Why a manager operation failed on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The server does not serve this namespace.
    #[error("this server does not serve namespace `{0}`")]
    UnknownNamespace(String),
    /// The change is kept as the server's state but ZooKeeper could not be updated now; it is
    /// written when the session reconnects.
    #[error("zookeeper not updated yet: {0}")]
    NotInSync(String),
    /// The server is stopping or stopped.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// The server interceptor guarding the manager namespace (see the module docs).
#[derive(Clone)]
pub struct ManagerAuth {
    secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for ManagerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerAuth")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ManagerAuth {
    /// Requires `secret` on every manager call; `None` allows loopback callers only. An empty
    /// secret counts as none.
    pub fn new(secret: Option<String>) -> Self {
        Self {
            secret: secret.filter(|s| !s.is_empty()).map(String::into_bytes),
        }
    }

    fn check(&self, head: &RequestHead) -> Result<(), Reject> {
        match &self.secret {
            Some(secret) => match head.extensions.get(SECRET_EXTENSION) {
                Some(given) if constant_time_eq(given, secret) => Ok(()),
                Some(_) => Err(refuse("wrong manager secret")),
                None => Err(refuse("manager calls need a secret")),
            },
            None if is_loopback(head.peer.ip()) => Ok(()),
            None => Err(refuse(
                "manager calls are only accepted from loopback when no secret is configured",
            )),
        }
    }
}

impl ServerInterceptor for ManagerAuth {
    fn before<'a>(&'a self, head: &'a mut RequestHead) -> BoxFuture<'a, Result<(), Reject>> {
        let result = if head.namespace == NAMESPACE {
            self.check(head)
        } else {
            Ok(())
        };
        Box::pin(async move { result })
    }
}

fn refuse(message: &str) -> Reject {
    Reject::new(ResultCode::Unauthorized, message)
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was
/// right (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Connects to the manager of the server at `addr`, sending `secret` (if any) with every call.
///
/// # Errors
/// As [`Client::connect`].
pub async fn connect(
    addr: impl Into<ServerAddr>,
    secret: Option<&str>,
    mut options: ClientOptions,
) -> slacker_core::Result<ManagerClient<Client>> {
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        options
            .extensions
            .insert(SECRET_EXTENSION, secret.as_bytes().to_vec());
    }
    Ok(ManagerClient::new(Client::connect(addr, options).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_secrets_exactly() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn loopback_rule() {
        assert!(is_loopback("127.0.0.1".parse().expect("ip")));
        assert!(is_loopback("127.8.9.10".parse().expect("ip")));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("10.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().expect("ip")));
    }
}
