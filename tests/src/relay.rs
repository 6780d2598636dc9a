//! The `observability.relay` namespace: a handler that reports where it runs in its trace and
//! relays to a next hop, for the trace-context tests (two hops: client -> A -> B).

use slacker_core::{remote, Client, ClientOptions, Server};

/// Says where it runs in the trace, and relays to the next hop if it has one.
#[remote(namespace = "observability.relay")]
pub trait Relay {
    /// `[trace_id, span_id, parent_id]` of this hop, then those of the hops after it.
    async fn hop(&self) -> Vec<String>;
}

/// The implementation; `Some(next)` relays there.
#[derive(Clone)]
pub struct RelayImpl(pub Option<RelayClient<Client>>);

impl Relay for RelayImpl {
    async fn hop(&self) -> Vec<String> {
        let Some(ctx) = slacker_core::context::current() else {
            return vec!["no call context".into()];
        };
        let trace = ctx.trace();
        let mut out = vec![
            trace.trace_id_hex(),
            trace.span_id_hex(),
            trace.parent_id_hex().unwrap_or_default(),
        ];
        if let Some(next) = &self.0 {
            out.extend(next.hop().await.unwrap_or_else(|e| vec![e.to_string()]));
        }
        out
    }
}

/// A relay server on loopback, relaying to `next` if given.
///
/// # Errors
/// When the next hop cannot be reached or the port cannot be bound.
pub async fn relay(next: Option<&Server>) -> slacker_core::Result<Server> {
    let next = match next {
        Some(s) => Some(RelayClient::new(
            Client::connect(s.local_addr(), ClientOptions::default()).await?,
        )),
        None => None,
    };
    Server::builder()
        .service(RelayServer::new(RelayImpl(next)))
        .bind("127.0.0.1:0")
        .await
}
