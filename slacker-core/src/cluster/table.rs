//! The membership table a [`Cluster`](super::Cluster) routes on, and the grouping modes that
//! choose servers from it. Previous hop: `cluster/mod.rs` (the call path); next hop: the chosen
//! servers' [`Client`]s.
//!
//! The table holds one persistent [`Client`] per registered server (its in-flight count and
//! connection state are the per-server state every mode reads) and one routing list per
//! namespace. Selection runs under the table's read lock and never awaits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::Value;

use super::health::Health;
use crate::membership::{Change, ServerInfo};
use crate::observe::metrics::{ClusterMetrics, ServerObs};
use crate::{
    Call, Client, ClientOptions, ConnState, Error, Grouping, GroupingInput, Result, Selection,
    ServerAddr, ServerView,
};

/// One registered server. Shared (one reference count) with the targets chosen from it.
pub(super) struct Member {
    pub(super) addr: ServerAddr,
    pub(super) client: Client,
    pub(super) data: Value,
    /// Failure accrual (kept across a server-data change, which replaces the member).
    pub(super) health: Arc<Health>,
    /// Its metric handles.
    pub(super) obs: Arc<ServerObs>,
}

impl Member {
    pub(super) fn conn_state(&self) -> ConnState {
        self.client.conn_state()
    }
}

/// One namespace's routing list.
pub(super) struct Route {
    pub(super) servers: Vec<ServerAddr>,
    pub(super) leader: Option<ServerAddr>,
    /// Round-robin position; survives membership changes.
    next: AtomicUsize,
}

/// A server chosen for one attempt: its member, shared (choosing costs one reference count,
/// not one per field: the call path of a busy cluster takes and drops one per attempt).
pub(super) type Target = Arc<Member>;

/// A routable server of a namespace, as selection sees it.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    addr: &'a ServerAddr,
    member: &'a Arc<Member>,
}

impl Candidate<'_> {
    fn target(self) -> Target {
        Arc::clone(self.member)
    }

    /// The server-data `weight`: a non-negative number, 1 when absent or invalid.
    fn weight(self) -> f64 {
        self.member
            .data
            .get("weight")
            .and_then(Value::as_f64)
            .filter(|w| w.is_finite() && *w >= 0.0)
            .unwrap_or(1.0)
    }
}

#[derive(Default)]
pub(super) struct Table {
    pub(super) servers: HashMap<ServerAddr, Arc<Member>>,
    pub(super) namespaces: HashMap<String, Route>,
}

impl Table {
    /// Applies one membership change. Must run inside a tokio runtime (an `Insert` spawns the
    /// new server's connection driver).
    pub(super) fn apply(
        &mut self,
        change: Change,
        options: &ClientOptions,
        metrics: &ClusterMetrics,
    ) {
        match change {
            Change::Insert(addr, ServerInfo { data }) => match self.servers.get_mut(&addr) {
                // Targets chosen before keep the member they were chosen from; its connection,
                // health and metrics carry over to the new one.
                Some(member) => {
                    let next = Member {
                        addr: member.addr.clone(),
                        client: member.client.clone(),
                        data,
                        health: member.health.clone(),
                        obs: member.obs.clone(),
                    };
                    *member = Arc::new(next);
                }
                None => {
                    let client = Client::lazy(addr.clone(), options.clone());
                    let obs = metrics.server(addr.as_str());
                    let member = Member {
                        addr: addr.clone(),
                        client,
                        data,
                        health: Arc::default(),
                        obs,
                    };
                    self.servers.insert(addr, Arc::new(member));
                }
            },
            // Calls still running on it finish if it answers (a graceful stop drains them)
            // and fail at once if it does not (`Client::retire`); the connection closes when
            // the last of them drops its handle.
            Change::Remove(addr) => {
                if let Some(member) = self.servers.remove(&addr) {
                    member.client.clone().retire();
                }
            }
            Change::Namespace {
                namespace,
                servers,
                leader,
            } => {
                let leader = leader.filter(|l| servers.contains(l));
                match self.namespaces.get_mut(&namespace) {
                    Some(route) => {
                        route.servers = servers;
                        route.leader = leader;
                    }
                    None => {
                        self.namespaces.insert(
                            namespace,
                            Route {
                                servers,
                                leader,
                                next: AtomicUsize::new(0),
                            },
                        );
                    }
                }
            }
        }
    }

