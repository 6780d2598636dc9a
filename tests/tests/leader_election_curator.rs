//! Interop with Apache Curator 5.4 (Debian's jars): slacker and Curator `LeaderSelector`
//! participants on one path form one election. Exactly one leads, leadership moves both ways,
//! and Curator's `getLeader()` / `getParticipants()` name slacker participants.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slacker_tests::{wait_until, LocalZooKeeper, TestProcess, DEADLINE};
use slacker_zk::election::{self, Election, Leadership};
use tokio::process::Command;
use zookeeper_client as zk;

const PATH: &str = "/it/curator/_leader/mutex";

/// Debian's jars: Curator, the ZooKeeper client and what they need at runtime.
const JARS: &[&str] = &[
    "curator-framework",
    "curator-client",
    "curator-recipes",
    "zookeeper",
    "zookeeper-jute",
    "guava",
    "slf4j-api",
    "slf4j-nop",
];

/// A Curator participant. Prints `LEADER <id>` / `RELEASED <id>` around its term, and
/// `LEADER-IS <id>` / `PARTICIPANTS <id>[*],...` (`*` = leader) whenever Curator's
/// `getLeader()` / `getParticipants()` change. SIGTERM closes the selector (releasing leadership).
const CURATOR_LEADER_JAVA: &str = r#"
import java.util.stream.Collectors;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorLeader {
    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        String zk = args[0], path = args[1], id = args[2];
        CuratorFramework client = CuratorFrameworkFactory.builder().connectString(zk)
            .sessionTimeoutMs(10000).connectionTimeoutMs(10000)
            .retryPolicy(new ExponentialBackoffRetry(100, 10)).build();
        client.start();
        LeaderSelector selector = new LeaderSelector(client, path, new LeaderSelectorListenerAdapter() {
            @Override
            public void takeLeadership(CuratorFramework c) throws Exception {
                say("LEADER " + id);
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } finally {
                    say("RELEASED " + id);
                }
            }
        });
        selector.setId(id);
        selector.autoRequeue();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            selector.close();
            client.close();
        }));
        selector.start();
        String leader = null, participants = null;
        while (true) {
            String nowLeader = selector.getLeader().getId();
            String nowParticipants = selector.getParticipants().stream()
                .map(p -> p.getId() + (p.isLeader() ? "*" : "")).collect(Collectors.joining(","));
            if (!nowLeader.equals(leader)) say("LEADER-IS " + nowLeader);
            if (!nowParticipants.equals(participants)) say("PARTICIPANTS " + nowParticipants);
            leader = nowLeader;
            participants = nowParticipants;
            Thread.sleep(20);
        }
    }
}
"#;

