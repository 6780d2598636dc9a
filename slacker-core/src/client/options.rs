//! [`ClientOptions`] (and [`ClientTls`]): what a [`Client`](super::Client) is configured with, and
//! the documented defaults.

use std::sync::Arc;
use std::time::Duration;

use super::ClientInterceptor;
use crate::protocol::DEFAULT_MAX_FRAME_LEN;
use crate::{ContentType, Extensions};

/// Client settings. `Default` gives the documented defaults.
#[non_exhaustive]
#[derive(Clone)]
pub struct ClientOptions {
    /// Name sent in the hello; shows up in the server's inspect. Default empty.
    pub name: String,
    /// Content type stubs encode arguments in. Default MessagePack.
    pub content_type: ContentType,
    /// Call timeout when neither the call nor the method sets one. Default 10 s.
    pub timeout: Duration,
    /// Bound on one connection attempt, handshake included. Default 5 s.
    pub connect_timeout: Duration,
    /// Most calls pending at once; beyond it calls fail with [`Error::Backlog`](crate::Error::Backlog). Default 5 000.
    pub max_pending: usize,
    /// How often the connection's liveness is checked (at least four times per
    /// `heartbeat_timeout`); a check that finds the connection quiet sends a ping. Zero
    /// disables heartbeats. Default 500 ms.
    pub heartbeat_interval: Duration,
    /// A connection that receives nothing (no reply, no pong) for this long is presumed dead:
    /// its pending calls fail with [`Error::Connection`](crate::Error::Connection) and it reconnects. Default 1.5 s, well
    /// under the default call timeout, so a hung server (stopped, swapping, wedged) costs its
    /// callers 1.5 s, not their whole timeout.
    pub heartbeat_timeout: Duration,
    /// First reconnect delay, doubled per failed attempt. Default 100 ms.
    pub reconnect_min: Duration,
    /// Cap of the reconnect delay. Default 10 s.
    pub reconnect_max: Duration,
    /// Largest frame sent or accepted. Default 16 MiB.
    pub max_frame_len: usize,
    /// Extensions sent with every call (a call's own extensions win).
    pub extensions: Extensions,
    /// Interceptors, `before` in this order, `after` in reverse.
    pub interceptors: Vec<Arc<dyn ClientInterceptor>>,
    /// Speak TLS to the server (feature `tls`). Default `None`: plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<ClientTls>,
}

/// Builder methods, one per field (the struct is `#[non_exhaustive]`: start from `default()` /
/// `new(..)` and chain).
impl ClientOptions {
    /// Sets [`ClientOptions::name`](Self::name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`ClientOptions::content_type`](Self::content_type).
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// Sets [`ClientOptions::timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`ClientOptions::connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets [`ClientOptions::max_pending`](Self::max_pending).
    pub fn max_pending(mut self, max_pending: usize) -> Self {
        self.max_pending = max_pending;
        self
    }

    /// Sets [`ClientOptions::heartbeat_interval`](Self::heartbeat_interval).
    pub fn heartbeat_interval(mut self, heartbeat_interval: Duration) -> Self {
        self.heartbeat_interval = heartbeat_interval;
        self
    }

    /// Sets [`ClientOptions::heartbeat_timeout`](Self::heartbeat_timeout).
    pub fn heartbeat_timeout(mut self, heartbeat_timeout: Duration) -> Self {
        self.heartbeat_timeout = heartbeat_timeout;
        self
    }

    /// Sets [`ClientOptions::reconnect_min`](Self::reconnect_min).
    pub fn reconnect_min(mut self, reconnect_min: Duration) -> Self {
        self.reconnect_min = reconnect_min;
        self
    }

    /// Sets [`ClientOptions::reconnect_max`](Self::reconnect_max).
    pub fn reconnect_max(mut self, reconnect_max: Duration) -> Self {
        self.reconnect_max = reconnect_max;
        self
    }

    /// Sets [`ClientOptions::max_frame_len`](Self::max_frame_len).
    pub fn max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// Sets [`ClientOptions::extensions`](Self::extensions).
    pub fn extensions(mut self, extensions: Extensions) -> Self {
        self.extensions = extensions;
        self
    }

    #[cfg(feature = "tls")]
    /// Sets [`ClientOptions::tls`](Self::tls).
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// TLS settings of a client (feature `tls`): the rustls configuration (trusted roots, client
/// certificate if any) and the name the server's certificate must carry.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The rustls client configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The name checked against the server's certificate (a DNS name or an IP address).
    pub server_name: rustls::pki_types::ServerName<'static>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            name: String::new(),
            content_type: ContentType::MessagePack,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_pending: 5_000,
            heartbeat_interval: Duration::from_millis(500),
            heartbeat_timeout: Duration::from_millis(1500),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            extensions: Extensions::new(),
            interceptors: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ClientOptions {
    /// Adds an interceptor.
    pub fn interceptor(mut self, i: impl ClientInterceptor) -> Self {
        self.interceptors.push(Arc::new(i));
        self
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ClientOptions");
        d.field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_pending", &self.max_pending)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("max_frame_len", &self.max_frame_len)
            .field("extensions", &self.extensions)
            .field("interceptors", &self.interceptors.len());
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}
