//! The manager namespace against a real ZooKeeper and real cluster servers: offline/online under
//! a steady call stream, offline surviving a session expiry, server-data changes reaching
//! clients, shutdown draining an in-flight call, and the secret/loopback protection.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use slacker_core::{
    remote, Client, ClientOptions, Error, Grouping, GroupingInput, ResultCode, Selection,
};
use slacker_tests::{wait_for, wait_until, Load, LocalZooKeeper, Proxy, DEADLINE};
use slacker_zk::manager::{self, ManagerError, NAMESPACE};
use slacker_zk::{ClusterClient, ClusterOptions, ClusterServer};
use tokio::sync::watch;

const NS: &str = "mgr.who";

/// Tells callers which server answered.
#[remote(namespace = "mgr.who")]
pub trait Who {
    /// The answering server's address.
    async fn whoami(&self) -> String;
    /// Answers once the test opens the gate.
    async fn slow(&self) -> String;
}

#[derive(Clone)]
struct WhoImpl {
    addr: Arc<OnceLock<String>>,
    gate: watch::Receiver<bool>,
}

impl Who for WhoImpl {
    async fn whoami(&self) -> String {
        self.addr.get().cloned().unwrap_or_default()
    }
    async fn slow(&self) -> String {
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
        self.addr.get().cloned().unwrap_or_default()
    }
}

/// A cluster server with the manager on, and the sender that opens its `slow` gate.
async fn server(
    connect: &str,
    cluster: &str,
    secret: Option<&str>,
) -> (ClusterServer, watch::Sender<bool>) {
    let (gate_tx, gate) = watch::channel(false);
    let who = WhoImpl {
        addr: Arc::new(OnceLock::new()),
        gate,
    };
    let mut builder = ClusterServer::builder(cluster, connect)
        .service(WhoServer::new(who.clone()))
        .manager(true)
        .session_timeout(Duration::from_secs(4));
    if let Some(secret) = secret {
        builder = builder.manager_secret(secret);
    }
    let server = builder.bind("127.0.0.1:0").await.expect("cluster server");
    let _ = who.addr.set(server.addr().to_string());
    (server, gate_tx)
}

async fn cluster_client(connect: &str, cluster: &str) -> ClusterClient {
    ClusterClient::connect(cluster, connect, ClusterOptions::default())
        .await
        .expect("cluster client")
}

async fn routable_count(client: &ClusterClient, n: usize) {
    wait_until(DEADLINE, || async { client.routable(NS).len() == n })
        .await
        .expect("servers routable");
}

fn leader(client: &ClusterClient) -> Option<slacker_core::ServerAddr> {
    client
        .membership()
        .borrow()
        .namespaces
        .get(NS)
        .and_then(|ns| ns.leader.clone())
}

/// Four callers, each calling `whoami` in a loop until stopped.
fn call_stream(client: &ClusterClient) -> Load {
    let stub = WhoClient::new(client.clone());
    Load::start(4, move || {
        let stub = stub.clone();
        async move { stub.whoami().await }
    })
}

