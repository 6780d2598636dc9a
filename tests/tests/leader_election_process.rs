//! Leader handover between real processes (`examples/leader`): a SIGKILLed leader is replaced
//! once ZooKeeper expires its session, a SIGTERMed or SIGINTed one hands over at once. Both
//! handover times are measured (printed, not asserted).

use std::time::{Duration, Instant};

use slacker_tests::{wait_until, LocalZooKeeper, TestProcess, DEADLINE};
use slacker_zk::election;
use zookeeper_client as zk;

const PATH: &str = "/it/process/_leader/mutex";
const SESSION_TIMEOUT_MS: u64 = 3000;
const RUNS: usize = 3;

async fn participant(zk: &LocalZooKeeper, id: &str) -> TestProcess {
    let timeout = SESSION_TIMEOUT_MS.to_string();
    let args = ["--zk", &zk.connect_string(), "--path", PATH, "--id", id];
    let args = args
        .into_iter()
        .chain(["--session-timeout-ms", timeout.as_str()]);
    TestProcess::example("leader", args).await.unwrap()
}

/// Waits until `id` has a node in the queue, so it is next when the leader goes.
async fn queued(observer: &zk::Client, id: &str) {
    wait_until(DEADLINE, || async {
        let participants = election::participants(observer, PATH).await.unwrap();
        participants.iter().any(|p| p.id == id)
    })
    .await
    .expect("the follower queued");
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "min {:?} / median {:?} / max {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

/// Runs `RUNS` handovers: start a follower, take the leader down (SIGTERM or SIGINT if
/// `graceful`, else SIGKILL), time until the follower prints `LEADER`. Returns the times.
async fn handovers(zk: &LocalZooKeeper, graceful: bool) -> Vec<Duration> {
    let observer = zk::Client::connect(&zk.connect_string()).await.unwrap();
    let mut leader = participant(zk, "p0").await;
    leader
        .wait_for_line(DEADLINE, |line| line == "LEADER p0")
        .await
        .unwrap();
    let mut times = Vec::new();
    for run in 1..=RUNS {
        let id = format!("p{run}");
        let mut follower = participant(zk, &id).await;
        queued(&observer, &id).await;
        let started = Instant::now();
        if graceful {
            // The example handles both; alternate them.
            leader
                .signal(if run % 2 == 0 { "INT" } else { "TERM" })
                .await
                .unwrap();
        } else {
            leader.kill().await.unwrap();
        }
        let elected = format!("LEADER {id}");
        follower
            .wait_for_line(DEADLINE, |line| line == elected)
            .await
            .unwrap();
        times.push(started.elapsed());

        if graceful {
            leader
                .wait_for_line(DEADLINE, |line| line.starts_with("RELEASED "))
                .await
                .unwrap();
            assert!(
                leader.wait(DEADLINE).await.unwrap().success(),
                "exit 0 after SIGTERM/SIGINT"
            );
        } else {
            assert!(!leader
                .stdout_lines()
                .iter()
                .any(|line| line.starts_with("RELEASED")));
        }
        assert_eq!(
            election::current_leader(&observer, PATH).await.unwrap(),
            Some(id)
        );
        leader = follower;
    }
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_process_is_replaced_after_its_session_expires() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let times = handovers(&zk, false).await;
    eprintln!(
        "handover after SIGKILL (session timeout {SESSION_TIMEOUT_MS} ms): {}",
        summary(times)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalled_leader_process_releases_and_hands_over_at_once() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let times = handovers(&zk, true).await;
    eprintln!("handover after SIGTERM/SIGINT: {}", summary(times));
}
