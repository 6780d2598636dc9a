//! Server registration against a real ZooKeeper, read back by kazoo (an independent client):
//! the node layout, server-data and online/offline changes, replacing a stale registration, and
//! re-registration from *current* state after a forced session expiry.

use std::time::{Duration, Instant};

use serde_json::json;
use slacker_core::{FunctionDesc, NamespaceInfo, ServerAddr};
use slacker_tests::lab::{LAB, LAB_METHODS};
use slacker_tests::{wait_for, wait_until, Kazoo, LocalZooKeeper, Proxy, DEADLINE};
use slacker_zk::{Registration, RegistryOptions, ZkState};

static OTHER: NamespaceInfo = NamespaceInfo {
    name: "test.other",
    doc: "",
    methods: &[],
};

fn options(cluster: &str, connect: &str) -> RegistryOptions {
    let mut o = RegistryOptions::new(cluster, connect);
    o.zk.session_timeout = Duration::from_secs(4);
    o
}

#[tokio::test]
async fn layout_read_back_by_kazoo() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let addr = ServerAddr::from("127.0.0.1:7101");
    let mut opts = options("layout", &format!("{}/chrooted", zk.connect_string()));
    opts.server_data = json!({"zone": "a", "weight": 3});
    let reg = Registration::start(opts, addr.clone(), &[&LAB, &OTHER])
        .await
        .expect("registered");
    let base = "/chrooted/slacker/cluster/layout";
    let session = reg.state().borrow().session_id;

    // The leader node is written by the election winner, asynchronously.
    wait_until(DEADLINE, || async {
        let node = kazoo.node(&format!("{base}/namespaces/lab/_leader")).await;
        node.ok()
            .flatten()
            .is_some_and(|n| n.data == b"127.0.0.1:7101")
    })
    .await
    .expect("leader written");

    let tree = kazoo.tree(base).await.expect("kazoo");
    let node = |p: &str| {
        tree.get(&format!("{base}/{p}"))
            .unwrap_or_else(|| panic!("missing {p}: {tree:#?}"))
    };

    let server = node("servers/127.0.0.1:7101");
    assert_eq!(server.ephemeral_owner, session);
    assert_eq!(
        server.data_json::<serde_json::Value>().expect("json"),
        json!({"zone": "a", "weight": 3})
    );
    for ns in ["lab", "test.other"] {
        assert!(!node(&format!("namespaces/{ns}")).is_ephemeral());
        let member = node(&format!("namespaces/{ns}/127.0.0.1:7101"));
        assert_eq!(member.ephemeral_owner, session);
        assert!(member.data.is_empty());
        assert!(!node(&format!("namespaces/{ns}/_leader")).is_ephemeral());
        let mutex = node(&format!("namespaces/{ns}/_leader/mutex"));
        assert_eq!(
            mutex.children.len(),
            1,
            "one election participant: {mutex:?}"
        );
        let lock = &mutex.children[0];
        assert!(
            lock.starts_with("_c_") && lock.contains("-lock-"),
            "Curator lock name: {lock}"
        );
        let lock = node(&format!("namespaces/{ns}/_leader/mutex/{lock}"));
        assert_eq!(lock.data, b"127.0.0.1:7101");
        assert_eq!(lock.ephemeral_owner, session);
    }
    let desc: FunctionDesc = node("functions/lab/add").data_json().expect("json");
    assert_eq!(desc, LAB_METHODS[0].describe());
    assert!(!node("functions/lab/add").is_ephemeral());

    reg.close().await.expect("deregistered");
    let servers = kazoo
        .children(&format!("{base}/servers"))
        .await
        .expect("kazoo");
    assert_eq!(servers, Some(vec![]));
    let members = kazoo
        .children(&format!("{base}/namespaces/lab"))
        .await
        .expect("kazoo");
    assert_eq!(members, Some(vec!["_leader".to_owned()]));
}

#[tokio::test]
async fn server_data_and_offline_online() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let reg = Registration::start(
        options("onoff", &zk.connect_string()),
        ServerAddr::from("127.0.0.1:7102"),
        &[&LAB, &OTHER],
    )
    .await
    .expect("registered");
    let base = "/slacker/cluster/onoff";
    let server = format!("{base}/servers/127.0.0.1:7102");
    let echo = format!("{base}/namespaces/lab/127.0.0.1:7102");
    let other = format!("{base}/namespaces/test.other/127.0.0.1:7102");

    let node = kazoo
        .node(&server)
        .await
        .expect("kazoo")
        .expect("server node");
    assert_eq!(node.data, b"null");
    reg.set_server_data(json!({"v": 2})).await.expect("set");
    let node = kazoo
        .node(&server)
        .await
        .expect("kazoo")
        .expect("server node");
    assert_eq!(
        node.data_json::<serde_json::Value>().expect("json"),
        json!({"v": 2})
    );
    assert_eq!(reg.server_data(), json!({"v": 2}));

    reg.offline_ns("lab").await.expect("offline_ns");
    assert!(kazoo.node(&echo).await.expect("kazoo").is_none());
    assert!(kazoo.node(&other).await.expect("kazoo").is_some());
    assert!(
        kazoo.node(&server).await.expect("kazoo").is_some(),
        "server stays registered"
    );
    assert!(reg.offline_ns("no.such.ns").await.is_err());

    reg.offline().await.expect("offline");
    assert!(kazoo.node(&other).await.expect("kazoo").is_none());
    reg.online().await.expect("online");
    assert!(kazoo.node(&echo).await.expect("kazoo").is_some());
    assert!(kazoo.node(&other).await.expect("kazoo").is_some());
    let state = reg.state().borrow().clone();
    assert!(state.in_sync);
    assert!(state.namespaces.values().all(|online| *online));
}

