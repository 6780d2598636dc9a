//! Discovery against a real ZooKeeper: joins, data changes, offline and leaves arrive as
//! membership changes; an unreachable ZooKeeper keeps the last known membership and a new session
//! re-lists; losing one ensemble member changes nothing.
//!
//! Latencies are printed (run with `--nocapture`), never asserted.

use std::time::{Duration, Instant};

use serde_json::json;
use slacker_core::membership::Change;
use slacker_core::{NamespaceInfo, ServerAddr};
use slacker_tests::{wait_until, LocalZooKeeper, Proxy, DEADLINE};
use slacker_zk::{Discovery, DiscoveryOptions, Registration, RegistryOptions, ZkState};
use tokio::sync::mpsc::UnboundedReceiver;

static ECHO: NamespaceInfo = NamespaceInfo {
    name: "test.echo",
    doc: "",
    methods: &[],
};

fn registry(cluster: &str, connect: &str) -> RegistryOptions {
    let mut o = RegistryOptions::new(cluster, connect);
    o.zk.session_timeout = Duration::from_secs(4);
    o
}

fn discovery(connect: &str) -> DiscoveryOptions {
    let mut o = DiscoveryOptions::new(connect);
    o.zk.session_timeout = Duration::from_secs(4);
    o
}

/// Waits for the first change matching `pred`, returning how long it took.
async fn until_change(
    rx: &mut UnboundedReceiver<Change>,
    pred: impl Fn(&Change) -> bool,
) -> Duration {
    let start = Instant::now();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let change = rx.recv().await.expect("discovery stopped");
            if pred(&change) {
                return;
            }
        }
    })
    .await
    .expect("change within the deadline");
    start.elapsed()
}

fn lists(ns: &str, expected: &[&ServerAddr]) -> impl Fn(&Change) -> bool {
    let ns = ns.to_owned();
    let expected: Vec<ServerAddr> = expected.iter().map(|a| (*a).clone()).collect();
    move |c| matches!(c, Change::Namespace { namespace, servers, .. } if *namespace == ns && *servers == expected)
}

#[tokio::test]
async fn join_data_offline_and_leave() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let (disc, mut rx) = Discovery::start("joinleave", discovery(&connect))
        .await
        .expect("discovery");
    let view = disc.membership();
    assert!(view.borrow().servers.is_empty());
    assert!(
        view.borrow().servers_of("test.echo").is_empty(),
        "unknown namespace: no servers, no panic"
    );

    let a = ServerAddr::from("127.0.0.1:7201");
    let b = ServerAddr::from("127.0.0.1:7202");
    let reg_a = Registration::start(registry("joinleave", &connect), a.clone(), &[&ECHO])
        .await
        .expect("a");
    let join = until_change(&mut rx, lists("test.echo", &[&a])).await;
    eprintln!("join: registration done -> routing list has it: {join:?}");

    let mut data = disc.server_data_changes();
    let mut opts_b = registry("joinleave", &connect);
    opts_b.server_data = json!({"weight": 1});
    let reg_b = Registration::start(opts_b, b.clone(), &[&ECHO])
        .await
        .expect("b");
    until_change(&mut rx, lists("test.echo", &[&a, &b])).await;
    // a joined first: lowest lock sequence, so the leader.
    wait_until(DEADLINE, || async {
        view.borrow().namespaces["test.echo"].leader.as_ref() == Some(&a)
    })
    .await
    .expect("a leads");

    reg_b
        .set_server_data(json!({"weight": 5}))
        .await
        .expect("set data");
    let changed = tokio::time::timeout(DEADLINE, data.recv())
        .await
        .expect("in time")
        .expect("stream");
    assert_eq!(changed, (b.clone(), json!({"weight": 5})));
    assert_eq!(view.borrow().servers[&b], json!({"weight": 5}));

    reg_a.offline_ns("test.echo").await.expect("offline");
    let offline = until_change(&mut rx, lists("test.echo", &[&b])).await;
    eprintln!("offline_ns -> routing list drops it: {offline:?}");
    assert!(
        view.borrow().servers.contains_key(&a),
        "an offline server stays registered"
    );
    wait_until(DEADLINE, || async {
        view.borrow().namespaces["test.echo"].leader.as_ref() == Some(&b)
    })
    .await
    .expect("leadership passed to b");

    reg_a.online_ns("test.echo").await.expect("online");
    until_change(&mut rx, lists("test.echo", &[&a, &b])).await;
    let start = Instant::now();
    reg_a.close().await.expect("closed");
    let closed = start.elapsed();
    until_change(&mut rx, |c| *c == Change::Remove(a.clone())).await;
    eprintln!(
        "leave: close took {closed:?}; close start -> Remove: {:?}",
        start.elapsed()
    );
    assert_eq!(
        view.borrow().servers_of("test.echo"),
        std::slice::from_ref(&b)
    );
    drop(reg_b);
}

