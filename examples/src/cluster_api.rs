//! The API of the cluster examples (`cluster_server`, `cluster_client`, `demo`): small calls that
//! show *which* server answered, so routing can be watched.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use slacker_core::remote;

/// A small API served by every example cluster server.
#[remote(namespace = "slacker.example.api")]
pub trait ExampleApi {
    /// Returns its argument.
    async fn echo(&self, text: String) -> String;
    /// Milliseconds since the Unix epoch, on the server.
    async fn timestamp(&self) -> u64;
    /// The advertised address of the server that ran the call.
    async fn whoami(&self) -> String;
    /// Sleeps `ms` milliseconds (at most 60 s), then answers like `whoami`.
    async fn slow(&self, ms: u64) -> String;
}

/// The implementation; learns its advertised address after the server is bound.
#[derive(Debug, Clone, Default)]
pub struct Example {
    addr: Arc<OnceLock<String>>,
}

impl Example {
    /// An implementation whose address is not known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the address `whoami` answers (once; later calls are ignored).
    pub fn set_addr(&self, addr: impl Into<String>) {
        let _ = self.addr.set(addr.into());
    }

    fn me(&self) -> String {
        self.addr.get().cloned().unwrap_or_default()
    }
}

impl ExampleApi for Example {
    async fn echo(&self, text: String) -> String {
        text
    }

    async fn timestamp(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    async fn whoami(&self) -> String {
        self.me()
    }

    async fn slow(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        self.me()
    }
}
