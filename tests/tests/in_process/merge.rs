//! Merging several servers' replies under a client-wide [`MergePolicy`] and per-call options:
//! which `grouping_exceptions` wins (call > method > client > `all`), untyped calls shaped by
//! the call or by a results choice that looks at the arguments, and the before / after merge
//! hooks. Three real servers behind a hand-fed `Cluster`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use slacker_core::cluster::ClusterOptions;
use slacker_core::merge::MergePolicy;
use slacker_core::{CallOptions, Error, ExceptionsPolicy, Grouping, ResultsMode};
use slacker_tests::cluster_lab::{Lab, NS};

fn with_policy(merge: MergePolicy) -> ClusterOptions {
    ClusterOptions::default().merge(merge)
}

#[tokio::test]
async fn the_client_wide_exceptions_default_applies_to_methods_that_set_none() {
    let strict = Lab::start(
        3,
        with_policy(MergePolicy::new().exceptions(ExceptionsPolicy::Any)),
    )
    .await;
    strict.nodes[0].behavior.fail.store(true, Ordering::SeqCst);
    let client = strict.client();
    // `all_vec` sets no grouping_exceptions: the client's `any` applies.
    match client.all_vec().await {
        Err(Error::Grouped {
            attempted: 3,
            failures,
        }) => assert_eq!(failures.len(), 1),
        other => panic!("expected Grouped under the client's `any`, got {other:?}"),
    }
    // `all_tolerant` sets its own policy (at most one failure): the method wins.
    assert_eq!(
        client
            .all_tolerant()
            .await
            .expect("method policy wins")
            .len(),
        2
    );

    // Without a client-wide default, the same method tolerates the failure (`all`).
    let lenient = Lab::start(3, ClusterOptions::default()).await;
    lenient.nodes[0].behavior.fail.store(true, Ordering::SeqCst);
    assert_eq!(lenient.client().all_vec().await.expect("all").len(), 2);
}

#[tokio::test]
async fn per_call_exceptions_beat_the_method_and_the_client() {
    let lab = Lab::start(3, ClusterOptions::default()).await;
    lab.nodes[1].behavior.fail.store(true, Ordering::SeqCst);
    let any = lab
        .client()
        .with_options(CallOptions::new().exceptions(ExceptionsPolicy::Any));
    assert!(matches!(any.all_vec().await, Err(Error::Grouped { .. })));
    // `all_any` declares `any`; the call says `all`.
    let all = lab
        .client()
        .with_options(CallOptions::new().exceptions(ExceptionsPolicy::All));
    assert_eq!(
        all.all_any().await.expect("the call's policy wins").len(),
        2
    );
}

#[tokio::test]
async fn untyped_calls_are_shaped_by_the_call_else_by_the_clients_choice() {
    // The choice looks at the arguments: a non-zero nap comes back keyed by server.
    let choose = MergePolicy::new().results(|call| match call.args::<(u64,)>() {
        Ok((ms,)) if ms > 0 => ResultsMode::Map,
        _ => ResultsMode::Vector,
    });
    let lab = Lab::start(3, with_policy(choose)).await;
    let all = || CallOptions::new().grouping(Grouping::All);
    let addrs: Vec<String> = lab.addrs().iter().map(|a| a.to_string()).collect();

    let vector = lab
        .cluster
        .call_merged(NS, "nap", json!([0]), all())
        .await
        .expect("vector");
    assert_eq!(vector, json!(addrs));

    let map = lab
        .cluster
        .call_merged(NS, "nap", json!([1]), all())
        .await
        .expect("map");
    let expected: serde_json::Map<String, Value> =
        addrs.iter().map(|a| (a.clone(), json!(a))).collect();
    assert_eq!(map, Value::Object(expected));

    // The call's own shape beats the choice.
    let single = lab
        .cluster
        .call_merged(NS, "nap", json!([1]), all().results(ResultsMode::Single))
        .await
        .expect("single");
    assert_eq!(single, json!(addrs[0]));
    let nil = lab
        .cluster
        .call_merged(NS, "nap", json!([1]), all().results(ResultsMode::Nil))
        .await
        .expect("nil");
    assert_eq!(nil, Value::Null);
    assert!(matches!(
        lab.cluster
            .call_merged(NS, "nap", json!([1]), all().results(ResultsMode::Custom))
            .await,
        Err(Error::Config(_))
    ));
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    succeeded: usize,
    failed: usize,
    error: bool,
}

#[tokio::test]
async fn before_merge_reorders_replies_and_after_merge_sees_each_outcome() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let policy = MergePolicy::new()
        // The last server in target order first: a `single` method returns its answer.
        .before_merge(|_call, replies| replies.reverse())
        .after_merge(move |call, outcome| {
            assert_eq!(call.namespace, NS);
            record.lock().expect("lock").push(Seen {
                succeeded: outcome.succeeded.len(),
                failed: outcome.failed.len(),
                error: outcome.error.is_some(),
            });
        });
    let lab = Lab::start(3, with_policy(policy)).await;
    let client = lab.client();
    assert_eq!(
        client.all_single().await.expect("single"),
        lab.addr(2).to_string()
    );
    // A call that went to one server is merged too when a hook is set: the hook sees it.
    client.first().await.expect("first");

    lab.nodes[1].behavior.fail.store(true, Ordering::SeqCst);
    assert_eq!(client.all_vec().await.expect("partial").len(), 2);
    let strict = client.with_options(CallOptions::new().exceptions(ExceptionsPolicy::Any));
    assert!(strict.all_vec().await.is_err());

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![
            Seen {
                succeeded: 3,
                failed: 0,
                error: false
            },
            Seen {
                succeeded: 1,
                failed: 0,
                error: false
            },
            Seen {
                succeeded: 2,
                failed: 1,
                error: false
            },
            Seen {
                succeeded: 2,
                failed: 1,
                error: true
            },
        ]
    );
}
