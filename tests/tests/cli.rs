//! The `slacker` command run as a real process against real servers (and, for the cluster
//! commands, a real ZooKeeper): its stdout, stderr and exit status are what is checked.

use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use slacker_core::{remote, Server};
use slacker_tests::{wait_until, workspace_bin, LocalZooKeeper, TestProcess, DEADLINE};
use slacker_zk::{ClusterClient, ClusterOptions, ClusterServer};

/// Bound on one run of the command (it bounds its own connects at `--timeout`).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A small API for the command to call and inspect.
#[remote(namespace = "cli.calc")]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Says which server answered.
    async fn whoami(&self) -> String;
}

#[derive(Clone, Default)]
struct CalcImpl(Arc<OnceLock<String>>);

impl Calc for CalcImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn whoami(&self) -> String {
        self.0.get().cloned().unwrap_or_default()
    }
}

async fn slacker_bin() -> PathBuf {
    workspace_bin("slacker-cli", "slacker")
        .await
        .expect("build the slacker command")
}

/// Runs `slacker ARGS` to completion.
async fn slacker<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = tokio::process::Command::new(slacker_bin().await);
    command
        .args(args)
        .env_remove("SLACKER_MANAGER_SECRET")
        .kill_on_drop(true);
    tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .expect("the command finished in time")
        .expect("the command ran")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts a failure with exit status 1 and a one-line message on stderr; returns that line.
fn failed(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit status 1\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err}");
    assert!(lines[0].starts_with("slacker: "), "{err}");
    lines[0].to_owned()
}

async fn calc_server() -> Server {
    let calc = CalcImpl::default();
    let _ = calc.0.set("solo".into());
    Server::builder()
        .service(CalcServer::new(calc))
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
}

/// A loopback address that refuses connections: a socket bound to it that does not listen,
/// held by the caller for as long as the address must stay refused. (Binding a listener and
/// freeing its port raced with the other tests: a ZooKeeper started meanwhile took the port,
/// and the "unreachable" ZooKeeper answered.)
fn refusing_addr() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("loopback"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr").to_string();
    (socket, addr)
}

#[tokio::test]
async fn call_with_addr_prints_the_json_result() {
    let server = calc_server().await;
    let addr = server.local_addr().to_string();
    let out = ok(&slacker(["call", "cli.calc", "add", "[40, 2]", "--addr", &addr]).await);
    let value: Value = serde_json::from_str(&out).expect("JSON on stdout");
    assert_eq!(value, json!(42));
    let out = ok(&slacker(["call", "cli.calc", "whoami", "[]", "--addr", &addr]).await);
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("JSON"),
        json!("solo")
    );
}

#[tokio::test]
async fn inspect_lists_functions_with_arg_names_and_docs() {
    let server = calc_server().await;
    let addr = server.local_addr().to_string();
    let out = ok(&slacker(["inspect", &addr]).await);
    assert!(out.contains("namespace cli.calc"), "{out}");
    assert!(out.contains("add(a: i64, b: i64) -> i64"), "{out}");
    assert!(out.contains("Adds two numbers."), "{out}");
    assert!(out.contains("whoami() -> String"), "{out}");

    let out = ok(&slacker(["inspect", &addr, "--json"]).await);
    let value: Value = serde_json::from_str(&out).expect("JSON");
    let functions = &value["namespaces"][0]["functions"];
    assert_eq!(value["namespaces"][0]["name"], "cli.calc");
    assert_eq!(functions[0]["name"], "add");
    assert_eq!(functions[0]["args"], json!([["a", "i64"], ["b", "i64"]]));
}

