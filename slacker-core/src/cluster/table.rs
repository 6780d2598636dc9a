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

use rand::Rng;
use serde_json::Value;

use super::health::Health;
use crate::membership::{Change, ServerInfo};
use crate::names::{FastBuild, NameMap};
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
    /// The server-data `weight` (read once, not per call): a non-negative number, 1 when
    /// absent or invalid.
    pub(super) weight: f64,
}

impl Member {
    fn new(
        addr: ServerAddr,
        client: Client,
        data: Value,
        health: Arc<Health>,
        obs: Arc<ServerObs>,
    ) -> Self {
        let weight = data
            .get("weight")
            .and_then(Value::as_f64)
            .filter(|w| w.is_finite() && *w >= 0.0)
            .unwrap_or(1.0);
        Self {
            addr,
            client,
            data,
            health,
            obs,
            weight,
        }
    }

    pub(super) fn conn_state(&self) -> ConnState {
        self.client.conn_state()
    }
}

/// One namespace's routing list.
pub(super) struct Route {
    pub(super) servers: Vec<ServerAddr>,
    pub(super) leader: Option<ServerAddr>,
    /// The registered members of `servers`, in list order: what a call chooses among, resolved
    /// when membership changes rather than looked up on every call.
    members: Vec<Arc<Member>>,
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
}

/// Where a call goes: one server (the common call: no list), or several (`all`, a grouping
/// function's choice; empty when nothing is left to choose).
pub(super) enum Chosen {
    One(Target),
    Many(Vec<Target>),
}

#[derive(Default)]
pub(super) struct Table {
    pub(super) servers: HashMap<ServerAddr, Arc<Member>, FastBuild>,
    pub(super) namespaces: NameMap<Route>,
    /// For each server some routing list names (registered or not), those namespaces: what a
    /// change of that server re-resolves, without scanning every route's list.
    listed_in: HashMap<ServerAddr, Vec<String>, FastBuild>,
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
                    let next = Member::new(
                        member.addr.clone(),
                        member.client.clone(),
                        data,
                        member.health.clone(),
                        member.obs.clone(),
                    );
                    *member = Arc::new(next);
                    self.resolve_routes_with(&addr);
                }
                None => {
                    let client = Client::lazy(addr.clone(), options.clone());
                    let obs = metrics.server(addr.as_str());
                    let member = Member::new(addr.clone(), client, data, Arc::default(), obs);
                    self.servers.insert(addr.clone(), Arc::new(member));
                    self.resolve_routes_with(&addr);
                }
            },
            // Calls still running on it finish if it answers (a graceful stop drains them)
            // and fail at once if it does not (`Client::retire`); the connection closes when
            // the last of them drops its handle.
            Change::Remove(addr) => {
                if let Some(member) = self.servers.remove(&addr) {
                    member.client.clone().retire();
                    self.resolve_routes_with(&addr);
                }
            }
            Change::Namespace {
                namespace,
                servers,
                leader,
            } => {
                let leader = leader.filter(|l| servers.contains(l));
                let members = resolve(&self.servers, &servers);
                let old = self
                    .namespaces
                    .get(&namespace)
                    .map(|r| r.servers.as_slice());
                index(
                    &mut self.listed_in,
                    &namespace,
                    old.unwrap_or_default(),
                    &servers,
                );
                match self.namespaces.get_mut(&namespace) {
                    Some(route) => {
                        route.servers = servers;
                        route.leader = leader;
                        route.members = members;
                    }
                    None => {
                        self.namespaces.insert(
                            namespace,
                            Route {
                                servers,
                                leader,
                                members,
                                next: AtomicUsize::new(0),
                            },
                        );
                    }
                }
            }
        }
    }

    /// Re-resolves the members of every route that lists `addr` (it joined, left or changed).
    fn resolve_routes_with(&mut self, addr: &ServerAddr) {
        let Some(namespaces) = self.listed_in.get(addr) else {
            return;
        };
        for namespace in namespaces {
            if let Some(route) = self.namespaces.get_mut(namespace) {
                route.members = resolve(&self.servers, &route.servers);
            }
        }
    }

    /// Forgets every route and server; returns the servers' clients (to close).
    pub(super) fn drain(&mut self) -> Vec<Client> {
        self.namespaces.clear();
        self.listed_in.clear();
        self.servers
            .drain()
            .map(|(_, m)| m.client.clone())
            .collect()
    }

    /// The namespace's registered servers, in list order, minus `exclude`.
    fn candidates<'a>(&'a self, namespace: &str, exclude: &[ServerAddr]) -> Vec<Candidate<'a>> {
        let Some(route) = self.namespaces.get(namespace) else {
            return Vec::new();
        };
        route
            .members
            .iter()
            .filter(|m| !exclude.contains(&m.addr))
            .map(|member| Candidate {
                addr: &member.addr,
                member,
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
    ) -> Result<Chosen> {
        if let Some(pinned) = &call.options.server {
            if exclude.contains(pinned) {
                return Ok(Chosen::Many(Vec::new()));
            }
            let member = self.servers.get(pinned).ok_or_else(|| unavailable(call))?;
            return Ok(Chosen::One(Arc::clone(member)));
        }
        let route = self.namespaces.get(&*call.namespace);
        let chosen = match grouping {
            Grouping::Custom(f) => self.select_custom(f, call, route, exclude)?,
            Grouping::All | Grouping::Leader => {
                let candidates = self.candidates(&call.namespace, exclude);
                Chosen::Many(choose_many(grouping, candidates, route))
            }
            // The common call: no list is built.
            mode => {
                let members = route
                    .into_iter()
                    .flat_map(|r| r.members.iter())
                    .filter(|m| !exclude.contains(&m.addr));
                Chosen::of(pick_one(mode, members, route))
            }
        };
        if chosen.is_empty() && exclude.is_empty() {
            return Err(unavailable(call));
        }
        Ok(chosen)
    }

    /// A grouping function's choice among the namespace's servers minus `exclude`.
    fn select_custom(
        &self,
        f: &crate::GroupingFn,
        call: &Call,
        route: Option<&Route>,
        exclude: &[ServerAddr],
    ) -> Result<Chosen> {
        let candidates = self.candidates(&call.namespace, exclude);
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
        Ok(match f.select(&input) {
            Selection::One(addr) => Chosen::One(find(&candidates, &addr, call)?.target()),
            Selection::Many(addrs) => Chosen::Many(
                addrs
                    .iter()
                    .map(|a| find(&candidates, a, call).map(Candidate::target))
                    .collect::<Result<_>>()?,
            ),
            Selection::Mode(Grouping::Custom(_)) => {
                return Err(Error::Config(format!(
                    "the grouping function of {}/{} returned another grouping function",
                    call.namespace, call.function
                )))
            }
            Selection::Mode(mode @ (Grouping::All | Grouping::Leader)) => {
                Chosen::Many(choose_many(&mode, candidates, route))
            }
            Selection::Mode(mode) => {
                Chosen::of(pick_one(&mode, candidates.iter().map(|c| c.member), route))
            }
        })
    }
}

