//! Discovery at scale (issue 15): N registered servers and M discovering clients on a real
//! 3-node ZooKeeper ensemble on loopback, all in this process.
//!
//! Servers are registration-only ([`Registration::start`]: the real session, znodes and
//! election participation of a `ClusterServer`, without a listening slacker server); each is in
//! 1 to 10 of 100 namespaces. Clients are [`Discovery`]s, each with its own session. For each
//! size it measures:
//! * joining, changing server-data and leaving: from the change's start to every client having
//!   applied it (p50 / p99 / max over every client and change), and the ZooKeeper read requests
//!   each client issued per change (counted by [`Discovery::reads`]);
//! * resident memory per registration and per client (this process's RSS deltas);
//! * ZooKeeper's traffic per change: requests, packets sent (answers and notifications) and
//!   response bytes (`mntr`, summed over the nodes);
//! * two herds, each ZooKeeper being away for 1.5x the session timeout: every node of the
//!   ensemble stopped and restarted (ZooKeeper restores the sessions, the clients resume them),
//!   and every connection cut by proxies while the ensemble runs on (ZooKeeper expires every
//!   session: every server registers again, in a cluster set up anew through the proxies). For
//!   each: the time until every client's view is exact and every registration is in sync, a
//!   line per second of that recovery, the peak of ZooKeeper's request rate
//!   (`zk_packets_received` per 100 ms) and this process's CPU while ZooKeeper was away and
//!   while it recovered.
//!
//! ```text
//! cargo bench -p slacker-tests --bench scale -- --sizes 100x10,300x50,1000x200
//! ```
//! Results and the model built on them are in SCALING.md.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use serde_json::json;
use slacker_core::{NamespaceInfo, ServerAddr};
use slacker_tests::{procfs, LocalEnsemble, LocalZooKeeper, Proxy};
use slacker_zk::discovery::{Discovery, DiscoveryOptions, Membership};
use slacker_zk::local::four_letter_word;
use slacker_zk::registry::{Registration, RegistryOptions};
use slacker_zk::ZkState;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NAMESPACES: usize = 100;
/// The default session timeout ([`ZkOptions::new`]): the bench measures defaults.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Registrations and discoveries started at once while setting up.
const PARALLEL_SETUP: usize = 32;
/// The longest any step may take before the bench gives up on it.
const STEP_DEADLINE: Duration = Duration::from_secs(120);

struct Args {
    sizes: Vec<(usize, usize)>,
    changes: usize,
    herd: bool,
}

