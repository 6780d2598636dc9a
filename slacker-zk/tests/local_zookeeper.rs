//! `LocalZooKeeper` against the real server: a standalone round trip, restart keeping data and
//! sessions, a 3-node ensemble surviving the loss of the node a client is connected to, and
//! cleanup on drop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use slacker_zk::local::{four_letter_word, LocalZkError, LocalZooKeeper, ZkMode};
use zookeeper_client::{Acls, Client, CreateMode, SessionId};

const DEADLINE: Duration = Duration::from_secs(30);

async fn connect(connect_string: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(connect_string)
        .await
        .expect("connect to the local ZooKeeper")
}

async fn create(client: &Client, path: &str, data: &[u8], mode: CreateMode) {
    client
        .create(path, data, &mode.with_acls(Acls::anyone_all()))
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Retries `op` until it succeeds, for at most [`DEADLINE`].
async fn retry<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, zookeeper_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("{what}: {e}, retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{what}: still failing after {DEADLINE:?}: {e}"),
        }
    }
}

/// Whether the server at `addr` lists a connection of session `id` (`cons`).
async fn serves_session(addr: SocketAddr, id: SessionId) -> bool {
    let cons = four_letter_word(addr, "cons").await.unwrap_or_default();
    cons.contains(&format!("sid={id}"))
}

/// Whether `pid` is a live process; a zombie (dead, not yet reaped) is not.
fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name.
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn standalone_serves_a_create_get_round_trip() {
    let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    assert_eq!(zk.mode().await.expect("srvr"), ZkMode::Standalone);
    assert!(zk.connect_string().starts_with("127.0.0.1:"));

    let client = connect(&zk.connect_string()).await;
    create(&client, "/round-trip", b"hello", CreateMode::Persistent).await;
    let (data, stat) = client.get_data("/round-trip").await.expect("get_data");
    assert_eq!(data, b"hello");
    assert_eq!(stat.version, 0);
}

#[tokio::test]
async fn restart_keeps_port_data_and_session() {
    let mut zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let addr = zk.addr();
    let client = connect(&zk.connect_string()).await;
    let session = client.session_id();
    create(&client, "/kept", b"data", CreateMode::Persistent).await;
    create(&client, "/kept-ephemeral", b"", CreateMode::Ephemeral).await;

    zk.stop().await.expect("stop");
    assert!(zk.pid().is_none());
    assert!(matches!(
        zk.mode().await,
        Err(LocalZkError::NotRunning { .. })
    ));
    assert!(
        four_letter_word(addr, "srvr").await.is_err(),
        "port still open after stop"
    );
    assert!(matches!(
        zk.stop().await,
        Err(LocalZkError::NotRunning { .. })
    ));

    zk.restart().await.expect("restart");
    assert_eq!(zk.addr(), addr);
    let (data, _) = retry("get_data after restart", || client.get_data("/kept")).await;
    assert_eq!(data, b"data");
    assert_eq!(
        client.session_id(),
        session,
        "the session did not survive the restart"
    );
    let owner = retry("exists after restart", || {
        client.check_stat("/kept-ephemeral")
    })
    .await;
    assert_eq!(owner.map(|stat| stat.ephemeral_owner), Some(session.0));
}

