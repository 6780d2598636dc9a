//! When multi-server calls fail: `grouping_exceptions` (all, any, custom) with real failing
//! servers, the partial-failure side channel, `unavailable_value`, fan-out bounded by the
//! deadline, and failover (idempotent methods move to another server on connection loss,
//! others only when the request provably never ran).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slacker_core::cluster::{Cluster, ClusterOptions, PartialFailure};
use slacker_core::{CallOptions, Error, Grouping, ResultCode};
use slacker_tests::cluster_lab::{timed_out, Lab, NS};
use slacker_tests::{wait_until, within, DEADLINE};
use tokio::sync::broadcast;

fn panicked(e: &Error) -> bool {
    e.code() == Some(ResultCode::HandlerPanicked)
}

async fn next_partial(rx: &mut broadcast::Receiver<PartialFailure>) -> PartialFailure {
    within("a partial failure", rx.recv())
        .await
        .expect("partial failure")
}

#[tokio::test]
async fn under_all_partial_failures_succeed_and_are_published() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let mut partial = lab.cluster.partial_failures();
    lab.nodes[1].behavior.fail.store(true, Ordering::SeqCst);

    let got = client.all_vec().await.expect("two of three answered");
    assert_eq!(got, [lab.addr(0).to_string(), lab.addr(2).to_string()]);
    let report = next_partial(&mut partial).await;
    assert_eq!(
        (report.namespace.as_str(), report.function.as_str()),
        (NS, "all_vec")
    );
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].0, lab.addr(1));
    assert!(panicked(&report.failures[0].1), "{}", report.failures[0].1);

    let map = client.all_map().await.expect("map of survivors");
    assert_eq!(map.len(), 2);
    assert!(!map.contains_key(lab.addr(1).as_str()));
    assert_eq!(next_partial(&mut partial).await.function, "all_map");

    // Every server failed: the call fails, listing each.
    for node in &lab.nodes {
        node.behavior.fail.store(true, Ordering::SeqCst);
    }
    match client.all_vec().await {
        Err(Error::Grouped {
            attempted,
            failures,
        }) => {
            assert_eq!(attempted, 3);
            let servers: Vec<_> = failures.iter().map(|(s, _)| s.clone()).collect();
            assert_eq!(servers, lab.addrs());
            assert!(failures.iter().all(|(_, e)| panicked(e)));
        }
        other => panic!("expected a grouped error, got {other:?}"),
    }
    assert!(
        partial.try_recv().is_err(),
        "a failed call is not a partial failure"
    );
}

