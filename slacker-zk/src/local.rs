//! A real ZooKeeper on loopback, for development, tests, the demo and benchmarks.
//!
//! slacker's ZooKeeper code is tested against the real server, never a mock: the interesting bugs
//! (watches lost on reconnect, sessions silently replaced, split brain on expiry) only show up
//! against a real one. This module runs Debian's ZooKeeper 3.8 (`apt-get install -y zookeeper`)
//! as child JVMs:
//!
//! * [`LocalZooKeeper::start`]: one standalone `ZooKeeperServerMain`;
//! * [`LocalZooKeeper::ensemble`]: `n` `QuorumPeerMain` nodes forming a quorum ([`LocalEnsemble`]).
//!
//! Every node listens on `127.0.0.1` only, on free ports (bind port 0, read it, release it; a start
//! that loses the race for a port to another process is retried on fresh ports). Config, data and
//! logs live in a [`tempfile::TempDir`]: `<dir>/n<id>/{zoo.cfg,zk.log,data/}`. The log is kept
//! across restarts of a node and its tail is part of every start error.
//!
//! A node is *ready* when the `srvr` four-letter command answers with a `Mode:` line (`ruok`
//! answers `imok` before the server serves requests). Starting polls that under a deadline and
//! fails early, with the log tail, if the JVM exits.
//!
//! Dropping a [`LocalZooKeeper`] or [`LocalEnsemble`] SIGKILLs its JVMs, reaps them and removes
//! the temp dir, also when a test panics. When the process is killed outright (no destructor
//! runs), the kernel kills the JVMs: they are started through `setpriv --pdeathsig KILL`
//! (util-linux), which ties each JVM to the *thread* that started it. So create one per test,
//! inside the test's runtime, not from `spawn_blocking` (whose threads come and go) and not in a
//! `static` shared across tests.
//!
//! Server settings worth knowing in tests:
//!
//! * `tickTime=1000`: negotiated session timeouts range from 2 s to 60 s, so expiry tests can use
//!   short sessions; the server checks expiry once per tick.
//! * `extendedTypesEnabled=true` (TTL nodes) and `-Dznode.container.checkIntervalMs=1000`
//!   (containers and TTL nodes are reaped within about a second, not a minute).
//! * `4lw.commands.whitelist=*`, `maxClientCnxns=0`, `admin.enableServer=false`, `-Xmx256m`.
//! * [`LocalZooKeeper::stop`] + [`LocalZooKeeper::restart`] keep the port and the data dir, so a
//!   client session survives a restart that is shorter than its timeout.
//!
//! ```no_run
//! # async fn demo() -> Result<(), slacker_zk::local::LocalZkError> {
//! use slacker_zk::local::LocalZooKeeper;
//!
//! let zk = LocalZooKeeper::start().await?;
//! let connect = zk.connect_string(); // "127.0.0.1:PORT"
//!
//! let mut ensemble = LocalZooKeeper::ensemble(3).await?;
//! let all = ensemble.connect_string(); // "127.0.0.1:A,127.0.0.1:B,127.0.0.1:C"
//! let leader = ensemble.leader_index().await?;
//! ensemble.kill(leader).await?; // SIGKILL; the other two elect a new leader
//! ensemble.restart(leader).await?; // same ports and data; rejoins as a follower
//! # Ok(()) }
//! ```

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
const SETPRIV: &str = "/usr/bin/setpriv";
const STANDALONE_MAIN: &str = "org.apache.zookeeper.server.ZooKeeperServerMain";
const QUORUM_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// How long a standalone server (or one restarted node) may take to serve.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a whole ensemble may take to elect a leader and serve.
const ENSEMBLE_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Starts that lose a port to another process are retried this many times on fresh ports.
const START_ATTEMPTS: usize = 5;
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(2);
const LOG_TAIL_LINES: usize = 40;

/// `Result` with [`LocalZkError`].
pub type Result<T, E = LocalZkError> = std::result::Result<T, E>;