#[tokio::test]
async fn offline_and_online_under_a_steady_call_stream() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let (a, _gate_a) = server(&connect, "steady", None).await;
    let (b, _gate_b) = server(&connect, "steady", None).await;
    let client = cluster_client(&connect, "steady").await;
    routable_count(&client, 2).await;
    let stream = call_stream(&client);
    wait_until(DEADLINE, || async { stream.answers_after(0).len() >= 100 })
        .await
        .expect("calls flowing");

    let m = manager::connect(a.addr().clone(), None, ClientOptions::default())
        .await
        .expect("manager of a");
    let started = Instant::now();
    m.offline().await.expect("call").expect("offline");
    wait_until(DEADLINE, || async {
        !client.routable(NS).contains(a.addr())
    })
    .await
    .expect("the client stops listing a");
    // Every call that starts from now on must go to b.
    let cutoff = stream.next_seq();
    let routed_away = started.elapsed();
    wait_until(DEADLINE, || async {
        stream.answers_after(cutoff).len() >= 200
    })
    .await
    .expect("calls keep flowing while a is offline");
    let after: Vec<String> = stream.answers_after(cutoff);
    assert!(
        after.iter().all(|s| s == b.addr().as_str()),
        "a call started after the view dropped a still went to a"
    );
    // a keeps serving direct calls while offline.
    let direct = Client::connect(a.local_addr(), ClientOptions::default())
        .await
        .expect("direct");
    assert_eq!(
        WhoClient::new(direct).whoami().await.expect("direct call"),
        a.addr().as_str()
    );
    assert!(!a.registration().state().borrow().namespaces[NS]);

    // Offline released a's leadership (if it had it): b leads.
    wait_until(DEADLINE, || async {
        leader(&client).as_ref() == Some(b.addr())
    })
    .await
    .expect("b leads while a is offline");

    m.online().await.expect("call").expect("online");
    wait_until(DEADLINE, || async {
        client.routable(NS).contains(a.addr())
    })
    .await
    .expect("a listed again");
    let back = stream.next_seq();
    wait_until(DEADLINE, || async {
        stream
            .answers_after(back)
            .iter()
            .any(|s| s == a.addr().as_str())
    })
    .await
    .expect("calls reach a again");

    // Online requeued a in the election: with b offline, a leads.
    let mb = manager::connect(b.addr().clone(), None, ClientOptions::default())
        .await
        .expect("manager of b");
    mb.offline_ns(NS.into())
        .await
        .expect("call")
        .expect("offline b");
    wait_until(DEADLINE, || async {
        leader(&client).as_ref() == Some(a.addr())
    })
    .await
    .expect("a leads once b is offline");
    mb.online_ns(NS.into())
        .await
        .expect("call")
        .expect("online b");
    routable_count(&client, 2).await;

    let total = stream.answered();
    let failures = stream.stop().await.failures;
    eprintln!(
        "offline took {routed_away:?} to leave the client's routing; {total} calls, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    b.shutdown(Duration::from_secs(5)).await.expect("stop b");
    a.shutdown(Duration::from_secs(5)).await.expect("stop a");
}

#[tokio::test]
async fn offline_survives_a_session_expiry() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let proxy = Proxy::start(zk.addr()).await.expect("proxy");
    let (a, _gate) = server(&proxy.addr().to_string(), "expiry", None).await;
    let observer = cluster_client(&zk.connect_string(), "expiry").await;
    routable_count(&observer, 1).await;
    let first_session = a.registration().state().borrow().session_id;

    let m = manager::connect(a.addr().clone(), None, ClientOptions::default())
        .await
        .expect("manager");
    m.offline().await.expect("call").expect("offline");
    routable_count(&observer, 0).await;

    // Cut the server's ZooKeeper connection until ZooKeeper expires its session.
    proxy.reset();
    wait_until(DEADLINE, || async {
        !observer
            .membership()
            .borrow()
            .servers
            .contains_key(a.addr())
    })
    .await
    .expect("ZooKeeper expired the session (servers/<addr> gone)");
    // The server learns of the expiry when it reaches ZooKeeper again.
    proxy.pass();
    wait_until(DEADLINE, || async {
        let s = a.registration().state().borrow().clone();
        s.sessions == 2 && s.in_sync
    })
    .await
    .expect("re-registered in a new session");
    assert_ne!(a.registration().state().borrow().session_id, first_session);
    wait_until(DEADLINE, || async {
        observer
            .membership()
            .borrow()
            .servers
            .contains_key(a.addr())
    })
    .await
    .expect("servers/<addr> back");
    // Back in servers/, but still offline: in no namespace.
    assert!(observer.membership().borrow().servers_of(NS).is_empty());
    assert!(observer.routable(NS).is_empty());

    // The manager connection is direct, so it survived; online brings it back.
    m.online().await.expect("call").expect("online");
    routable_count(&observer, 1).await;
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
}