#[tokio::test]
async fn ensemble_survives_killing_the_node_a_client_is_connected_to() {
    let mut ensemble = LocalZooKeeper::ensemble(3).await.expect("start ensemble");
    assert_eq!(ensemble.node_count(), 3);
    assert_eq!(ensemble.connect_string().split(',').count(), 3);
    let leader = ensemble.leader_index().await.expect("a leader");
    for i in 0..3 {
        let expected = if i == leader {
            ZkMode::Leader
        } else {
            ZkMode::Follower
        };
        assert_eq!(ensemble.mode(i).await.expect("srvr"), expected, "node {i}");
    }

    let client = connect(&ensemble.connect_string()).await;
    let session = client.session_id();
    create(&client, "/before", b"1", CreateMode::Persistent).await;
    let mut connected = None;
    for i in 0..3 {
        if serves_session(ensemble.node_addr(i).expect("node"), session).await {
            connected = Some(i);
        }
    }
    let connected = connected.expect("one node serves the client's session");

    ensemble.kill(connected).await.expect("kill");
    assert!(matches!(
        ensemble.mode(connected).await,
        Err(LocalZkError::NotRunning { .. })
    ));
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    retry("create after kill", || {
        client.create("/after", b"2", &options)
    })
    .await;
    let (data, _) = retry("get_data after kill", || client.get_data("/before")).await;
    assert_eq!(data, b"1");
    assert_eq!(
        client.session_id(),
        session,
        "the session did not fail over"
    );

    ensemble
        .restart(connected)
        .await
        .expect("restart the killed node");
    assert!(matches!(
        ensemble.mode(connected).await.expect("srvr"),
        ZkMode::Follower | ZkMode::Leader
    ));
    // The restarted node has the data written while it was down.
    let direct = connect(&ensemble.node_addr(connected).expect("node").to_string()).await;
    let (data, _) = direct
        .get_data("/after")
        .await
        .expect("get_data from the restarted node");
    assert_eq!(data, b"2");

    // A graceful stop of the leader: the others elect a new one; the old one rejoins.
    let old_leader = ensemble.leader_index().await.expect("a leader");
    ensemble.stop(old_leader).await.expect("stop the leader");
    assert!(
        four_letter_word(ensemble.node_addr(old_leader).expect("node"), "srvr")
            .await
            .is_err()
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let new_leader = loop {
        match ensemble.leader_index().await {
            Ok(i) => break i,
            Err(e) if tokio::time::Instant::now() < deadline => eprintln!("{e}, polling"),
            Err(e) => panic!("no new leader within {DEADLINE:?}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(new_leader, old_leader);
    ensemble
        .restart(old_leader)
        .await
        .expect("restart the old leader");
    assert_eq!(
        ensemble.mode(old_leader).await.expect("srvr"),
        ZkMode::Follower
    );
}

#[tokio::test]
async fn drop_kills_the_jvms_and_removes_the_dirs() {
    let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    let pid = zk.pid().expect("running");
    let dir = zk.dir().to_owned();
    assert!(process_exists(pid) && dir.exists());
    drop(zk);
    assert!(!process_exists(pid), "JVM {pid} survived the drop");
    assert!(!dir.exists(), "{} survived the drop", dir.display());

    let ensemble = LocalZooKeeper::ensemble(3).await.expect("start ensemble");
    let pids: Vec<u32> = (0..3)
        .map(|i| ensemble.pid(i).expect("node").expect("running"))
        .collect();
    let dir = ensemble.dir().to_owned();
    drop(ensemble);
    for pid in pids {
        assert!(!process_exists(pid), "JVM {pid} survived the drop");
    }
    assert!(!dir.exists(), "{} survived the drop", dir.display());
}

#[tokio::test]
async fn a_panicking_test_still_cleans_up() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
        tx.send((zk.pid().expect("running"), zk.dir().to_owned()))
            .expect("send");
        panic!("test failure while ZooKeeper runs");
    });
    let (pid, dir) = rx.await.expect("started");
    assert!(task.await.expect_err("the task panicked").is_panic());
    assert!(!process_exists(pid), "JVM {pid} survived the panic");
    assert!(!dir.exists(), "{} survived the panic", dir.display());
}

/// Set in the environment of the child test process of `a_killed_test_process_leaves_no_jvm`.
const ORPHAN_HELPER: &str = "SLACKER_ZK_ORPHAN_HELPER";

/// Not a test: the child process of `a_killed_test_process_leaves_no_jvm`. Starts ZooKeeper,
/// prints the JVM's pid and waits to be SIGKILLed.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "helper process, run by a_killed_test_process_leaves_no_jvm"]
async fn orphan_helper() {
    if std::env::var_os(ORPHAN_HELPER).is_none() {
        return;
    }
    let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
    println!("jvm-pid={}", zk.pid().expect("running"));
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_killed_test_process_leaves_no_jvm() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut helper = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "orphan_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ORPHAN_HELPER, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the helper");
    let stdout = helper.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let pid: u32 = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some((_, pid)) = line.split_once("jvm-pid=") {
                return pid.parse().expect("pid");
            }
        }
        panic!("the helper exited without starting ZooKeeper");
    })
    .await
    .expect("the helper started ZooKeeper");
    assert!(process_exists(pid));

    helper.kill().await.expect("SIGKILL the helper"); // no destructor runs in it
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while process_exists(pid) {
        if tokio::time::Instant::now() >= deadline {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("JVM {pid} outlived its killed parent");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
