//! tower middleware on both sides of a slacker call (one process, loopback):
//!
//! * the server wraps dispatch in two layers: `load_shed` outside `concurrency_limit(2)`, so a
//!   third concurrent request is answered `Overloaded` at once instead of queueing;
//! * the client calls through `timeout(1 s)` and `concurrency_limit(8)` stacked on a
//!   point-to-point `Client`, and the typed stub runs on that stack through `ServiceCaller`.
//!
//! Prints what each call got and exits 0: `cargo run -p slacker-examples --bin tower_layers`.

use std::time::Duration;

use slacker_core::stack::ServiceCaller;
use slacker_core::{remote, Client, ClientOptions, Error, ResultCode, Server};
use tower::ServiceBuilder;

/// A service with a slow function, to show both sides' limits.
#[remote(namespace = "example.tower")]
pub trait Napper {
    /// Sleeps `ms` milliseconds, then says so.
    async fn nap(&self, ms: u64) -> String;
}

struct Impl;

impl Napper for Impl {
    async fn nap(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        format!("slept {ms} ms")
    }
}

fn describe(result: &Result<String, Error>) -> String {
    match result {
        Ok(text) => text.clone(),
        Err(e) if e.code() == Some(ResultCode::Overloaded) => format!("shed by the server: {e}"),
        Err(e @ Error::Layer { .. }) => format!("stopped by a client layer: {e}"),
        Err(e) => format!("failed: {e}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .service(NapperServer::new(Impl))
        .layer(tower::load_shed::LoadShedLayer::new())
        .layer(tower::limit::ConcurrencyLimitLayer::new(2))
        .bind("127.0.0.1:0")
        .await?;
    let client = Client::connect(server.local_addr(), ClientOptions::default()).await?;
    let stack = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .concurrency_limit(8)
        .service(client);
    let napper = NapperClient::new(ServiceCaller::new(stack));

    // Three at once: the server runs two and sheds the third.
    let (a, b, c) = tokio::join!(napper.nap(500), napper.nap(500), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        napper.nap(500).await
    });
    for (i, r) in [a, b, c].iter().enumerate() {
        println!("concurrent call {}: {}", i + 1, describe(r));
    }
    // Longer than the client's timeout layer allows.
    println!("long call: {}", describe(&napper.nap(3_000).await));
    println!("short call: {}", describe(&napper.nap(10).await));
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
