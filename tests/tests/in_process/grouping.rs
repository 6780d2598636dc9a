//! Grouping against real servers: which servers each mode chooses, how results are shaped, which
//! option wins, and how membership changes and connection health steer routing. Three slacker
//! servers on loopback, a `Cluster` fed by explicit membership changes (no ZooKeeper).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slacker_core::cluster::Cluster;
use slacker_core::cluster::{ClusterOptions, NamespaceRoute};
use slacker_core::membership::{Change, ServerInfo};
use slacker_core::{
    CallOptions, ClientOptions, ConnState, Error, Grouping, GroupingFn, Selection, ServerAddr,
};
use slacker_tests::cluster_lab::{timed_out, Lab, Node, ProbeClient, NS};
use slacker_tests::{wait_until, within, DEADLINE};

fn share(seen: &BTreeMap<String, usize>, addr: &ServerAddr) -> f64 {
    let total: usize = seen.values().sum();
    seen[addr.as_str()] as f64 / total as f64
}

#[tokio::test]
async fn first_is_the_first_sorted_server_that_is_up() {
    let mut lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let seen = lab.tally(30, || client.first()).await;
    assert_eq!(seen[lab.addr(0).as_str()], 30, "{seen:?}");

    // Its connection drops: out of routing at once, while still registered.
    lab.nodes[0].kill();
    let dead = lab.addr(0);
    wait_until(DEADLINE, || async {
        !lab.cluster.routable(NS).contains(&dead)
    })
    .await
    .expect("the dead server leaves routing");
    let seen = lab.tally(30, || client.first()).await;
    assert_eq!(seen[lab.addr(1).as_str()], 30, "{seen:?}");
    assert!(lab.cluster.snapshot().servers.contains_key(&dead));
}

#[tokio::test]
async fn leader_is_the_namespace_leader_and_never_a_former_one() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let err = client.leader().await.expect_err("no leader yet");
    assert!(
        matches!(&err, Error::Unavailable { namespace } if namespace == NS),
        "{err}"
    );

    lab.publish(Some(2));
    let seen = lab.tally(20, || client.leader()).await;
    assert_eq!(seen[lab.addr(2).as_str()], 20, "{seen:?}");

    lab.publish(Some(1));
    let seen = lab.tally(20, || client.leader()).await;
    assert_eq!(seen[lab.addr(1).as_str()], 20, "{seen:?}");

    // A leader that is not among the namespace's servers is no leader.
    lab.cluster.apply(Change::Namespace {
        namespace: NS.into(),
        servers: vec![lab.addr(0), lab.addr(2)],
        leader: Some(lab.addr(1)),
    });
    let err = client.leader().await.expect_err("leader gone");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn random_spreads_calls_uniformly() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let seen = lab.tally(3000, || client.random()).await;
    for addr in lab.addrs() {
        let share = share(&seen, &addr);
        assert!(
            (0.20..=0.47).contains(&share),
            "{addr}: {share} of {seen:?}"
        );
    }
}

#[tokio::test]
async fn round_robin_takes_turns() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let mut order = Vec::new();
    for _ in 0..300 {
        order.push(client.round_robin().await.expect("call"));
    }
    for window in order.windows(3) {
        let mut w = window.to_vec();
        w.sort();
        w.dedup();
        assert_eq!(
            w.len(),
            3,
            "every 3 consecutive calls reach 3 servers: {window:?}"
        );
    }
    let seen = lab.tally(300, || client.round_robin()).await;
    assert!(seen.values().all(|n| *n == 100), "{seen:?}");
}

#[tokio::test]
async fn weighted_follows_the_weight_in_server_data() {
    // Sorted servers get no weight (1), weight 3, weight 0.
    let data = |i: usize| match i {
        0 => serde_json::json!({"zone": "a"}),
        1 => serde_json::json!({"weight": 3}),
        _ => serde_json::json!({"weight": 0}),
    };
    let lab = Lab::with_data(3, ClusterOptions::default(), data).await;
    let client = lab.client();
    let seen = lab.tally(3000, || client.weighted()).await;
    assert_eq!(
        seen[lab.addr(2).as_str()],
        0,
        "weight 0 is never chosen: {seen:?}"
    );
    let light = share(&seen, &lab.addr(0));
    let heavy = share(&seen, &lab.addr(1));
    assert!(
        (0.15..=0.35).contains(&light),
        "weight 1: {light} of {seen:?}"
    );
    assert!(
        (0.65..=0.85).contains(&heavy),
        "weight 3: {heavy} of {seen:?}"
    );

    // Every weight 0: uniform.
    for addr in lab.addrs() {
        let info = ServerInfo {
            data: serde_json::json!({"weight": 0}),
        };
        lab.cluster.apply(Change::Insert(addr, info));
    }
    let seen = lab.tally(3000, || client.weighted()).await;
    for addr in lab.addrs() {
        let share = share(&seen, &addr);
        assert!(
            (0.20..=0.47).contains(&share),
            "{addr}: {share} of {seen:?}"
        );
    }
}

