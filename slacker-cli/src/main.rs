//! `slacker`: the admin command of a slacker cluster.
//!
//! Cluster-wide commands (`ls`, `watch`, `call` without `--addr`) read ZooKeeper through
//! slacker-zk's discovery, exactly as clients see the cluster. Per-server commands (`offline`,
//! `online`, `set-data`, `server-data`, `shutdown`) go to the server's manager namespace by
//! address, with the shared secret from `--secret` or `SLACKER_MANAGER_SECRET`; `inspect` and
//! `call --addr` talk to one server directly.
//!
//! Exit status: 0 done; 1 failed (one line on stderr, `slacker: <what went wrong>`); 2 usage
//! error (clap's convention); 3 a manager change was **accepted** by the server, which keeps it
//! and applies it to routing, but is not in ZooKeeper yet (the server's ZooKeeper link is down;
//! it writes the change when its session is back): one line on stdout says so.

mod cluster;
mod console;
mod gateway;
mod render;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use slacker_core::inspect::InspectRequest;
use slacker_core::{CallOptions, Client, ClientOptions, ContentType, ResultCode};
use slacker_zk::manager::{self, ManagerClient, ManagerError};

/// Operate a slacker cluster: list, watch, call, inspect and manage its servers.
#[derive(Debug, Parser)]
#[command(name = "slacker", version)]
struct Cli {
    /// ZooKeeper connect string: `host:port[,host:port...][/chroot]`.
    #[arg(long, global = true, value_name = "HOSTS", env = "SLACKER_ZK")]
    zk: Option<String>,

    /// Cluster name.
    #[arg(long, global = true, value_name = "NAME", env = "SLACKER_CLUSTER")]
    cluster: Option<String>,

    /// Root of all clusters in ZooKeeper.
    #[arg(long, global = true, default_value = slacker_zk::paths::DEFAULT_ROOT)]
    root: String,

    /// Manager secret (default: the environment variable SLACKER_MANAGER_SECRET).
    #[arg(long, global = true, value_name = "SECRET")]
    secret: Option<String>,