    /// The namespace's registered servers, in list order, minus `exclude`.
    fn candidates<'a>(&'a self, namespace: &str, exclude: &[ServerAddr]) -> Vec<Candidate<'a>> {
        let Some(route) = self.namespaces.get(namespace) else {
            return Vec::new();
        };
        route
            .servers
            .iter()
            .filter(|a| !exclude.contains(a))
            .filter_map(|addr| {
                let member = self.servers.get(addr)?;
                Some(Candidate { addr, member })
            })
            .collect()
    }

    /// The namespace's registered servers whose connection is up, in list order.
    pub(super) fn routable(&self, namespace: &str) -> Vec<ServerAddr> {
        self.candidates(namespace, &[])
            .into_iter()
            .filter(|c| c.member.conn_state() == ConnState::Connected)
            .map(|c| c.addr.clone())
            .collect()
    }

    /// The servers `call` goes to under `grouping`, skipping `exclude` (servers already tried).
    /// A pinned call (`CallOptions::server`) goes to that registered server only.
    ///
    /// Empty (never an error) when `exclude` leaves nothing to choose.
    pub(super) fn select(
        &self,
        call: &Call,
        grouping: &Grouping,
        exclude: &[ServerAddr],
    ) -> Result<Vec<Target>> {
        if let Some(pinned) = &call.options.server {
            if exclude.contains(pinned) {
                return Ok(Vec::new());
            }
            let member = self.servers.get(pinned).ok_or_else(|| unavailable(call))?;
            return Ok(vec![Candidate {
                addr: pinned,
                member,
            }
            .target()]);
        }
        let candidates = self.candidates(&call.namespace, exclude);
        let route = self.namespaces.get(&*call.namespace);
        let chosen = match grouping {
            Grouping::Custom(f) => {
                let views: Vec<ServerView<'_>> = candidates
                    .iter()
                    .map(|c| ServerView {
                        addr: c.addr,
                        data: &c.member.data,
                        in_flight: c.member.client.in_flight(),
                        connected: c.member.conn_state() == ConnState::Connected,
                        leader: route.and_then(|r| r.leader.as_ref()) == Some(c.addr),
                    })
                    .collect();
                let input = GroupingInput {
                    namespace: &call.namespace,
                    function: &call.function,
                    content_type: call.content_type,
                    payload: &call.payload,
                    servers: &views,
                };
                match f.select(&input) {
                    Selection::One(addr) => vec![find(&candidates, &addr, call)?],
                    Selection::Many(addrs) => addrs
                        .iter()
                        .map(|a| find(&candidates, a, call))
                        .collect::<Result<_>>()?,
                    Selection::Mode(Grouping::Custom(_)) => {
                        return Err(Error::Config(format!(
                            "the grouping function of {}/{} returned another grouping function",
                            call.namespace, call.function
                        )))
                    }
                    Selection::Mode(mode) => choose(&mode, candidates, route),
                }
            }
            mode => choose(mode, candidates, route),
        };
        if chosen.is_empty() && exclude.is_empty() {
            return Err(unavailable(call));
        }
        Ok(chosen.into_iter().map(Candidate::target).collect())
    }
}