#[tokio::test]
async fn least_in_flight_steers_away_from_a_busy_server() {
    steers_away_from_a_busy_server(|client| async move { client.least_in_flight().await }).await;
}

/// The cluster's default, power of two choices: of two different servers drawn at random the
/// one with fewer calls in flight wins, so a server busier than both others is never chosen.
#[tokio::test]
async fn power_of_two_choices_steers_away_from_a_busy_server() {
    steers_away_from_a_busy_server(|client| async move { client.whoami().await }).await;
}

/// Holds four calls on one of three servers, then makes 200 calls with `pick`: none may reach
/// the busy server, and both idle ones must get some.
async fn steers_away_from_a_busy_server<F, Fut>(pick: F)
where
    F: Fn(ProbeClient<Cluster>) -> Fut,
    Fut: std::future::Future<Output = Result<String, Error>>,
{
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let busy = lab.addr(0);
    let pinned = client
        .clone()
        .with_options(CallOptions::new().server(busy.clone()));
    let held: Vec<_> = (0..4)
        .map(|_| {
            let pinned = pinned.clone();
            tokio::spawn(async move { pinned.hold().await })
        })
        .collect();
    let behavior = lab.nodes[0].behavior.clone();
    wait_until(DEADLINE, || async {
        behavior.held.load(Ordering::SeqCst) == 4
    })
    .await
    .expect("four calls held on the busy server");
    assert_eq!(lab.cluster.snapshot().servers[&busy].in_flight, 4);

    let seen = lab.tally(200, || pick(client.clone())).await;
    assert_eq!(seen[busy.as_str()], 0, "{seen:?}");
    // Ties between the idle servers are broken at random.
    assert!(
        seen[lab.addr(1).as_str()] > 0 && seen[lab.addr(2).as_str()] > 0,
        "{seen:?}"
    );

    behavior.gate.add_permits(4);
    for h in held {
        assert_eq!(
            within("held call", h).await.expect("join").expect("call"),
            busy.as_str()
        );
    }
    assert_eq!(lab.cluster.snapshot().servers[&busy].in_flight, 0);
}

#[tokio::test]
async fn a_custom_grouping_function_sees_the_call_and_the_servers() {
    let lab = Lab::with_data(
        3,
        ClusterOptions::default(),
        |i| serde_json::json!({"rank": i}),
    )
    .await;
    lab.publish(Some(1));
    let client = lab.client();

    // Per method (`grouping = by_key`), decoding the arguments.
    for key in 0..6u64 {
        let who = client.keyed(key).await.expect("keyed");
        assert_eq!(who, lab.addr(key as usize % 3).as_str());
    }

    // Per call, as a closure; record what it saw.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let grouping = GroupingFn::new(move |input| {
        let views: Vec<_> = input
            .servers
            .iter()
            .map(|s| {
                (
                    s.addr.clone(),
                    s.data["rank"].clone(),
                    s.leader,
                    s.connected,
                    s.in_flight,
                )
            })
            .collect();
        let args = input.args::<(u64,)>().ok();
        record.lock().expect("lock").push((
            input.namespace.to_owned(),
            input.function.to_owned(),
            args,
            views,
        ));
        Selection::Many(input.servers.iter().rev().map(|s| s.addr.clone()).collect())
    });
    let custom = client
        .clone()
        .with_options(CallOptions::new().grouping(Grouping::Custom(grouping)));
    // Several servers: called concurrently, results in the order the function gave.
    let joined = custom.all_joined().await.expect("custom fan-out");
    let mut expected: Vec<String> = lab.addrs().iter().map(|a| a.to_string()).collect();
    assert_eq!(joined, expected.join(","));
    let vec = custom.all_vec().await.expect("custom fan-out, vector");
    expected.reverse();
    assert_eq!(vec, expected);
    let who = custom
        .keyed(7)
        .await
        .expect("single results from several servers");
    assert_eq!(
        who,
        lab.addr(2).as_str(),
        "single: the first in target order"
    );

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3);
    let (ns, function, args, views) = &seen[2];
    assert_eq!(
        (ns.as_str(), function.as_str(), *args),
        (NS, "keyed", Some((7,)))
    );
    let expected_views: Vec<_> = (0..3)
        .map(|i| (lab.addr(i), serde_json::json!(i), i == 1, true, 0))
        .collect();
    assert_eq!(views, &expected_views);

    // Deferring to a built-in mode.
    let to_leader = GroupingFn::new(|_| Selection::Mode(Grouping::Leader));
    let custom = client
        .clone()
        .with_options(CallOptions::new().grouping(Grouping::Custom(to_leader)));
    assert_eq!(custom.whoami().await.expect("leader"), lab.addr(1).as_str());

    // Choosing nothing is `Unavailable`; choosing a stranger is a configuration error.
    let nobody = GroupingFn::new(|_| Selection::Many(Vec::new()));
    let custom = client
        .clone()
        .with_options(CallOptions::new().grouping(Grouping::Custom(nobody)));
    assert_eq!(custom.maybe().await.expect("unavailable value"), "nobody");
    let stranger = GroupingFn::new(|_| Selection::One(ServerAddr::from("10.9.9.9:1")));
    let custom = client
        .clone()
        .with_options(CallOptions::new().grouping(Grouping::Custom(stranger)));
    let err = custom.whoami().await.expect_err("stranger");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn results_are_shaped_with_real_servers() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let addrs: Vec<String> = lab.addrs().iter().map(|a| a.to_string()).collect();

    assert_eq!(client.all_single().await.expect("single"), addrs[0]);
    assert_eq!(client.all_vec().await.expect("vector"), addrs);
    let map = client.all_map().await.expect("map");
    assert_eq!(
        map.keys().cloned().collect::<Vec<_>>(),
        addrs,
        "keys are advertised addresses"
    );
    assert!(
        map.iter().all(|(k, v)| k == v),
        "each key maps to that server's answer: {map:?}"
    );
    let () = client.all_nil().await.expect("nil");
    assert_eq!(
        client.all_joined().await.expect("custom merge"),
        addrs.join(",")
    );
    let calls: usize = lab.nodes.iter().map(|n| n.behavior.calls()).sum();
    assert_eq!(calls, 15, "every call reached all three servers");

    // Application errors are values, per server.
    lab.nodes[1].behavior.refuse.store(true, Ordering::SeqCst);
    let map = client.all_try().await.expect("transport");
    assert_eq!(map[&addrs[0]], Ok(addrs[0].clone()));
    assert_eq!(map[&addrs[1]], Err(format!("{} refuses", addrs[1])));
}

