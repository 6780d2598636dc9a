//! `slacker console`: a web console for one cluster, one page with plain JavaScript shipped in
//! the binary (`console.html`), no build step.
//!
//! * `GET /`: the page. It opens `GET /events` (server-sent events): an `event: state` with
//!   the whole view (servers, server-data, connection state, namespaces, leaders, per-server
//!   calls / errors / p99 from inspect) whenever discovery changes and every 2 s, and an
//!   `event: log` for each membership change, leader change and partial failure, timestamped.
//! * `POST /api/offline`, `/api/online` (`{"addr", "ns"?}`), `/api/set-data` (`{"addr",
//!   "data"}`): the manager namespace of that server, with `--secret` when it has one.
//! * `POST /api/call` (`{"ns", "function", "args", "grouping"?}`): a call by name through the
//!   cluster client; the answer lists each server's result or error.
//! * `GET /api/state`: the same view as JSON.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use slacker_core::inspect::InspectRequest;
use slacker_core::{CallOptions, ServerAddr};
use slacker_zk::manager::{self, ManagerError};
use slacker_zk::{ClusterClient, Membership};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{Ctx, Fail, GroupingArg};

const PAGE: &str = include_str!("console.html");
/// Log entries kept for a page that connects later.
const LOG_KEPT: usize = 200;
/// How often per-server statistics are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(2);

/// Per-server statistics from inspect.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct ServerStats {
    calls: u64,
    errors: u64,
    p99_us: u64,
}

struct Console {
    client: ClusterClient,
    secret: Option<String>,
    options: slacker_core::ClientOptions,
    log: Mutex<VecDeque<Value>>,
    stats: Mutex<BTreeMap<ServerAddr, ServerStats>>,
    /// `("state" | "log", json)` for every open page.
    updates: broadcast::Sender<(&'static str, String)>,
}

impl Console {
    fn log(&self, kind: &str, text: String) {
        let entry = json!({ "at_ms": now_ms(), "kind": kind, "text": text });
        {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            if log.len() == LOG_KEPT {
                log.pop_front();
            }
            log.push_back(entry.clone());
        }
        let _ = self.updates.send(("log", entry.to_string()));
    }

    fn state(&self) -> Value {
        let membership = self.client.membership().borrow().clone();
        let view = self.client.snapshot();
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let servers: Vec<Value> = membership
            .servers
            .iter()
            .map(|(addr, data)| {
                let namespaces: Vec<&str> = membership
                    .namespaces
                    .iter()
                    .filter(|(_, ns)| ns.servers.contains(addr))
                    .map(|(name, _)| name.as_str())
                    .collect();
                let leads: Vec<&str> = membership
                    .namespaces
                    .iter()
                    .filter(|(_, ns)| ns.leader.as_ref() == Some(addr))
                    .map(|(name, _)| name.as_str())
                    .collect();
                let status = view.servers.get(addr);
                json!({
                    "addr": addr.as_str(),
                    "data": data,
                    "connection": status.map(|s| format!("{:?}", s.state)),
                    "in_flight": status.map(|s| s.in_flight),
                    "ejected": status.is_some_and(|s| s.ejected),
                    "namespaces": namespaces,
                    "leads": leads,
                    "stats": stats.get(addr),
                })
            })
            .collect();
        let namespaces: Vec<Value> = membership
            .namespaces
            .iter()
            .map(|(name, ns)| {
                json!({
                    "name": name,
                    "servers": ns.servers.iter().map(ServerAddr::as_str).collect::<Vec<_>>(),
                    "leader": ns.leader.as_ref().map(ServerAddr::as_str),
                })
            })
            .collect();
        json!({
            "zk": format!("{:?}", membership.zk),
            "servers": servers,
            "namespaces": namespaces,
        })
    }

