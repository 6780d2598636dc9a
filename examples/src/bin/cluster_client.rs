//! A cluster client of the example API: discovers the servers of a cluster in ZooKeeper and
//! spreads calls over them, then calls every server at once (`grouping = all`).
//!
//! ```sh
//! cargo run -p slacker-examples --bin cluster_client -- --zk 127.0.0.1:2181 --cluster example
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use slacker_core::{CallOptions, Grouping};
use slacker_examples::cluster_api::ExampleApiClient;
use slacker_zk::{ClusterClient, ClusterOptions};

#[derive(Parser, Debug)]
#[command(about = "Calls the example API on every server of a slacker cluster")]
struct Args {
    /// ZooKeeper connect string: comma-separated host:port list, optionally ending in /chroot.
    #[arg(long, default_value = "127.0.0.1:2181")]
    zk: String,
    /// Cluster name.
    #[arg(long, default_value = "example-cluster")]
    cluster: String,
    /// How many `whoami` calls to spread over the servers.
    #[arg(long, default_value_t = 30)]
    calls: usize,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    slacker_examples::report("cluster_client", run().await)
}

async fn run() -> Result<(), slacker_examples::MainError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cluster = ClusterClient::connect(&args.cluster, &args.zk, ClusterOptions::default())
        .await
        .map_err(|e| slacker_examples::zk_hint(&args.zk, e))?;
    if cluster.membership().borrow().servers.is_empty() {
        return Err(format!(
            "no server is registered in cluster `{}` (is the name right? `slacker --zk {} ls` lists what is there)",
            args.cluster, args.zk
        )
        .into());
    }
    let membership = cluster.membership().borrow().clone();
    println!("servers in `{}`:", args.cluster);
    for (addr, data) in &membership.servers {
        println!("  {addr}  server-data {data}");
    }
    for (ns, view) in &membership.namespaces {
        let leader = view
            .leader
            .as_ref()
            .map_or("none".to_owned(), ToString::to_string);
        println!(
            "  namespace {ns}: {} server(s), leader {leader}",
            view.servers.len()
        );
    }

    let api = ExampleApiClient::new(cluster.clone());
    println!("echo      -> {}", api.echo("hello".into()).await?);
    println!("timestamp -> {}", api.timestamp().await?);
    let mut spread = BTreeMap::<String, usize>::new();
    for _ in 0..args.calls {
        *spread.entry(api.whoami().await?).or_default() += 1;
    }
    println!("{} whoami calls answered by:", args.calls);
    for (server, n) in &spread {
        println!("  {server}: {n}");
    }
    let slow = tokio::time::timeout(Duration::from_secs(5), api.slow(200)).await??;
    println!("slow(200) -> answered by {slow}");

    // Every server at once (grouping = all), each server's own answer or failure.
    let every = cluster
        .call_by_name(
            "slacker.example.api",
            "whoami",
            serde_json::Value::Null,
            CallOptions::new().grouping(Grouping::All),
        )
        .await?;
    println!("whoami on every server at once:");
    for (server, answer) in every {
        match answer {
            Ok(v) => println!("  {server}: {v}"),
            Err(e) => println!("  {server}: failed: {e}"),
        }
    }
    cluster.close().await;
    Ok(())
}
