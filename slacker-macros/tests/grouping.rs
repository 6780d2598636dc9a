//! Multi-server calls: a fake cluster caller returns one reply per in-process server, and the
//! generated stub shapes them per `grouping_results` and judges failures per
//! `grouping_exceptions`. Also `unavailable_value` and the options carried in `MethodInfo`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use slacker_core::{
    remote, Error, ExceptionsPolicy, GroupOutcome, Grouping, GroupingInput, ResultsMode, Selection,
    ServerAddr,
};
use support::{Fanout, Node};

fn largest(replies: Vec<(ServerAddr, u64)>) -> u64 {
    replies.into_iter().map(|(_, v)| v).max().unwrap_or(0)
}

fn at_most_one_failure(outcome: &GroupOutcome<'_>) -> Result<(), Error> {
    if outcome.failed.len() <= 1 {
        Ok(())
    } else {
        Err(Error::Config("too many failures".into()))
    }
}

fn pick_last(input: &GroupingInput<'_>) -> Selection {
    match input.servers.last() {
        Some(s) => Selection::One(s.addr.clone()),
        None => Selection::Mode(Grouping::Random),
    }
}

#[remote(namespace = "test.stats")]
pub trait Stats {
    /// Which server answered.
    async fn whoami(&self) -> String;

    #[remote(grouping = all, grouping_results = vector)]
    async fn load(&self) -> u64;

    #[remote(grouping = all, grouping_results = map, timeout_ms = 250)]
    async fn load_by_server(&self) -> u64;

    #[remote(grouping = all, grouping_results = nil, idempotent)]
    async fn flush(&self, reason: String);

    #[remote(grouping = all, grouping_results = largest, retries = 5)]
    async fn peak(&self) -> u64;

    #[remote(grouping = all, grouping_results = vector, grouping_exceptions = any)]
    async fn strict_load(&self) -> u64;

    #[remote(grouping = pick_last, grouping_results = vector,
             grouping_exceptions = at_most_one_failure)]
    async fn tolerant_load(&self) -> u64;

    #[remote(grouping = all, grouping_results = vector)]
    async fn try_load(&self) -> Result<u64, String>;

    #[remote(unavailable_value = u64::MAX)]
    async fn cached(&self) -> u64;

    #[remote(grouping = leader, unavailable_value = Ok(0))]
    async fn leader_load(&self) -> Result<u64, String>;

    #[remote(grouping = least_in_flight)]
    async fn a(&self);
    #[remote(grouping = round_robin)]
    async fn b(&self);
    #[remote(grouping = weighted)]
    async fn c(&self);
    #[remote(grouping = first)]
    async fn d(&self);
    #[remote(grouping = random)]
    async fn e(&self);
}

struct StatsImpl {
    name: String,
    load: u64,
}

impl Stats for StatsImpl {
    async fn whoami(&self) -> String {
        self.name.clone()
    }
    async fn load(&self) -> u64 {
        self.load
    }
    async fn load_by_server(&self) -> u64 {
        self.load
    }
    async fn flush(&self, _reason: String) {}
    async fn peak(&self) -> u64 {
        self.load
    }
    async fn strict_load(&self) -> u64 {
        self.load
    }
    async fn tolerant_load(&self) -> u64 {
        self.load
    }
    async fn try_load(&self) -> Result<u64, String> {
        if self.load == 0 {
            Err(format!("{} is idle", self.name))
        } else {
            Ok(self.load)
        }
    }
    async fn cached(&self) -> u64 {
        self.load
    }
    async fn leader_load(&self) -> Result<u64, String> {
        Ok(self.load)
    }
    async fn a(&self) {}
    async fn b(&self) {}
    async fn c(&self) {}
    async fn d(&self) {}
    async fn e(&self) {}
}

fn node(addr: &str, load: u64) -> Node {
    Node::up(
        addr,
        StatsServer::new(StatsImpl {
            name: addr.to_owned(),
            load,
        }),
    )
}