impl Chosen {
    fn of(member: Option<&Arc<Member>>) -> Self {
        match member {
            Some(m) => Self::One(Arc::clone(m)),
            None => Self::Many(Vec::new()),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, Self::Many(targets) if targets.is_empty())
    }
}

/// The registered members among `servers`, in list order.
fn resolve(
    members: &HashMap<ServerAddr, Arc<Member>, FastBuild>,
    servers: &[ServerAddr],
) -> Vec<Arc<Member>> {
    servers
        .iter()
        .filter_map(|a| members.get(a).cloned())
        .collect()
}

/// The multi-server modes' choice among `candidates`.
fn choose_many(
    mode: &Grouping,
    candidates: Vec<Candidate<'_>>,
    route: Option<&Route>,
) -> Vec<Target> {
    match mode {
        // Only the current leader, up or not: a call must never reach a former leader.
        Grouping::Leader => {
            let leader = route.and_then(|r| r.leader.as_ref());
            candidates
                .into_iter()
                .filter(|c| Some(c.addr) == leader)
                .map(Candidate::target)
                .collect()
        }
        // Every registered server, up or not: a broadcast reports a down server as a failure
        // (at once: a disconnected client fails fast) instead of silently shrinking.
        _ => candidates.into_iter().map(Candidate::target).collect(),
    }
}

/// Which servers single-server modes choose among, the first tier with a server in it:
/// connected and not ejected; connecting (a lazy connection's first attempt) and not ejected;
/// connected; connecting; then all of them (`None`), so that a call to a namespace whose every
/// connection is down fails with a real connection error, not `Unavailable`.
const TIERS: [(ConnState, bool); 4] = [
    (ConnState::Connected, false),
    (ConnState::Connecting, false),
    (ConnState::Connected, true),
    (ConnState::Connecting, true),
];

fn in_tier(member: &Member, tier: Option<(ConnState, bool)>) -> bool {
    tier.is_none_or(|(state, ejected_too)| {
        member.conn_state() == state && (ejected_too || !member.health.is_ejected())
    })
}

/// Moves `namespace` in `listed_in` from the servers of its `old` list to those of its `new`
/// one (O(lists' length), the cost of resolving the new list anyway).
fn index(
    listed_in: &mut HashMap<ServerAddr, Vec<String>, FastBuild>,
    namespace: &str,
    old: &[ServerAddr],
    new: &[ServerAddr],
) {
    for addr in old {
        if let Some(namespaces) = listed_in.get_mut(addr) {
            namespaces.retain(|n| n != namespace);
            if namespaces.is_empty() {
                listed_in.remove(addr);
            }
        }
    }
    for addr in new {
        let namespaces = listed_in.entry(addr.clone()).or_default();
        if !namespaces.iter().any(|n| n == namespace) {
            namespaces.push(namespace.to_owned());
        }
    }
}