/// A restarted server at the same address replaces the nodes its previous incarnation's
/// still-live session left, instead of failing or leaving a duplicate.
#[tokio::test]
async fn stale_registration_is_replaced() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let addr = ServerAddr::from("127.0.0.1:7103");
    let old = Registration::start(
        options("stale", &zk.connect_string()),
        addr.clone(),
        &[&LAB],
    )
    .await
    .expect("old incarnation");
    let new = Registration::start(
        options("stale", &zk.connect_string()),
        addr.clone(),
        &[&LAB],
    )
    .await
    .expect("new incarnation");
    let new_session = new.state().borrow().session_id;
    assert_ne!(old.state().borrow().session_id, new_session);
    let base = "/slacker/cluster/stale";
    for path in [
        format!("{base}/servers/127.0.0.1:7103"),
        format!("{base}/namespaces/lab/127.0.0.1:7103"),
    ] {
        let node = kazoo.node(&path).await.expect("kazoo").expect("node");
        assert_eq!(node.ephemeral_owner, new_session, "{path}");
    }
    // The old incarnation going away must not take the new registration with it.
    old.close().await.expect("old closed");
    let node = kazoo
        .node(&format!("{base}/servers/127.0.0.1:7103"))
        .await
        .expect("kazoo");
    assert_eq!(node.map(|n| n.ephemeral_owner), Some(new_session));
}

/// The ZooKeeper connection is cut until the session expires. Changes made meanwhile (new
/// server-data, a namespace taken offline) are what the new session registers.
#[tokio::test]
async fn expiry_reregisters_current_state() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let proxy = Proxy::start(zk.addr()).await.expect("proxy");
    let reg = Registration::start(
        options("expiry", &proxy.addr().to_string()),
        ServerAddr::from("127.0.0.1:7104"),
        &[&LAB, &OTHER],
    )
    .await
    .expect("registered");
    let first_session = reg.state().borrow().session_id;
    let base = "/slacker/cluster/expiry";
    let server = format!("{base}/servers/127.0.0.1:7104");

    proxy.reset();
    let cut = Instant::now();
    // Stored as current state, not yet written.
    assert!(reg.set_server_data(json!({"v": "new"})).await.is_err());
    assert!(reg.offline_ns("test.other").await.is_err());
    wait_until(DEADLINE, || async {
        kazoo.node(&server).await.ok().flatten().is_none()
    })
    .await
    .expect("ZooKeeper expired the session");
    eprintln!("server-side expiry after {:?}", cut.elapsed());
    wait_until(DEADLINE, || async {
        let s = reg.state().borrow().clone();
        s.zk == ZkState::Expired || s.sessions > 1
    })
    .await
    .expect("client saw the expiry");
    proxy.pass();
    let healed = Instant::now();
    let state = wait_for(DEADLINE, || async {
        let s = reg.state().borrow().clone();
        (s.sessions == 2 && s.in_sync).then_some(s)
    })
    .await
    .expect("re-registered in a new session");
    eprintln!("re-registered {:?} after the heal", healed.elapsed());
    assert_ne!(state.session_id, first_session);

    let node = kazoo
        .node(&server)
        .await
        .expect("kazoo")
        .expect("server node back");
    assert_eq!(node.ephemeral_owner, state.session_id);
    assert_eq!(
        node.data_json::<serde_json::Value>().expect("json"),
        json!({"v": "new"})
    );
    let echo = kazoo
        .node(&format!("{base}/namespaces/lab/127.0.0.1:7104"))
        .await
        .expect("kazoo")
        .expect("online namespace back");
    assert_eq!(echo.ephemeral_owner, state.session_id);
    let other = kazoo
        .node(&format!("{base}/namespaces/test.other/127.0.0.1:7104"))
        .await
        .expect("kazoo");
    assert!(
        other.is_none(),
        "an offline namespace must not come back (phantom)"
    );
    // Rejoined the election of the online namespace only, with one lock node.
    wait_until(DEADLINE, || async {
        let mutex = kazoo
            .children(&format!("{base}/namespaces/lab/_leader/mutex"))
            .await;
        mutex.ok().flatten().is_some_and(|c| c.len() == 1)
    })
    .await
    .expect("one election participant");
    let other_mutex = kazoo
        .children(&format!("{base}/namespaces/test.other/_leader/mutex"))
        .await
        .expect("kazoo");
    assert_eq!(other_mutex, Some(vec![]));
}

