//! `leader`: one participant in a leader election, for demos and for the tests that kill it.
//!
//! ```text
//! leader --zk 127.0.0.1:2181 --path /demo/leader --id node-1
//! ```
//!
//! Prints exactly `LEADER <id>` on a line when it gains leadership and `RELEASED <id>` when it
//! loses it or gives it up (stdout is flushed each time; logs go to stderr). It re-enters the
//! election after every loss (`auto_requeue`), and on SIGINT or SIGTERM releases leadership,
//! leaves the election and exits 0. Its nodes are Curator `LeaderSelector` nodes, so Curator
//! participants can share the path.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use slacker_zk::election::Election;
use tokio::signal::unix::{signal, SignalKind};
use zookeeper_client as zk;

#[derive(Parser, Debug)]
#[command(about = "Join a ZooKeeper leader election and print LEADER/RELEASED lines")]
struct Args {
    /// ZooKeeper connect string, e.g. `127.0.0.1:2181`.
    #[arg(long)]
    zk: String,
    /// Election path, e.g. `/demo/leader`.
    #[arg(long)]
    path: String,
    /// This participant's id (its lock node's data).
    #[arg(long)]
    id: String,
    /// ZooKeeper session timeout in milliseconds.
    #[arg(long, default_value_t = 6000)]
    session_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    slacker_examples::report("leader", run().await)
}

async fn run() -> Result<(), slacker_examples::MainError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    let timeout = Duration::from_millis(args.session_timeout_ms);
    let servers = args.zk.clone();
    let sessions = move || {
        let connector = zk::Client::connector().with_session_timeout(timeout);
        let servers = servers.clone();
        async move { connector.connect(&servers).await }
    };
    let id = args.id.clone();
    let election = Election::builder(&args.path, &args.id)
        .auto_requeue(true)
        .start(sessions, move |leadership| {
            let id = id.clone();
            async move {
                say("LEADER", &id);
                leadership.lost().await;
                say("RELEASED", &id);
            }
        })?;

    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    election.stop().await;
    Ok(())
}

/// Prints one protocol line and flushes it, so a parent reading the pipe sees it at once.
fn say(what: &str, id: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the election; there is nobody left to tell.
    let _ = writeln!(out, "{what} {id}").and_then(|()| out.flush());
}