    /// Bound, in seconds, on connecting to ZooKeeper or a server and on each call.
    #[arg(long, global = true, default_value_t = 5.0, value_name = "SECS")]
    timeout: f64,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List servers (with server-data) and namespaces (with servers and leader).
    Ls {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Print membership, leader and server-data changes as they happen, until interrupted.
    Watch,
    /// Take a server (or one of its namespaces) offline: clients stop routing calls to it.
    Offline {
        /// The server, `host:port`.
        addr: String,
        /// Only this namespace.
        #[arg(long)]
        ns: Option<String>,
    },
    /// Put a server (or one of its namespaces) back online.
    Online {
        /// The server, `host:port`.
        addr: String,
        /// Only this namespace.
        #[arg(long)]
        ns: Option<String>,
    },
    /// Replace a server's server-data.
    SetData {
        /// The server, `host:port`.
        addr: String,
        /// The new server-data, as JSON.
        json: String,
    },
    /// Print a server's server-data.
    ServerData {
        /// The server, `host:port`.
        addr: String,
    },
    /// Stop a server gracefully (deregister, drain, close).
    Shutdown {
        /// The server, `host:port`.
        addr: String,
    },
    /// Call any function by name with JSON arguments and print the JSON result.
    Call {
        /// Namespace.
        ns: String,
        /// Function.
        function: String,
        /// Arguments: a JSON array, one element per argument (`[]` for none).
        args: String,
        /// Which servers to call (default: p2c).
        #[arg(long)]
        grouping: Option<GroupingArg>,
        /// How to combine several servers' results.
        #[arg(long)]
        results: Option<ResultsArg>,
        /// Call this server directly instead of going through ZooKeeper.
        #[arg(long)]
        addr: Option<String>,
    },
    /// Serve an HTTP gateway for the cluster: `POST /<ns>/<fn>.json` with the argument array
    /// as body (`?grouping=all&results=map`, `?timeout=MS`), `GET /functions`.
    Gateway {
        /// Address to listen on, e.g. `127.0.0.1:8080`.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Serve a web console for the cluster: live servers, namespaces, leaders and statistics,
    /// offline/online/set-data through the manager (with --secret), calls by name, an event log.
    Console {
        /// Address to listen on, e.g. `127.0.0.1:8081`.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
    /// Describe a server: its functions (with argument names and docs), clients and statistics.
    Inspect {
        /// The server, `host:port`.
        addr: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `--grouping` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum GroupingArg {
    P2c,
    Random,
    First,
    Leader,
    All,
    LeastInFlight,
    RoundRobin,
    Weighted,
}

/// `--results` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResultsArg {
    Single,
    Vector,
    Map,
}

/// A failure, printed as one line.
type Fail = String;

/// How a command that did not fail ended.
#[derive(Debug)]
enum Outcome {
    Done,
    /// A manager change the server accepted but could not write to ZooKeeper yet.
    Pending,
}

/// Exit status of [`Outcome::Pending`].
const EXIT_PENDING: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLACKER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Pending) => ExitCode::from(EXIT_PENDING),
        Err(message) => fail(message),
    }
}

fn fail(message: Fail) -> ExitCode {
    eprintln!("slacker: {}", message.replace('\n', " "));
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<Outcome, Fail> {
    let timeout = Duration::try_from_secs_f64(cli.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            format!(
                "--timeout must be a positive number of seconds, not {}",
                cli.timeout
            )
        })?;
    let ctx = Ctx {
        zk: cli.zk,
        cluster: cli.cluster,
        root: cli.root,
        secret: cli
            .secret
            .or_else(|| std::env::var("SLACKER_MANAGER_SECRET").ok()),
        timeout,
    };
    match cli.command {
        Command::Ls { json } => cluster::ls(&ctx, json).await.map(done),
        Command::Watch => cluster::watch(&ctx).await.map(done),
        Command::Offline { addr, ns } => {
            let m = ctx.manager(&addr).await?;
            let r = match &ns {
                Some(ns) => m.offline_ns(ns.clone()).await,
                None => m.offline().await,
            };
            applied(&addr, r, &format!("{addr}: offline{}", ns_suffix(&ns)))
        }
        Command::Online { addr, ns } => {
            let m = ctx.manager(&addr).await?;
            let r = match &ns {
                Some(ns) => m.online_ns(ns.clone()).await,
                None => m.online().await,
            };
            applied(&addr, r, &format!("{addr}: online{}", ns_suffix(&ns)))
        }
        Command::SetData { addr, json } => {
            let data = parse_json("server-data", &json)?;
            let m = ctx.manager(&addr).await?;
            let r = m.set_server_data(data).await;
            applied(&addr, r, &format!("{addr}: server-data set"))
        }
        Command::ServerData { addr } => {
            let m = ctx.manager(&addr).await?;
            let data = m
                .server_data()
                .await
                .map_err(|e| manager_error(&addr, &e))?;
            print_json(&data).map(done)
        }
        Command::Shutdown { addr } => {
            let m = ctx.manager(&addr).await?;
            let r = m.shutdown().await;
            applied(&addr, r, &format!("{addr}: shutting down"))
        }
        Command::Call {
            ns,
            function,
            args,
            grouping,
            results,
            addr,
        } => {
            let args = parse_json("JSON_ARGS", &args)?;
            if !matches!(args, Value::Array(_) | Value::Null) {
                return Err(format!(
                    "JSON_ARGS must be a JSON array with one element per argument (e.g. `[1, \"a\"]`, `[]` for none), not {args}"
                ));
            }
            let value = match addr {
                Some(addr) => {
                    if grouping.is_some() || results.is_some() {
                        return Err("--grouping and --results need the cluster, not --addr".into());
                    }
                    let client = ctx.client(&addr).await?;
                    client
                        .call_by_name(
                            &ns,
                            &function,
                            args,
                            CallOptions::new().timeout(ctx.timeout),
                        )
                        .await
                        .map_err(|e| remote_error(&addr, &e))?
                }
                None => cluster::call(&ctx, &ns, &function, args, grouping, results).await?,
            };
            print_json(&value).map(done)
        }
        Command::Gateway { listen } => gateway::run(&ctx, listen).await.map(done),
        Command::Console { listen } => console::run(&ctx, listen).await.map(done),
        Command::Inspect { addr, json } => {
            let client = ctx.client(&addr).await?;
            let answer = client
                .inspect(InspectRequest::default())
                .await
                .map_err(|e| remote_error(&addr, &e))?;
            if json {
                let value = serde_json::to_value(&answer)
                    .map_err(|e| format!("cannot render the answer of {addr}: {e}"))?;
                print_json(&value).map(done)
            } else {
                print!("{}", render::inspect(&addr, &answer));
                Ok(Outcome::Done)
            }
        }
    }
}

/// What every command may need.
#[derive(Debug)]
struct Ctx {
    zk: Option<String>,
    cluster: Option<String>,
    root: String,
    secret: Option<String>,
    timeout: Duration,
}

impl Ctx {
    fn client_options(&self) -> ClientOptions {
        ClientOptions::default()
            .name("slacker-cli")
            .content_type(ContentType::Json)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
    }