/// Closing a registration whose session ZooKeeper has just expired succeeds: the expiry already
/// deleted its ephemerals, so there is nothing left to deregister (it used to fail with
/// `SessionExpired` from the first read of the deregistration).
#[tokio::test]
async fn close_after_the_session_expired_succeeds() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let proxy = Proxy::start(zk.addr()).await.expect("proxy");
    let reg = Registration::start(
        options("closed-expired", &proxy.addr().to_string()),
        ServerAddr::from("127.0.0.1:7105"),
        &[&LAB],
    )
    .await
    .expect("registered");
    let server = "/slacker/cluster/closed-expired/servers/127.0.0.1:7105";
    assert!(kazoo.node(server).await.expect("kazoo").is_some());

    proxy.reset();
    wait_until(DEADLINE, || async {
        reg.state().borrow().zk == ZkState::Expired
    })
    .await
    .expect("the client saw its session expire");
    reg.close()
        .await
        .expect("closing an expired registration succeeds");
    assert!(kazoo.node(server).await.expect("kazoo").is_none());
    let ns = "/slacker/cluster/closed-expired/namespaces/lab/127.0.0.1:7105";
    assert!(kazoo.node(ns).await.expect("kazoo").is_none());
}

/// A ZooKeeper restart within the session timeout loses nothing: same session, same nodes.
#[tokio::test]
async fn zookeeper_restart_within_session_loses_nothing() {
    let mut zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let mut opts = options("restart", &zk.connect_string());
    opts.zk.session_timeout = Duration::from_secs(20);
    let reg = Registration::start(opts, ServerAddr::from("127.0.0.1:7105"), &[&LAB])
        .await
        .expect("registered");
    let session = reg.state().borrow().session_id;
    zk.restart().await.expect("restarted");
    wait_until(DEADLINE, || async {
        reg.state().borrow().zk == ZkState::Connected
    })
    .await
    .expect("reconnected");
    // Still the first session, and a server-data change after the restart is written (retried
    // while the client may still be reconnecting).
    wait_until(DEADLINE, || async {
        reg.set_server_data(json!(1)).await.is_ok()
    })
    .await
    .expect("set after restart");
    let s = reg.state().borrow().clone();
    assert_eq!((s.sessions, s.session_id), (1, session));
    let node = kazoo
        .node("/slacker/cluster/restart/servers/127.0.0.1:7105")
        .await
        .expect("kazoo")
        .expect("server node kept");
    assert_eq!(node.ephemeral_owner, session);
    assert_eq!(node.data, b"1");
}

/// ZooKeeper down for longer than the client waits for a session (1.4x its timeout), then back
/// with its data: the restarted server restored the session with a fresh timeout, so the
/// registration resumes it instead of opening a new one. Its nodes were never gone (same
/// owner), and its election node keeps its place: the leader is the same node, not a new one
/// queued at the back.
#[tokio::test]
async fn a_session_given_up_while_zookeeper_was_down_is_resumed() {
    let mut zk = LocalZooKeeper::start().await.expect("zookeeper");
    let kazoo = Kazoo::new(zk.connect_string());
    let addr = ServerAddr::from("127.0.0.1:7106");
    let reg = Registration::start(options("resume", &zk.connect_string()), addr, &[&LAB])
        .await
        .expect("registered");
    let session = reg.state().borrow().session_id;
    let mutex = "/slacker/cluster/resume/namespaces/lab/_leader/mutex";
    wait_until(DEADLINE, || async { reg.leading().contains("lab") })
        .await
        .expect("leads its namespace");
    let queue = kazoo.children(mutex).await.expect("kazoo").expect("mutex");
    assert_eq!(queue.len(), 1, "{queue:?}");

    zk.stop().await.expect("stopped");
    let mut state = reg.state();
    tokio::time::timeout(DEADLINE, state.wait_for(|s| s.zk == ZkState::Expired))
        .await
        .expect("the client gave the session up")
        .expect("registration running");
    zk.restart().await.expect("restarted");
    tokio::time::timeout(
        DEADLINE,
        state.wait_for(|s| s.zk == ZkState::Connected && s.in_sync),
    )
    .await
    .expect("registered again")
    .expect("registration running");
    let s = reg.state().borrow().clone();
    assert_eq!((s.session_id, s.sessions), (session, 1), "the same session");
    let node = kazoo
        .node("/slacker/cluster/resume/servers/127.0.0.1:7106")
        .await
        .expect("kazoo")
        .expect("server node");
    assert_eq!(node.ephemeral_owner, session);
    wait_until(DEADLINE, || async { reg.leading().contains("lab") })
        .await
        .expect("leads again");
    let after = kazoo.children(mutex).await.expect("kazoo").expect("mutex");
    assert_eq!(after, queue, "the election node kept its place");
}