fn args() -> Result<Args, BoxError> {
    let mut out = Args {
        sizes: vec![(100, 10), (300, 50), (1000, 200)],
        changes: 10,
        herd: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => {
                let v = it.next().ok_or("--sizes needs NxM[,NxM...]")?;
                out.sizes = v
                    .split(',')
                    .map(|s| {
                        let (n, m) = s.split_once('x').ok_or("size is NxM")?;
                        Ok::<_, BoxError>((n.parse()?, m.parse()?))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--changes" => out.changes = it.next().ok_or("--changes needs a number")?.parse()?,
            "--no-herd" => out.herd = false,
            // cargo bench passes --bench
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    slacker_tests::log_from_env();
    procfs::ensure_open_files(16_384)?;
    let infos = namespaces();
    println!(
        "scale bench: 3-node ensemble on loopback, {NAMESPACES} namespaces, session timeout \
         {SESSION_TIMEOUT:?}, {} changes of each kind",
        args.changes
    );
    for &(n, m) in &args.sizes {
        run(n, m, &args, &infos).await?;
    }
    Ok(())
}

/// 100 namespaces with no functions (their metadata is not what scales).
fn namespaces() -> Vec<&'static NamespaceInfo> {
    (0..NAMESPACES)
        .map(|i| {
            let name: &'static str = Box::leak(format!("scale.ns{i:03}").into_boxed_str());
            &*Box::leak(Box::new(NamespaceInfo {
                name,
                doc: "",
                methods: &[],
            }))
        })
        .collect()
}

/// The namespaces of server `i`: 1 to 10 of them, spread over all 100.
fn namespaces_of(i: usize, infos: &[&'static NamespaceInfo]) -> Vec<&'static NamespaceInfo> {
    let k = 1 + (i * 7) % 10;
    (0..k)
        .map(|j| infos[(i * 13 + j * 29) % NAMESPACES])
        .collect()
}

fn server_addr(i: usize) -> ServerAddr {
    // Never dialled: discovery only reads ZooKeeper.
    ServerAddr::new(format!("127.0.0.2:{}", 20_000 + i))
}

fn rss_mib() -> f64 {
    procfs::rss_kib(std::process::id()).unwrap_or(0) as f64 / 1024.0
}

/// This process's CPU time (user + system).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn run(
    n: usize,
    m: usize,
    args: &Args,
    infos: &[&'static NamespaceInfo],
) -> Result<(), BoxError> {
    let mut ensemble = LocalZooKeeper::ensemble(3).await?;
    let connect = ensemble.connect_string();
    let cluster = format!("scale-{n}x{m}");
    println!("\n== N = {n} servers, M = {m} clients");

    let rss0 = rss_mib();
    let started = Instant::now();
    let registrations = register_all(&cluster, &connect, n, infos).await?;
    let rss1 = rss_mib();
    let memberships: usize = (0..n).map(|i| namespaces_of(i, infos).len()).sum();
    println!(
        "registered {n} servers ({memberships} namespace memberships) in {:.1?}; {:.0} KiB per \
         registration",
        started.elapsed(),
        (rss1 - rss0) * 1024.0 / n as f64
    );

    let started = Instant::now();
    let clients = discover_all(&cluster, &connect, m).await?;
    let expected: BTreeSet<ServerAddr> = (0..n).map(server_addr).collect();
    all_apply(&clients, |v| servers(v) == expected).await?;
    let rss2 = rss_mib();
    println!(
        "{m} clients discovered all {n} in {:.1?}; {:.0} KiB per client",
        started.elapsed(),
        (rss2 - rss1) * 1024.0 / m as f64
    );
    println!("ZooKeeper watches: {}", watches(&ensemble).await);

    let mut join = Vec::new();
    let mut data = Vec::new();
    let mut leave = Vec::new();
    let (mut join_reads, mut data_reads, mut leave_reads) = (Vec::new(), Vec::new(), Vec::new());
    // ZooKeeper's traffic per kind of change (what trails a change after every client applied
    // it is counted with the next one).
    let nodes = node_addrs(&ensemble);
    let mut zk_traffic = [[0u64; 3]; 3];
    for c in 0..args.changes {
        let addr = server_addr(n + c);
        let ns = namespaces_of(3, infos);
        let before = reads(&clients);
        let counted = traffic(&nodes).await;
        let t0 = Instant::now();
        let names: Vec<&str> = ns.iter().map(|i| i.name).collect();
        let (reg, times) = tokio::join!(
            register(&cluster, &connect, addr.clone(), ns.clone()),
            // Joined = routable in every namespace of the newcomer.
            applied(&clients, t0, |v| names
                .iter()
                .all(|n| v.servers_of(n).contains(&addr)))
        );
        let reg = reg?;
        join.extend(times?);
        join_reads.extend(per_client(&before, &reads(&clients)));
        add_traffic(&nodes, counted, &mut zk_traffic[0]).await;

        let value = json!({ "version": c });
        let changed = &registrations[c % n];
        let before = reads(&clients);
        let counted = traffic(&nodes).await;
        let t0 = Instant::now();
        let (set, times) = tokio::join!(
            changed.set_server_data(value.clone()),
            applied(&clients, t0, |v| v.servers.get(changed.addr())
                == Some(&value))
        );
        set?;
        data.extend(times?);
        data_reads.extend(per_client(&before, &reads(&clients)));
        add_traffic(&nodes, counted, &mut zk_traffic[1]).await;

        let before = reads(&clients);
        let counted = traffic(&nodes).await;
        let t0 = Instant::now();
        let (closed, times) = tokio::join!(
            reg.close(),
            applied(&clients, t0, |v| !v.servers.contains_key(&addr)
                && names.iter().all(|n| !v.servers_of(n).contains(&addr)))
        );
        closed?;
        leave.extend(times?);
        leave_reads.extend(per_client(&before, &reads(&clients)));
        add_traffic(&nodes, counted, &mut zk_traffic[2]).await;
    }
    let changes = args.changes.max(1) as f64;
    for ((what, times, reads), zk) in [
        ("join", &mut join, &join_reads),
        ("server-data", &mut data, &data_reads),
        ("leave", &mut leave, &leave_reads),
    ]
    .into_iter()
    .zip(zk_traffic)
    {
        println!(
            "{what:>11}: applied by every client p50 {:>7.1?} p99 {:>7.1?} max {:>7.1?}; ZooKeeper \
             reads per client per change: mean {:.1}, max {}; ZooKeeper per change: {:.0} \
             requests, {:.0} packets sent, {:.0} KiB of responses",
            quantile(times, 0.5),
            quantile(times, 0.99),
            quantile(times, 1.0),
            reads.iter().sum::<u64>() as f64 / reads.len().max(1) as f64,
            reads.iter().max().copied().unwrap_or(0),
            zk[0] as f64 / changes,
            zk[1] as f64 / changes,
            zk[2] as f64 / changes / 1024.0,
        );
    }

    let nodes = node_addrs(&ensemble);
    if args.herd {
        let outage = Outage::Restart(&mut ensemble);
        herd(outage, nodes.clone(), &clients, &registrations, &expected).await?;
    }
    drop(clients);
    drop(registrations);
    if !args.herd {
        return Ok(());
    }

    // The same cluster again, every session through a proxy, for the partition herd.
    let mut proxies = Vec::new();
    for node in &nodes {
        proxies.push(Proxy::start(*node).await?);
    }
    let via: Vec<String> = proxies.iter().map(|p| p.addr().to_string()).collect();
    let via = via.join(",");
    let cluster = format!("{cluster}-partition");
    let registrations = register_all(&cluster, &via, n, infos).await?;
    let clients = discover_all(&cluster, &via, m).await?;
    all_apply(&clients, |v| servers(v) == expected).await?;
    let outage = Outage::Partition(&proxies);
    herd(outage, nodes, &clients, &registrations, &expected).await?;
    Ok(())
}

/// Servers `0..n`, [`PARALLEL_SETUP`] registering at a time.
async fn register_all(
    cluster: &str,
    connect: &str,
    n: usize,
    infos: &[&'static NamespaceInfo],
) -> Result<Vec<Registration>, BoxError> {
    stream::iter(0..n)
        .map(|i| register(cluster, connect, server_addr(i), namespaces_of(i, infos)))
        .buffer_unordered(PARALLEL_SETUP)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// `m` discovering clients, [`PARALLEL_SETUP`] starting at a time.
async fn discover_all(cluster: &str, connect: &str, m: usize) -> Result<Vec<Discovery>, BoxError> {
    stream::iter(0..m)
        .map(|_| discover(cluster, connect))
        .buffer_unordered(PARALLEL_SETUP)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn register(
    cluster: &str,
    connect: &str,
    addr: ServerAddr,
    ns: Vec<&'static NamespaceInfo>,
) -> Result<Registration, BoxError> {
    let options = RegistryOptions::new(cluster, connect);
    Ok(Registration::start(options, addr, &ns).await?)
}

async fn discover(cluster: &str, connect: &str) -> Result<Discovery, BoxError> {
    let (discovery, changes) = Discovery::start(cluster, DiscoveryOptions::new(connect)).await?;
    // The routing table is not under test: nothing consumes the change stream.
    drop(changes);
    Ok(discovery)
}

fn servers(v: &Membership) -> BTreeSet<ServerAddr> {
    v.servers.keys().cloned().collect()
}

fn reads(clients: &[Discovery]) -> Vec<u64> {
    clients.iter().map(Discovery::reads).collect()
}

fn per_client(before: &[u64], after: &[u64]) -> Vec<u64> {
    before.iter().zip(after).map(|(b, a)| a - b).collect()
}

/// Waits until every client's view satisfies `done`; returns each client's time since `t0`.
async fn applied(
    clients: &[Discovery],
    t0: Instant,
    done: impl Fn(&Membership) -> bool + Clone,
) -> Result<Vec<Duration>, BoxError> {
    let waits = clients.iter().map(|c| {
        let mut view = c.membership();
        let done = done.clone();
        async move {
            tokio::time::timeout(STEP_DEADLINE, view.wait_for(|v| done(v)))
                .await
                .map_err(|_| "a client never applied the change")?
                .map_err(|_| "a discovery stopped")?;
            Ok::<_, BoxError>(t0.elapsed())
        }
    });
    futures::future::join_all(waits).await.into_iter().collect()
}

async fn all_apply(
    clients: &[Discovery],
    done: impl Fn(&Membership) -> bool + Clone,
) -> Result<(), BoxError> {
    applied(clients, Instant::now(), done).await.map(drop)
}

fn quantile(times: &mut [Duration], q: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.sort_unstable();
    let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
    times[i]
}

fn node_addrs(ensemble: &LocalEnsemble) -> Vec<SocketAddr> {
    (0..ensemble.node_count())
        .filter_map(|i| ensemble.node_addr(i).ok())
        .collect()
}

/// A `mntr` value, summed over the nodes that answer.
async fn mntr_sum(nodes: &[SocketAddr], key: &str) -> u64 {
    mntr_sums(nodes, &[key]).await[0]
}

/// `mntr` values (one `mntr` per node), each summed over the nodes that answer.
async fn mntr_sums(nodes: &[SocketAddr], keys: &[&str]) -> Vec<u64> {
    let mut sums = vec![0; keys.len()];
    for node in nodes {
        let Ok(answer) = four_letter_word(*node, "mntr").await else {
            continue;
        };
        for (key, sum) in keys.iter().zip(&mut sums) {
            *sum += answer
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('\t')))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    sums
}

/// ZooKeeper's traffic so far, summed over the nodes: packets received, packets sent (answers
/// and watch notifications) and response bytes.
async fn traffic(nodes: &[SocketAddr]) -> [u64; 3] {
    let keys = [
        "zk_packets_received",
        "zk_packets_sent",
        "zk_response_bytes",
    ];
    let v = mntr_sums(nodes, &keys).await;
    [v[0], v[1], v[2]]
}

/// Adds the traffic since `before` to `total`.
async fn add_traffic(nodes: &[SocketAddr], before: [u64; 3], total: &mut [u64; 3]) {
    let now = traffic(nodes).await;
    for i in 0..3 {
        total[i] += now[i].saturating_sub(before[i]);
    }
}

async fn watches(ensemble: &LocalEnsemble) -> String {
    let nodes = node_addrs(ensemble);
    let count = mntr_sum(&nodes, "zk_watch_count").await;
    format!("{count} (zk_watch_count summed over the 3 nodes)")
}

/// Stops every node, waits 1.5x the session timeout, restarts them, and measures the recovery.
/// How the herd's outage is made.
enum Outage<'a> {
    /// Every node of the ensemble stopped, then restarted with its data: ZooKeeper restores
    /// the sessions, which the clients resume.
    Restart(&'a mut LocalEnsemble),
    /// Every connection to ZooKeeper cut (by the proxies every session goes through) while the
    /// ensemble keeps running: ZooKeeper expires every session and deletes its nodes, so every
    /// server registers again in a new session.
    Partition(&'a [Proxy]),
}

impl Outage<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Restart(_) => "ensemble restart",
            Self::Partition(_) => "partition",
        }
    }

    async fn begin(&mut self) -> Result<(), BoxError> {
        match self {
            Self::Restart(ensemble) => {
                for i in 0..ensemble.node_count() {
                    ensemble.stop(i).await?;
                }
            }
            Self::Partition(proxies) => proxies.iter().for_each(Proxy::reset),
        }
        Ok(())
    }

    async fn end(&mut self) -> Result<(), BoxError> {
        match self {
            Self::Restart(ensemble) => ensemble.restart_all().await?,
            Self::Partition(proxies) => proxies.iter().for_each(Proxy::pass),
        }
        Ok(())
    }
}

/// Makes the outage for 1.5x the session timeout, ends it, and measures the recovery.
async fn herd(
    mut outage: Outage<'_>,
    nodes: Vec<SocketAddr>,
    clients: &[Discovery],
    registrations: &[Registration],
    expected: &BTreeSet<ServerAddr>,
) -> Result<(), BoxError> {
    let name = outage.name();
    let resyncs: Arc<Vec<u64>> = clients
        .iter()
        .map(|c| c.membership().borrow().resyncs)
        .collect::<Vec<_>>()
        .into();
    let sessions: Vec<i64> = registrations
        .iter()
        .map(|r| r.state().borrow().session_id)
        .collect();
    outage.begin().await?;
    all_apply(clients, |v| v.zk != ZkState::Connected).await?;
    let (cpu0, t0) = (cpu(), Instant::now());
    // The outage itself: a duration, not a wait for an event.
    tokio::time::sleep(SESSION_TIMEOUT.mul_f64(1.5)).await;
    let down_cpu = (cpu() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();

    outage.end().await?;
    let (cpu1, restarted) = (cpu(), Instant::now());
    let stop = Arc::new(AtomicBool::new(false));
    // Every 100 ms: ZooKeeper's request rate; every second a line of the recovery so far
    // (registrations connected and in sync, clients exact after a re-list, requests/s).
    let views: Vec<_> = clients.iter().map(Discovery::membership).collect();
    let states: Vec<_> = registrations.iter().map(Registration::state).collect();
    let sampler = tokio::spawn({
        let (stop, expected) = (stop.clone(), expected.clone());
        let resyncs = resyncs.clone();
        async move {
            let mut peak = 0u64;
            let mut last = mntr_sum(&nodes, "zk_packets_received").await;
            let (mut at, mut second) = (Instant::now(), (Instant::now(), last));
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = mntr_sum(&nodes, "zk_packets_received").await;
                let rate = now.saturating_sub(last) as f64 / at.elapsed().as_secs_f64();
                peak = peak.max(rate as u64);
                (last, at) = (now, Instant::now());
                if second.0.elapsed() >= Duration::from_secs(1) {
                    let synced = states
                        .iter()
                        .filter(|s| {
                            let s = s.borrow();
                            s.in_sync && s.zk == ZkState::Connected
                        })
                        .count();
                    let exact = views
                        .iter()
                        .zip(resyncs.iter())
                        .filter(|(v, before)| {
                            let v = v.borrow();
                            v.zk == ZkState::Connected
                                && v.resyncs > **before
                                && servers(&v) == expected
                        })
                        .count();
                    let rate =
                        now.saturating_sub(second.1) as f64 / second.0.elapsed().as_secs_f64();
                    println!(
                        "       {name} +{:>4.1}s: {synced:>5}/{} registrations in sync, {exact:>4}/{} \
                         clients exact, ZooKeeper {rate:>6.0} requests/s",
                        restarted.elapsed().as_secs_f64(),
                        states.len(),
                        views.len(),
                    );
                    second = (Instant::now(), now);
                }
                if restarted.elapsed() > STEP_DEADLINE || stop.load(Ordering::SeqCst) {
                    return peak;
                }
            }
        }
    });
    let exact = {
        let expected = expected.clone();
        let waits = clients.iter().enumerate().map(|(i, c)| {
            let mut view = c.membership();
            let (expected, resyncs) = (expected.clone(), resyncs.clone());
            async move {
                tokio::time::timeout(
                    STEP_DEADLINE,
                    view.wait_for(|v| {
                        v.zk == ZkState::Connected
                            && v.resyncs > resyncs[i]
                            && servers(v) == expected
                    }),
                )
                .await
                .map_err(|_| {
                    let snapshot = c.membership();
                    let v = snapshot.borrow();
                    format!(
                        "client {i} never re-synced: zk {:?}, resyncs {} (before {}), {} of {} \
                         servers",
                        v.zk,
                        v.resyncs,
                        resyncs[i],
                        servers(&v).intersection(&expected).count(),
                        expected.len()
                    )
                })?
                .map_err(|_| "a discovery stopped")?;
                Ok::<_, BoxError>(restarted.elapsed())
            }
        });
        let results = futures::future::join_all(waits).await;
        let stragglers: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
            .collect();
        if let Some(first) = stragglers.first() {
            // A finding to report, not a reason to stop the other sizes.
            println!(
                "       herd ({name}): ZooKeeper away {:?}; {} of {} clients NOT exact {STEP_DEADLINE:?} \
                 after the restart (first: {first}); this process's CPU meanwhile {:.0}%",
                SESSION_TIMEOUT.mul_f64(1.5),
                stragglers.len(),
                clients.len(),
                (cpu() - cpu1).as_secs_f64() / restarted.elapsed().as_secs_f64() * 100.0,
            );
            stop.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let mut times: Vec<Duration> = results.into_iter().collect::<Result<_, _>>()?;
        quantile(&mut times, 1.0)
    };
    let in_sync = registrations.iter().map(|r| {
        let mut state = r.state();
        async move {
            tokio::time::timeout(STEP_DEADLINE, state.wait_for(|s| s.in_sync))
                .await
                .map_err(|_| "a registration never got back in sync")?
                .map_err(|_| "a registration stopped")?;
            Ok::<_, BoxError>(restarted.elapsed())
        }
    });
    let mut times: Vec<Duration> = futures::future::join_all(in_sync)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let synced = quantile(&mut times, 1.0);
    // Exact again: every client's view once more, after the last registration.
    all_apply(clients, |v| servers(v) == *expected).await?;
    let recovered = restarted.elapsed();
    let up_cpu = (cpu() - cpu1).as_secs_f64() / recovered.as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let peak = sampler.await?;
    let renewed = registrations
        .iter()
        .zip(sessions.iter())
        .filter(|(r, old)| r.state().borrow().session_id != **old)
        .count();
    // Elections settle after the registrations: every namespace has a leader again in every
    // client's view.
    all_apply(clients, |v| {
        v.namespaces
            .values()
            .all(|ns| ns.servers.is_empty() || ns.leader.is_some())
    })
    .await?;
    let settled = restarted.elapsed();
    let (cpu2, t2) = (cpu(), Instant::now());
    // Idle after recovery: a quiet cluster should cost (almost) nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_cpu = (cpu() - cpu2).as_secs_f64() / t2.elapsed().as_secs_f64();
    println!(
        "       herd ({name}): ZooKeeper away {:?}; after it every client exact in {exact:.1?}, every \
         registration in sync in {synced:.1?}, all exact {recovered:.1?} (target 2 x session \
         timeout = {:?}), every namespace led again {settled:.1?}; {renewed}/{} server sessions renewed; ZooKeeper peak {peak} requests/s; \
         this process's CPU: {:.0}% while ZooKeeper was down, {:.0}% recovering, {:.0}% idle after",
        SESSION_TIMEOUT.mul_f64(1.5),
        SESSION_TIMEOUT * 2,
        registrations.len(),
        down_cpu * 100.0,
        up_cpu * 100.0,
        idle_cpu * 100.0,
    );
    Ok(())
}
