//! The README demo: a private ZooKeeper, three cluster servers and a cluster client, in one
//! process. Calls spread over the servers; one server leaves gracefully, another joins, one
//! changes its server-data; then everything stops and the demo exits 0 (within a minute, or it
//! fails).
//!
//! ```sh
//! cargo run -p slacker-examples --bin demo
//! ```
//! Needs Debian's `zookeeper` package (`/usr/share/java/zookeeper.jar`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use slacker_core::ServerAddr;
use slacker_examples::cluster_api::{Example, ExampleApiClient, ExampleApiServer};
use slacker_zk::local::LocalZooKeeper;
use slacker_zk::{ClusterClient, ClusterOptions, ClusterServer};

const CLUSTER: &str = "demo";
const NS: &str = "slacker.example.api";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    slacker_examples::report("demo", run().await)
}

async fn run() -> Result<(), slacker_examples::MainError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,zookeeper_client=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::time::timeout(Duration::from_secs(60), demo())
        .await
        .map_err(|_| "the demo did not finish within 60 s")?
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    // `--zk HOST:PORT[,...]` uses an existing ZooKeeper (or ensemble) instead of a private one.
    let mut args = std::env::args().skip(1);
    let given = match (args.next().as_deref(), args.next()) {
        (Some("--zk"), Some(zk)) => Some(zk),
        (None, _) => None,
        _ => return Err("usage: demo [--zk HOST:PORT[,HOST:PORT...]]".into()),
    };
    let (mut zk, connect) = match given {
        Some(connect) => (None, connect),
        None => {
            let zk = LocalZooKeeper::start().await?;
            let connect = zk.connect_string();
            (Some(zk), connect)
        }
    };
    say(started, format!("ZooKeeper is up on {connect}"));

    let mut servers = Vec::new();
    for name in ["s1", "s2", "s3"] {
        servers.push(start_server(&connect, name).await?);
        say(
            started,
            format!(
                "server {name} registered as {}",
                servers[servers.len() - 1].addr()
            ),
        );
    }

    let cluster = ClusterClient::connect(CLUSTER, &connect, ClusterOptions::default()).await?;
    let api = ExampleApiClient::new(cluster.clone());
    wait_routable(&cluster, 3).await?;
    say(
        started,
        format!(
            "client sees {} servers for `{NS}`",
            cluster.routable(NS).len()
        ),
    );
    spread(&cluster, &api, started, "30 calls").await?;

    let leaving = servers.remove(1);
    let left = leaving.addr().clone();
    say(
        started,
        format!("server {left} leaves gracefully (deregister, drain, close)"),
    );
    leaving.shutdown(Duration::from_secs(5)).await?;
    wait_routable(&cluster, 2).await?;
    say(
        started,
        format!(
            "client routes to {} servers now",
            cluster.routable(NS).len()
        ),
    );
    spread(&cluster, &api, started, "30 calls after the leave").await?;

    servers.push(start_server(&connect, "s4").await?);
    say(
        started,
        format!("server s4 joins as {}", servers[servers.len() - 1].addr()),
    );
    wait_routable(&cluster, 3).await?;
    spread(&cluster, &api, started, "30 calls after the join").await?;

    let mut changes = Box::pin(cluster.server_data_changes());
    servers[0]
        .registration()
        .set_server_data(json!({"name": "s1", "weight": 5}))
        .await?;
    if let Ok(Some((addr, data))) =
        tokio::time::timeout(Duration::from_secs(5), changes.next()).await
    {
        say(started, format!("server-data of {addr} changed to {data}"));
    }
    let leader = cluster
        .membership()
        .borrow()
        .namespaces
        .get(NS)
        .and_then(|v| v.leader.clone());
    say(
        started,
        format!(
            "leader of `{NS}`: {}",
            leader.map_or("none".into(), |l| l.to_string())
        ),
    );

    for server in servers {
        server.shutdown(Duration::from_secs(5)).await?;
    }
    cluster.close().await;
    if let Some(zk) = &mut zk {
        zk.stop().await?;
    }
    say(started, "all servers stopped, ZooKeeper stopped; bye");
    Ok(())
}

async fn start_server(
    connect: &str,
    name: &str,
) -> Result<ClusterServer, Box<dyn std::error::Error>> {
    let api = Example::new();
    let server = ClusterServer::builder(CLUSTER, connect)
        .service(ExampleApiServer::new(api.clone()))
        .server_data(json!({ "name": name }))
        .bind("127.0.0.1:0")
        .await?;
    api.set_addr(server.addr().to_string());
    Ok(server)
}

/// Waits (at most 10 s) until `n` servers are registered and connected.
async fn wait_routable(
    cluster: &ClusterClient,
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.routable(NS).len() != n {
        if Instant::now() > deadline {
            return Err(format!(
                "expected {n} routable servers, have {:?}",
                cluster.routable(NS)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn spread(
    cluster: &ClusterClient,
    api: &ExampleApiClient<ClusterClient>,
    started: Instant,
    what: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut by_server = BTreeMap::<String, usize>::new();
    for _ in 0..30 {
        *by_server.entry(api.whoami().await?).or_default() += 1;
    }
    let line: Vec<String> = by_server
        .iter()
        .map(|(s, n)| {
            let name = cluster
                .server_data(&ServerAddr::from(s.as_str()))
                .and_then(|d| d.get("name").and_then(|n| n.as_str().map(str::to_owned)))
                .unwrap_or_default();
            format!("{s} ({name}): {n}")
        })
        .collect();
    say(started, format!("{what} answered by {}", line.join(", ")));
    Ok(())
}

fn say(started: Instant, text: impl std::fmt::Display) {
    println!("[{:>6.2}s] {text}", started.elapsed().as_secs_f64());
}
