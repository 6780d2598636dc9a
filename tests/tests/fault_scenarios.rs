//! Cluster fault scenarios under steady load, each bounded in time, against a real ZooKeeper and
//! real servers (issue 7). They complete `cluster.rs` (one graceful stop, one SIGKILL, one
//! session expiry, ensemble leader loss) with what a production cluster goes through:
//!
//! * a rolling restart of every server (zero failed calls);
//! * all of ZooKeeper down for longer than the session timeout (calls keep flowing on the last
//!   known membership, then everything re-registers and the client re-syncs to the truth);
//! * a silent network cut to one server (no FIN): heartbeats take it out of routing;
//! * throughout, the namespace's election is sampled: never two leaders at one observed instant;
//! * a soak: 1,000 concurrent connections over 3 server processes, p99 and server RSS recorded
//!   (`SLACKER_SOAK_SECS`, default 3 s in the suite).
//!
//! Counts, times and RSS are printed (run with `--nocapture`) and written down in
//! RELIABILITY.md; only outcomes are asserted.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use slacker_core::{Client, ClientOptions, ServerAddr};
use slacker_examples::cluster_api::{Example, ExampleApiClient, ExampleApiServer};
use slacker_tests::cluster::{
    cluster_client, cluster_client_with, example_server, whoami_load, EXAMPLE_NS, SESSION_TIMEOUT,
};
use slacker_tests::{wait_until, Kazoo, LocalZooKeeper, Proxy, Report, TestProcess, DEADLINE};
use slacker_zk::paths::{is_server_child, ClusterPaths, DEFAULT_ROOT};
use slacker_zk::{election, ClusterClient, ClusterOptions, ClusterServer, ZkState};
use zookeeper_client as zk;

const NS: &str = EXAMPLE_NS;

fn port_of(addr: &ServerAddr) -> u16 {
    let (_, port) = addr.as_str().rsplit_once(':').expect("host:port");
    port.parse().expect("port")
}

/// Samples the namespace's election every 20 ms through its own ZooKeeper session (and the
/// cluster client's discovery view) and records every instant with more than one leader.
///
/// Observed leaders at an instant: the server of the election queue's head (ZooKeeper's truth,
/// Curator's `getLeader`), plus any other server holding a node in the queue under a second
/// session (a stale node of a lost session would let two instances contend), plus the discovery
/// view's leader when it is not a registered server of the namespace.
struct LeaderWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<LeaderStats>,
}

#[derive(Debug, Default)]
struct LeaderStats {
    samples: usize,
    unreadable: usize,
    leaders_seen: BTreeSet<String>,
    violations: Vec<String>,
}

impl LeaderWatch {
    fn start(connect: &str, cluster: &str, view: ClusterClient) -> Self {
        let stop = Arc::<AtomicBool>::default();
        let mutex = ClusterPaths::new(DEFAULT_ROOT, cluster)
            .expect("paths")
            .leader_mutex(NS);
        let (connect, flag) = (connect.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            let mut stats = LeaderStats::default();
            let mut observer: Option<zk::Client> = None;
            let deadline = Instant::now() + Duration::from_secs(150);
            let mut interval = tokio::time::interval(Duration::from_millis(20));
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                interval.tick().await;
                if observer.is_none() {
                    let connecting = zk::Client::connector()
                        .with_session_timeout(SESSION_TIMEOUT)
                        .connect(&connect);
                    observer = tokio::time::timeout(Duration::from_secs(1), connecting)
                        .await
                        .ok()
                        .and_then(Result::ok);
                }
                let Some(zk) = &observer else {
                    stats.unreadable += 1;
                    continue;
                };
                let read = tokio::time::timeout(
                    Duration::from_secs(1),
                    election::participants(zk, &mutex),
                );
                let participants = match read.await {
                    Ok(Ok(participants)) => participants,
                    Ok(Err(zk::Error::SessionExpired | zk::Error::ClientClosed)) => {
                        observer = None;
                        stats.unreadable += 1;
                        continue;
                    }
                    _ => {
                        stats.unreadable += 1;
                        continue;
                    }
                };
                stats.samples += 1;
                let ids: Vec<&str> = participants.iter().map(|p| p.id.as_str()).collect();
                let distinct: BTreeSet<&str> = ids.iter().copied().collect();
                if let Some(head) = ids.first() {
                    stats.leaders_seen.insert((*head).to_owned());
                }
                if distinct.len() != ids.len() {
                    stats
                        .violations
                        .push(format!("a server holds two queue nodes: {ids:?}"));
                }
                let membership = view.membership().borrow().clone();
                if let Some(ns) = membership.namespaces.get(NS) {
                    if let Some(leader) = &ns.leader {
                        if !ns.servers.contains(leader) {
                            stats.violations.push(format!(
                                "discovery leader {leader} is not a server of {:?}",
                                ns.servers
                            ));
                        }
                    }
                }
            }
            stats
        });
        Self { stop, task }
    }

    async fn stop(self) -> LeaderStats {
        self.stop.store(true, Ordering::SeqCst);
        let stats = self.task.await.expect("leader watch");
        eprintln!(
            "leader watch: {} samples ({} unreadable, ZooKeeper down or reconnecting), leaders \
             seen {:?}, violations {}",
            stats.samples,
            stats.unreadable,
            stats.leaders_seen,
            stats.violations.len()
        );
        assert!(stats.samples > 0, "the election was never read");
        assert!(stats.violations.is_empty(), "{:?}", stats.violations);
        stats
    }
}

