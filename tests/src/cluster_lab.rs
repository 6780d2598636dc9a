//! A three-server lab for the cluster tests: real slacker servers on loopback, each hosting a
//! `test.grouping` namespace whose methods report the server's address, sleep, fail on demand,
//! hold until released and count calls; a `Cluster` fed by explicit membership changes.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::{wait_until, DEADLINE};
use slacker_core::cluster::{Cluster, ClusterOptions};
use slacker_core::membership::{Change, ServerInfo};
use slacker_core::{
    remote, ConnState, Error, GroupOutcome, GroupingInput, Selection, Server, ServerAddr,
};
use tokio::sync::Semaphore;

pub const NS: &str = "test.grouping";

/// `grouping_exceptions = at_most_one_failure`.
pub fn at_most_one_failure(outcome: &GroupOutcome<'_>) -> Result<(), Error> {
    if outcome.failed.len() <= 1 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{} servers failed",
            outcome.failed.len()
        )))
    }
}

/// `grouping = by_key`: the server at `key % n` of the sorted list.
pub fn by_key(input: &GroupingInput<'_>) -> Selection {
    match input.args::<(u64,)>() {
        Ok((key,)) if !input.servers.is_empty() => {
            let i = usize::try_from(key).unwrap_or(0) % input.servers.len();
            Selection::One(input.servers[i].addr.clone())
        }
        _ => Selection::Many(Vec::new()),
    }
}

/// `grouping_results = joined`: every answer, sorted and joined with commas.
pub fn joined(replies: Vec<(ServerAddr, String)>) -> String {
    let mut all: Vec<String> = replies.into_iter().map(|(_, v)| v).collect();
    all.sort();
    all.join(",")
}

#[remote(namespace = "test.grouping")]
pub trait Probe {
    /// The answering server's address (no grouping of its own: the cluster's default).
    async fn whoami(&self) -> String;

    #[remote(grouping = first)]
    async fn first(&self) -> String;
    #[remote(grouping = leader)]
    async fn leader(&self) -> String;
    #[remote(grouping = random)]
    async fn random(&self) -> String;
    #[remote(grouping = round_robin)]
    async fn round_robin(&self) -> String;
    #[remote(grouping = weighted)]
    async fn weighted(&self) -> String;
    #[remote(grouping = least_in_flight)]
    async fn least_in_flight(&self) -> String;
    #[remote(grouping = by_key)]
    async fn keyed(&self, key: u64) -> String;

    #[remote(grouping = all)]
    async fn all_single(&self) -> String;
    #[remote(grouping = all, grouping_results = vector)]
    async fn all_vec(&self) -> String;
    #[remote(grouping = all, grouping_results = map)]
    async fn all_map(&self) -> String;
    #[remote(grouping = all, grouping_results = nil)]
    async fn all_nil(&self);
    #[remote(grouping = all, grouping_results = joined)]
    async fn all_joined(&self) -> String;
    #[remote(grouping = all, grouping_results = vector, grouping_exceptions = any)]
    async fn all_any(&self) -> String;
    #[remote(grouping = all, grouping_results = vector, grouping_exceptions = at_most_one_failure)]
    async fn all_tolerant(&self) -> String;
    #[remote(grouping = all, grouping_results = map)]
    async fn all_try(&self) -> Result<String, String>;

    #[remote(unavailable_value = String::from("nobody"))]
    async fn maybe(&self) -> String;

    /// Waits until the test releases it.
    async fn hold(&self) -> String;
    #[remote(idempotent)]
    async fn hold_idempotent(&self) -> String;
    /// Counts, then answers.
    async fn count(&self) -> String;
    #[remote(idempotent)]
    async fn count_idempotent(&self) -> String;

    /// Sleeps `ms`, with the cluster's or the call's timeout.
    async fn nap(&self, ms: u64) -> String;
    /// Sleeps `ms`, with a method timeout of 5 s.
    #[remote(timeout_ms = 5000)]
    async fn long_nap(&self, ms: u64) -> String;
}

/// One server's knobs and counters, shared with the test.
pub struct Behavior {
    pub addr: OnceLock<String>,
    /// Handlers panic (a `HandlerPanicked` remote error) while set.
    pub fail: AtomicBool,
    /// `all_try` returns its application error while set.
    pub refuse: AtomicBool,
    /// Handlers sleep this long first.
    pub delay_ms: AtomicU64,
    /// Calls that reached a handler.
    pub calls: AtomicUsize,
    /// `hold*` calls that started.
    pub held: AtomicUsize,
    /// `hold*` calls wait for a permit.
    pub gate: Semaphore,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            addr: OnceLock::new(),
            fail: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            calls: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            gate: Semaphore::new(0),
        }
    }
}

impl Behavior {
    fn addr(&self) -> String {
        self.addr.get().cloned().unwrap_or_default()
    }