    fn push_state(&self) {
        let _ = self.updates.send(("state", self.state().to_string()));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Log lines for what changed between two membership views.
fn changes(before: &Membership, after: &Membership) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for addr in after.servers.keys() {
        if !before.servers.contains_key(addr) {
            out.push(("join", format!("{addr} joined")));
        } else if before.servers.get(addr) != after.servers.get(addr) {
            let data = after.servers.get(addr).cloned().unwrap_or(Value::Null);
            out.push(("data", format!("{addr} server-data {data}")));
        }
    }
    for addr in before.servers.keys() {
        if !after.servers.contains_key(addr) {
            out.push(("leave", format!("{addr} left")));
        }
    }
    for (name, ns) in &after.namespaces {
        let old = before.namespaces.get(name);
        for s in &ns.servers {
            if !old.is_some_and(|o| o.servers.contains(s)) {
                out.push(("online", format!("{s} serves {name}")));
            }
        }
        if let Some(old) = old {
            for s in &old.servers {
                if !ns.servers.contains(s) {
                    out.push(("offline", format!("{s} no longer serves {name}")));
                }
            }
        }
        if old.and_then(|o| o.leader.as_ref()) != ns.leader.as_ref() {
            let leader = ns
                .leader
                .as_ref()
                .map_or("nobody".into(), ServerAddr::to_string);
            out.push(("leader", format!("{name}: leader {leader}")));
        }
    }
    if before.zk != after.zk {
        out.push(("zookeeper", format!("ZooKeeper {:?}", after.zk)));
    }
    out
}

/// Follows discovery and partial failures into the log, and refreshes statistics.
async fn follow(console: Arc<Console>, close: CancellationToken) {
    let mut membership = console.client.membership();
    let mut last = Membership {
        zk: membership.borrow().zk,
        servers: BTreeMap::new(),
        namespaces: BTreeMap::new(),
        resyncs: 0,
    };
    let mut partial = console.client.partial_failures();
    let mut tick = tokio::time::interval(STATS_EVERY);
    loop {
        let now = membership.borrow_and_update().clone();
        for (kind, text) in changes(&last, &now) {
            console.log(kind, text);
        }
        last = now;
        console.push_state();
        tokio::select! {
            _ = close.cancelled() => return,
            changed = membership.changed() => if changed.is_err() { return },
            p = partial.recv() => {
                if let Ok(p) = p {
                    let servers: Vec<String> = p.failures.iter().map(|(s, e)| format!("{s}: {e}")).collect();
                    console.log("partial", format!("{}/{} partial failure: {}", p.namespace, p.function, servers.join("; ")));
                }
            }
            _ = tick.tick() => refresh_stats(&console).await,
        }
    }
}

async fn refresh_stats(console: &Console) {
    let servers: Vec<ServerAddr> = console
        .client
        .membership()
        .borrow()
        .servers
        .keys()
        .cloned()
        .collect();
    let mut fresh = BTreeMap::new();
    for addr in servers {
        let Some(conn) = console.client.client(&addr) else {
            continue;
        };
        let answer = tokio::time::timeout(
            Duration::from_secs(1),
            conn.inspect(InspectRequest::default()),
        )
        .await;
        if let Ok(Ok(answer)) = answer {
            let mut s = ServerStats::default();
            for f in answer.stats.unwrap_or_default() {
                s.calls += f.calls;
                s.errors += f.errors;
                s.p99_us = s.p99_us.max(f.p99_us);
            }
            fresh.insert(addr, s);
        }
    }
    *console.stats.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
}

/// Runs the console on `listen` until Ctrl-C.
pub async fn run(ctx: &Ctx, listen: SocketAddr) -> Result<(), Fail> {
    let client = crate::cluster::connect(ctx).await?;
    let (listener, local) = crate::listen(listen).await?;
    let (updates, _) = broadcast::channel(256);
    let console = Arc::new(Console {
        client: client.clone(),
        secret: ctx.secret.clone(),
        options: ctx.client_options(),
        log: Mutex::default(),
        stats: Mutex::default(),
        updates,
    });
    let close = CancellationToken::new();
    let follower = tokio::spawn(follow(console.clone(), close.clone()));
    println!("console on http://{local}");
    let serving = tokio::spawn(slacker_core::server::serve_router(
        listener,
        router(console),
        close.clone(),
    ));
    let _ = tokio::signal::ctrl_c().await;
    close.cancel();
    let _ = serving.await;
    let _ = follower.await;
    client.close().await;
    Ok(())
}

fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/api/state", get(state))
        .route("/api/offline", post(offline))
        .route("/api/online", post(online))
        .route("/api/set-data", post(set_data))
        .route("/api/call", post(call))
        .with_state(console)
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn state(State(console): State<Arc<Console>>) -> Json<Value> {
    Json(console.state())
}

async fn events(
    State(console): State<Arc<Console>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = console.updates.subscribe();
    let first: Vec<Event> = std::iter::once(
        Event::default()
            .event("state")
            .data(console.state().to_string()),
    )
    .chain(
        console
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|e| Event::default().event("log").data(e.to_string())),
    )
    .collect();
    // A page that falls behind skips what it missed: the next state brings it up to date.
    let rest = futures::stream::unfold(updates, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok((kind, data)) => return Some((Ok(Event::default().event(kind).data(data)), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures::stream::iter(first.into_iter().map(Ok)).chain(rest);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Debug, serde::Deserialize)]
struct Target {
    addr: String,
    ns: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct SetData {
    addr: String,
    data: Value,
}

#[derive(Debug, serde::Deserialize)]
struct CallForm {
    ns: String,
    function: String,
    #[serde(default)]
    args: Value,
    grouping: Option<String>,
}

fn outcome(result: slacker_core::Result<Result<(), ManagerError>>) -> (StatusCode, Json<Value>) {
    match result {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"ok": true, "message": "done"}))),
        Ok(Err(ManagerError::NotInSync(why))) => (
            StatusCode::ACCEPTED,
            Json(
                json!({"ok": true, "message": format!("accepted, ZooKeeper not updated yet: {why}")}),
            ),
        ),
        Ok(Err(e)) => (
            StatusCode::CONFLICT,
            Json(json!({"ok": false, "message": e.to_string()})),
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"ok": false, "message": e.to_string()})),
        ),
    }
}