#[tokio::test]
async fn per_call_beats_per_method_beats_per_cluster() {
    let options = ClusterOptions::default()
        .grouping(Grouping::First)
        .timeout(Duration::from_millis(200));
    let lab = Lab::start(3, options).await;
    lab.publish(Some(2));
    let client = lab.client();

    // Grouping: the cluster's default where the method sets none...
    let seen = lab.tally(9, || client.whoami()).await;
    assert_eq!(seen[lab.addr(0).as_str()], 9, "{seen:?}");
    // ...the method's own otherwise...
    let seen = lab.tally(9, || client.round_robin()).await;
    assert!(seen.values().all(|n| *n == 3), "{seen:?}");
    // ...and the call's over both.
    let to_leader = client
        .clone()
        .with_options(CallOptions::new().grouping(Grouping::Leader));
    assert_eq!(
        to_leader.round_robin().await.expect("leader"),
        lab.addr(2).as_str()
    );
    assert_eq!(
        to_leader.whoami().await.expect("leader"),
        lab.addr(2).as_str()
    );

    // Timeout: the cluster's 200 ms where the method sets none...
    let err = client.nap(1000).await.expect_err("cluster timeout");
    assert!(timed_out(&err, Duration::from_millis(200)), "{err}");
    // ...the method's 5 s otherwise...
    assert_eq!(
        client.long_nap(400).await.expect("method timeout"),
        lab.addr(0).as_str()
    );
    // ...and the call's over both.
    let patient = client
        .clone()
        .with_options(CallOptions::new().timeout(Duration::from_secs(5)));
    assert_eq!(
        patient.nap(400).await.expect("call timeout"),
        lab.addr(0).as_str()
    );
    let hasty = client
        .clone()
        .with_options(CallOptions::new().timeout(Duration::from_millis(100)));
    let err = hasty.long_nap(1000).await.expect_err("call timeout");
    assert!(timed_out(&err, Duration::from_millis(100)), "{err}");
}

