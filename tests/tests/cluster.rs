//! The cluster end to end: `ClusterServer`s registered in a real ZooKeeper, a `ClusterClient`
//! routing calls of the example API to them under steady load. Joins and leaves reach routing,
//! a graceful stop fails no call, a SIGKILLed server process leaves routing (at once by its lost
//! connection, later by its session), a server whose session expired comes back, and a
//! namespace without servers is `Unavailable`.
//!
//! Latencies are printed (run with `--nocapture`), never asserted.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use slacker_core::{Call, CallOptions, Caller, ContentType, Error, FunctionDesc, ServerAddr};
use slacker_examples::cluster_api::{Example, ExampleApiClient, ExampleApiServer};
use slacker_tests::cluster::{cluster_client, example_server};
use slacker_tests::{wait_for, wait_until, Load, LocalZooKeeper, Proxy, TestProcess, DEADLINE};
use slacker_zk::{ClusterClient, ClusterServer};

const NS: &str = "slacker.example.api";

/// Workers calling the example API in a loop: `whoami`, or `slow(slow_ms)` when non-zero.
fn load(api: &ExampleApiClient<ClusterClient>, workers: usize, slow_ms: u64) -> Load {
    let api = api.clone();
    Load::start(workers, move || {
        let api = api.clone();
        async move {
            if slow_ms > 0 {
                api.slow(slow_ms).await
            } else {
                api.whoami().await
            }
        }
    })
}

