//! Grouping end to end on ZooKeeper: `ClusterServer`s registered in a real ZooKeeper, a
//! `ClusterClient` whose routing is fed by discovery. `all` + `map` reaches every registered
//! server keyed by its advertised address, `weighted` follows server-data changes, and
//! `leader` follows the election (never a former leader). The grouping logic itself is tested
//! without ZooKeeper in `in_process/grouping.rs` and `in_process/group_failures.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use slacker_core::{remote, ServerAddr};
use slacker_tests::cluster::cluster_client;
use slacker_tests::{wait_for, wait_until, LocalZooKeeper, DEADLINE};
use slacker_zk::{ClusterClient, ClusterServer};

const NS: &str = "test.zk.grouping";

#[remote(namespace = "test.zk.grouping")]
pub trait Who {
    /// The answering server's advertised address.
    async fn whoami(&self) -> String;
    #[remote(grouping = all, grouping_results = map)]
    async fn everyone(&self) -> String;
    #[remote(grouping = leader)]
    async fn leader(&self) -> String;
    #[remote(grouping = weighted)]
    async fn weighted(&self) -> String;
}

#[derive(Clone, Default)]
struct Me(Arc<OnceLock<String>>);

impl Who for Me {
    async fn whoami(&self) -> String {
        self.0.get().cloned().unwrap_or_default()
    }
    async fn everyone(&self) -> String {
        self.whoami().await
    }
    async fn leader(&self) -> String {
        self.whoami().await
    }
    async fn weighted(&self) -> String {
        self.whoami().await
    }
}

async fn server(cluster: &str, connect: &str, data: serde_json::Value) -> ClusterServer {
    let me = Me::default();
    let server = ClusterServer::builder(cluster, connect)
        .service(WhoServer::new(me.clone()))
        .server_data(data)
        .session_timeout(Duration::from_secs(4))
        .bind("127.0.0.1:0")
        .await
        .expect("cluster server");
    let _ = me.0.set(server.addr().to_string());
    server
}

async fn tally(who: &WhoClient<ClusterClient>, calls: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..calls {
        *seen
            .entry(who.weighted().await.expect("weighted"))
            .or_default() += 1;
    }
    seen
}

#[tokio::test]
async fn all_and_weighted_follow_the_registry() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = server("groups", &connect, json!({"weight": 0})).await;
    let b = server("groups", &connect, json!({"weight": 1})).await;
    let c = server("groups", &connect, json!(null)).await;
    let cluster = cluster_client("groups", &connect).await;
    let who = WhoClient::new(cluster.clone());
    wait_until(DEADLINE, || async { cluster.routable(NS).len() == 3 })
        .await
        .expect("3 servers connected");

    let map = who.everyone().await.expect("all");
    let mut expected: Vec<String> = [&a, &b, &c].iter().map(|s| s.addr().to_string()).collect();
    expected.sort();
    assert_eq!(
        map.keys().cloned().collect::<Vec<_>>(),
        expected,
        "keyed by advertised address"
    );
    assert!(map.iter().all(|(k, v)| k == v), "{map:?}");

    let seen = tally(&who, 300).await;
    assert_eq!(
        seen.get(a.addr().as_str()),
        None,
        "weight 0: never chosen: {seen:?}"
    );
    assert!(seen.contains_key(b.addr().as_str()) && seen.contains_key(c.addr().as_str()));

    // A server-data change reaches routing.
    a.registration()
        .set_server_data(json!({"weight": 5}))
        .await
        .expect("set server data");
    wait_until(DEADLINE, || async {
        cluster
            .snapshot()
            .servers
            .get(a.addr())
            .map(|s| s.data.clone())
            == Some(json!({"weight": 5}))
    })
    .await
    .expect("new weight in routing");
    let seen = tally(&who, 300).await;
    assert!(
        seen.get(a.addr().as_str()).copied().unwrap_or(0) > 150,
        "weight 5 of 7: {seen:?}"
    );

    // A server that leaves is no longer part of `all`.
    let gone = c.addr().clone();
    c.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    wait_until(DEADLINE, || async {
        !cluster.snapshot().servers.contains_key(&gone)
    })
    .await
    .expect("routing forgets it");
    let map = who.everyone().await.expect("all");
    assert_eq!(map.len(), 2, "{map:?}");
    assert!(!map.contains_key(gone.as_str()));

    cluster.close().await;
    for s in [a, b] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

#[tokio::test]
async fn leader_grouping_follows_the_election() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(server("leaders", &connect, json!(null)).await);
    }
    let cluster = cluster_client("leaders", &connect).await;
    let who = WhoClient::new(cluster.clone());
    let leader_in_routing = |cluster: &ClusterClient| -> Option<ServerAddr> {
        cluster
            .snapshot()
            .namespaces
            .get(NS)
            .and_then(|r| r.leader.clone())
    };
    let first = wait_for(DEADLINE, || async { leader_in_routing(&cluster) })
        .await
        .expect("a leader is elected");
    for _ in 0..20 {
        assert_eq!(who.leader().await.expect("leader"), first.as_str());
    }

    // The leader leaves: calls go to the next one, never to the former.
    let i = servers
        .iter()
        .position(|s| *s.addr() == first)
        .expect("leader is ours");
    servers
        .remove(i)
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
    let second = wait_for(DEADLINE, || async {
        leader_in_routing(&cluster).filter(|l| *l != first)
    })
    .await
    .expect("a new leader is elected");
    for _ in 0..20 {
        assert_eq!(who.leader().await.expect("new leader"), second.as_str());
    }

    cluster.close().await;
    for s in servers {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}
