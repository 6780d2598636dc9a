//! Cluster-wide commands: `ls`, `watch` and `call` without `--addr`. They see the cluster
//! through slacker-zk's discovery, exactly as clients do (a server is listed under a namespace
//! only while it is registered for it and in `servers/`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use slacker_core::{CallOptions, Grouping, ServerAddr};
use slacker_zk::paths::ClusterPaths;
use slacker_zk::session::{Session, ZkOptions};
use slacker_zk::{ClusterClient, ClusterOptions, Discovery, DiscoveryOptions, Membership, ZkState};

use crate::{render, Ctx, Fail, GroupingArg, ResultsArg};

/// `ls`: one full read of the cluster, as tables or JSON.
pub async fn ls(ctx: &Ctx, json: bool) -> Result<(), Fail> {
    let (_discovery, view) = discover(ctx).await?;
    if json {
        crate::print_json(&membership_json(&view))
    } else {
        print!("{}", membership_tables(&view));
        Ok(())
    }
}

/// `watch`: the current state as events, then every change, until interrupted.
pub async fn watch(ctx: &Ctx) -> Result<(), Fail> {
    let (discovery, view) = discover(ctx).await?;
    let mut membership = discovery.membership();
    let empty = Membership {
        zk: ZkState::Connected,
        servers: BTreeMap::new(),
        namespaces: BTreeMap::new(),
        resyncs: 0,
    };
    print_events(&empty, &view);
    let (_, cluster) = ctx.cluster()?;
    println!("watching {cluster} (Ctrl-C to stop)");
    let mut last = view;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            changed = membership.changed() => {
                if changed.is_err() {
                    return Err("discovery stopped".into());
                }
            }
        }
        let next = membership.borrow_and_update().clone();
        print_events(&last, &next);
        last = next;
    }
}

/// `call` through the cluster: the call goes where the cluster client routes it (grouping from
/// `--grouping`, else the cluster client's default), and the servers' JSON answers are combined
/// per `--results`. Any failing server fails the command.
pub async fn call(
    ctx: &Ctx,
    ns: &str,
    function: &str,
    args: Value,
    grouping: Option<GroupingArg>,
    results: Option<ResultsArg>,
) -> Result<Value, Fail> {
    let client = connect(ctx).await?;
    let mut options = CallOptions::new().timeout(ctx.timeout);
    options.grouping = grouping.map(GroupingArg::grouping);
    let answers = client.call_by_name(ns, function, args, options).await;
    client.close().await;
    let mut values = Vec::new();
    let mut failures = Vec::new();
    for (server, answer) in answers.map_err(|e| e.to_string())? {
        match answer {
            Ok(v) => values.push((server, v)),
            Err(e) => failures.push(crate::remote_error(server.as_str(), &e)),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    shape(values, results.unwrap_or(ResultsArg::Single)).map_err(|e| format!("{e} {ns}/{function}"))
}

/// A cluster client for `--zk` / `--cluster`, once the cluster is known to exist.
pub async fn connect(ctx: &Ctx) -> Result<ClusterClient, Fail> {
    let (zk, cluster) = ctx.cluster()?;
    check_cluster(ctx).await?;
    let options = ClusterOptions::default().client(ctx.client_options());
    let connecting = ClusterClient::builder(cluster, zk)
        .root(ctx.root.clone())
        .options(options)
        .connect();
    bounded(ctx, connecting)
        .await?
        .map_err(|e| format!("cannot read cluster `{cluster}` from ZooKeeper at {zk}: {e}"))
}

/// Combines the servers' answers per `--results` (`single`: the first).
pub fn shape(values: Vec<(ServerAddr, Value)>, results: ResultsArg) -> Result<Value, String> {
    match results {
        ResultsArg::Single => values
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .ok_or_else(|| "no server answered".to_owned()),
        ResultsArg::Vector => Ok(Value::Array(values.into_iter().map(|(_, v)| v).collect())),
        ResultsArg::Map => Ok(Value::Object(
            values
                .into_iter()
                .map(|(s, v)| (s.to_string(), v))
                .collect(),
        )),
    }
}

impl GroupingArg {
    pub fn grouping(self) -> Grouping {
        match self {
            Self::P2c => Grouping::PowerOfTwoChoices,
            Self::Random => Grouping::Random,
            Self::First => Grouping::First,
            Self::Leader => Grouping::Leader,
            Self::All => Grouping::All,
            Self::LeastInFlight => Grouping::LeastInFlight,
            Self::RoundRobin => Grouping::RoundRobin,
            Self::Weighted => Grouping::Weighted,
        }
    }
}

/// Bounds a ZooKeeper step by `--timeout` (an unreachable ZooKeeper is retried forever below).
async fn bounded<T>(ctx: &Ctx, step: impl Future<Output = T>) -> Result<T, Fail> {
    let zk = ctx.zk.as_deref().unwrap_or_default();
    tokio::time::timeout(ctx.timeout, step).await.map_err(|_| {
        format!(
            "cannot reach ZooKeeper at {zk} within {:?} (check --zk)",
            ctx.timeout
        )
    })
}

fn zk_options(ctx: &Ctx, zk: &str) -> ZkOptions {
    // A session long enough that a slow first read does not expire it.
    ZkOptions::new(zk).session_timeout(ctx.timeout.max(Duration::from_secs(10)))
}

/// Fails with "unknown cluster" unless `<root>/<cluster>` exists.
async fn check_cluster(ctx: &Ctx) -> Result<(), Fail> {
    let (zk, cluster) = ctx.cluster()?;
    let paths = ClusterPaths::new(&ctx.root, cluster).map_err(|e| e.to_string())?;
    let session = bounded(ctx, Session::connect(zk_options(ctx, zk)))
        .await?
        .map_err(|e| format!("cannot connect to ZooKeeper at {zk}: {e}"))?;
    let exists = bounded(ctx, session.client().check_stat(paths.base()))
        .await?
        .map_err(|e| format!("cannot read {} from ZooKeeper: {e}", paths.base()))?;
    match exists {
        Some(_) => Ok(()),
        None => Err(format!(
            "unknown cluster `{cluster}`: {} does not exist in ZooKeeper at {zk}",
            paths.base()
        )),
    }
}

/// Checks the cluster exists, then reads it once (the discovery keeps watching).
async fn discover(ctx: &Ctx) -> Result<(Discovery, Membership), Fail> {
    let (zk, cluster) = ctx.cluster()?;
    check_cluster(ctx).await?;
    let options = DiscoveryOptions::new(zk)
        .zk(zk_options(ctx, zk))
        .root(ctx.root.clone());
    let (discovery, _changes) = bounded(ctx, Discovery::start(cluster, options))
        .await?
        .map_err(|e| format!("cannot read cluster `{cluster}` from ZooKeeper at {zk}: {e}"))?;
    let view = discovery.membership().borrow().clone();
    Ok((discovery, view))
}

/// The namespaces `server` is routable for.
fn namespaces_of<'a>(view: &'a Membership, server: &ServerAddr) -> Vec<&'a str> {
    view.namespaces
        .iter()
        .filter(|(_, ns)| ns.servers.contains(server))
        .map(|(name, _)| name.as_str())
        .collect()
}