/// Why a local ZooKeeper could not be started, queried or stopped.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LocalZkError {
    /// Java or the ZooKeeper jar is not installed.
    #[error("{missing} not found: run `bash scripts/setup.sh --demo` (apt-get install -y zookeeper), or point ZOOKEEPER_HOME at an Apache ZooKeeper release, or SLACKER_ZOOKEEPER_CLASSPATH at its jars")]
    NotInstalled {
        /// What is missing (`java` on PATH, or the jar path).
        missing: String,
    },

    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The JVM of a node exited while it was starting.
    #[error("ZooKeeper node {node} exited while starting ({status}); log tail:\n{log_tail}")]
    Exited {
        /// Index of the node (0 for a standalone server).
        node: usize,
        /// Exit status of the JVM.
        status: String,
        /// Last lines of the node's log.
        log_tail: String,
    },

    /// A node did not serve (`srvr` without `Mode:`) before the start deadline.
    #[error("ZooKeeper node {node} not serving after {waited:?}; log tail:\n{log_tail}")]
    NotReady {
        /// Index of the node.
        node: usize,
        /// How long it was given.
        waited: Duration,
        /// Last lines of the node's log.
        log_tail: String,
    },

    /// The node is stopped or killed; [`LocalEnsemble::restart`] starts it again.
    #[error("ZooKeeper node {node} is not running")]
    NotRunning {
        /// Index of the node.
        node: usize,
    },

    /// The index is out of range.
    #[error("no ZooKeeper node {node}: the ensemble has {count} nodes")]
    NoSuchNode {
        /// The index asked for.
        node: usize,
        /// How many nodes there are.
        count: usize,
    },

    /// The node answered `srvr` without a mode this module knows (it is not serving).
    #[error("ZooKeeper node {node} is not serving: {answer}")]
    NotServing {
        /// Index of the node.
        node: usize,
        /// What `srvr` answered, or why it could not be asked.
        answer: String,
    },

    /// No running node reports itself leader (an election is in progress or quorum is lost).
    #[error("no ZooKeeper node is leader")]
    NoLeader,

    /// An ensemble needs at least one node.
    #[error("an ensemble needs at least one node")]
    EmptyEnsemble,
}

impl LocalZkError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// A start lost one of its ports to another process: worth retrying on fresh ports.
    fn is_port_collision(&self, nodes: &[Node]) -> bool {
        let node = match self {
            Self::Exited { node, .. } | Self::NotReady { node, .. } => *node,
            _ => return false,
        };
        nodes.get(node).is_some_and(|n| {
            fs::read_to_string(n.log_path()).is_ok_and(|log| log.contains("Address already in use"))
        })
    }
}

/// What a node says it is, from the `Mode:` line of `srvr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZkMode {
    /// A single server without peers.
    Standalone,
    /// The ensemble's leader.
    Leader,
    /// A follower of the leader.
    Follower,
    /// A non-voting observer.
    Observer,
}

impl ZkMode {
    fn parse(srvr: &str) -> Option<Self> {
        let mode = srvr.lines().find_map(|line| line.strip_prefix("Mode: "))?;
        match mode.trim() {
            "standalone" => Some(Self::Standalone),
            "leader" => Some(Self::Leader),
            "follower" => Some(Self::Follower),
            "observer" => Some(Self::Observer),
            _ => None,
        }
    }
}

impl fmt::Display for ZkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Standalone => "standalone",
            Self::Leader => "leader",
            Self::Follower => "follower",
            Self::Observer => "observer",
        })
    }
}

/// A standalone ZooKeeper server on a free loopback port, killed and deleted on drop.
#[derive(Debug)]
pub struct LocalZooKeeper {
    /// One standalone node, index 0.
    inner: LocalEnsemble,
}

impl LocalZooKeeper {
    /// Starts a standalone server and waits until it serves.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NotInstalled`] without java or the ZooKeeper jar; [`LocalZkError::Exited`]
    /// or [`LocalZkError::NotReady`] (with the log tail) when the server does not come up within
    /// 30 s; [`LocalZkError::Io`] when the temp dir or the process cannot be created.
    pub async fn start() -> Result<Self> {
        let inner = LocalEnsemble::launch(1, false, NODE_READY_TIMEOUT).await?;
        Ok(Self { inner })
    }

