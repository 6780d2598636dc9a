//! Every error a caller can see. One enum, `Clone` (one dropped connection fails N pending calls
//! with the same error), each variant naming the server that produced it where there is one.
//!
//! Application errors (the `E` of a method declared `-> Result<T, E>`) are *not* here: they stay
//! typed inside the stub's return value, `Result<Result<T, E>, Error>`.

use std::sync::Arc;
use std::time::Duration;

use crate::{ResultCode, ServerAddr};

/// `Result` with slacker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the slacker runtime, as seen by a caller or a server operator.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a non-success result code (see [`ResultCode`]).
    #[error("{server}: {code}: {message}")]
    Remote {
        /// Server that answered.
        server: ServerAddr,
        /// Stable result code.
        code: ResultCode,
        /// Human-readable detail from the server.
        message: String,
    },

    /// The connection to the server failed or was lost. Every call pending on it fails with
    /// this error at once; the request may or may not have run.
    #[error("{server}: connection: {message}")]
    Connection {
        /// Server whose connection failed.
        server: ServerAddr,
        /// What happened.
        message: Arc<str>,
    },

    /// The call's deadline passed before a reply arrived: the one error for "the caller's
    /// deadline passed", whichever side noticed it first (a server's `DeadlineExceeded` answer
    /// becomes this too; so does each server's share of a multi-server call, inside
    /// [`Error::Grouped`]). The server is told to cancel the call.
    #[error("{}deadline of {after:?} exceeded", server.as_ref().map(|s| format!("{s}: ")).unwrap_or_default())]
    Timeout {
        /// Server the call was waiting on, when there was exactly one.
        server: Option<ServerAddr>,
        /// The timeout that was applied.
        after: Duration,
    },

    /// Too many calls are already pending on this server; nothing was sent.
    #[error("{server}: backlog full ({limit} pending calls)")]
    Backlog {
        /// Server whose backlog is full.
        server: ServerAddr,
        /// The configured limit.
        limit: usize,
    },

    /// No server currently offers the namespace (cluster client) and the method declares no
    /// `unavailable_value`.
    #[error("no server available for namespace `{namespace}`")]
    Unavailable {
        /// Namespace that has no server.
        namespace: String,
    },

    /// A payload did not encode or decode on this side (for example the server's reply does not
    /// match the declared return type).
    #[error("{}codec: {message}", server.as_ref().map(|s| format!("{s}: ")).unwrap_or_default())]
    Codec {
        /// Server whose payload failed to decode, if any.
        server: Option<ServerAddr>,
        /// What failed.
        message: Arc<str>,
    },

    /// The peer broke the protocol (bad frame, unknown packet, version mismatch).
    #[error("{server}: protocol: {message}")]
    Protocol {
        /// The misbehaving peer.
        server: ServerAddr,
        /// What was wrong.
        message: Arc<str>,
    },

    /// A multi-server call failed under its `grouping_exceptions` policy. Lists every failing
    /// server with its error.
    #[error("{} of {} servers failed: {}", failures.len(), attempted, render_failures(failures))]
    Grouped {
        /// Number of servers the call went to.
        attempted: usize,
        /// Each failing server with its error.
        failures: Vec<(ServerAddr, Error)>,
    },

    /// The client or server was closed by its owner.
    #[error("closed")]
    Closed,

    /// A local I/O failure (binding a port, for example).
    #[error("io: {0}")]
    Io(Arc<std::io::Error>),

    /// An invalid configuration or argument given by the program (not by the network).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A tower layer between the caller and slacker failed the call (its timeout passed, it
    /// shed load, or it failed otherwise); see [`crate::stack`].
    #[error("layer: {message}")]
    Layer {
        /// The layer's error.
        message: Arc<str>,
    },
}

fn render_failures(failures: &[(ServerAddr, Error)]) -> String {
    failures
        .iter()
        .map(|(s, e)| format!("[{s}] {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The remote result code, when the server answered with one; for [`Error::Grouped`], the
    /// code every failing server answered with, when they all agree (an unknown function that
    /// no server has is still `UnknownFunction`).
    pub fn code(&self) -> Option<ResultCode> {
        match self {
            Self::Remote { code, .. } => Some(*code),
            Self::Grouped { failures, .. } => {
                let mut codes = failures.iter().map(|(_, e)| e.code());
                let first = codes.next().flatten()?;
                codes.all(|c| c == Some(first)).then_some(first)
            }
            _ => None,
        }
    }

    /// The server the error is about, if it is about exactly one.
    pub fn server(&self) -> Option<&ServerAddr> {
        match self {
            Self::Remote { server, .. }
            | Self::Connection { server, .. }
            | Self::Backlog { server, .. }
            | Self::Protocol { server, .. } => Some(server),
            Self::Timeout { server, .. } | Self::Codec { server, .. } => server.as_ref(),
            _ => None,
        }
    }

    /// True when a retry on *another* server is safe for any method: the request never reached
    /// a handler (connection refused before sending, backlog full, server overloaded or draining).
    pub fn is_not_executed(&self) -> bool {
        match self {
            Self::Backlog { .. } => true,
            Self::Remote { code, .. } => code.not_executed(),
            _ => false,
        }
    }

    /// True when the request never ran here **and** could succeed on another server: backlog
    /// full, overloaded, shutting down, or a namespace or function this server does not have
    /// (a rolling deploy). Bad arguments, a protocol error or a refused caller would fail the
    /// same way everywhere, so they never move to another server.
    pub fn may_succeed_elsewhere(&self) -> bool {
        match self {
            Self::Backlog { .. } => true,
            Self::Remote { code, .. } => matches!(
                code,
                ResultCode::Overloaded
                    | ResultCode::ShuttingDown
                    | ResultCode::UnknownNamespace
                    | ResultCode::UnknownFunction
            ),
            _ => false,
        }
    }

    /// True for connection-level failures, where an idempotent method may be retried on another
    /// server. Application errors and remote result codes that prove execution are never retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Connection { .. } | Self::Backlog { .. }) || self.is_not_executed()
    }

    /// Shorthand for a connection error.
    pub fn connection(server: &ServerAddr, message: impl std::fmt::Display) -> Self {
        Self::Connection {
            server: server.clone(),
            message: message.to_string().into(),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}