fn three_up() -> StatsClient<Fanout> {
    StatsClient::new(Fanout::new(vec![
        node("10.0.0.1:1", 5),
        node("10.0.0.2:1", 0),
        node("10.0.0.3:1", 7),
    ]))
}

/// Two up, one whose connection is refused.
fn one_down() -> (StatsClient<Fanout>, Fanout) {
    let caller = Fanout::new(vec![
        node("10.0.0.1:1", 5),
        Node::down("10.0.0.2:1"),
        node("10.0.0.3:1", 7),
    ]);
    (StatsClient::new(caller.clone()), caller)
}

#[tokio::test]
async fn results_are_shaped_per_grouping_results() {
    let stats = three_up();
    assert_eq!(stats.whoami().await.expect("single"), "10.0.0.1:1");
    assert_eq!(stats.load().await.expect("vector"), [5, 0, 7]);
    let by_server: BTreeMap<String, u64> = stats.load_by_server().await.expect("map");
    assert_eq!(
        by_server.into_iter().collect::<Vec<_>>(),
        [
            ("10.0.0.1:1".to_owned(), 5),
            ("10.0.0.2:1".to_owned(), 0),
            ("10.0.0.3:1".to_owned(), 7)
        ]
    );
    let () = stats.flush("test".into()).await.expect("nil");
    assert_eq!(stats.peak().await.expect("custom merge"), 7);
}

#[tokio::test]
async fn application_errors_stay_per_server_values() {
    let stats = three_up();
    assert_eq!(
        stats.try_load().await.expect("transport"),
        [Ok(5), Err("10.0.0.2:1 is idle".to_owned()), Ok(7)]
    );
}

#[tokio::test]
async fn partial_failures_under_all_succeed_and_are_reported() {
    let (stats, caller) = one_down();
    assert_eq!(stats.load().await.expect("two of three answered"), [5, 7]);
    assert_eq!(stats.peak().await.expect("merged over survivors"), 7);
    assert_eq!(stats.whoami().await.expect("first success"), "10.0.0.1:1");
    let partial = caller.partial.lock().expect("lock").clone();
    assert_eq!(
        partial,
        [
            ("load".to_owned(), 1),
            ("peak".to_owned(), 1),
            ("whoami".to_owned(), 1)
        ]
    );
}

