//! Server identity: the advertised `host:port` string that keys routing tables, `map` results and errors.

use std::fmt;
use std::sync::Arc;

/// The advertised address of a server, `host:port` (IPv6 hosts in brackets: `[::1]:7000`).
///
/// Cheap to clone. This is the identity a cluster client keys everything by: routing tables,
/// in-flight counts, `grouping_results = map` keys and the `server` field of errors.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerAddr(Arc<str>);

impl ServerAddr {
    /// Wraps an address string without resolving it.
    pub fn new(addr: impl Into<Arc<str>>) -> Self {
        Self(addr.into())
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for ServerAddr {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ServerAddr {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<std::net::SocketAddr> for ServerAddr {
    fn from(s: std::net::SocketAddr) -> Self {
        Self::new(s.to_string())
    }
}

impl AsRef<str> for ServerAddr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for ServerAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ServerAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}