#[tokio::test]
async fn under_any_one_failure_fails_the_call() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    assert_eq!(client.all_any().await.expect("all up").len(), 3);
    lab.nodes[2].behavior.fail.store(true, Ordering::SeqCst);
    match client.all_any().await {
        Err(Error::Grouped {
            attempted,
            failures,
        }) => {
            assert_eq!((attempted, failures.len()), (3, 1));
            assert_eq!(failures[0].0, lab.addr(2));
        }
        other => panic!("expected a grouped error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_custom_exceptions_policy_decides() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let mut partial = lab.cluster.partial_failures();
    lab.nodes[0].behavior.fail.store(true, Ordering::SeqCst);
    let got = client
        .all_tolerant()
        .await
        .expect("one failure is tolerated");
    assert_eq!(got, [lab.addr(1).to_string(), lab.addr(2).to_string()]);
    assert_eq!(next_partial(&mut partial).await.failures[0].0, lab.addr(0));

    lab.nodes[1].behavior.fail.store(true, Ordering::SeqCst);
    let err = client.all_tolerant().await.expect_err("two are not");
    assert!(
        matches!(&err, Error::Grouped { attempted: 3, failures } if failures.len() == 2),
        "{err}"
    );
}

#[tokio::test]
async fn unavailable_value_stands_in_when_no_server_offers_the_namespace() {
    let cluster = Cluster::new(ClusterOptions::default());
    let client = slacker_tests::cluster_lab::ProbeClient::new(cluster.clone());
    assert_eq!(client.maybe().await.expect("unavailable value"), "nobody");
    let err = client.whoami().await.expect_err("no unavailable value");
    assert!(
        matches!(&err, Error::Unavailable { namespace } if namespace == NS),
        "{err}"
    );
    let err = client
        .all_vec()
        .await
        .expect_err("no server for all either");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");

    // Other errors are not replaced: a real server that fails.
    let lab = Lab::start(1, ClusterOptions::default()).await;
    lab.nodes[0].behavior.fail.store(true, Ordering::SeqCst);
    let err = lab.client().maybe().await.expect_err("a real failure");
    assert!(panicked(&err), "{err}");
}

/// A caller retrying in a tight loop while no server is available (each call fails at once,
/// before any I/O) must still let the other tasks on its thread run: on a current-thread
/// runtime they include the ZooKeeper session that would bring the servers back. Found as a
/// 2-minute stall of discovery after a ZooKeeper restart under load.
#[tokio::test(flavor = "current_thread")]
async fn a_retry_loop_on_unavailable_calls_does_not_starve_its_thread() {
    const BOUND: usize = 1_000_000;
    let cluster = Cluster::new(ClusterOptions::default());
    let client = slacker_tests::cluster_lab::ProbeClient::new(cluster.clone());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let worker = tokio::spawn({
        let (stop, calls) = (stop.clone(), calls.clone());
        async move {
            while !stop.load(Ordering::SeqCst) && calls.load(Ordering::SeqCst) < BOUND {
                let err = client.whoami().await.expect_err("no server");
                assert!(matches!(err, Error::Unavailable { .. }), "{err}");
                calls.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    // Another task on the same thread: it runs (and stops the loop) only if the loop yields.
    let bystander = tokio::spawn({
        let (stop, calls) = (stop.clone(), calls.clone());
        async move {
            stop.store(true, Ordering::SeqCst);
            calls.load(Ordering::SeqCst)
        }
    });
    let seen = bystander.await.expect("bystander");
    worker.await.expect("worker");
    assert!(
        seen < BOUND,
        "the bystander ran only after the loop's {BOUND} calls had all been made"
    );
}

#[tokio::test]
async fn fan_out_is_bounded_by_the_deadline() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let mut partial = lab.cluster.partial_failures();
    let slow = lab.addr(1);
    lab.nodes[1]
        .behavior
        .delay_ms
        .store(60_000, Ordering::SeqCst);

    let hasty = client
        .clone()
        .with_options(CallOptions::new().timeout(Duration::from_millis(300)));
    let map = within("a fan-out with a slow server", hasty.all_map())
        .await
        .expect("two answered");
    let keys: Vec<_> = map.keys().cloned().collect();
    assert_eq!(keys, [lab.addr(0).to_string(), lab.addr(2).to_string()]);
    let report = next_partial(&mut partial).await;
    assert_eq!(report.failures.len(), 1);
    let (server, err) = &report.failures[0];
    assert_eq!(server, &slow);
    assert!(
        timed_out(err, Duration::from_millis(300)) && err.server() == Some(&slow),
        "{err}"
    );

    // The slow server's abandoned call was canceled: nothing stays pending on it.
    let cluster = &lab.cluster;
    wait_until(DEADLINE, || async {
        cluster.snapshot().servers[&slow].in_flight == 0
    })
    .await
    .expect("the slow call is no longer pending");
}

/// Holds one call on the first sorted server, kills that server while the call runs, and
/// returns the call's outcome.
async fn kill_during(method: &'static str) -> (Lab, Result<String, Error>) {
    let mut lab = Lab::start(3, ClusterOptions::default()).await;
    let first = lab
        .client()
        .with_options(CallOptions::new().grouping(Grouping::First));
    let call = tokio::spawn(async move {
        match method {
            "hold" => first.hold().await,
            _ => first.hold_idempotent().await,
        }
    });
    let behavior = lab.nodes[0].behavior.clone();
    wait_until(DEADLINE, || async {
        behavior.held.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the call is running on the first server");
    // The next servers would answer at once.
    for node in &lab.nodes[1..] {
        node.behavior.gate.add_permits(1);
    }
    lab.nodes[0].kill();
    let result = within("the call ends", call).await.expect("join");
    (lab, result)
}

#[tokio::test]
async fn an_idempotent_call_fails_over_when_its_server_dies() {
    let (lab, result) = kill_during("hold_idempotent").await;
    assert_eq!(result.expect("failed over"), lab.addr(1).as_str());
    assert_eq!(lab.nodes[1].behavior.calls(), 1);
    assert_eq!(lab.nodes[2].behavior.calls(), 0);
}

#[tokio::test]
async fn a_non_idempotent_call_is_not_retried_after_it_may_have_run() {
    let (lab, result) = kill_during("hold").await;
    let err = result.expect_err("connection lost");
    assert!(
        matches!(&err, Error::Connection { server, .. } if *server == lab.addr(0)),
        "{err}"
    );
    assert_eq!(
        lab.nodes[1].behavior.calls() + lab.nodes[2].behavior.calls(),
        0
    );
}

#[tokio::test]
async fn any_call_is_retried_when_the_request_provably_never_ran() {
    let mut lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    let mut partial = lab.cluster.partial_failures();
    let draining = lab.addr(0);
    // Hold a call so that a graceful shutdown of the first server keeps draining.
    let pinned = client
        .clone()
        .with_options(CallOptions::new().server(draining.clone()));
    let held = tokio::spawn(async move { pinned.hold().await });
    let behavior = lab.nodes[0].behavior.clone();
    wait_until(DEADLINE, || async {
        behavior.held.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("a call is held on the first server");
    let server = lab.nodes[0].server.take().expect("running");
    let shutdown = tokio::spawn(server.shutdown(Duration::from_secs(30)));

    // Pinned calls never move: they see the refusal itself.
    let pinned = client
        .clone()
        .with_options(CallOptions::new().server(draining.clone()));
    let cluster = lab.cluster.clone();
    let refused = within("the first server refuses new work", async {
        loop {
            match pinned.count().await {
                Err(e) if e.code() == Some(ResultCode::ShuttingDown) => break e,
                other => {
                    assert!(other.is_ok(), "unexpected {other:?}");
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await;
    assert!(refused.is_not_executed());
    assert!(
        cluster.routable(NS).contains(&draining),
        "still connected while draining"
    );

    // A non-idempotent call refused before it ran moves to the next server.
    let first = client
        .clone()
        .with_options(CallOptions::new().grouping(Grouping::First));
    let before = lab.nodes[0].behavior.calls();
    assert_eq!(first.count().await.expect("moved on"), lab.addr(1).as_str());
    assert_eq!(
        lab.nodes[0].behavior.calls(),
        before,
        "nothing ran on the draining server"
    );
    let report = next_partial(&mut partial).await;
    assert_eq!(report.function, "count");
    assert_eq!(report.failures[0].0, draining);
    assert!(report.failures[0].1.is_not_executed());

    behavior.gate.add_permits(1);
    assert_eq!(
        within("held call", held)
            .await
            .expect("join")
            .expect("drained"),
        draining.as_str()
    );
    within("shutdown", shutdown).await.expect("join");
}

#[tokio::test]
async fn idempotent_calls_survive_a_server_killed_mid_stream() {
    let mut lab = Lab::start(3, ClusterOptions::default()).await;
    let client = lab.client();
    const CALLS: usize = 600;
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut failed = Vec::new();
                for _ in 0..CALLS / 4 {
                    if let Err(e) = client.count_idempotent().await {
                        failed.push(e);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                failed
            })
        })
        .collect();
    wait_until(DEADLINE, || async {
        done.load(Ordering::SeqCst) >= CALLS / 3
    })
    .await
    .expect("a third of the calls are done");
    lab.nodes[1].kill();
    let mut failed = Vec::new();
    for w in workers {
        failed.extend(within("workers", w).await.expect("join"));
    }
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {}",
        failed.len(),
        failed[0]
    );
    let ran: usize = lab.nodes.iter().map(|n| n.behavior.calls()).sum();
    assert!(ran >= CALLS, "{ran} handler runs for {CALLS} calls");
}

/// Outlier ejection with the default policy: a server whose calls time out five times in a row
/// is taken out of single-server routing (the snapshot says so), a call still waiting on it
/// fails at once with a connection error naming the ejection instead of waiting for its own
/// 10 s timeout, and every later call goes to the healthy server. `all` still reaches it.
#[tokio::test]
async fn a_server_that_keeps_timing_out_is_ejected_and_its_calls_fail_at_once() {
    let lab = Lab::start(2, ClusterOptions::default()).await;
    lab.wait_connected().await;
    let (bad, good) = (lab.addr(0), lab.addr(1));
    lab.nodes[0]
        .behavior
        .delay_ms
        .store(60_000, Ordering::SeqCst);
    let pinned = lab
        .client()
        .with_options(CallOptions::new().server(bad.clone()));
    // A call with the default 10 s timeout, waiting on the bad server.
    let waiting = {
        let pinned = pinned.clone();
        tokio::spawn(async move { pinned.nap(0).await })
    };
    let cluster = &lab.cluster;
    wait_until(DEADLINE, || async {
        cluster.snapshot().servers[&bad].in_flight == 1
    })
    .await
    .expect("the long call is pending on the bad server");
    let hasty = pinned.with_options(
        CallOptions::new()
            .server(bad.clone())
            .timeout(Duration::from_millis(50)),
    );
    for _ in 0..5 {
        let e = hasty.nap(0).await.expect_err("times out");
        assert!(timed_out(&e, Duration::from_millis(50)), "{e}");
    }
    let status = lab.cluster.snapshot().servers[&bad].clone();
    assert!(status.ejected, "{status:?}");
    let failed = within("the waiting call fails at once", waiting)
        .await
        .expect("join");
    match failed {
        Err(Error::Connection { server, message }) => {
            assert_eq!(server, bad);
            assert!(message.contains("ejected"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let random = lab
        .client()
        .with_options(CallOptions::new().grouping(Grouping::Random));
    for _ in 0..50 {
        assert_eq!(random.whoami().await.expect("routed"), good.as_str());
    }
    let map = lab
        .client()
        .with_options(CallOptions::new().timeout(Duration::from_millis(100)))
        .all_map()
        .await
        .expect("all under the `all` policy");
    assert_eq!(map.keys().cloned().collect::<Vec<_>>(), [good.to_string()]);
}

/// The retry budget with the default policy: when every server fails every call with a
/// connection error, idempotent calls fail over on at most 20% of calls plus a floor of 10 per
/// second, not on every call (which would multiply the load by the number of servers).
#[tokio::test]
async fn failover_stays_within_the_retry_budget_in_a_brown_out() {
    let mut lab = Lab::start(
        3,
        ClusterOptions::default().ejection(slacker_core::cluster::OutlierEjection::disabled()),
    )
    .await;
    lab.wait_connected().await;
    for node in &mut lab.nodes {
        node.kill();
    }
    let client = lab.client();
    let calls = 500;
    let mut attempts = 0;
    let started = std::time::Instant::now();
    for _ in 0..calls {
        match client.count_idempotent().await {
            Err(Error::Grouped { attempted, .. }) => attempts += attempted,
            Err(_) => attempts += 1,
            Ok(v) => panic!("a dead cluster answered {v}"),
        }
    }
    let retries = attempts - calls;
    let allowed = calls / 5 + 10 * (started.elapsed().as_secs() as usize + 1) + 10;
    assert!(retries <= allowed, "{retries} retries for {calls} calls");
    assert!(retries > 0, "some calls still fail over");
}

/// Bad arguments would fail on every server: the call goes to exactly one and fails with
/// `BadArguments`. A function no server has is tried on a second server (a rolling deploy may
/// have it there) and the combined error still says `UnknownFunction`.
#[tokio::test]
async fn bad_arguments_never_fail_over_and_unknown_functions_keep_their_code() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    lab.wait_connected().await;
    let answers = lab
        .cluster
        .call_by_name(
            NS,
            "nap",
            serde_json::json!(["not a number"]),
            CallOptions::new(),
        )
        .await
        .expect("called");
    assert_eq!(answers.len(), 1, "one server only: {answers:?}");
    let (_, result) = &answers[0];
    let err = result.as_ref().expect_err("bad arguments");
    assert_eq!(err.code(), Some(ResultCode::BadArguments), "{err}");
    let served: usize = lab.nodes.iter().map(|n| n.behavior.calls()).sum();
    assert_eq!(served, 0, "no handler ran");

    let answers = lab
        .cluster
        .call_by_name(
            NS,
            "no_such_function",
            serde_json::json!([]),
            CallOptions::new(),
        )
        .await
        .expect("called");
    assert_eq!(answers.len(), 2, "tried once elsewhere: {answers:?}");
    let failures: Vec<_> = answers
        .into_iter()
        .map(|(s, r)| (s, r.expect_err("unknown everywhere")))
        .collect();
    let grouped = Error::Grouped {
        attempted: failures.len(),
        failures,
    };
    assert_eq!(grouped.code(), Some(ResultCode::UnknownFunction));
}