#[tokio::test]
async fn clear_errors_for_bad_input_and_unreachable_servers() {
    let server = calc_server().await;
    let addr = server.local_addr().to_string();

    let line = failed(&slacker(["call", "cli.calc", "add", "[1,", "--addr", &addr]).await);
    assert!(line.contains("bad JSON in JSON_ARGS"), "{line}");
    let line = failed(&slacker(["call", "cli.calc", "add", "{\"a\": 1}", "--addr", &addr]).await);
    assert!(line.contains("must be a JSON array"), "{line}");
    let line = failed(&slacker(["call", "cli.calc", "add", "[\"x\", 1]", "--addr", &addr]).await);
    assert!(line.contains("bad arguments"), "{line}");
    let line = failed(&slacker(["call", "cli.calc", "nope", "[]", "--addr", &addr]).await);
    assert!(line.contains("unknown function"), "{line}");

    let (_held, dead) = refusing_addr();
    let line = failed(&slacker(["inspect", &dead, "--timeout", "2"]).await);
    assert!(
        line.contains(&format!("cannot connect to {dead}")),
        "{line}"
    );

    // Cluster commands without a cluster: a usage problem, said in one line.
    let line = failed(&slacker(["ls"]).await);
    assert!(line.contains("--zk HOSTS and --cluster NAME"), "{line}");
    // clap's own usage errors exit with 2.
    assert_eq!(slacker(["frobnicate"]).await.status.code(), Some(2));
}

/// A cluster server with the manager on (secret optional) and `data` as server-data.
async fn cluster_server(
    connect: &str,
    cluster: &str,
    data: Value,
    secret: Option<&str>,
) -> ClusterServer {
    let calc = CalcImpl::default();
    let mut builder = ClusterServer::builder(cluster, connect)
        .service(CalcServer::new(calc.clone()))
        .server_data(data)
        .manager(true);
    if let Some(secret) = secret {
        builder = builder.manager_secret(secret);
    }
    let server = builder.bind("127.0.0.1:0").await.expect("cluster server");
    let _ = calc.0.set(server.addr().to_string());
    server
}

/// Waits until a client sees `n` servers of cli.calc and a leader among them.
async fn settled(connect: &str, cluster: &str, n: usize) {
    let client = ClusterClient::connect(cluster, connect, ClusterOptions::default())
        .await
        .expect("cluster client");
    wait_until(DEADLINE, || async {
        let m = client.membership().borrow().clone();
        m.namespaces
            .get("cli.calc")
            .is_some_and(|ns| ns.servers.len() == n && (n == 0 || ns.leader.is_some()))
    })
    .await
    .expect("cluster settled");
    client.close().await;
}