/// A single-server mode's choice among `members`, without building a list (the path of
/// nearly every call). Connection states change under it; if a server left the tier between
/// the passes below and nothing was found, the choice is made again among all of them.
fn pick_one<'a, I>(mode: &Grouping, members: I, route: Option<&Route>) -> Option<&'a Arc<Member>>
where
    I: Iterator<Item = &'a Arc<Member>> + Clone,
{
    let tier = TIERS
        .into_iter()
        .find(|t| members.clone().any(|m| in_tier(m, Some(*t))));
    pick_in_tier(mode, members.clone(), tier, route)
        .or_else(|| tier.and_then(|_| pick_in_tier(mode, members, None, route)))
}

fn pick_in_tier<'a, I>(
    mode: &Grouping,
    members: I,
    tier: Option<(ConnState, bool)>,
    route: Option<&Route>,
) -> Option<&'a Arc<Member>>
where
    I: Iterator<Item = &'a Arc<Member>> + Clone,
{
    let healthy = members.filter(move |m| in_tier(m, tier));
    let mut rng = rand::thread_rng();
    let n = || healthy.clone().count();
    match mode {
        Grouping::First => healthy.clone().next(),
        Grouping::Random => {
            let n = n();
            healthy.clone().nth(rng.gen_range(0..n.max(1)))
        }
        Grouping::RoundRobin => {
            let n = n();
            if n == 0 {
                return None;
            }
            let next = route.map_or(0, |r| r.next.fetch_add(1, Ordering::Relaxed));
            healthy.clone().nth(next % n)
        }
        Grouping::PowerOfTwoChoices => {
            let n = n();
            if n < 2 {
                return healthy.clone().next();
            }
            // Two different servers at random; the one with fewer calls in flight wins.
            let a = rng.gen_range(0..n);
            let b = (a + rng.gen_range(1..n)) % n;
            let (a, b) = (healthy.clone().nth(a)?, healthy.clone().nth(b)?);
            Some(if b.client.in_flight() < a.client.in_flight() {
                b
            } else {
                a
            })
        }
        Grouping::LeastInFlight => {
            // One pass: the least loaded, ties broken at random (reservoir sampling), so an
            // idle cluster does not load its first server.
            let mut least: Option<(&Arc<Member>, usize, u32)> = None;
            for m in healthy {
                let load = m.client.in_flight();
                least = match least {
                    Some((_, l, _)) if load < l => Some((m, load, 1)),
                    Some((chosen, l, ties)) if load == l => {
                        let ties = ties + 1;
                        let keep = rng.gen_range(0..ties) != 0;
                        Some((if keep { chosen } else { m }, l, ties))
                    }
                    None => Some((m, load, 1)),
                    kept => kept,
                };
            }
            least.map(|(m, _, _)| m)
        }
        Grouping::Weighted => {
            let total: f64 = healthy.clone().map(|m| m.weight).sum();
            if total <= 0.0 {
                let n = n();
                return healthy.clone().nth(rng.gen_range(0..n.max(1)));
            }
            let mut point = rng.gen_range(0.0..total);
            for m in healthy.clone() {
                if point < m.weight {
                    return Some(m);
                }
                point -= m.weight;
            }
            // Rounding left the point past the end: the last server with a weight.
            healthy.filter(|m| m.weight > 0.0).last()
        }
        // Multi-server modes are chosen by `choose_many` and grouping functions by
        // `select_custom`; neither comes here.
        Grouping::All | Grouping::Leader | Grouping::Custom(_) => None,
    }
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::cluster::health::{OutlierEjection, Verdict};

    /// Members as a choice's passes see them: the first pass `first`, every later one
    /// `later`. Each pass iterates a fresh clone, as `pick_one` does.
    #[derive(Clone)]
    struct Passes<'a> {
        first: &'a [Arc<Member>],
        later: &'a [Arc<Member>],
        started: Rc<Cell<u32>>,
        items: Option<std::slice::Iter<'a, Arc<Member>>>,
    }

    impl<'a> Iterator for Passes<'a> {
        type Item = &'a Arc<Member>;

        fn next(&mut self) -> Option<Self::Item> {
            let (first, later, started) = (self.first, self.later, &self.started);
            self.items
                .get_or_insert_with(|| {
                    let pass = started.get();
                    started.set(pass + 1);
                    if pass == 0 { first } else { later }.iter()
                })
                .next()
        }
    }

    /// The race `pick_one` guards against: the pass that finds the best tier sees a healthy
    /// server, the passes that choose within it see only a server that left the tier (here:
    /// ejected). Every single-server mode then chooses again among all and finds that
    /// server instead of failing the call with nothing chosen.
    #[tokio::test]
    async fn a_server_that_leaves_the_tier_between_passes_is_chosen_again_among_all() {
        let server = crate::Server::builder()
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = Client::connect(server.local_addr(), ClientOptions::default())
            .await
            .expect("connect");
        assert_eq!(client.conn_state(), ConnState::Connected);
        let metrics = ClusterMetrics::default();
        let addr = ServerAddr::from(server.local_addr());
        let member = |health: Health| {
            Arc::new(Member::new(
                addr.clone(),
                client.clone(),
                Value::Null,
                Arc::new(health),
                metrics.server(addr.as_str()),
            ))
        };
        let healthy = member(Health::default());
        let ejected = Health::default();
        let hour = Duration::from_secs(3600);
        let policy = OutlierEjection::default()
            .consecutive_failures(1)
            .period(hour, hour);
        assert!(ejected.record(Verdict::Failing, &policy).is_some());
        let ejected = member(ejected);
        let (first, later) = ([healthy], [ejected.clone()]);
        let modes = [
            ("first", Grouping::First),
            ("random", Grouping::Random),
            ("round robin", Grouping::RoundRobin),
            ("p2c", Grouping::PowerOfTwoChoices),
            ("least in flight", Grouping::LeastInFlight),
            ("weighted", Grouping::Weighted),
        ];
        for (name, mode) in modes {
            let started = Rc::default();
            let passes = Passes {
                first: &first,
                later: &later,
                started: Rc::clone(&started),
                items: None,
            };
            let chosen = pick_one(&mode, passes, None);
            assert!(
                chosen.is_some_and(|m| Arc::ptr_eq(m, &ejected)),
                "{name}: nothing chosen"
            );
            assert!(started.get() >= 3, "{name}: {} passes", started.get());
        }
        assert_eq!(client.conn_state(), ConnState::Connected, "state held");
    }

    fn members(table: &Table, namespace: &str) -> Vec<String> {
        table.namespaces.get(namespace).map_or_else(Vec::new, |r| {
            r.members
                .iter()
                .map(|m| m.addr.as_str().to_owned())
                .collect()
        })
    }

    /// A server's join, leave and data change re-resolve the routes that list it (found
    /// through `listed_in`, not a scan of every route), and only those; the index follows
    /// the lists and forgets a server no list names.
    #[tokio::test]
    async fn a_membership_change_re_resolves_the_routes_that_list_the_server() {
        let (options, metrics) = (ClientOptions::default(), ClusterMetrics::default());
        let mut table = Table::default();
        let apply = |table: &mut Table, change| table.apply(change, &options, &metrics);
        let route = |namespace: &str, servers: &[&str]| Change::Namespace {
            namespace: namespace.into(),
            servers: servers.iter().map(|s| ServerAddr::from(*s)).collect(),
            leader: None,
        };
        let insert = |server: &str, data: Value| Change::Insert(server.into(), ServerInfo { data });
        // Nothing listens there: the members' clients stay lazy.
        let (a, b) = ("127.0.0.1:1", "127.0.0.1:2");
        apply(&mut table, route("x", &[a, b]));
        apply(&mut table, route("y", &[b]));
        apply(&mut table, insert(a, Value::Null));
        apply(&mut table, insert(b, Value::Null));
        assert_eq!(members(&table, "x"), [a, b]);
        assert_eq!(members(&table, "y"), [b]);

        apply(&mut table, Change::Remove(b.into()));
        assert_eq!(members(&table, "x"), [a]);
        assert!(members(&table, "y").is_empty());

        apply(&mut table, route("x", &[a]));
        apply(&mut table, insert(b, Value::Null));
        assert_eq!(members(&table, "x"), [a], "x no longer lists b");
        assert_eq!(members(&table, "y"), [b]);

        let before = Arc::clone(&table.namespaces["y"].members[0]);
        apply(&mut table, insert(b, serde_json::json!({"weight": 2})));
        let after = &table.namespaces["y"].members[0];
        assert!(
            !Arc::ptr_eq(&before, after),
            "the route holds the new member"
        );
        assert!((after.weight - 2.0).abs() < f64::EPSILON);

        apply(&mut table, route("y", &[]));
        assert!(!table.listed_in.contains_key(&ServerAddr::from(b)));
        assert_eq!(table.listed_in[&ServerAddr::from(a)], ["x"]);
        let clients = table.drain();
        assert_eq!(clients.len(), 2);
        assert!(table.listed_in.is_empty() && table.namespaces.is_empty());
        for client in clients {
            client.close().await;
        }
    }
}