#[tokio::test]
async fn under_all_the_call_fails_only_when_every_server_failed() {
    let stats = StatsClient::new(Fanout::new(vec![
        Node::down("10.0.0.1:1"),
        Node::down("10.0.0.2:1"),
    ]));
    match stats.load().await {
        Err(Error::Grouped {
            attempted,
            failures,
        }) => {
            assert_eq!(attempted, 2);
            let servers: Vec<_> = failures.iter().map(|(s, _)| s.as_str()).collect();
            assert_eq!(servers, ["10.0.0.1:1", "10.0.0.2:1"]);
            assert!(matches!(failures[0].1, Error::Connection { .. }));
        }
        other => panic!("expected a grouped error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_single_server_fails_with_its_own_error() {
    let stats = StatsClient::new(Fanout::new(vec![Node::down("10.0.0.1:1")]));
    let err = stats.load().await.expect_err("down");
    assert!(matches!(err, Error::Connection { .. }), "{err}");
}

#[tokio::test]
async fn under_any_one_failure_fails_the_call() {
    let (stats, _) = one_down();
    match stats.strict_load().await {
        Err(Error::Grouped {
            attempted,
            failures,
        }) => {
            assert_eq!((attempted, failures.len()), (3, 1));
            assert_eq!(failures[0].0.as_str(), "10.0.0.2:1");
        }
        other => panic!("expected a grouped error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_custom_exceptions_policy_decides() {
    let (stats, _) = one_down();
    assert_eq!(
        stats.tolerant_load().await.expect("one failure is fine"),
        [5, 7]
    );

    let stats = StatsClient::new(Fanout::new(vec![
        node("10.0.0.1:1", 5),
        Node::down("10.0.0.2:1"),
        Node::down("10.0.0.3:1"),
    ]));
    let err = stats
        .tolerant_load()
        .await
        .expect_err("two failures are not");
    assert!(matches!(err, Error::Grouped { attempted: 3, .. }), "{err}");
}

#[tokio::test]
async fn unavailable_value_replaces_unavailable_only() {
    let nobody = StatsClient::new(Fanout::new(vec![]));
    assert_eq!(nobody.cached().await.expect("unavailable value"), u64::MAX);
    assert_eq!(
        nobody.leader_load().await.expect("unavailable value"),
        Ok(0)
    );
    let err = nobody.load().await.expect_err("no unavailable value");
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");

    // Other errors are not replaced.
    let down = StatsClient::new(Fanout::new(vec![Node::down("10.0.0.1:1")]));
    let err = down.cached().await.expect_err("connection error");
    assert!(matches!(err, Error::Connection { .. }), "{err}");

    let up = StatsClient::new(Fanout::new(vec![node("10.0.0.1:1", 3)]));
    assert_eq!(up.cached().await.expect("real value"), 3);
}

#[test]
fn options_are_carried_in_method_info() {
    let m = |name: &str| STATS_NAMESPACE.method(name).expect(name);
    assert_eq!(m("whoami").doc, "Which server answered.");
    assert!(m("whoami").grouping.is_none());
    assert_eq!(m("whoami").results, ResultsMode::Single);
    assert!(m("whoami").exceptions.is_none());
    assert_eq!(m("whoami").retries, 0);
    assert!(m("whoami").timeout.is_none());

    assert_eq!(
        m("load_by_server").timeout,
        Some(Duration::from_millis(250))
    );
    assert_eq!(m("load_by_server").results, ResultsMode::Map);
    assert_eq!(m("load").results, ResultsMode::Vector);
    assert_eq!(m("flush").results, ResultsMode::Nil);
    assert_eq!(m("flush").retries, 2);
    assert_eq!(m("peak").results, ResultsMode::Custom);
    assert_eq!(m("peak").retries, 5);
    assert!(matches!(
        m("strict_load").exceptions,
        Some(ExceptionsPolicy::Any)
    ));
    assert!(matches!(
        m("tolerant_load").exceptions,
        Some(ExceptionsPolicy::Custom(_))
    ));
    assert!(m("cached").has_unavailable_value);
    assert!(!m("load").has_unavailable_value);

    let grouping = |name: &str| format!("{:?}", m(name).grouping.clone().expect(name));
    for (method, mode) in [
        ("load", "All"),
        ("leader_load", "Leader"),
        ("a", "LeastInFlight"),
        ("b", "RoundRobin"),
        ("c", "Weighted"),
        ("d", "First"),
        ("e", "Random"),
        ("tolerant_load", "Custom"),
    ] {
        assert_eq!(grouping(method), mode, "{method}");
    }
}

#[test]
fn a_custom_grouping_fn_is_callable_from_the_metadata() {
    let Some(Grouping::Custom(f)) = STATS_NAMESPACE
        .method("tolerant_load")
        .expect("m")
        .grouping
        .clone()
    else {
        panic!("custom grouping expected");
    };
    let (a, b) = (ServerAddr::from("a:1"), ServerAddr::from("b:1"));
    let data = serde_json::Value::Null;
    let view = |addr| slacker_core::ServerView {
        addr,
        data: &data,
        in_flight: 0,
        connected: true,
        leader: false,
    };
    let servers = [view(&a), view(&b)];
    let payload = bytes::Bytes::new();
    let input = GroupingInput {
        namespace: "test.stats",
        function: "tolerant_load",
        content_type: slacker_core::ContentType::MessagePack,
        payload: &payload,
        servers: &servers,
    };
    assert!(matches!(f.select(&input), Selection::One(s) if s == b));
}
