//! The one error type of slacker-zk: a ZooKeeper operation that failed (naming the operation and
//! the path), a bad configuration, or an error of the slacker runtime underneath.

use std::sync::Arc;

/// `Result` with slacker-zk's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of registration, discovery or the cluster client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ZooKeeper request failed.
    #[error("zookeeper {op} `{path}`: {source}")]
    ZooKeeper {
        /// The operation (`create`, `get_data`, `connect`, ...).
        op: &'static str,
        /// The path it was about (the connect string for `connect`).
        path: String,
        /// What ZooKeeper (or its client) said.
        source: zookeeper_client::Error,
    },

    /// An invalid configuration or argument given by the program.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An error of the slacker runtime (binding the server port, for example).
    #[error(transparent)]
    Core(#[from] slacker_core::Error),

    /// A local I/O failure (detecting the advertised address, for example).
    #[error("io: {0}")]
    Io(Arc<std::io::Error>),

    /// The handle's background task has stopped (the server or client was shut down).
    #[error("closed")]
    Closed,
}

impl Error {
    pub(crate) fn zk(
        op: &'static str,
        path: impl Into<String>,
        source: zookeeper_client::Error,
    ) -> Self {
        Self::ZooKeeper {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the same request may succeed if made again later, unchanged: ZooKeeper was
    /// unreachable or slow (connection loss, timeout, no host, throttled), or the session
    /// expired (the drivers open a new one), or the request was not answered in time. The
    /// framework's own loops retry these by themselves; a caller of, say,
    /// [`crate::Registration::set_server_data`] may too.
    pub fn is_retryable(&self) -> bool {
        use zookeeper_client::Error as Zk;
        match self {
            Self::ZooKeeper { source, .. } => matches!(
                source,
                Zk::ConnectionLoss
                    | Zk::Timeout
                    | Zk::NoHosts
                    | Zk::Throttled
                    | Zk::SessionExpired
                    | Zk::SessionMoved
                    | Zk::UnexpectedError(_)
            ),
            Self::Io(_) => true,
            Self::Core(core) => core.is_retryable(),
            Self::Config(_) | Self::Closed => false,
        }
    }

    /// True when retrying cannot help: a bad configuration or argument, a refused identity or
    /// ACL (`NoAuth`, `AuthFailed`, `InvalidAcl`), a closed client or handle. Fix the cause
    /// first. Errors that are neither retryable nor terminal (`NodeExists`, `BadVersion`, ...)
    /// are answers about the tree's state.
    pub fn is_terminal(&self) -> bool {
        use zookeeper_client::Error as Zk;
        match self {
            Self::Config(_) | Self::Closed => true,
            Self::ZooKeeper { source, .. } => matches!(
                source,
                Zk::NoAuth
                    | Zk::AuthFailed
                    | Zk::InvalidAcl
                    | Zk::BadArguments(_)
                    | Zk::ClientClosed
                    | Zk::Unimplemented
                    | Zk::MarshallingError
            ),
            Self::Core(core) => matches!(
                core,
                slacker_core::Error::Config(_) | slacker_core::Error::Closed
            ),
            Self::Io(_) => false,
        }
    }

    /// The ZooKeeper error underneath, if this is one.
    pub fn zk_source(&self) -> Option<&zookeeper_client::Error> {
        match self {
            Self::ZooKeeper { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zookeeper_client::Error as Zk;

    #[test]
    fn retryable_and_terminal_are_disjoint_and_sorted_right() {
        let zk = |e| Error::zk("op", "/p", e);
        for e in [
            zk(Zk::ConnectionLoss),
            zk(Zk::SessionExpired),
            zk(Zk::Timeout),
        ] {
            assert!(e.is_retryable() && !e.is_terminal(), "{e}");
        }
        for e in [
            zk(Zk::NoAuth),
            zk(Zk::AuthFailed),
            Error::Config("bad".into()),
            Error::Closed,
        ] {
            assert!(e.is_terminal() && !e.is_retryable(), "{e}");
        }
        // An answer about the tree: neither.
        let exists = zk(Zk::NodeExists);
        assert!(!exists.is_retryable() && !exists.is_terminal());
    }
}