/// Every server of a 3-server cluster is stopped gracefully and restarted on the same address,
/// one after the other, under steady load: no call fails, and each restarted server gets calls.
#[tokio::test]
async fn rolling_restart_fails_no_call() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(example_server("rolling", &connect, 0).await);
    }
    let cluster = cluster_client("rolling", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    wait_until(DEADLINE, || async { cluster.routable(NS).len() == 3 })
        .await
        .expect("3 servers connected");
    let leaders = LeaderWatch::start(&connect, "rolling", cluster.clone());
    let load = whoami_load(&api, 8);
    load.advance(300).await;

    for step in 0..3 {
        let old = servers.remove(0);
        let addr = old.addr().clone();
        let started = Instant::now();
        old.shutdown(Duration::from_secs(10))
            .await
            .expect("graceful stop");
        let stopped = started.elapsed();
        let restarted = example_server("rolling", &connect, port_of(&addr)).await;
        assert_eq!(restarted.addr(), &addr, "restarted on the same address");
        let before = load.answered_by(&addr);
        wait_until(DEADLINE, || async { load.answered_by(&addr) > before })
            .await
            .expect("the restarted server gets calls");
        eprintln!(
            "rolling restart step {}: {addr} stopped in {stopped:?}, stop -> calls routed to \
             it again {:?}; {} calls attempted so far, {} failed",
            step + 1,
            started.elapsed(),
            load.attempted(),
            load.failures().len()
        );
        servers.push(restarted);
    }
    load.advance(300).await;
    let Report {
        attempted,
        failures,
        ..
    } = load.stop().await;
    eprintln!(
        "rolling restart: {attempted} calls attempted, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
    leaders.stop().await;
    let registered: BTreeSet<ServerAddr> = cluster
        .membership()
        .borrow()
        .servers
        .keys()
        .cloned()
        .collect();
    let expected: BTreeSet<ServerAddr> = servers.iter().map(|s| s.addr().clone()).collect();
    assert_eq!(registered, expected);
    for s in servers {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

/// What ZooKeeper holds for the cluster: registered servers and the namespace's servers.
async fn truth(kazoo: &Kazoo, paths: &ClusterPaths) -> (Vec<String>, Vec<String>) {
    let servers = kazoo.children(&paths.servers()).await.ok().flatten();
    let ns = kazoo.children(&paths.namespace(NS)).await.ok().flatten();
    let ns = ns
        .unwrap_or_default()
        .into_iter()
        .filter(|c| is_server_child(c))
        .collect();
    (servers.unwrap_or_default(), ns)
}

/// The standalone ZooKeeper is stopped for twice the session timeout under load, then restarted
/// on the same port and data: no call fails meanwhile, and afterwards ZooKeeper (read by kazoo)
/// and the client's membership both hold exactly the three servers, nothing stale.
#[tokio::test]
async fn zookeeper_outage_longer_than_session_timeout() {
    slacker_tests::log_from_env();
    let mut zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(example_server("outage", &connect, 0).await);
    }
    let cluster = cluster_client("outage", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    wait_until(DEADLINE, || async { cluster.routable(NS).len() == 3 })
        .await
        .expect("3 servers connected");
    let leaders = LeaderWatch::start(&connect, "outage", cluster.clone());
    let load = whoami_load(&api, 8);
    load.advance(300).await;
    let sessions: Vec<i64> = servers
        .iter()
        .map(|s| s.registration().state().borrow().session_id)
        .collect();
    let resyncs = cluster.membership().borrow().resyncs;

    zk.stop().await.expect("stop zookeeper");
    wait_until(DEADLINE, || async {
        cluster.membership().borrow().zk != ZkState::Connected
    })
    .await
    .expect("discovery sees ZooKeeper gone");
    let during = load.attempted();
    load.keep_completing_for(SESSION_TIMEOUT * 2).await;
    let during = load.attempted() - during;
    let failed_during = load.failures().len();
    assert_eq!(failed_during, 0, "{:?}", load.failures());

    zk.restart().await.expect("restart zookeeper");
    let restarted = Instant::now();
    let expected: BTreeSet<ServerAddr> = servers.iter().map(|s| s.addr().clone()).collect();
    let expected_names: Vec<String> = expected.iter().map(|a| a.to_string()).collect();
    let kazoo = Kazoo::new(&connect);
    let paths = ClusterPaths::new(DEFAULT_ROOT, "outage").expect("paths");
    wait_until(DEADLINE, || async {
        let m = cluster.membership().borrow().clone();
        m.zk == ZkState::Connected
            && m.resyncs > resyncs
            && m.servers.keys().cloned().collect::<BTreeSet<_>>() == expected
            && m.servers_of(NS).iter().cloned().collect::<BTreeSet<_>>() == expected
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the client re-synced to all three servers: {e:?}; membership {:?}",
            cluster.membership().borrow()
        )
    });
    let client_synced = restarted.elapsed();
    wait_until(DEADLINE, || async {
        truth(&kazoo, &paths).await == (expected_names.clone(), expected_names.clone())
    })
    .await
    .expect("ZooKeeper holds exactly the three servers");
    wait_until(DEADLINE, || async {
        servers
            .iter()
            .all(|s| s.registration().state().borrow().in_sync)
    })
    .await
    .expect("every registration in sync");
    let recovered = restarted.elapsed();
    let renewed = servers
        .iter()
        .zip(&sessions)
        .filter(|(s, old)| s.registration().state().borrow().session_id != **old)
        .count();
    load.advance(300).await;
    let membership = cluster.membership().borrow().clone();
    assert_eq!(
        membership.servers.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "nothing stale in the membership"
    );
    assert_eq!(membership.servers_of(NS).len(), 3, "no duplicate node");
    let Report {
        attempted,
        failures,
        ..
    } = load.stop().await;
    eprintln!(
        "ZooKeeper outage of {:?} (session timeout {SESSION_TIMEOUT:?}): {during} calls during \
         the outage, {failed_during} failed; restart -> client re-synced {client_synced:?}, -> \
         ZooKeeper and every registration in sync {recovered:?}; {renewed}/3 server sessions \
         renewed; {attempted} calls attempted, {} failed",
        SESSION_TIMEOUT * 2,
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
    leaders.stop().await;
    for s in servers {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

/// The network between the client and one server goes silent (no FIN, no RST): the client's
/// heartbeat declares the connection dead within a bounded time and stops routing there; only
/// calls in flight on that server fail. After the cut heals, calls reach it again.
#[tokio::test]
async fn silent_cut_detected_by_heartbeat() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = example_server("silent", &connect, 0).await;
    let c = example_server("silent", &connect, 0).await;
    // Bind first to learn the port, then put a proxy in front of it and advertise the proxy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let proxy = Proxy::start(([127, 0, 0, 1], port).into())
        .await
        .expect("proxy");
    let api_b = Example::new();
    let b = ClusterServer::builder("silent", &connect)
        .service(ExampleApiServer::new(api_b.clone()))
        .session_timeout(SESSION_TIMEOUT)
        .advertise(proxy.addr().to_string())
        .bind(("127.0.0.1", port))
        .await
        .expect("b");
    api_b.set_addr(b.addr().to_string());
    let options = ClientOptions::default()
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_secs(1));
    let cluster = cluster_client_with(
        "silent",
        &connect,
        ClusterOptions::default().client(options),
    )
    .await;
    let api = ExampleApiClient::new(cluster.clone());
    let leaders = LeaderWatch::start(&connect, "silent", cluster.clone());
    let workers = 8;
    let load = whoami_load(&api, workers);
    wait_until(DEADLINE, || async { load.answered_by(b.addr()) > 0 })
        .await
        .expect("calls reach b through the proxy");

    proxy.blackhole();
    let cut = Instant::now();
    wait_until(DEADLINE, || async {
        !cluster.routable(NS).contains(b.addr())
    })
    .await
    .expect("heartbeat takes b out of routing");
    let detected = cut.elapsed();
    let failed = load.failures().len();
    load.advance(300).await;
    let after_detection = load.failures().len() - failed;
    assert_eq!(after_detection, 0, "{:?}", load.failures());
    assert!(failed <= workers, "only calls in flight on b fail");
    assert!(
        cluster.membership().borrow().servers.contains_key(b.addr()),
        "b stays registered: its ZooKeeper session is fine"
    );

    proxy.heal();
    let healed = Instant::now();
    let count = load.answered_by(b.addr());
    wait_until(DEADLINE, || async { load.answered_by(b.addr()) > count })
        .await
        .expect("b back in routing after the heal");
    let back = healed.elapsed();
    let Report {
        attempted,
        failures,
        ..
    } = load.stop().await;
    eprintln!(
        "silent cut (heartbeat 200 ms, timeout 1 s): out of routing after {detected:?}, {failed} \
         calls in flight failed; heal -> calls routed there again {back:?}; {attempted} calls \
         attempted, {} failed",
        failures.len()
    );
    assert!(
        failures.iter().all(|f| f.contains(b.addr().as_str())),
        "{failures:?}"
    );
    leaders.stop().await;
    for s in [a, b, c] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

/// Resident set size of a process, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// 1,000 concurrent connections (one `slacker_core::Client` each, one call every 100 ms)
/// spread over 3 `cluster_server` processes for `SLACKER_SOAK_SECS` (default 3): no error,
/// p50/p99 and the servers' RSS over time printed. RSS after warm-up must not grow beyond
/// 1.5x + 16 MiB (a leak per call or per connection would).
#[tokio::test]
async fn soak_1000_connections() {
    const CONNECTIONS: usize = 1_000;
    let secs: u64 = std::env::var("SLACKER_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut processes = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let args = ["--zk", &connect, "--cluster", "soak", "--bind", "127.0.0.1"];
        let mut process = TestProcess::example("cluster_server", args)
            .await
            .expect("cluster_server process");
        let line = process
            .wait_for_line(DEADLINE, |l| l.starts_with("registered "))
            .await
            .expect("registered");
        addrs.push(ServerAddr::from(
            line.trim_start_matches("registered ").trim(),
        ));
        processes.push(process);
    }
    let pids: Vec<u32> = processes.iter().map(|p| p.pid().expect("pid")).collect();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let client = Client::connect(addrs[i % 3].clone(), ClientOptions::default())
            .await
            .expect("connect");
        clients.push(client);
    }

    let stop = Arc::<AtomicBool>::default();
    let errors = Arc::<Mutex<Vec<String>>>::default();
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let api = ExampleApiClient::new(client.clone());
            let (stop, errors) = (stop.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).expect("histogram");
                let mut interval = tokio::time::interval(Duration::from_millis(100));
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let bound = Instant::now() + Duration::from_secs(secs + 60);
                while !stop.load(Ordering::SeqCst) && Instant::now() < bound {
                    interval.tick().await;
                    let t = Instant::now();
                    match api.whoami().await {
                        Ok(_) => {
                            let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                            latencies.saturating_record(micros.max(1));
                        }
                        Err(e) => errors.lock().expect("lock").push(e.to_string()),
                    }
                }
                latencies
            })
        })
        .collect();

    // RSS of each server once a second, for the duration of the run.
    let mut rss: Vec<Vec<u64>> = vec![Vec::new(); 3];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        for (samples, pid) in rss.iter_mut().zip(&pids) {
            samples.push(rss_kib(*pid).expect("server alive"));
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).expect("histogram");
    for task in tasks {
        latencies.add(task.await.expect("worker")).expect("merge");
    }
    let elapsed = started.elapsed();
    let errors = errors.lock().expect("lock").clone();
    eprintln!(
        "soak: {CONNECTIONS} connections x 3 servers for {elapsed:?}: {} calls ({:.0}/s), {} \
         errors, p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        errors.len(),
        latencies.value_at_quantile(0.5),
        latencies.value_at_quantile(0.99),
        latencies.value_at_quantile(0.999),
        latencies.max()
    );
    for (i, samples) in rss.iter().enumerate() {
        let warm = samples[samples.len() / 4];
        let last = samples[samples.len() - 1];
        eprintln!(
            "soak: server {i} RSS KiB first {} / after warm-up {warm} / last {last} / max {}",
            samples[0],
            samples.iter().max().copied().unwrap_or(0)
        );
        assert!(
            last <= warm + warm / 2 + 16 * 1024,
            "server {i} RSS grew from {warm} KiB to {last} KiB: {samples:?}"
        );
    }
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    assert!(
        latencies.len() as usize >= CONNECTIONS,
        "every connection called"
    );
    for client in clients {
        client.close().await;
    }
    for p in &mut processes {
        p.terminate().await.expect("SIGTERM");
    }
}
