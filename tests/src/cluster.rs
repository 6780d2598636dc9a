//! ZooKeeper-backed cluster fixtures shared by the cluster suites: a `ClusterServer` serving the
//! example API (it answers `whoami` with its own address), a `ClusterClient`, both with the
//! suites' short session timeout, and a [`Load`] calling `whoami`.

use std::time::Duration;

use slacker_examples::cluster_api::{Example, ExampleApiClient, ExampleApiServer};
use slacker_zk::{ClusterClient, ClusterOptions, ClusterServer};

use crate::Load;

/// The example API's namespace.
pub const EXAMPLE_NS: &str = "slacker.example.api";

/// The session timeout of the suites' servers and clients: short, so that expiry scenarios
/// finish quickly.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// A cluster server for `cluster` serving the example API on `127.0.0.1:port` (0: a free one).
///
/// # Panics
/// When it cannot bind or register.
pub async fn example_server(cluster: &str, connect: &str, port: u16) -> ClusterServer {
    let api = Example::new();
    let server = ClusterServer::builder(cluster, connect)
        .service(ExampleApiServer::new(api.clone()))
        .session_timeout(SESSION_TIMEOUT)
        .bind(("127.0.0.1", port))
        .await
        .expect("cluster server");
    api.set_addr(server.addr().to_string());
    server
}

/// A cluster client for `cluster` with `options`, its session timeout set to
/// [`SESSION_TIMEOUT`].
///
/// # Panics
/// When it cannot connect.
pub async fn cluster_client_with(
    cluster: &str,
    connect: &str,
    options: ClusterOptions,
) -> ClusterClient {
    ClusterClient::builder(cluster, connect)
        .session_timeout(SESSION_TIMEOUT)
        .options(options)
        .connect()
        .await
        .expect("cluster client")
}

/// A cluster client for `cluster` with default options but [`SESSION_TIMEOUT`].
///
/// # Panics
/// When it cannot connect.
pub async fn cluster_client(cluster: &str, connect: &str) -> ClusterClient {
    cluster_client_with(cluster, connect, ClusterOptions::default()).await
}

/// `workers` tasks calling the example API's `whoami` in a loop.
pub fn whoami_load(api: &ExampleApiClient<ClusterClient>, workers: usize) -> Load {
    let api = api.clone();
    Load::start(workers, move || {
        let api = api.clone();
        async move { api.whoami().await }
    })
}