/// Writes and compiles the Curator participant into `dir`; returns its classpath.
async fn compile_curator_leader(dir: &Path) -> String {
    let mut classpath: Vec<String> = JARS
        .iter()
        .map(|jar| format!("/usr/share/java/{jar}.jar"))
        .collect();
    for jar in &classpath {
        assert!(
            Path::new(jar).exists(),
            "{jar} is missing: apt-get install -y zookeeper libcurator-*-java"
        );
    }
    std::fs::write(dir.join("CuratorLeader.java"), CURATOR_LEADER_JAVA).unwrap();
    let output = Command::new("javac")
        .args(["-cp", &classpath.join(":"), "-d"])
        .arg(dir)
        .arg(dir.join("CuratorLeader.java"))
        .output()
        .await
        .expect("javac runs");
    assert!(
        output.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    classpath.push(dir.display().to_string());
    classpath.join(":")
}

/// Waits until `process` has printed `line` (at any point: Curator's `getLeader()` and
/// `getParticipants()` are polled separately, so their lines may come in either order).
async fn sees(process: &TestProcess, line: &str) {
    wait_until(DEADLINE, || async {
        process.stdout_lines().iter().any(|l| l == line)
    })
    .await
    .unwrap_or_else(|_| panic!("no line {line:?}; output:\n{}", process.output_tail()));
}

fn curator_participant(classpath: &str, zk: &LocalZooKeeper, id: &str) -> TestProcess {
    let mut java = Command::new("java");
    java.args([
        "-Xmx64m",
        "-cp",
        classpath,
        "CuratorLeader",
        &zk.connect_string(),
        PATH,
        id,
    ]);
    TestProcess::spawn(id, java).unwrap()
}

/// A slacker participant whose leader function just holds leadership until it is lost.
fn slacker_participant(zk: &LocalZooKeeper, id: &str, tokens: &Arc<Mutex<Vec<i64>>>) -> Election {
    let servers = zk.connect_string();
    let tokens = Arc::clone(tokens);
    Election::builder(PATH, id)
        .auto_requeue(true)
        .start(
            move || {
                let servers = servers.clone();
                async move { zk::Client::connect(&servers).await }
            },
            move |leadership: Leadership| {
                tokens.lock().unwrap().push(leadership.token());
                async move {
                    leadership.lost().await;
                }
            },
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_and_slacker_share_one_election() {
    let zk = LocalZooKeeper::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let classpath = compile_curator_leader(dir.path()).await;
    let observer = zk::Client::connect(&zk.connect_string()).await.unwrap();
    let tokens = Arc::new(Mutex::new(Vec::new()));

    // slacker leads; a Curator participant queues behind it and names it as leader.
    let rust_a = slacker_participant(&zk, "rust-a", &tokens);
    wait_until(DEADLINE, || async { rust_a.is_leader() })
        .await
        .expect("rust-a leads");
    let java_b = curator_participant(&classpath, &zk, "java-b");
    sees(&java_b, "PARTICIPANTS rust-a*,java-b").await;
    let rust_c = slacker_participant(&zk, "rust-c", &tokens);
    sees(&java_b, "PARTICIPANTS rust-a*,java-b,rust-c").await;
    sees(&java_b, "LEADER-IS rust-a").await;
    assert!(!java_b.stdout_lines().contains(&"LEADER java-b".to_string()));
    let ids = |view: &election::ElectionView| -> Vec<String> {
        view.participants.iter().map(|p| p.id.clone()).collect()
    };
    wait_until(DEADLINE, || async {
        ids(&rust_c.view()) == ["rust-a", "java-b", "rust-c"]
    })
    .await
    .expect("slacker sees the Curator participant in queue order");

    // slacker -> Curator.
    rust_a.stop().await;
    sees(&java_b, "LEADER java-b").await;
    sees(&java_b, "LEADER-IS java-b").await;
    assert!(!rust_c.is_leader());
    assert_eq!(
        election::current_leader(&observer, PATH)
            .await
            .unwrap()
            .as_deref(),
        Some("java-b")
    );
    wait_until(DEADLINE, || async {
        rust_c.view().leader() == Some("java-b")
    })
    .await
    .expect("slacker's view names the Curator leader");

    // A second Curator participant queues behind rust-c.
    let mut java_d = curator_participant(&classpath, &zk, "java-d");
    sees(&java_d, "PARTICIPANTS java-b*,rust-c,java-d").await;

    // Curator -> slacker: the Curator leader shuts down gracefully.
    java_b.terminate().await.unwrap();
    sees(&java_b, "RELEASED java-b").await;
    wait_until(DEADLINE, || async { rust_c.is_leader() })
        .await
        .expect("rust-c leads");
    sees(&java_d, "LEADER-IS rust-c").await;
    sees(&java_d, "PARTICIPANTS rust-c*,java-d").await;
    assert!(!java_d.stdout_lines().contains(&"LEADER java-d".to_string()));

    // And back to Curator once more.
    rust_c.stop().await;
    sees(&java_d, "LEADER java-d").await;
    sees(&java_d, "LEADER-IS java-d").await;

    // Tokens of slacker terms grow across the mixed history.
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[0] < tokens[1], "{tokens:?}");
    java_d.terminate().await.unwrap();
    java_d.wait(Duration::from_secs(20)).await.unwrap();
}
