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
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slacker_core::server::{Reject, RequestHead, ServerInterceptor};
use slacker_core::{remote, Client, ClientOptions, ResultCode, ServerAddr};

use crate::server::ManagedServer;
use crate::Error;

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
    /// The change was **accepted**: it is kept as the server's state (and shown to clients as
    /// soon as ZooKeeper can be written), but ZooKeeper could not be updated within
    /// [`ZOOKEEPER_WAIT`]; the server writes it when its session is back. Not a refusal: the
    /// `slacker` command reports it with exit status 3.
    #[error("accepted, but ZooKeeper is not updated yet: {0}")]
    NotInSync(String),
    /// The server is not registered (still starting, or stopped).
    #[error("the server is not registered")]
    NotRegistered,
}

/// How long a manager change waits for ZooKeeper before it answers
/// [`ManagerError::NotInSync`] (accepted, pending): well under a caller's usual timeout, so a
/// server whose ZooKeeper link is down says so instead of leaving the caller to time out.
pub const ZOOKEEPER_WAIT: Duration = Duration::from_secs(2);

/// A registry change, bounded by [`ZOOKEEPER_WAIT`]. The change is queued to the registration
/// before the wait starts, so a timeout still means "accepted": it is applied in order.
async fn bounded(
    change: impl std::future::Future<Output = crate::Result<()>>,
    ns: Option<&str>,
) -> Result<(), ManagerError> {
    match tokio::time::timeout(ZOOKEEPER_WAIT, change).await {
        Ok(result) => result.map_err(|e| manager_error(e, ns)),
        Err(_) => Err(ManagerError::NotInSync(format!(
            "no answer from ZooKeeper within {} s",
            ZOOKEEPER_WAIT.as_secs()
        ))),
    }
}

/// How long a manager-initiated shutdown lets in-flight calls finish.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

/// The manager of one cluster server: the handler behind [`ManagerServer`]. It is created
/// before the server binds and attached to it once registered; it holds the server weakly, so
/// it never keeps a dropped server alive.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerManager {
    server: Arc<OnceLock<Weak<dyn ManagedServer>>>,
}

impl ServerManager {
    pub(crate) fn attach(&self, server: Weak<dyn ManagedServer>) {
        let _ = self.server.set(server);
    }

    fn server(&self) -> Result<Arc<dyn ManagedServer>, ManagerError> {
        self.server
            .get()
            .and_then(Weak::upgrade)
            .ok_or(ManagerError::NotRegistered)
    }
}

/// Maps a registry error to what the caller is told.
fn manager_error(err: Error, ns: Option<&str>) -> ManagerError {
    match (err, ns) {
        (Error::Config(_), Some(ns)) => ManagerError::UnknownNamespace(ns.to_owned()),
        (Error::Closed, _) => ManagerError::NotRegistered,
        (err, _) => ManagerError::NotInSync(err.to_string()),
    }
}

impl Manager for ServerManager {
    async fn offline(&self) -> Result<(), ManagerError> {
        let server = self.server()?;
        tracing::info!(addr = %server.registration().addr(), "manager: offline");
        bounded(server.registration().offline(), None).await
    }

    async fn offline_ns(&self, ns: String) -> Result<(), ManagerError> {
        let server = self.server()?;
        tracing::info!(addr = %server.registration().addr(), %ns, "manager: offline");
        bounded(server.registration().offline_ns(&ns), Some(&ns)).await
    }

    async fn online(&self) -> Result<(), ManagerError> {
        let server = self.server()?;
        tracing::info!(addr = %server.registration().addr(), "manager: online");
        bounded(server.registration().online(), None).await
    }

    async fn online_ns(&self, ns: String) -> Result<(), ManagerError> {
        let server = self.server()?;
        tracing::info!(addr = %server.registration().addr(), %ns, "manager: online");
        bounded(server.registration().online_ns(&ns), Some(&ns)).await
    }

    async fn set_server_data(&self, data: Value) -> Result<(), ManagerError> {
        let server = self.server()?;
        tracing::info!(addr = %server.registration().addr(), %data, "manager: set server-data");
        bounded(server.registration().set_server_data(data), None).await
    }

    async fn server_data(&self) -> Value {
        self.server()
            .map(|s| s.registration().server_data())
            .unwrap_or(Value::Null)
    }

    async fn shutdown(&self) -> Result<(), ManagerError> {
        let server = self.server()?;
        tracing::info!(addr = %server.registration().addr(), "manager: shutdown");
        // The stop deregisters and waits out the routing grace before it drains, and the drain
        // waits for this very call: the reply is sent first.
        tokio::spawn(async move {
            if let Err(err) = server.stop(SHUTDOWN_DRAIN).await {
                tracing::warn!(error = %err, "manager shutdown: deregistration incomplete");
            }
        });
        Ok(())
    }
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

    fn head(peer: &str, namespace: &str, secret: Option<&str>) -> RequestHead {
        let mut extensions = slacker_core::Extensions::new();
        if let Some(s) = secret {
            extensions.insert(SECRET_EXTENSION, s.as_bytes().to_vec());
        }
        RequestHead {
            namespace: namespace.to_owned().into(),
            function: "offline".into(),
            content_type: slacker_core::ContentType::MessagePack,
            deadline: None,
            extensions,
            peer: peer.parse().expect("socket address"),
        }
    }

    #[test]
    fn refuses_remote_callers_without_a_secret() {
        let open = ManagerAuth::new(None);
        assert!(open.check(&head("127.0.0.1:5000", NAMESPACE, None)).is_ok());
        let refused = open
            .check(&head("10.1.2.3:5000", NAMESPACE, Some("guess")))
            .expect_err("non-loopback refused");
        assert_eq!(refused.code, ResultCode::Unauthorized);

        let guarded = ManagerAuth::new(Some("s3cret".into()));
        assert!(guarded
            .check(&head("10.1.2.3:5000", NAMESPACE, Some("s3cret")))
            .is_ok());
        assert!(guarded
            .check(&head("127.0.0.1:5000", NAMESPACE, None))
            .is_err());
        assert!(guarded
            .check(&head("127.0.0.1:5000", NAMESPACE, Some("s3cre")))
            .is_err());
        // An empty secret configures nothing (loopback rule).
        assert!(ManagerAuth::new(Some(String::new()))
            .check(&head("10.1.2.3:5000", NAMESPACE, None))
            .is_err());
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