/// Registration -> first call routed there; deregistration -> last call routed there.
#[tokio::test]
async fn join_and_leave_reach_routing_under_load() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = example_server("joinleave", &connect, 0).await;
    let b = example_server("joinleave", &connect, 0).await;
    let cluster = cluster_client("joinleave", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    // Routed at once: discovery's first full read is applied before connect returns.
    api.whoami().await.expect("first call right after connect");
    let load = load(&api, 4, 0);
    load.advance(200).await;
    assert!(load.seen(a.addr()).count > 0 && load.seen(b.addr()).count > 0);

    let c = example_server("joinleave", &connect, 0).await;
    let registered = Instant::now();
    let first = wait_for(DEADLINE, || async { load.seen(c.addr()).first })
        .await
        .expect("calls reach the new server");
    eprintln!(
        "join: registered -> first call routed there: {:?}",
        first - registered
    );

    c.registration().offline().await.expect("offline");
    let offline = Instant::now();
    wait_until(DEADLINE, || async {
        !cluster.routable(NS).contains(c.addr())
    })
    .await
    .expect("routing drops it");
    let dropped = Instant::now();
    load.advance(300).await;
    let last = load.seen(c.addr()).last.expect("it had calls");
    assert!(
        last <= dropped,
        "a call started after the drop was routed there"
    );
    eprintln!(
        "leave: offline done -> last call routed there: {:?}",
        last.saturating_duration_since(offline)
    );
    let failures = load.stop().await.failures;
    assert!(failures.is_empty(), "{failures:?}");
    for s in [a, b, c] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

#[tokio::test]
async fn graceful_stop_under_steady_load_fails_no_call() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = example_server("graceful", &connect, 0).await;
    let b = example_server("graceful", &connect, 0).await;
    let c = example_server("graceful", &connect, 0).await;
    let cluster = cluster_client("graceful", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    wait_until(DEADLINE, || async { cluster.routable(NS).len() == 3 })
        .await
        .expect("3 servers connected");
    // Slow calls, so some are in flight on the stopping server when it stops.
    let load = load(&api, 12, 20);
    load.advance(300).await;
    let stopped = b.addr().clone();
    assert!(load.seen(&stopped).count > 0);
    let start = Instant::now();
    b.shutdown(Duration::from_secs(10))
        .await
        .expect("graceful stop");
    eprintln!("graceful stop took {:?}", start.elapsed());
    let done = Instant::now();
    load.advance(300).await;
    let last = load.seen(&stopped).last.expect("calls reached it");
    let failures = load.stop().await.failures;
    assert!(
        failures.is_empty(),
        "failed calls during a graceful stop: {failures:?}"
    );
    assert!(last <= done, "a call was answered by a stopped server");
    let membership = cluster.membership().borrow().clone();
    assert!(!membership.servers.contains_key(&stopped));
    for s in [a, c] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

/// A server process is SIGKILLed: its lost connection takes it out of routing at once, its
/// expired session takes it out of the membership, and calls keep succeeding elsewhere.
#[tokio::test]
async fn killed_server_leaves_routing() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = example_server("killed", &connect, 0).await;
    let mut process = TestProcess::example(
        "cluster_server",
        [
            "--zk",
            &connect,
            "--cluster",
            "killed",
            "--bind",
            "127.0.0.1",
            "--session-timeout-ms",
            "4000",
        ],
    )
    .await
    .expect("cluster_server process");
    let line = process
        .wait_for_line(DEADLINE, |l| l.starts_with("registered "))
        .await
        .expect("registered");
    let victim = ServerAddr::from(line.trim_start_matches("registered ").trim());
    let cluster = cluster_client("killed", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    let load = load(&api, 4, 0);
    wait_until(DEADLINE, || async { load.seen(&victim).count > 0 })
        .await
        .expect("calls reach the process");

    process.kill().await.expect("SIGKILL");
    let killed = Instant::now();
    wait_until(DEADLINE, || async {
        !cluster.routable(NS).contains(&victim)
    })
    .await
    .expect("out of routing by connection loss");
    let by_connection = killed.elapsed();
    let failed = load.failures().len();
    wait_until(DEADLINE, || async {
        !cluster.membership().borrow().servers.contains_key(&victim)
    })
    .await
    .expect("out of the membership by session expiry");
    let by_session = killed.elapsed();
    load.advance(300).await;
    let failures = load.stop().await.failures;
    eprintln!(
        "SIGKILL: out of routing after {by_connection:?} (connection loss), out of the membership \
         after {by_session:?} (session timeout 4 s); {failed} calls in flight failed"
    );
    assert_eq!(
        failures.len(),
        failed,
        "no failures once out of routing: {failures:?}"
    );
    assert!(
        failures.iter().all(|f| f.contains(victim.as_str())),
        "{failures:?}"
    );
    a.shutdown(Duration::from_secs(5)).await.expect("shutdown");
}

/// `cluster_server` stops gracefully on SIGTERM: no call fails, and it exits 0.
#[tokio::test]
async fn server_process_sigterm_fails_no_call() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = example_server("sigterm", &connect, 0).await;
    let mut process = TestProcess::example(
        "cluster_server",
        [
            "--zk",
            &connect,
            "--cluster",
            "sigterm",
            "--bind",
            "127.0.0.1",
        ],
    )
    .await
    .expect("cluster_server process");
    let line = process
        .wait_for_line(DEADLINE, |l| l.starts_with("registered "))
        .await
        .expect("registered");
    let stopping = ServerAddr::from(line.trim_start_matches("registered ").trim());
    let cluster = cluster_client("sigterm", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    let load = load(&api, 8, 20);
    wait_until(DEADLINE, || async { load.seen(&stopping).count > 0 })
        .await
        .expect("calls reach the process");
    process.terminate().await.expect("SIGTERM");
    let status = process.wait(DEADLINE).await.expect("exited");
    assert!(status.success(), "{}", process.output_tail());
    assert!(process.stdout_lines().iter().any(|l| l == "stopped"));
    load.advance(200).await;
    let failures = load.stop().await.failures;
    assert!(failures.is_empty(), "{failures:?}");
    a.shutdown(Duration::from_secs(5)).await.expect("shutdown");
}

/// The server's ZooKeeper connection is cut until its session expires: clients drop it, then it
/// re-registers (with its current server-data) in a new session and calls reach it again.
#[tokio::test]
async fn server_session_expiry_and_comeback() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let proxy = Proxy::start(zk.addr()).await.expect("proxy");
    let a = example_server("comeback", &connect, 0).await;
    let b = example_server("comeback", &proxy.addr().to_string(), 0).await;
    let cluster = cluster_client("comeback", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    let load = load(&api, 2, 0);
    wait_until(DEADLINE, || async { load.seen(b.addr()).count > 0 })
        .await
        .expect("calls reach b");

    proxy.reset();
    let _ = b.registration().set_server_data(json!({"epoch": 2})).await;
    wait_until(DEADLINE, || async {
        !cluster.membership().borrow().servers.contains_key(b.addr())
    })
    .await
    .expect("b's session expired");
    let dropped = Instant::now();
    load.advance(200).await;
    let last = load.seen(b.addr()).last.expect("b had calls");
    assert!(
        last <= dropped,
        "a call started after b left was routed to it"
    );
    let count = load.seen(b.addr()).count;

    proxy.pass();
    let healed = Instant::now();
    wait_until(DEADLINE, || async { load.seen(b.addr()).count > count })
        .await
        .expect("calls reach b again");
    eprintln!(
        "server comeback: heal -> calls routed to it again: {:?}",
        healed.elapsed()
    );
    assert_eq!(cluster.server_data(b.addr()), Some(json!({"epoch": 2})));
    let failures = load.stop().await.failures;
    assert!(failures.is_empty(), "{failures:?}");
    for s in [a, b] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

#[tokio::test]
async fn namespace_without_servers_is_unavailable() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let cluster = cluster_client("empty", &connect).await;
    let call = |namespace: &'static str| Call {
        namespace: Cow::Borrowed(namespace),
        function: Cow::Borrowed("whoami"),
        method: None,
        content_type: ContentType::MessagePack,
        payload: Bytes::new(),
        options: CallOptions::default(),
    };
    match cluster.call(call("never.registered")).await {
        Err(Error::Unavailable { namespace }) => assert_eq!(namespace, "never.registered"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let a = example_server("empty", &connect, 0).await;
    let api = ExampleApiClient::new(cluster.clone());
    wait_until(DEADLINE, || async { api.whoami().await.is_ok() })
        .await
        .expect("served");
    a.registration().offline().await.expect("offline");
    wait_until(DEADLINE, || async { cluster.routable(NS).is_empty() })
        .await
        .expect("no server left");
    match cluster.call(call(NS)).await {
        Err(Error::Unavailable { namespace }) => assert_eq!(namespace, NS),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    a.shutdown(Duration::from_secs(5)).await.expect("shutdown");
}

/// A server whose connection breaks leaves routing at once and comes back when the connection
/// recovers, while it stays registered. The server announces a fault proxy's address, so the
/// client's only way to it goes through the proxy.
#[tokio::test]
async fn broken_connection_leaves_routing_and_comes_back() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = example_server("conn", &connect, 0).await;
    // Bind first to learn the port, then put a proxy in front of it and announce the proxy.
    let api_b = Example::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let proxy = Proxy::start(([127, 0, 0, 1], port).into())
        .await
        .expect("proxy");
    let b = ClusterServer::builder("conn", &connect)
        .service(ExampleApiServer::new(api_b.clone()))
        .advertise(proxy.addr().to_string())
        .bind(("127.0.0.1", port))
        .await
        .expect("b");
    api_b.set_addr(b.addr().to_string());
    let cluster = cluster_client("conn", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    let load = load(&api, 2, 0);
    wait_until(DEADLINE, || async { load.seen(b.addr()).count > 0 })
        .await
        .expect("calls reach b through the proxy");

    proxy.reset();
    let cut = Instant::now();
    wait_until(DEADLINE, || async {
        !cluster.routable(NS).contains(b.addr())
    })
    .await
    .expect("b out of routing");
    eprintln!("connection reset -> out of routing: {:?}", cut.elapsed());
    let failed = load.failures().len();
    load.advance(200).await;
    assert_eq!(
        load.failures().len(),
        failed,
        "no failures once out of routing"
    );
    assert!(
        cluster.membership().borrow().servers.contains_key(b.addr()),
        "still registered"
    );

    proxy.pass();
    let healed = Instant::now();
    let count = load.seen(b.addr()).count;
    wait_until(DEADLINE, || async { load.seen(b.addr()).count > count })
        .await
        .expect("b back in routing");
    eprintln!(
        "connection healed -> calls routed to it again: {:?}",
        healed.elapsed()
    );
    let failures = load.stop().await.failures;
    assert!(
        failures.iter().all(|f| f.contains(b.addr().as_str())),
        "{failures:?}"
    );
    for s in [a, b] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

/// The ZooKeeper ensemble loses its leader: calls keep flowing without a failure, and a server
/// that joins afterwards gets calls.
#[tokio::test]
async fn ensemble_member_killed_calls_continue() {
    let mut ensemble = LocalZooKeeper::ensemble(3).await.expect("ensemble");
    let connect = ensemble.connect_string();
    let a = example_server("ensemble", &connect, 0).await;
    let b = example_server("ensemble", &connect, 0).await;
    let cluster = cluster_client("ensemble", &connect).await;
    let api = ExampleApiClient::new(cluster.clone());
    let load = load(&api, 4, 0);
    load.advance(200).await;

    let leader = ensemble.leader_index().await.expect("leader");
    ensemble
        .kill(leader)
        .await
        .expect("killed the ZooKeeper leader");
    load.advance(200).await;
    let c = example_server("ensemble", &connect, 0).await;
    wait_until(DEADLINE, || async { load.seen(c.addr()).count > 0 })
        .await
        .expect("a server joining after the kill gets calls");
    let failures = load.stop().await.failures;
    assert!(failures.is_empty(), "{failures:?}");
    for s in [a, b, c] {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}

/// The cluster-level inspect: a namespace's functions as its servers registered them in
/// ZooKeeper (`functions/<ns>/`), read by the client without calling any server.
#[tokio::test]
async fn a_namespaces_functions_come_from_zookeeper() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let server = example_server("inspect", &connect, 0).await;
    let cluster = cluster_client("inspect", &connect).await;
    let functions = cluster.functions(NS).await.expect("functions");
    let service = ExampleApiServer::new(Example::new());
    let mut expected: Vec<FunctionDesc> = slacker_core::NamespaceService::info(&service)
        .methods
        .iter()
        .map(|m| m.describe())
        .collect();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!expected.is_empty());
    assert_eq!(functions, expected);
    assert!(cluster
        .functions("no.such.namespace")
        .await
        .expect("an unknown namespace has none")
        .is_empty());
    server.shutdown(Duration::from_secs(2)).await.expect("stop");
}
