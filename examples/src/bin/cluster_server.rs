//! A slacker server registered in a ZooKeeper cluster, serving the example API.
//!
//! ```sh
//! cargo run -p slacker-examples --bin cluster_server -- --zk 127.0.0.1:2181 --cluster example --port 2104
//! ```
//!
//! Prints `registered <host:port>` once calls can reach it (and `http <host:port>` with
//! `--http`: `/metrics`, `/health`); on Ctrl-C or SIGTERM it stops gracefully (deregister, let
//! clients stop routing, drain, leave) and exits 0. It listens on loopback unless told
//! otherwise (`--bind 0.0.0.0` for other machines).

use std::time::Duration;

use clap::Parser;
use slacker_examples::cluster_api::{Example, ExampleApiServer};
use slacker_zk::ClusterServer;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser, Debug)]
#[command(about = "A slacker cluster server serving the example API")]
struct Args {
    /// ZooKeeper connect string: comma-separated host:port list, optionally ending in /chroot.
    #[arg(long, default_value = "127.0.0.1:2181")]
    zk: String,
    /// Cluster name.
    #[arg(long, default_value = "example-cluster")]
    cluster: String,
    /// Interface to listen on (`0.0.0.0` for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to announce (host or host:port); default: the local address towards ZooKeeper.
    #[arg(long)]
    advertise: Option<String>,
    /// Server-data as JSON.
    #[arg(long, default_value = "null")]
    server_data: String,
    /// Also serve the manager namespace (loopback callers only, unless --manager-secret).
    #[arg(long)]
    manager: bool,
    /// The secret manager calls must carry (default: env SLACKER_MANAGER_SECRET).
    #[arg(long)]
    manager_secret: Option<String>,
    /// ZooKeeper session timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    session_timeout_ms: u64,
    /// Also serve HTTP here (`/metrics`, `/health`), e.g. `127.0.0.1:9100` (port 0: any).
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    slacker_examples::report("cluster_server", run().await)
}

async fn run() -> Result<(), slacker_examples::MainError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let server_data: serde_json::Value = serde_json::from_str(&args.server_data)
        .map_err(|e| format!("--server-data is not JSON: {e}"))?;
    let api = Example::new();
    let mut builder = ClusterServer::builder(&args.cluster, &args.zk)
        .service(ExampleApiServer::new(api.clone()))
        .server_data(server_data)
        .manager(args.manager)
        .session_timeout(Duration::from_millis(args.session_timeout_ms));
    if let Some(addr) = &args.advertise {
        builder = builder.advertise(addr);
    }
    if let Some(addr) = args.http {
        builder = builder.http(addr);
    }
    if let Some(secret) = args
        .manager_secret
        .or_else(|| std::env::var("SLACKER_MANAGER_SECRET").ok())
    {
        builder = builder.manager_secret(secret);
    }
    let server = builder
        .bind((args.bind, args.port))
        .await
        .map_err(|e| match e {
            slacker_zk::Error::ZooKeeper { .. } | slacker_zk::Error::Io(_) => {
                slacker_examples::zk_hint(&args.zk, e)
            }
            e => e.into(),
        })?;
    api.set_addr(server.addr().to_string());
    if let Some(http) = server.http_addr() {
        println!("http {http}");
    }
    println!("registered {}", server.addr());

    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        // `slacker shutdown ADDR` (the manager) has already stopped it.
        _ = server.stopped() => {}
    }
    println!("stopping {}", server.addr());
    server.shutdown(Duration::from_secs(10)).await?;
    println!("stopped");
    Ok(())
}