    async fn run(&self) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(!self.fail.load(Ordering::SeqCst), "asked to fail");
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.addr()
    }

    async fn hold(&self) -> String {
        self.held.fetch_add(1, Ordering::SeqCst);
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        self.run().await
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
pub struct ProbeImpl(pub Arc<Behavior>);

impl Probe for ProbeImpl {
    async fn whoami(&self) -> String {
        self.0.run().await
    }
    async fn first(&self) -> String {
        self.0.run().await
    }
    async fn leader(&self) -> String {
        self.0.run().await
    }
    async fn random(&self) -> String {
        self.0.run().await
    }
    async fn round_robin(&self) -> String {
        self.0.run().await
    }
    async fn weighted(&self) -> String {
        self.0.run().await
    }
    async fn least_in_flight(&self) -> String {
        self.0.run().await
    }
    async fn keyed(&self, _key: u64) -> String {
        self.0.run().await
    }
    async fn all_single(&self) -> String {
        self.0.run().await
    }
    async fn all_vec(&self) -> String {
        self.0.run().await
    }
    async fn all_map(&self) -> String {
        self.0.run().await
    }
    async fn all_nil(&self) {
        self.0.run().await;
    }
    async fn all_joined(&self) -> String {
        self.0.run().await
    }
    async fn all_any(&self) -> String {
        self.0.run().await
    }
    async fn all_tolerant(&self) -> String {
        self.0.run().await
    }
    async fn all_try(&self) -> Result<String, String> {
        let addr = self.0.run().await;
        if self.0.refuse.load(Ordering::SeqCst) {
            Err(format!("{addr} refuses"))
        } else {
            Ok(addr)
        }
    }
    async fn maybe(&self) -> String {
        self.0.run().await
    }
    async fn hold(&self) -> String {
        self.0.hold().await
    }
    async fn hold_idempotent(&self) -> String {
        self.0.hold().await
    }
    async fn count(&self) -> String {
        self.0.run().await
    }
    async fn count_idempotent(&self) -> String {
        self.0.run().await
    }
    async fn nap(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.0.run().await
    }
    async fn long_nap(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.0.run().await
    }
}

/// One lab server. `server` is `None` once it was killed or shut down.
pub struct Node {
    pub addr: ServerAddr,
    pub behavior: Arc<Behavior>,
    pub server: Option<Server>,
}

impl Node {
    /// Starts a server on `bind` (`127.0.0.1:0` for a free port).
    pub async fn start(bind: &str, behavior: Arc<Behavior>) -> Self {
        let server = Server::builder()
            .service(ProbeServer::new(ProbeImpl(behavior.clone())))
            .bind(bind)
            .await
            .expect("bind");
        let addr = ServerAddr::from(server.local_addr());
        let _ = behavior.addr.set(addr.to_string());
        Self {
            addr,
            behavior,
            server: Some(server),
        }
    }

    /// Drops the server: every connection closes at once, running handlers are abandoned.
    pub fn kill(&mut self) {
        drop(self.server.take());
    }
}

/// Three (or `n`) servers and a cluster that knows them, every connection up.
pub struct Lab {
    pub nodes: Vec<Node>,
    pub cluster: Cluster,
}

impl Lab {
    pub async fn start(n: usize, options: ClusterOptions) -> Self {
        Self::with_data(n, options, |_| serde_json::Value::Null).await
    }

    /// Like [`Lab::start`], with server-data for the i-th server (in sorted address order).
    pub async fn with_data(
        n: usize,
        options: ClusterOptions,
        data: impl Fn(usize) -> serde_json::Value,
    ) -> Self {
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(Node::start("127.0.0.1:0", Arc::default()).await);
        }
        nodes.sort_by(|a, b| a.addr.cmp(&b.addr));
        let cluster = Cluster::new(options);
        for (i, node) in nodes.iter().enumerate() {
            cluster.apply(Change::Insert(
                node.addr.clone(),
                ServerInfo { data: data(i) },
            ));
        }
        let lab = Self { nodes, cluster };
        lab.publish(None);
        lab.wait_connected().await;
        lab
    }

    /// The stub over the cluster.
    pub fn client(&self) -> ProbeClient<Cluster> {
        ProbeClient::new(self.cluster.clone())
    }

    pub fn addr(&self, i: usize) -> ServerAddr {
        self.nodes[i].addr.clone()
    }

    pub fn addrs(&self) -> Vec<ServerAddr> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// Announces every lab server as offering the namespace, with `leader`.
    pub fn publish(&self, leader: Option<usize>) {
        self.cluster.apply(Change::Namespace {
            namespace: NS.to_owned(),
            servers: self.addrs(),
            leader: leader.map(|i| self.addr(i)),
        });
    }

    pub async fn wait_connected(&self) {
        for node in &self.nodes {
            self.wait_state(&node.addr, ConnState::Connected).await;
        }
    }

    pub async fn wait_state(&self, addr: &ServerAddr, state: ConnState) {
        let cluster = &self.cluster;
        wait_until(DEADLINE, || async {
            cluster.snapshot().servers.get(addr).map(|s| s.state) == Some(state)
        })
        .await
        .unwrap_or_else(|_| panic!("{addr} is {state:?}"));
    }

    /// Which server answered, per address, over `calls` sequential calls of `f`.
    pub async fn tally<F, Fut>(&self, calls: usize, mut f: F) -> BTreeMap<String, usize>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<String, Error>>,
    {
        let mut seen: BTreeMap<String, usize> =
            self.nodes.iter().map(|n| (n.addr.to_string(), 0)).collect();
        for _ in 0..calls {
            let who = f().await.expect("call");
            *seen.entry(who).or_default() += 1;
        }
        seen
    }
}

/// True if `err` says the call ran out of time: our own deadline of `after`, or the server
/// enforcing the deadline we sent (whichever side noticed first).
pub fn timed_out(err: &Error, after: Duration) -> bool {
    matches!(err, Error::Timeout { after: a, .. } if *a == after)
        || err.code() == Some(slacker_core::ResultCode::DeadlineExceeded)
}
