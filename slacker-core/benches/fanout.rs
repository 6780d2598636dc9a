//! Fan-out latency: `grouping = all` over 1, 2, 4 and 8 loopback servers against a single call.
//!
//! `cargo bench -p slacker-core --bench fanout` (optional args: iterations, default 5000).
//! All servers run in this process on one tokio runtime; calls are sequential (one in flight at
//! a time), so the numbers are latency, not throughput. Target: p50 of `all` over 8 servers
//! below 2x the p50 of a single call. The last row is the same fan-out over eight point-to-point
//! clients without the cluster: the transport's own cost of calling eight servers at once.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use slacker_core::cluster::{Cluster, ClusterOptions};
use slacker_core::membership::{Change, ServerInfo};
use slacker_core::{remote, CallOptions, Client, ClientOptions, Grouping, Server};

#[remote(namespace = "bench.fanout")]
pub trait Bench {
    /// Returns its argument.
    async fn echo(&self, n: u64) -> u64;
}

struct BenchImpl;

impl Bench for BenchImpl {
    async fn echo(&self, n: u64) -> u64 {
        n
    }
}

const WARMUP: usize = 500;

async fn measure<F, Fut>(iterations: usize, mut call: F) -> Histogram<u64>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..WARMUP {
        call(i as u64).await;
    }
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    for i in 0..iterations {
        let start = Instant::now();
        call(i as u64).await;
        let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        h.saturating_record(us.max(1));
    }
    h
}

fn row(name: &str, h: &Histogram<u64>, base_p50: u64) {
    let p50 = h.value_at_quantile(0.5);
    println!(
        "| {name:<31} | {p50:>8} | {:>8} | {:>8} | {:>6.2}x |",
        h.value_at_quantile(0.99),
        h.max(),
        p50 as f64 / base_p50.max(1) as f64
    );
}

fn cluster_of(servers: &[Server]) -> Cluster {
    let cluster = Cluster::new(ClusterOptions::default());
    let addrs: Vec<_> = servers.iter().map(|s| s.local_addr().into()).collect();
    for addr in &addrs {
        cluster.apply(Change::Insert(
            Clone::clone(addr),
            ServerInfo {
                data: serde_json::Value::Null,
            },
        ));
    }
    cluster.apply(Change::Namespace {
        namespace: "bench.fanout".into(),
        servers: addrs,
        leader: None,
    });
    cluster
}

async fn run(iterations: usize) {
    let mut servers = Vec::new();
    for _ in 0..8 {
        let server = Server::builder()
            .service(BenchServer::new(BenchImpl))
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        servers.push(server);
    }

    println!("{iterations} sequential calls per row, latency in microseconds");
    println!(
        "| call                            |      p50 |      p99 |      max | p50 vs single |"
    );
    println!("|---------------------------------|---------:|---------:|---------:|------:|");

    let direct = Client::connect(servers[0].local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let direct = BenchClient::new(direct);
    let h = measure(iterations, |i| {
        let direct = direct.clone();
        async move {
            assert_eq!(direct.echo(i).await.expect("echo"), i);
        }
    })
    .await;
    let base = h.value_at_quantile(0.5);
    row("point-to-point Client", &h, base);

    let single = BenchClient::new(cluster_of(&servers))
        .with_options(CallOptions::new().grouping(Grouping::Random));
    let h = measure(iterations, |i| {
        let single = single.clone();
        async move {
            assert_eq!(single.echo(i).await.expect("echo"), i);
        }
    })
    .await;
    let single_p50 = h.value_at_quantile(0.5);
    row("cluster, random (one of 8)", &h, single_p50);

    for n in [1, 2, 4, 8] {
        let all = BenchClient::new(cluster_of(&servers[..n]))
            .with_options(CallOptions::new().grouping(Grouping::All));
        let h = measure(iterations, |i| {
            let all = all.clone();
            async move {
                assert_eq!(all.echo(i).await.expect("echo"), i);
            }
        })
        .await;
        row(&format!("cluster, all over {n}"), &h, single_p50);
    }

    // The same fan-out without the cluster: what the transport alone costs.
    let mut raw = Vec::new();
    for server in &servers {
        let client = Client::connect(server.local_addr(), ClientOptions::default())
            .await
            .expect("connect");
        raw.push(BenchClient::new(client));
    }
    let h = measure(iterations, |i| {
        let raw = raw.clone();
        async move {
            for r in futures::future::join_all(raw.iter().map(|c| c.echo(i))).await {
                assert_eq!(r.expect("echo"), i);
            }
        }
    })
    .await;
    row("8 Clients, join_all, no cluster", &h, single_p50);

    for server in servers {
        server.shutdown(Duration::from_secs(1)).await;
    }
}

fn main() {
    let iterations = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(iterations));
}
