//! Fan-out latency: `grouping = all` over 1, 2, 4 and 8 loopback servers against a single call.
//!
//! `cargo bench -p slacker-core --bench fanout` (optional args: iterations, default 5000).
//! All servers run in this process on one tokio runtime; calls are sequential (one in flight at
//! a time), so the numbers are latency, not throughput. Target: p50 of `all` over 8 servers
//! below 2x the p50 of a single call. The last row is the same fan-out over eight point-to-point
//! clients without the cluster: the transport's own cost of calling eight servers at once.
//! Then closed-loop calls/s through the cluster over ONE server against the same server point
//! to point (16 and 256 callers): the routing cost alone.

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

    // `FANOUT_ONLY=direct|cluster`: 10 s of one path at 256 callers and nothing else (for a
    // profiler: compare the two). With `FANOUT_CALLS=N`, exactly N calls instead (N / 256 per
    // caller): under `valgrind --tool=callgrind` two values of N give the instructions per call,
    // a cost this shared machine's neighbours cannot blur.
    if let Ok(only) = std::env::var("FANOUT_ONLY") {
        let server = &servers[0];
        let calls = std::env::var("FANOUT_CALLS")
            .ok()
            .and_then(|n| n.parse::<u64>().ok());
        let rate = if only == "cluster" {
            let stub = BenchClient::new(cluster_of(std::slice::from_ref(server)));
            match calls {
                Some(n) => fixed_calls(&stub, 256, n).await,
                None => calls_per_second(&stub, 256, 10.0).await,
            }
        } else {
            let client = Client::connect(server.local_addr(), ClientOptions::default());
            let stub = BenchClient::new(client.await.expect("connect"));
            match calls {
                Some(n) => fixed_calls(&stub, 256, n).await,
                None => calls_per_second(&stub, 256, 10.0).await,
            }
        };
        println!("{only}: {rate:.0} calls/s");
        return;
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

    throughput(&servers[0]).await;

    for server in servers {
        server.shutdown(Duration::from_secs(1)).await;
    }
}

/// Closed-loop calls/s of `concurrency` callers for `seconds` through `stub`.
async fn calls_per_second<C>(stub: &BenchClient<C>, concurrency: usize, seconds: f64) -> f64
where
    C: slacker_core::Caller + Clone + Send + Sync + 'static,
{
    let stop = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let stub = stub.clone();
            tokio::spawn(async move {
                let mut calls = 0u64;
                while Instant::now() < stop {
                    let n = w as u64 + calls;
                    assert_eq!(stub.echo(n).await.expect("echo"), n);
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for t in tasks {
        calls += t.await.expect("caller");
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

/// `total` calls by `concurrency` callers (each `total / concurrency`), closed loop; calls/s.
async fn fixed_calls<C>(stub: &BenchClient<C>, concurrency: usize, total: u64) -> f64
where
    C: slacker_core::Caller + Clone + Send + Sync + 'static,
{
    let each = total / concurrency as u64;
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let stub = stub.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    let n = w as u64 + i;
                    assert_eq!(stub.echo(n).await.expect("echo"), n);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("caller");
    }
    (each * concurrency as u64) as f64 / start.elapsed().as_secs_f64()
}

/// The cluster's routing cost on its own: the cluster caller over ONE server against a
/// point-to-point client of the same server, closed loop, alternating, three rounds.
async fn throughput(server: &Server) {
    let direct = BenchClient::new(
        Client::connect(server.local_addr(), ClientOptions::default())
            .await
            .expect("connect"),
    );
    let cluster = BenchClient::new(cluster_of(std::slice::from_ref(server)));
    println!();
    println!("closed loop over one server, calls/s, 3 alternating rounds of 2 s");
    println!("| callers | point to point | cluster over one server | cluster / point to point |");
    println!("|---:|---:|---:|---:|");
    for concurrency in [16, 256] {
        // Warm up both.
        calls_per_second(&direct, concurrency, 0.3).await;
        calls_per_second(&cluster, concurrency, 0.3).await;
        let (mut d, mut c) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            d.push(calls_per_second(&direct, concurrency, 2.0).await);
            c.push(calls_per_second(&cluster, concurrency, 2.0).await);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (d, c) = (median(&mut d), median(&mut c));
        println!("| {concurrency} | {d:.0} | {c:.0} | {:.2} |", c / d);
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