/// ZooKeeper unreachable is not "no servers": the membership is kept through the outage and
/// the expiry, then re-listed in the new session.
#[tokio::test]
async fn outage_keeps_membership_and_new_session_resyncs() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let proxy = Proxy::start(zk.addr()).await.expect("proxy");
    let (disc, mut rx) = Discovery::start("outage", discovery(&proxy.addr().to_string()))
        .await
        .expect("discovery");
    let view = disc.membership();
    let a = ServerAddr::from("127.0.0.1:7211");
    let b = ServerAddr::from("127.0.0.1:7212");
    let reg_a = Registration::start(registry("outage", &connect), a.clone(), &[&ECHO])
        .await
        .expect("a");
    until_change(&mut rx, lists("test.echo", &[&a])).await;
    let resyncs = view.borrow().resyncs;

    proxy.reset();
    let _reg_b = Registration::start(registry("outage", &connect), b.clone(), &[&ECHO])
        .await
        .expect("b");
    reg_a.close().await.expect("a left");
    wait_until(DEADLINE, || async { view.borrow().zk == ZkState::Expired })
        .await
        .expect("the client saw its session expire");
    assert_eq!(
        view.borrow().servers_of("test.echo"),
        std::slice::from_ref(&a),
        "last known list kept"
    );

    proxy.pass();
    let healed = Instant::now();
    until_change(&mut rx, lists("test.echo", &[&b])).await;
    eprintln!("heal -> re-listed membership: {:?}", healed.elapsed());
    let now = view.borrow().clone();
    assert_eq!(now.zk, ZkState::Connected);
    assert!(now.resyncs > resyncs);
    assert!(!now.servers.contains_key(&a));

    // The new session's watch works.
    let c = ServerAddr::from("127.0.0.1:7213");
    let _reg_c = Registration::start(registry("outage", &connect), c.clone(), &[&ECHO])
        .await
        .expect("c");
    until_change(&mut rx, lists("test.echo", &[&b, &c])).await;
    // One re-list for the new session (a retry or two at most), not one per wake-up.
    let after = view.borrow().resyncs;
    assert!(after <= resyncs + 3, "{resyncs} -> {after} re-lists");
}

/// One of three ensemble members is killed: sessions move to another member, nothing is lost and
/// changes keep flowing.
#[tokio::test]
async fn ensemble_member_killed() {
    let mut ensemble = LocalZooKeeper::ensemble(3).await.expect("ensemble");
    let connect = ensemble.connect_string();
    let (disc, mut rx) = Discovery::start("ensemble", discovery(&connect))
        .await
        .expect("discovery");
    let a = ServerAddr::from("127.0.0.1:7221");
    let reg_a = Registration::start(registry("ensemble", &connect), a.clone(), &[&ECHO])
        .await
        .expect("a");
    until_change(&mut rx, lists("test.echo", &[&a])).await;

    let leader = ensemble.leader_index().await.expect("leader");
    ensemble
        .kill(leader)
        .await
        .expect("killed the ZooKeeper leader");
    let b = ServerAddr::from("127.0.0.1:7222");
    let _reg_b = Registration::start(registry("ensemble", &connect), b.clone(), &[&ECHO])
        .await
        .expect("b registers with one member down");
    until_change(&mut rx, lists("test.echo", &[&a, &b])).await;
    wait_until(DEADLINE, || async {
        reg_a.state().borrow().zk == ZkState::Connected
    })
    .await
    .expect("a reconnected");
    assert_eq!(
        reg_a.state().borrow().sessions,
        1,
        "same session: nothing re-registered"
    );
    assert_eq!(disc.membership().borrow().servers_of("test.echo"), [a, b]);
}

