//! A real Prometheus (Debian's package) scrapes two `cluster_server` processes started with
//! `--http 127.0.0.1:0`: both targets come up, and the call counter it reads back matches the
//! calls this test made.

use std::net::SocketAddr;

use slacker_examples::cluster_api::ExampleApiClient;
use slacker_tests::{wait_for, wait_until, LocalPrometheus, LocalZooKeeper, TestProcess, DEADLINE};
use slacker_zk::{ClusterClient, ClusterOptions};

const NS: &str = "slacker.example.api";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_two_servers_and_counts_the_calls() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut processes = Vec::new();
    let mut targets: Vec<SocketAddr> = Vec::new();
    for _ in 0..2 {
        let args = [
            "--zk",
            connect.as_str(),
            "--cluster",
            "scraped",
            "--http",
            "127.0.0.1:0",
        ];
        let (p, _) = TestProcess::cluster_server(args)
            .await
            .expect("cluster_server");
        let http = p
            .stdout_lines()
            .into_iter()
            .find_map(|l| l.strip_prefix("http ").map(str::to_owned))
            .expect("http line before registered");
        targets.push(http.trim().parse().expect("addr"));
        processes.push(p);
    }
    let cluster = ClusterClient::connect("scraped", &connect, ClusterOptions::default())
        .await
        .expect("cluster client");
    wait_until(DEADLINE, || async { cluster.routable(NS).len() == 2 })
        .await
        .expect("both servers routable");
    let api = ExampleApiClient::new(cluster.clone());
    let calls = 500;
    for _ in 0..calls {
        api.whoami().await.expect("whoami");
    }

    let prometheus = LocalPrometheus::start(&targets).await.expect("prometheus");
    let up = wait_for(DEADLINE, || async {
        let t = prometheus.targets().await.ok()?;
        (t.len() == 2 && t.iter().all(|(_, health)| health == "up")).then_some(t)
    })
    .await
    .expect("both targets up");
    let query = r#"sum(slacker_server_calls_total{namespace="slacker.example.api",function="whoami",code="success"})"#;
    let counted = wait_for(DEADLINE, || async {
        prometheus
            .query(query)
            .await
            .ok()
            .flatten()
            .filter(|v| *v >= f64::from(calls))
    })
    .await
    .expect("the calls are counted");
    eprintln!("prometheus targets {up:?}; {query} = {counted}");
    assert_eq!(counted, f64::from(calls));
    let leaders = prometheus
        .query(r#"sum(slacker_leader{namespace="slacker.example.api"})"#)
        .await
        .expect("query");
    assert_eq!(leaders, Some(1.0), "exactly one leader");
    cluster.close().await;
    for p in &processes {
        p.terminate().await.expect("SIGTERM");
    }
}