    /// Starts an ensemble of `n` `QuorumPeerMain` nodes (use 3 for fault tolerance) and waits
    /// until every node serves as leader or follower.
    ///
    /// # Errors
    ///
    /// As [`LocalZooKeeper::start`], with 60 s for the whole ensemble; and
    /// [`LocalZkError::EmptyEnsemble`] for `n == 0`.
    pub async fn ensemble(n: usize) -> Result<LocalEnsemble> {
        if n == 0 {
            return Err(LocalZkError::EmptyEnsemble);
        }
        LocalEnsemble::launch(n, true, ENSEMBLE_READY_TIMEOUT).await
    }

    /// The client address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.inner.nodes[0].addr()
    }

    /// The connect string for clients, `127.0.0.1:PORT`.
    pub fn connect_string(&self) -> String {
        self.inner.connect_string()
    }

    /// The temp dir holding config, data and log (`n1/zk.log`); removed on drop.
    pub fn dir(&self) -> &Path {
        self.inner.dir()
    }

    /// The JVM's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.inner.nodes[0].pid()
    }

    /// Asks the server what it is (`srvr`).
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NotRunning`] when stopped; [`LocalZkError::NotServing`] when it does not
    /// answer with a mode.
    pub async fn mode(&self) -> Result<ZkMode> {
        self.inner.mode(0).await
    }

    /// Stops the server gracefully (SIGTERM, then waits for the JVM to exit; SIGKILL after 20 s).
    /// Sessions are not closed: a client reconnects to the same session after
    /// [`LocalZooKeeper::restart`] if that happens within its session timeout.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NotRunning`] if already stopped; [`LocalZkError::Io`] if signalling fails.
    pub async fn stop(&mut self) -> Result<()> {
        self.inner.stop(0).await
    }

    /// Kills the server with SIGKILL and reaps it.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NotRunning`] if already stopped; [`LocalZkError::Io`] if killing fails.
    pub async fn kill(&mut self) -> Result<()> {
        self.inner.kill(0).await
    }

    /// Starts the server again on the same port and data dir (stopping it first if it runs) and
    /// waits until it serves.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::Exited`] or [`LocalZkError::NotReady`] when it does not serve within 30 s
    /// (e.g. another process took the port meanwhile: a restart keeps its port).
    pub async fn restart(&mut self) -> Result<()> {
        self.inner.restart(0).await
    }
}