fn membership_json(view: &Membership) -> Value {
    let servers: Vec<Value> = view
        .servers
        .iter()
        .map(|(addr, data)| {
            json!({
                "addr": addr.as_str(),
                "data": data,
                "namespaces": namespaces_of(view, addr),
            })
        })
        .collect();
    let namespaces: Vec<Value> = view
        .namespaces
        .iter()
        .map(|(name, ns)| {
            json!({
                "name": name,
                "leader": ns.leader.as_ref().map(ServerAddr::as_str),
                "servers": ns.servers.iter().map(ServerAddr::as_str).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "servers": servers, "namespaces": namespaces })
}

fn membership_tables(view: &Membership) -> String {
    let servers: Vec<Vec<String>> = view
        .servers
        .iter()
        .map(|(addr, data)| {
            let namespaces = namespaces_of(view, addr);
            vec![
                addr.to_string(),
                if namespaces.is_empty() {
                    "(offline)".to_owned()
                } else {
                    namespaces.join(",")
                },
                data.to_string(),
            ]
        })
        .collect();
    let namespaces: Vec<Vec<String>> = view
        .namespaces
        .iter()
        .map(|(name, ns)| {
            vec![
                name.clone(),
                ns.leader
                    .as_ref()
                    .map_or("-".to_owned(), ServerAddr::to_string),
                if ns.servers.is_empty() {
                    "-".to_owned()
                } else {
                    ns.servers
                        .iter()
                        .map(ServerAddr::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ]
        })
        .collect();
    format!(
        "SERVERS\n{}\nNAMESPACES\n{}",
        render::table(&["ADDRESS", "NAMESPACES", "SERVER-DATA"], &servers),
        render::table(&["NAMESPACE", "LEADER", "SERVERS"], &namespaces)
    )
}

/// Prints what changed from `old` to `new`, one event per line:
/// `server-added ADDR DATA`, `server-data ADDR DATA`, `server-removed ADDR`,
/// `ns-added NS ADDR`, `ns-removed NS ADDR`, `leader NS ADDR|-`, `zk STATE`.
fn print_events(old: &Membership, new: &Membership) {
    if old.zk != new.zk {
        println!("zk {}", format!("{:?}", new.zk).to_lowercase());
    }
    for (addr, data) in &new.servers {
        match old.servers.get(addr) {
            None => println!("server-added {addr} {data}"),
            Some(before) if before != data => println!("server-data {addr} {data}"),
            Some(_) => {}
        }
    }
    let empty = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        old.namespaces.keys().chain(new.namespaces.keys()).collect();
    for name in names {
        let before = old.namespaces.get(name);
        let after = new.namespaces.get(name);
        let was = before.map_or(&empty, |ns| &ns.servers);
        let is = after.map_or(&empty, |ns| &ns.servers);
        for addr in is.iter().filter(|a| !was.contains(a)) {
            println!("ns-added {name} {addr}");
        }
        for addr in was.iter().filter(|a| !is.contains(a)) {
            println!("ns-removed {name} {addr}");
        }
        let leader_was = before.and_then(|ns| ns.leader.as_ref());
        let leader_is = after.and_then(|ns| ns.leader.as_ref());
        if leader_was != leader_is {
            println!(
                "leader {name} {}",
                leader_is.map_or("-".to_owned(), ServerAddr::to_string)
            );
        }
    }
    for addr in old.servers.keys().filter(|a| !new.servers.contains_key(*a)) {
        println!("server-removed {addr}");
    }
}