async fn manager_of(
    console: &Console,
    addr: &str,
) -> Result<manager::ManagerClient<slacker_core::Client>, (StatusCode, Json<Value>)> {
    manager::connect(addr, console.secret.as_deref(), console.options.clone())
        .await
        .map_err(|e| {
            (
                StatusCode::BAD_GATEWAY,
                Json(json!({"ok": false, "message": format!("cannot reach {addr}: {e}")})),
            )
        })
}

async fn offline(
    State(console): State<Arc<Console>>,
    Json(t): Json<Target>,
) -> (StatusCode, Json<Value>) {
    switch(&console, t, false).await
}

async fn online(
    State(console): State<Arc<Console>>,
    Json(t): Json<Target>,
) -> (StatusCode, Json<Value>) {
    switch(&console, t, true).await
}

/// Puts a server (or one of its namespaces) online or offline through its manager.
async fn switch(console: &Console, t: Target, online: bool) -> (StatusCode, Json<Value>) {
    let m = match manager_of(console, &t.addr).await {
        Ok(m) => m,
        Err(e) => return e,
    };
    let what = if online { "online" } else { "offline" };
    let ns = t.ns.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
    console.log("action", format!("{what} {}{ns}", t.addr));
    let r = match (t.ns, online) {
        (Some(ns), true) => m.online_ns(ns).await,
        (Some(ns), false) => m.offline_ns(ns).await,
        (None, true) => m.online().await,
        (None, false) => m.offline().await,
    };
    outcome(r)
}

async fn set_data(
    State(console): State<Arc<Console>>,
    Json(s): Json<SetData>,
) -> (StatusCode, Json<Value>) {
    let m = match manager_of(&console, &s.addr).await {
        Ok(m) => m,
        Err(e) => return e,
    };
    console.log("action", format!("set-data {} {}", s.addr, s.data));
    outcome(m.set_server_data(s.data).await)
}

async fn call(
    State(console): State<Arc<Console>>,
    Json(form): Json<CallForm>,
) -> (StatusCode, Json<Value>) {
    let grouping = match form.grouping.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => match <GroupingArg as clap::ValueEnum>::from_str(g, true) {
            Ok(g) => Some(g.grouping()),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("unknown grouping `{g}`")})),
                )
            }
        },
        None => None,
    };
    let mut options = CallOptions::new().timeout(Duration::from_secs(10));
    options.grouping = grouping;
    match console
        .client
        .call_by_name(&form.ns, &form.function, form.args, options)
        .await
    {
        Ok(answers) => {
            let results: Vec<Value> = answers
                .into_iter()
                .map(|(server, r)| match r {
                    Ok(v) => json!({"server": server.as_str(), "ok": true, "value": v}),
                    Err(e) => {
                        json!({"server": server.as_str(), "ok": false, "error": e.to_string()})
                    }
                })
                .collect();
            (StatusCode::OK, Json(json!({"results": results})))
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": e.to_string()})),
        ),
    }
}