/// A built-in mode's choice among `candidates`.
fn choose<'a>(
    mode: &Grouping,
    candidates: Vec<Candidate<'a>>,
    route: Option<&Route>,
) -> Vec<Candidate<'a>> {
    let mut rng = rand::thread_rng();
    let one = |c: Option<&Candidate<'a>>| c.copied().into_iter().collect();
    match mode {
        // Every registered server, up or not: a broadcast reports a down server as a failure
        // (at once: a disconnected client fails fast) instead of silently shrinking.
        Grouping::All => candidates,
        // Only the current leader, up or not: a call must never reach a former leader.
        Grouping::Leader => {
            let leader = route.and_then(|r| r.leader.as_ref());
            candidates
                .into_iter()
                .filter(|c| Some(c.addr) == leader)
                .collect()
        }
        Grouping::Random => {
            let healthy = healthy(candidates);
            let i = rng.gen_range(0..healthy.len().max(1));
            keep_one(healthy, i)
        }
        Grouping::PowerOfTwoChoices => {
            let healthy = healthy(candidates);
            let n = healthy.len();
            if n < 2 {
                return healthy;
            }
            // Two different servers at random; the one with fewer calls in flight wins.
            let a = rng.gen_range(0..n);
            let b = (a + rng.gen_range(1..n)) % n;
            let less = |x: usize| healthy[x].member.client.in_flight();
            let pick = if less(b) < less(a) { b } else { a };
            keep_one(healthy, pick)
        }
        Grouping::First => keep_one(healthy(candidates), 0),
        Grouping::RoundRobin => {
            let healthy = healthy(candidates);
            if healthy.is_empty() {
                return healthy;
            }
            let next = route.map_or(0, |r| r.next.fetch_add(1, Ordering::Relaxed));
            let i = next % healthy.len();
            keep_one(healthy, i)
        }
        Grouping::LeastInFlight => {
            let loads: Vec<(Candidate<'a>, usize)> = healthy(candidates)
                .into_iter()
                .map(|c| (c, c.member.client.in_flight()))
                .collect();
            let least = loads.iter().map(|(_, n)| *n).min();
            let tied: Vec<Candidate<'a>> = loads
                .into_iter()
                .filter(|(_, n)| Some(*n) == least)
                .map(|(c, _)| c)
                .collect();
            // Ties are broken at random, so an idle cluster does not load its first server.
            one(tied.choose(&mut rng))
        }
        Grouping::Weighted => {
            let healthy = healthy(candidates);
            let total: f64 = healthy.iter().map(|c| c.weight()).sum();
            if total <= 0.0 {
                return one(healthy.choose(&mut rng));
            }
            let mut point = rng.gen_range(0.0..total);
            for c in &healthy {
                let w = c.weight();
                if point < w {
                    return vec![*c];
                }
                point -= w;
            }
            // Rounding left the point past the end: the last server with a weight.
            one(healthy.iter().rev().find(|c| c.weight() > 0.0))
        }
        Grouping::Custom(_) => Vec::new(),
    }
}

/// The candidates single-server modes choose among, the first non-empty of: connected and not
/// ejected; connecting (a lazy connection's first attempt) and not ejected; connected; connecting;
/// all of them, so that a call to a namespace whose every connection is down fails with a real
/// connection error, not `Unavailable`.
fn healthy(mut candidates: Vec<Candidate<'_>>) -> Vec<Candidate<'_>> {
    let wanted = [
        (ConnState::Connected, false),
        (ConnState::Connecting, false),
        (ConnState::Connected, true),
        (ConnState::Connecting, true),
    ];
    for (state, ejected_too) in wanted {
        let fits = |c: &Candidate<'_>| {
            c.member.conn_state() == state && (ejected_too || !c.member.health.is_ejected())
        };
        if candidates.iter().any(fits) {
            candidates.retain(fits);
            return candidates;
        }
    }
    candidates
}

/// `candidates` cut down to its `i`th element, in place (a call allocates no list of one).
fn keep_one(mut candidates: Vec<Candidate<'_>>, i: usize) -> Vec<Candidate<'_>> {
    if i < candidates.len() {
        candidates.swap(0, i);
        candidates.truncate(1);
    } else {
        candidates.clear();
    }
    candidates
}

/// A server a grouping function chose; it must be one it was shown.
fn find<'a>(candidates: &[Candidate<'a>], addr: &ServerAddr, call: &Call) -> Result<Candidate<'a>> {
    candidates
        .iter()
        .find(|c| c.addr == addr)
        .copied()
        .ok_or_else(|| {
            Error::Config(format!(
                "the grouping function of {}/{} chose {addr}, which does not offer the namespace",
                call.namespace, call.function
            ))
        })
}

fn unavailable(call: &Call) -> Error {
    Error::Unavailable {
        namespace: call.namespace.to_string(),
    }
}