/// An ensemble of ZooKeeper nodes on free loopback ports, killed and deleted on drop. Nodes are
/// addressed by index `0..node_count()`; node `i` has `myid` `i + 1`.
#[derive(Debug)]
pub struct LocalEnsemble {
    java: PathBuf,
    // Declared before `dir`: fields drop in order, so the JVMs die before their files go.
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl LocalEnsemble {
    /// Starts `n` nodes in a fresh temp dir: a quorum of `QuorumPeerMain`s, or one standalone
    /// `ZooKeeperServerMain`. A start that loses a port to another process between picking and
    /// binding it is retried on fresh ports.
    async fn launch(n: usize, quorum: bool, timeout: Duration) -> Result<Self> {
        let java = find_java()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = temp_dir()?;
            let ports = free_ports(if quorum { 3 * n } else { n })?;
            let (client, peers) = ports.split_at(n);
            let peers: Vec<(u16, u16)> = peers.chunks(2).map(|p| (p[0], p[1])).collect();
            let main_class = if quorum { QUORUM_MAIN } else { STANDALONE_MAIN };
            let mut nodes = (0..n)
                .map(|i| Node::create(&dir, i, client[i], main_class, &peers))
                .collect::<Result<Vec<_>>>()?;
            let mut started = nodes.iter_mut().try_for_each(|node| node.spawn(&java));
            if started.is_ok() {
                started = wait_ready(&mut nodes, timeout).await;
            }
            match started {
                Ok(()) => return Ok(Self { java, nodes, dir }),
                Err(e) if attempt < START_ATTEMPTS && e.is_port_collision(&nodes) => {
                    tracing::debug!(attempt, "local ZooKeeper lost a port, retrying: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The connect string naming every node, `127.0.0.1:A,127.0.0.1:B,...`.
    pub fn connect_string(&self) -> String {
        let addrs: Vec<String> = self.nodes.iter().map(|n| n.addr().to_string()).collect();
        addrs.join(",")
    }

    /// How many nodes the ensemble has (running or not).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The client address of node `i`.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoSuchNode`] when `i` is out of range.
    pub fn node_addr(&self, i: usize) -> Result<SocketAddr> {
        Ok(self.node(i)?.addr())
    }

    /// The JVM's process id of node `i` while it runs.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoSuchNode`] when `i` is out of range.
    pub fn pid(&self, i: usize) -> Result<Option<u32>> {
        Ok(self.node(i)?.pid())
    }

    /// The temp dir holding `n<myid>/{zoo.cfg,zk.log,data}`; removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Asks node `i` what it is (`srvr`).
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoSuchNode`]; [`LocalZkError::NotRunning`]; [`LocalZkError::NotServing`]
    /// when it does not answer with a mode (e.g. without quorum).
    pub async fn mode(&self, i: usize) -> Result<ZkMode> {
        self.node(i)?.mode().await
    }

    /// The index of the node that currently reports itself leader. Asks once; poll it (e.g. with
    /// a deadline) while an election may be running.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoLeader`] when no running node is leader right now.
    pub async fn leader_index(&self) -> Result<usize> {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.is_running() && node.mode().await.ok() == Some(ZkMode::Leader) {
                return Ok(i);
            }
        }
        Err(LocalZkError::NoLeader)
    }

    /// Kills node `i` with SIGKILL and reaps it.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoSuchNode`], [`LocalZkError::NotRunning`], or [`LocalZkError::Io`].
    pub async fn kill(&mut self, i: usize) -> Result<()> {
        self.node_mut(i)?.kill().await
    }

    /// Stops node `i` gracefully: SIGTERM, then waits until the JVM has exited (its ports are
    /// closed); SIGKILL after 20 s.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoSuchNode`], [`LocalZkError::NotRunning`], or [`LocalZkError::Io`].
    pub async fn stop(&mut self, i: usize) -> Result<()> {
        self.node_mut(i)?.stop().await
    }

    /// Starts node `i` again with the same config, ports and data (stopping it first if it runs)
    /// and waits until it serves, which needs a quorum of running nodes.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::NoSuchNode`]; [`LocalZkError::Exited`] or [`LocalZkError::NotReady`] when
    /// it does not serve within 30 s.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        let java = self.java.clone();
        self.node_mut(i)?.restart(&java).await
    }

    /// Stops every node that runs, starts them all again with the same config, ports and data,
    /// and waits until they all serve: the whole ensemble restarting at once.
    ///
    /// # Errors
    ///
    /// [`LocalZkError::Io`] when a node cannot be stopped or spawned; [`LocalZkError::Exited`]
    /// or [`LocalZkError::NotReady`] when they do not serve within 60 s.
    pub async fn restart_all(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if node.is_running() {
                node.stop().await?;
            }
        }
        for node in &mut self.nodes {
            node.spawn(&self.java)?;
        }
        wait_ready(&mut self.nodes, ENSEMBLE_READY_TIMEOUT).await
    }

    fn node(&self, i: usize) -> Result<&Node> {
        let count = self.nodes.len();
        self.nodes
            .get(i)
            .ok_or(LocalZkError::NoSuchNode { node: i, count })
    }

    fn node_mut(&mut self, i: usize) -> Result<&mut Node> {
        let count = self.nodes.len();
        self.nodes
            .get_mut(i)
            .ok_or(LocalZkError::NoSuchNode { node: i, count })
    }
}

/// One ZooKeeper JVM with its own directory, config and log.
#[derive(Debug)]
struct Node {
    index: usize,
    main_class: &'static str,
    dir: PathBuf,
    client_port: u16,
    child: Option<Child>,
}

impl Node {
    /// Writes `<base>/n<myid>/{zoo.cfg,data/myid}` with `myid = index + 1`; `peers` (quorum and
    /// election ports, by index) are empty for a standalone server.
    fn create(
        base: &tempfile::TempDir,
        index: usize,
        client_port: u16,
        main_class: &'static str,
        peers: &[(u16, u16)],
    ) -> Result<Self> {
        let myid = index + 1;
        let dir = base.path().join(format!("n{myid}"));
        let data = dir.join("data");
        fs::create_dir_all(&data)
            .map_err(|e| LocalZkError::io(format!("creating {}", data.display()), e))?;
        let mut config = format!(
            "tickTime=1000\n\
             initLimit=20\n\
             syncLimit=10\n\
             maxSessionTimeout=60000\n\
             dataDir={data}\n\
             clientPort={client_port}\n\
             clientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=*\n\
             extendedTypesEnabled=true\n",
            data = data.display(),
        );
        for (i, (quorum, election)) in peers.iter().enumerate() {
            config.push_str(&format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1));
        }
        if !peers.is_empty() {
            write_file(&data.join("myid"), &format!("{myid}\n"))?;
        }
        let node = Self {
            index,
            main_class,
            dir,
            client_port,
            child: None,
        };
        write_file(&node.config_path(), &config)?;
        Ok(node)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("zk.log")
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.client_port))
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self, java: &Path) -> Result<()> {
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| LocalZkError::io(format!("opening {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| LocalZkError::io(format!("opening {}", log_path.display()), e))?;
        let classpath = zookeeper_classpath()?;
        // The JVM gets SIGKILL when the thread that started it dies, so a test process that is
        // killed outright (no Drop runs) leaves no JVM behind. setpriv execs java: same pid.
        let mut command = if Path::new(SETPRIV).is_file() {
            let mut command = Command::new(SETPRIV);
            command.args(["--pdeathsig", "KILL", "--"]).arg(java);
            command
        } else {
            Command::new(java)
        };
        let child = command
            .arg("-Xmx256m")
            .arg("-XX:+UseSerialGC")
            .arg("-Dznode.container.checkIntervalMs=1000")
            .arg("-Djava.net.preferIPv4Stack=true")
            .arg("-cp")
            .arg(classpath)
            .arg(self.main_class)
            .arg(self.config_path())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LocalZkError::io(format!("spawning {}", java.display()), e))?;
        self.child = Some(child);
        Ok(())
    }

    async fn mode(&self) -> Result<ZkMode> {
        if !self.is_running() {
            return Err(LocalZkError::NotRunning { node: self.index });
        }
        let answer = match four_letter_word(self.addr(), "srvr").await {
            Ok(answer) => answer,
            Err(e) => {
                return Err(LocalZkError::NotServing {
                    node: self.index,
                    answer: e.to_string(),
                })
            }
        };
        ZkMode::parse(&answer).ok_or_else(|| LocalZkError::NotServing {
            node: self.index,
            answer: answer.trim().to_owned(),
        })
    }

    /// If the JVM has exited, reaps it and returns the error describing that.
    fn check_exited(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Err(LocalZkError::NotRunning { node: self.index });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(LocalZkError::Exited {
                    node: self.index,
                    status: status.to_string(),
                    log_tail: self.log_tail(),
                })
            }
            Err(e) => Err(LocalZkError::io("checking the ZooKeeper process", e)),
        }
    }

    async fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Err(LocalZkError::NotRunning { node: self.index });
        };
        child
            .kill()
            .await
            .map_err(|e| LocalZkError::io("killing ZooKeeper", e))
    }

    async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Err(LocalZkError::NotRunning { node: self.index });
        };
        let Some(pid) = child.id() else {
            // Already exited and reaped.
            return Ok(());
        };
        // tokio only sends SIGKILL; `kill(1)` keeps this crate free of unsafe code and libc.
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .map_err(|e| LocalZkError::io("running `kill -TERM`", e))?;
        if !status.success() {
            tracing::warn!(pid, %status, "`kill -TERM` failed; the JVM may have exited already");
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(waited) => waited
                .map(drop)
                .map_err(|e| LocalZkError::io("waiting for ZooKeeper", e)),
            Err(_) => {
                tracing::warn!(
                    pid,
                    "ZooKeeper ignored SIGTERM for {STOP_TIMEOUT:?}; killing it"
                );
                child
                    .kill()
                    .await
                    .map_err(|e| LocalZkError::io("killing ZooKeeper", e))
            }
        }
    }

    async fn restart(&mut self, java: &Path) -> Result<()> {
        if self.is_running() {
            self.stop().await?;
        }
        self.spawn(java)?;
        wait_ready(std::slice::from_mut(self), NODE_READY_TIMEOUT).await
    }

    fn log_tail(&self) -> String {
        match fs::read_to_string(self.log_path()) {
            Ok(log) => {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
            }
            Err(e) => format!("(cannot read {}: {e})", self.log_path().display()),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Err(e) = child.start_kill() {
            tracing::warn!("killing ZooKeeper on drop: {e}");
            return;
        }
        // Reap it here so that "dropped" means "gone" (kill_on_drop alone leaves reaping to the
        // runtime). SIGKILL takes effect at once; the bound only guards against a stuck kernel.
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Polls every node until all answer `srvr` with a mode, failing early when one exits.
async fn wait_ready(nodes: &mut [Node], timeout: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ready = vec![false; nodes.len()];
    loop {
        for (node, ready) in nodes.iter_mut().zip(ready.iter_mut()) {
            node.check_exited()?;
            if !*ready {
                *ready = node.mode().await.is_ok();
            }
        }
        if ready.iter().all(|r| *r) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let i = ready.iter().position(|r| !*r).unwrap_or(0);
            return Err(LocalZkError::NotReady {
                node: nodes[i].index,
                waited: timeout,
                log_tail: nodes[i].log_tail(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Sends a four-letter command (`srvr`, `cons`, `mntr`, ...; all are whitelisted on local
/// servers) to `addr` and returns the whole answer.
///
/// # Errors
///
/// The I/O error of connecting, writing or reading; [`io::ErrorKind::TimedOut`] after 2 s.
pub async fn four_letter_word(addr: SocketAddr, word: &str) -> io::Result<String> {
    let ask = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok(answer)
    };
    tokio::time::timeout(FOUR_LETTER_TIMEOUT, ask)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("`{word}` timed out"),
            ))
        })
}

/// `n` distinct free loopback ports: all bound at once (so they differ), then released.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| LocalZkError::io("finding a free port", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| LocalZkError::io("finding a free port", e))
}

/// Where ZooKeeper's classes are: `SLACKER_ZOOKEEPER_CLASSPATH` as given; else
/// `ZOOKEEPER_HOME` (an Apache release: its jars and `lib/`); else Debian's package.
fn zookeeper_classpath() -> Result<String> {
    if let Some(cp) = std::env::var_os("SLACKER_ZOOKEEPER_CLASSPATH") {
        return Ok(cp.to_string_lossy().into_owned());
    }
    if let Some(home) = std::env::var_os("ZOOKEEPER_HOME") {
        let home = PathBuf::from(home);
        if !home.join("lib").is_dir() {
            return Err(LocalZkError::NotInstalled {
                missing: format!(
                    "{} (ZOOKEEPER_HOME has no lib/)",
                    home.join("lib").display()
                ),
            });
        }
        return Ok(format!(
            "{}/*:{}/*",
            home.display(),
            home.join("lib").display()
        ));
    }
    if !Path::new(ZOOKEEPER_JAR).is_file() {
        return Err(LocalZkError::NotInstalled {
            missing: ZOOKEEPER_JAR.to_owned(),
        });
    }
    let mut classpath = ZOOKEEPER_JAR.to_owned();
    if Path::new(SLF4J_SIMPLE_JAR).is_file() {
        classpath.push(':');
        classpath.push_str(SLF4J_SIMPLE_JAR);
    }
    Ok(classpath)
}

fn find_java() -> Result<PathBuf> {
    zookeeper_classpath()?;
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
        .ok_or_else(|| LocalZkError::NotInstalled {
            missing: "`java` on PATH".to_owned(),
        })
}

fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("slacker-zk-")
        .tempdir()
        .map_err(|e| LocalZkError::io("creating a temp dir", e))
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents)
        .map_err(|e| LocalZkError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::{LocalZkError, ZkMode};

    #[test]
    fn a_missing_install_names_the_install_command() {
        let e = LocalZkError::NotInstalled {
            missing: "`java` on PATH".to_owned(),
        };
        assert!(
            e.to_string().contains("apt-get install -y zookeeper"),
            "{e}"
        );
    }

    #[test]
    fn mode_is_read_from_the_srvr_answer() {
        let answer = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\n";
        assert_eq!(ZkMode::parse(answer), Some(ZkMode::Follower));
        assert_eq!(ZkMode::parse("Mode: leader"), Some(ZkMode::Leader));
        assert_eq!(
            ZkMode::parse("Mode: standalone\nNode count: 5"),
            Some(ZkMode::Standalone)
        );
        assert_eq!(
            ZkMode::parse("This ZooKeeper instance is not currently serving requests"),
            None
        );
        assert_eq!(ZkMode::parse("Mode: confused"), None);
    }
}
