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