#[tokio::test]
async fn set_server_data_reaches_clients() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let (a, _gate) = server(&connect, "data", None).await;
    let client = cluster_client(&connect, "data").await;
    routable_count(&client, 1).await;
    let mut changes = Box::pin(client.server_data_changes());

    let m = manager::connect(a.addr().clone(), None, ClientOptions::default())
        .await
        .expect("manager");
    assert_eq!(m.server_data().await.expect("call"), json!(null));
    m.set_server_data(json!({"zone": "b", "weight": 5}))
        .await
        .expect("call")
        .expect("set");
    let (server, data) = tokio::time::timeout(DEADLINE, changes.next())
        .await
        .expect("a change in time")
        .expect("a change");
    assert_eq!(&server, a.addr());
    assert_eq!(data, json!({"zone": "b", "weight": 5}));
    assert_eq!(client.server_data(a.addr()), Some(data.clone()));
    assert_eq!(m.server_data().await.expect("call"), data);
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
}

#[tokio::test]
async fn shutdown_replies_then_drains_an_in_flight_call() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let (a, gate) = server(&connect, "drain", None).await;
    let addr = a.addr().clone();
    let local = a.local_addr();
    let client = cluster_client(&connect, "drain").await;
    routable_count(&client, 1).await;

    let direct = Client::connect(local, ClientOptions::default())
        .await
        .expect("direct");
    let slow = tokio::spawn(async move { WhoClient::new(direct).slow().await });
    wait_until(DEADLINE, || async { a.in_flight() == 1 })
        .await
        .expect("the slow call is running");

    let m = manager::connect(addr.clone(), None, ClientOptions::default())
        .await
        .expect("manager");
    m.shutdown()
        .await
        .expect("call")
        .expect("shutdown accepted");
    let replied = Instant::now();
    // Deregistered first, while the slow call is still running.
    routable_count(&client, 0).await;
    eprintln!(
        "left the client's routing {:?} after the shutdown reply",
        replied.elapsed()
    );
    assert!(!slow.is_finished());
    gate.send_replace(true);
    let answer = tokio::time::timeout(DEADLINE, slow)
        .await
        .expect("the slow call finished")
        .expect("task");
    assert_eq!(answer.expect("the in-flight call completed"), addr.as_str());
    tokio::time::timeout(DEADLINE, a.stopped())
        .await
        .expect("the server stopped");
    wait_until(DEADLINE, || async {
        !client.membership().borrow().servers.contains_key(&addr)
    })
    .await
    .expect("servers/<addr> removed");
    assert!(
        Client::connect(local, ClientOptions::default())
            .await
            .is_err(),
        "the port is closed"
    );
    // shutdown() after the manager's stop returns once it is done.
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
}

fn unauthorized<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(e) => assert_eq!(e.code(), Some(ResultCode::Unauthorized), "{e}"),
        Ok(v) => panic!("expected Unauthorized, got {v:?}"),
    }
}

#[tokio::test]
async fn manager_calls_need_the_secret() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let (a, _gate) = server(&connect, "auth", Some("s3cret")).await;
    let addr = a.addr().clone();
    let client = cluster_client(&connect, "auth").await;
    routable_count(&client, 1).await;

    let none = manager::connect(addr.clone(), None, ClientOptions::default())
        .await
        .expect("connect");
    unauthorized(none.offline().await);
    unauthorized(none.server_data().await);
    let wrong = manager::connect(addr.clone(), Some("s3creT"), ClientOptions::default())
        .await
        .expect("connect");
    unauthorized(wrong.shutdown().await);
    unauthorized(wrong.set_server_data(json!(1)).await);
    // Refused calls changed nothing.
    assert_eq!(client.routable(NS), vec![addr.clone()]);
    assert_eq!(a.registration().server_data(), json!(null));

    // Application calls need no secret.
    let app = Client::connect(a.local_addr(), ClientOptions::default())
        .await
        .expect("direct");
    assert_eq!(
        WhoClient::new(app).whoami().await.expect("app call"),
        addr.as_str()
    );

    let right = manager::connect(addr.clone(), Some("s3cret"), ClientOptions::default())
        .await
        .expect("connect");
    assert_eq!(
        right.offline_ns("no.such".into()).await.expect("call"),
        Err(ManagerError::UnknownNamespace("no.such".into()))
    );
    right
        .offline_ns(NS.into())
        .await
        .expect("call")
        .expect("offline");
    routable_count(&client, 0).await;
    right
        .online_ns(NS.into())
        .await
        .expect("call")
        .expect("online");
    routable_count(&client, 1).await;
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
}