    async fn client(&self, addr: &str) -> Result<Client, Fail> {
        Client::connect(addr, self.client_options())
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))
    }

    async fn manager(&self, addr: &str) -> Result<ManagerClient<Client>, Fail> {
        manager::connect(addr, self.secret.as_deref(), self.client_options())
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))
    }

    /// `--zk` and `--cluster`, which cluster-wide commands need.
    fn cluster(&self) -> Result<(&str, &str), Fail> {
        match (&self.zk, &self.cluster) {
            (Some(zk), Some(cluster)) => Ok((zk, cluster)),
            _ => Err("this command needs --zk HOSTS and --cluster NAME (or SLACKER_ZK and SLACKER_CLUSTER)".into()),
        }
    }
}

fn ns_suffix(ns: &Option<String>) -> String {
    ns.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
}

fn done((): ()) -> Outcome {
    Outcome::Done
}

/// Turns a manager operation's two error layers into one line, or prints `done`. A change the
/// server accepted but could not write to ZooKeeper yet is not a failure: it prints what is
/// true and ends with [`EXIT_PENDING`].
fn applied(
    addr: &str,
    result: slacker_core::Result<Result<(), ManagerError>>,
    done: &str,
) -> Result<Outcome, Fail> {
    match result {
        Ok(Ok(())) => {
            println!("{done}");
            Ok(Outcome::Done)
        }
        Ok(Err(ManagerError::NotInSync(why))) => {
            println!(
                "{done}: accepted, ZooKeeper not updated yet ({why}); the server applies it and writes it when its ZooKeeper session is back"
            );
            Ok(Outcome::Pending)
        }
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(e) => Err(manager_error(addr, &e)),
    }
}

/// One line for a call's error, naming the server.
fn remote_error(addr: &str, e: &slacker_core::Error) -> Fail {
    match e.server() {
        Some(_) => e.to_string(),
        None => format!("{addr}: {e}"),
    }
}

/// One line for a manager call's error, with a hint where the code has a usual cause.
fn manager_error(addr: &str, e: &slacker_core::Error) -> Fail {
    let hint = match e.code() {
        Some(ResultCode::Unauthorized) => " (check --secret or SLACKER_MANAGER_SECRET)",
        Some(ResultCode::UnknownNamespace) => " (is the manager enabled on this server?)",
        _ => "",
    };
    format!("{}{hint}", remote_error(addr, e))
}

/// Binds an HTTP command's listener (`gateway`, `console`); returns it and its address.
async fn listen(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), Fail> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    Ok((listener, local))
}

fn parse_json(what: &str, text: &str) -> Result<Value, Fail> {
    serde_json::from_str(text).map_err(|e| format!("bad JSON in {what}: {e}"))
}

fn print_json(value: &Value) -> Result<(), Fail> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| format!("cannot print JSON: {e}"))?;
    println!("{text}");
    Ok(())
}