/// ZooKeeper restarted within the session: nothing is lost, and changes made after the restart
/// still arrive (the watch is armed again after the reconnect).
#[tokio::test]
async fn zookeeper_restart_within_session() {
    let mut zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut opts = discovery(&connect);
    opts.zk.session_timeout = Duration::from_secs(20);
    let (disc, mut rx) = Discovery::start("restart", opts).await.expect("discovery");
    let view = disc.membership();
    let mut reg_opts = registry("restart", &connect);
    reg_opts.zk.session_timeout = Duration::from_secs(20);
    let a = ServerAddr::from("127.0.0.1:7231");
    let reg_a = Registration::start(reg_opts.clone(), a.clone(), &[&ECHO])
        .await
        .expect("a");
    until_change(&mut rx, lists("test.echo", &[&a])).await;
    let resyncs = view.borrow().resyncs;

    zk.restart().await.expect("restarted");
    wait_until(DEADLINE, || async {
        let v = view.borrow();
        v.zk == ZkState::Connected && v.resyncs > resyncs
    })
    .await
    .expect("reconnected and re-listed");
    assert_eq!(
        view.borrow().servers_of("test.echo"),
        std::slice::from_ref(&a)
    );
    assert_eq!(reg_a.state().borrow().sessions, 1);

    let b = ServerAddr::from("127.0.0.1:7232");
    let _reg_b = Registration::start(reg_opts, b.clone(), &[&ECHO])
        .await
        .expect("b");
    let seen = until_change(&mut rx, lists("test.echo", &[&a, &b])).await;
    eprintln!("join after a ZooKeeper restart seen in {seen:?}");
}

/// What one membership change costs a discovering client does not grow with the cluster: a
/// join, a server-data change and a leave each take the same handful of ZooKeeper reads with
/// 5 servers registered and with 60 (the scale bench measures 1,000; SCALING.md).
#[tokio::test]
async fn reads_per_change_do_not_grow_with_the_cluster() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut per_size = Vec::new();
    for size in [5usize, 60] {
        let cluster = format!("reads-{size}");
        let mut servers = Vec::new();
        for i in 0..size {
            let addr = ServerAddr::new(format!("127.0.0.3:{}", 30_000 + i));
            let reg = Registration::start(registry(&cluster, &connect), addr, &[&ECHO])
                .await
                .expect("register");
            servers.push(reg);
        }
        let (discovery, _changes) = Discovery::start(&cluster, self::discovery(&connect))
            .await
            .expect("discovery");
        let view = discovery.membership();
        wait_until(DEADLINE, || async { view.borrow().servers.len() == size })
            .await
            .expect("every server discovered");

        let newcomer = ServerAddr::new("127.0.0.3:39999");
        let before = discovery.reads();
        let reg = Registration::start(registry(&cluster, &connect), newcomer.clone(), &[&ECHO])
            .await
            .expect("register the newcomer");
        wait_until(DEADLINE, || async {
            view.borrow().servers_of(ECHO.name).contains(&newcomer)
        })
        .await
        .expect("the join is applied");
        let join = discovery.reads() - before;

        let before = discovery.reads();
        reg.set_server_data(json!({"weight": 3}))
            .await
            .expect("data");
        wait_until(DEADLINE, || async {
            view.borrow().servers.get(&newcomer) == Some(&json!({"weight": 3}))
        })
        .await
        .expect("the data change is applied");
        let data = discovery.reads() - before;

        let before = discovery.reads();
        reg.close().await.expect("leave");
        wait_until(DEADLINE, || async {
            !view.borrow().servers.contains_key(&newcomer)
        })
        .await
        .expect("the leave is applied");
        let leave = discovery.reads() - before;
        eprintln!(
            "{size} servers: reads per join {join}, per data change {data}, per leave {leave}"
        );
        per_size.push((join, data, leave));
        for s in servers {
            s.close().await.expect("close");
        }
    }
    let (small, large) = (per_size[0], per_size[1]);
    // Events are applied as they come: a join reads the newcomer's server-data (its namespace
    // node and its lock node, queued behind the leader's, need no read), a data change reads
    // the data, a leave reads nothing unless the leader left. Never one per server.
    for (what, n) in [("join", large.0), ("data", large.1), ("leave", large.2)] {
        assert!(n <= 2, "{what} with 60 servers took {n} reads");
    }
    assert!(large.0 >= 1, "a join reads the newcomer's server-data");
    assert!(
        large.1 <= small.1.max(1),
        "data change: {small:?} vs {large:?}"
    );
}