#[tokio::test]
async fn loopback_needs_no_secret_and_the_manager_is_off_by_default() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    // No secret configured: loopback callers are allowed (with or without a secret).
    let (a, _gate) = server(&connect, "loopback", None).await;
    let m = manager::connect(a.addr().clone(), Some("anything"), ClientOptions::default())
        .await
        .expect("connect");
    m.set_server_data(json!({"x": 1}))
        .await
        .expect("call")
        .expect("set");

    // Without .manager(true) the namespace does not exist.
    let plain = ClusterServer::builder("loopback", &connect)
        .service(WhoServer::new(WhoImpl {
            addr: Arc::new(OnceLock::new()),
            gate: watch::channel(false).1,
        }))
        .bind("127.0.0.1:0")
        .await
        .expect("plain server");
    let m2 = manager::connect(plain.addr().clone(), None, ClientOptions::default())
        .await
        .expect("connect");
    let err = m2.offline().await.expect_err("no manager");
    assert_eq!(err.code(), Some(ResultCode::UnknownNamespace), "{err}");

    // The manager is never announced as a namespace.
    let client = cluster_client(&connect, "loopback").await;
    let membership = wait_for(DEADLINE, || async {
        let m = client.membership().borrow().clone();
        (m.servers_of(NS).len() == 2).then_some(m)
    })
    .await
    .expect("both servers listed");
    assert!(!membership.namespaces.contains_key(NAMESPACE));
    assert_eq!(membership.servers.get(a.addr()), Some(&json!({"x": 1})));
    plain.shutdown(Duration::from_secs(5)).await.expect("stop");
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
}

/// A custom grouping: the server whose server-data says `{"pick": true}`, else any.
fn picked(input: &GroupingInput<'_>) -> Selection {
    match input.servers.iter().find(|s| s.data["pick"] == json!(true)) {
        Some(s) => Selection::One(s.addr.clone()),
        None => Selection::Mode(Grouping::Random),
    }
}

/// The same answer as `Who::whoami`, routed by [`picked`].
#[remote(namespace = "mgr.who")]
pub trait Picked {
    /// The answering server's address.
    #[remote(grouping = picked)]
    async fn whoami(&self) -> String;
}

#[tokio::test]
async fn set_server_data_steers_a_custom_grouping() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let (a, _gate_a) = server(&connect, "steer", None).await;
    let (b, _gate_b) = server(&connect, "steer", None).await;
    let client = cluster_client(&connect, "steer").await;
    routable_count(&client, 2).await;
    let stub = PickedClient::new(client.clone());
    for (target, other) in [(&a, &b), (&b, &a)] {
        let m = manager::connect(target.addr().clone(), None, ClientOptions::default())
            .await
            .expect("manager");
        m.set_server_data(json!({"pick": true}))
            .await
            .expect("call")
            .expect("set");
        let mo = manager::connect(other.addr().clone(), None, ClientOptions::default())
            .await
            .expect("manager");
        mo.set_server_data(json!({"pick": false}))
            .await
            .expect("call")
            .expect("set");
        // Once the client's view has both changes, every call goes to the picked server.
        wait_until(DEADLINE, || async {
            client.server_data(target.addr()) == Some(json!({"pick": true}))
                && client.server_data(other.addr()) == Some(json!({"pick": false}))
        })
        .await
        .expect("the client sees the new server-data");
        // Routing applies the change right after the view: wait for a call to land there.
        wait_until(DEADLINE, || async {
            stub.whoami().await.ok().as_deref() == Some(target.addr().as_str())
        })
        .await
        .expect("calls reach the picked server");
        for _ in 0..20 {
            assert_eq!(stub.whoami().await.expect("call"), target.addr().as_str());
        }
    }
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
    b.shutdown(Duration::from_secs(5)).await.expect("stop");
}
