//! The `slacker` command run as a real process against real servers (and, for the cluster
//! commands, a real ZooKeeper): its stdout, stderr and exit status are what is checked.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use slacker_core::{remote, RunningServer, Server};
use slacker_tests::workspace_bin;

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

struct CalcImpl(String);

impl Calc for CalcImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn whoami(&self) -> String {
        self.0.clone()
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

async fn calc_server() -> RunningServer {
    Server::builder()
        .service(CalcServer::new(CalcImpl("solo".into())))
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
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

    // A port nothing listens on: bind one, then free it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = free.local_addr().expect("addr").to_string();
    drop(free);
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