#[tokio::test]
async fn membership_changes_steer_routing() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let (a, b, c) = (lab.addr(0), lab.addr(1), lab.addr(2));

    // Insert of a known server updates its data and keeps its connection.
    lab.cluster.apply(Change::Insert(
        a.clone(),
        ServerInfo {
            data: serde_json::json!({"v": 2}),
        },
    ));
    let view = lab.cluster.snapshot();
    assert_eq!(view.servers[&a].data, serde_json::json!({"v": 2}));
    assert_eq!(view.servers[&a].state, ConnState::Connected);
    assert_eq!(
        view.namespaces[NS],
        NamespaceRoute {
            servers: vec![a.clone(), b.clone(), c.clone()],
            leader: None
        }
    );

    // Remove: forgotten, never routed to even though the namespace still lists it.
    lab.cluster.apply(Change::Remove(a.clone()));
    assert!(!lab.cluster.snapshot().servers.contains_key(&a));
    let seen = lab.tally(60, || client.round_robin()).await;
    assert_eq!(seen[a.as_str()], 0, "{seen:?}");
    assert_eq!((seen[b.as_str()], seen[c.as_str()]), (30, 30), "{seen:?}");

    // A namespace list naming only unknown servers, or none: unavailable.
    lab.cluster.apply(Change::Namespace {
        namespace: NS.into(),
        servers: vec![a.clone()],
        leader: None,
    });
    let err = client.whoami().await.expect_err("only a removed server");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    lab.cluster.apply(Change::Namespace {
        namespace: NS.into(),
        servers: vec![],
        leader: None,
    });
    assert_eq!(client.maybe().await.expect("unavailable value"), "nobody");

    // Re-inserted: a fresh connection, routed to again.
    lab.cluster.apply(Change::Insert(
        a.clone(),
        ServerInfo {
            data: serde_json::Value::Null,
        },
    ));
    lab.publish(None);
    lab.wait_state(&a, ConnState::Connected).await;
    let seen = lab.tally(30, || client.round_robin()).await;
    assert_eq!(seen[a.as_str()], 10, "{seen:?}");
}

#[tokio::test]
async fn a_server_back_from_the_dead_is_routed_to_again() {
    let options = ClusterOptions::default()
        .client(ClientOptions::default().reconnect_max(Duration::from_millis(200)));
    let mut lab = Lab::start(3, options).await;
    let client = lab.client();
    let dead = lab.addr(1);
    lab.nodes[1].kill();
    wait_until(DEADLINE, || async {
        !lab.cluster.routable(NS).contains(&dead)
    })
    .await
    .expect("the dead server leaves routing");
    let seen = lab.tally(30, || client.round_robin()).await;
    assert_eq!(seen[dead.as_str()], 0, "{seen:?}");

    // Same address again: the persistent client reconnects and routing takes it back.
    let behavior = lab.nodes[1].behavior.clone();
    lab.nodes[1] = Node::start(dead.as_str(), behavior).await;
    lab.wait_state(&dead, ConnState::Connected).await;
    let seen = lab.tally(30, || client.round_robin()).await;
    assert_eq!(seen[dead.as_str()], 10, "{seen:?}");
}

#[tokio::test]
async fn when_every_connection_is_down_the_error_is_a_connection_error() {
    let mut lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    for node in &mut lab.nodes {
        node.kill();
    }
    for addr in lab.addrs() {
        let cluster = &lab.cluster;
        wait_until(DEADLINE, || async {
            cluster.snapshot().servers[&addr].state != ConnState::Connected
        })
        .await
        .expect("every connection is down");
    }
    let err = client.random().await.expect_err("down");
    assert!(matches!(err, Error::Connection { .. }), "{err}");
    let err = client
        .count_idempotent()
        .await
        .expect_err("down everywhere");
    match err {
        Error::Grouped {
            attempted,
            failures,
        } => {
            assert_eq!(attempted, 3, "one attempt per server");
            assert!(failures
                .iter()
                .all(|(_, e)| matches!(e, Error::Connection { .. })));
        }
        other => panic!("expected every server's failure, got {other}"),
    }
}

#[tokio::test]
async fn call_by_name_returns_every_server_result() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    lab.nodes[2].behavior.fail.store(true, Ordering::SeqCst);
    let results = lab
        .cluster
        .call_by_name(
            NS,
            "nap",
            serde_json::json!([1]),
            CallOptions::new().grouping(Grouping::All),
        )
        .await
        .expect("call");
    let servers: Vec<_> = results.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(servers, lab.addrs());
    for (server, result) in &results[..2] {
        assert_eq!(
            result.as_ref().expect("answer"),
            &serde_json::json!(server.as_str())
        );
    }
    let err = results[2].1.as_ref().expect_err("asked to fail");
    assert_eq!(
        err.code(),
        Some(slacker_core::ResultCode::HandlerPanicked),
        "{err}"
    );

    let one = lab
        .cluster
        .call_by_name(
            NS,
            "whoami",
            serde_json::Value::Null,
            CallOptions::new().server(lab.addr(1)),
        )
        .await
        .expect("pinned");
    assert_eq!(one.len(), 1);
    assert_eq!(
        one[0].1.as_ref().expect("answer"),
        &serde_json::json!(lab.addr(1).as_str())
    );

    let err = lab
        .cluster
        .call_by_name(
            "nobody.here",
            "f",
            serde_json::Value::Null,
            CallOptions::new(),
        )
        .await
        .expect_err("no such namespace");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}