#[tokio::test]
async fn ls_prints_servers_and_namespaces_as_tables_and_json() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = cluster_server(&connect, "ls", json!({"zone": "a"}), None).await;
    let b = cluster_server(&connect, "ls", Value::Null, None).await;
    settled(&connect, "ls", 2).await;
    let (a_addr, b_addr) = (a.addr().to_string(), b.addr().to_string());

    let out = ok(&slacker(["--zk", &connect, "--cluster", "ls", "ls"]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "SERVERS", "{out}");
    assert!(
        lines[1].starts_with("ADDRESS") && lines[1].contains("SERVER-DATA"),
        "{out}"
    );
    let row_a = lines
        .iter()
        .find(|l| l.starts_with(&a_addr))
        .expect("a listed");
    assert!(
        row_a.contains("cli.calc") && row_a.contains(r#"{"zone":"a"}"#),
        "{out}"
    );
    let row_b = lines
        .iter()
        .find(|l| l.starts_with(&b_addr))
        .expect("b listed");
    assert!(row_b.ends_with("null"), "{out}");
    let ns_row = lines
        .iter()
        .find(|l| l.starts_with("cli.calc"))
        .expect("namespace row");
    let mut sorted = [a_addr.clone(), b_addr.clone()];
    sorted.sort();
    assert!(ns_row.ends_with(&sorted.join(",")), "{out}");
    assert!(ns_row.contains(&a_addr) || ns_row.contains(&b_addr));

    let out = ok(&slacker(["--zk", &connect, "--cluster", "ls", "ls", "--json"]).await);
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let servers = v["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2);
    let sa = servers
        .iter()
        .find(|s| s["addr"] == a_addr.as_str())
        .expect("a");
    assert_eq!(sa["data"], json!({"zone": "a"}));
    assert_eq!(sa["namespaces"], json!(["cli.calc"]));
    let ns = &v["namespaces"][0];
    assert_eq!(ns["name"], "cli.calc");
    assert_eq!(ns["servers"], json!(sorted));
    let leader = ns["leader"].as_str().expect("a leader");
    assert!(leader == a_addr || leader == b_addr);
    // The manager namespace is not announced.
    assert_eq!(v["namespaces"].as_array().map(Vec::len), Some(1), "{out}");

    // A call through the cluster, with the map of results.
    let out = ok(&slacker([
        "--zk",
        &connect,
        "--cluster",
        "ls",
        "call",
        "cli.calc",
        "add",
        "[2, 3]",
    ])
    .await);
    assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON"), json!(5));
    let out = ok(&slacker([
        "--zk",
        &connect,
        "--cluster",
        "ls",
        "call",
        "cli.calc",
        "whoami",
        "[]",
        "--grouping",
        "all",
        "--results",
        "map",
    ])
    .await);
    let map: Value = serde_json::from_str(&out).expect("JSON");
    let map = map.as_object().expect("a map");
    assert_eq!(map.len(), 2, "every server answered: {out}");
    for (server, answer) in map {
        assert_eq!(answer, &json!(server), "keyed by the answering server");
    }
    a.shutdown(Duration::from_secs(5)).await.expect("stop");
    b.shutdown(Duration::from_secs(5)).await.expect("stop");
}

#[tokio::test]
async fn manager_commands_and_watch() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let a = cluster_server(&connect, "ops", json!(1), Some("s3cret")).await;
    let addr = a.addr().to_string();
    let mut command = tokio::process::Command::new(slacker_bin().await);
    command.args(["--zk", &connect, "--cluster", "ops", "watch"]);
    let mut watch = TestProcess::spawn("slacker watch", command).expect("watch started");
    // The current state first, as events, then the marker.
    watch
        .wait_for_line(DEADLINE, |l| l == format!("server-added {addr} 1"))
        .await
        .expect("watch shows the server");
    watch
        .wait_for_line(DEADLINE, |l| l.starts_with("watching ops"))
        .await
        .expect("watch is watching");
    // The election result, whether it came with the first read or after it.
    wait_until(DEADLINE, || async {
        watch
            .stdout_lines()
            .iter()
            .any(|l| *l == format!("leader cli.calc {addr}"))
    })
    .await
    .expect("watch shows the leader");
    let ops = |args: &[&str]| {
        let mut v = vec![
            "--zk".to_owned(),
            connect.clone(),
            "--cluster".into(),
            "ops".into(),
        ];
        v.extend(args.iter().map(|s| (*s).to_owned()));
        v
    };

    // Refused without the secret, or with a wrong one.
    let line = failed(&slacker(ops(&["offline", &addr])).await);
    assert!(
        line.contains("unauthorized") && line.contains("--secret"),
        "{line}"
    );
    let line = failed(&slacker(ops(&["offline", &addr, "--secret", "nope"])).await);
    assert!(line.contains("unauthorized"), "{line}");

    // offline/online through the manager; the watch and ls follow.
    let out = ok(&slacker(ops(&["offline", &addr, "--secret", "s3cret"])).await);
    assert_eq!(out.trim(), format!("{addr}: offline"));
    watch
        .wait_for_line(DEADLINE, |l| l == format!("ns-removed cli.calc {addr}"))
        .await
        .expect("watch shows offline");
    let v: Value = serde_json::from_str(&ok(&slacker(ops(&["ls", "--json"])).await)).expect("JSON");
    assert_eq!(v["servers"][0]["namespaces"], json!([]));
    let out = ok(&slacker(ops(&["ls"])).await);
    assert!(out.contains("(offline)"), "{out}");
    let out = ok(&slacker(ops(&[
        "online", &addr, "--ns", "cli.calc", "--secret", "s3cret",
    ]))
    .await);
    assert_eq!(out.trim(), format!("{addr}: online (cli.calc)"));
    watch
        .wait_for_line(DEADLINE, |l| l == format!("ns-added cli.calc {addr}"))
        .await
        .expect("watch shows online");

    // set-data, with the secret from the environment.
    let mut with_env = tokio::process::Command::new(slacker_bin().await);
    with_env
        .args(ops(&["set-data", &addr, r#"{"weight": 7}"#]))
        .env("SLACKER_MANAGER_SECRET", "s3cret");
    let out = tokio::time::timeout(RUN_LIMIT, with_env.output())
        .await
        .expect("in time")
        .expect("ran");
    ok(&out);
    watch
        .wait_for_line(DEADLINE, |l| {
            l == format!(r#"server-data {addr} {{"weight":7}}"#)
        })
        .await
        .expect("watch shows server-data");
    let line = failed(
        &slacker(ops(&[
            "set-data",
            &addr,
            "{weight: 7}",
            "--secret",
            "s3cret",
        ]))
        .await,
    );
    assert!(line.contains("bad JSON"), "{line}");

    // shutdown: the server leaves.
    let out = ok(&slacker(ops(&["shutdown", &addr, "--secret", "s3cret"])).await);
    assert_eq!(out.trim(), format!("{addr}: shutting down"));
    watch
        .wait_for_line(DEADLINE, |l| l == format!("server-removed {addr}"))
        .await
        .expect("watch shows the server leaving");
    tokio::time::timeout(DEADLINE, a.stopped())
        .await
        .expect("stopped");
    watch.kill().await.expect("kill watch");
}

#[tokio::test]
async fn clear_errors_for_zookeeper_and_cluster_problems() {
    // A ZooKeeper address nothing listens on: bounded by --timeout.
    let (_held, dead) = refusing_addr();
    let line = failed(&slacker(["--zk", &dead, "--cluster", "c", "--timeout", "2", "ls"]).await);
    assert!(
        line.contains(&format!("cannot reach ZooKeeper at {dead}")),
        "{line}"
    );

    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let line = failed(&slacker(["--zk", &connect, "--cluster", "nosuch", "ls"]).await);
    assert!(line.contains("unknown cluster `nosuch`"), "{line}");
    let line = failed(
        &slacker([
            "--zk",
            &connect,
            "--cluster",
            "nosuch",
            "call",
            "a",
            "b",
            "[]",
        ])
        .await,
    );
    assert!(line.contains("unknown cluster `nosuch`"), "{line}");
    let line = failed(&slacker(["--zk", &connect, "--cluster", "bad/name", "ls"]).await);
    assert!(line.contains("not a valid ZooKeeper node name"), "{line}");
}

#[tokio::test]
async fn shutdown_stops_a_server_process() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut server = TestProcess::example(
        "cluster_server",
        [
            "--zk",
            &connect,
            "--cluster",
            "proc",
            "--bind",
            "127.0.0.1",
            "--advertise",
            "127.0.0.1",
            "--manager",
        ],
    )
    .await
    .expect("server process");
    let line = server
        .wait_for_line(DEADLINE, |l| l.starts_with("registered "))
        .await
        .expect("registered");
    let addr = line.trim_start_matches("registered ").to_owned();
    let out = ok(&slacker(["shutdown", &addr]).await);
    assert_eq!(out.trim(), format!("{addr}: shutting down"));
    let status = server.wait(DEADLINE).await.expect("the process exited");
    assert!(status.success(), "{}", server.output_tail());
    assert!(server.stdout_lines().iter().any(|l| l == "stopped"));
}
