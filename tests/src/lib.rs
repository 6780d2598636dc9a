//! Harness shared by the integration tests: real processes, a real ZooKeeper, real sockets.
//!
//! * [`wait`]: [`wait_until`] / [`wait_for`] (poll a condition under a generous deadline; never
//!   sleep and hope) and [`within`] (bound one awaited event by the same deadline).
//! * [`lab`]: the point-to-point fixtures of the core's suites (the hand-written `lab`
//!   namespace, its server and stub, a raw frame connection).
//! * [`cluster`]: ZooKeeper-backed fixtures (a `ClusterServer` of the example API, a
//!   `ClusterClient`, a `whoami` load), with the suites' short session timeout.
//! * [`cluster_lab`]: servers on loopback behind a `Cluster` fed by hand (no ZooKeeper), for the
//!   grouping and failover suites.
//! * [`load`]: [`Load`], workers calling one function in a loop under a changing cluster (who
//!   answered when, every failure).
//! * [`proxy`]: [`Proxy`], a loopback TCP proxy that injects faults between a client and
//!   ZooKeeper or a slacker server: connection resets and silent partitions.
//! * [`process`]: [`TestProcess`], example binaries run as real child processes (located or built
//!   on demand), their stdout lines awaited with a deadline, SIGKILL/SIGTERM, killed on drop.
//! * [`packets`]: proptest generators of packets (valid ones of every type, requests with any
//!   field), for the decoder and frame fuzzers.
//! * [`probe`]: the `slacker.probe` namespace that hostile-input and resource tests aim at (also
//!   served by the `slacker-probe-server` binary, for measurements from `/proc/<pid>`).
//! * [`prometheus`]: [`LocalPrometheus`], a private Prometheus scraping given targets.
//! * [`relay`]: the `observability.relay` namespace, for trace context across hops.
//! * [`procfs`]: resident memory and open descriptors of a process, from `/proc`.
//! * [`browser`]: [`Browser`], headless Chromium driven through chromedriver (WebDriver).
//! * [`http`]: a minimal HTTP/1.1 client (metrics, health, Prometheus' API, the gateway).
//! * [`kazoo`]: [`Kazoo`], an independent ZooKeeper client (Python's kazoo) to check what our code
//!   wrote.
//! * [`LocalZooKeeper`] / [`LocalEnsemble`] (from `slacker_zk::local`): a standalone ZooKeeper or
//!   an ensemble on free loopback ports.

pub mod browser;
pub mod cluster;
pub mod cluster_lab;
pub mod http;
pub mod kazoo;
pub mod lab;
pub mod load;
pub mod packets;
pub mod probe;
pub mod process;
pub mod procfs;
pub mod prometheus;
pub mod proxy;
pub mod relay;
pub mod wait;

pub use browser::Browser;
pub use kazoo::{Kazoo, ZNode};
pub use load::{Load, Report};
pub use process::{example_bin, workspace_bin, TestProcess};
pub use prometheus::LocalPrometheus;
pub use proxy::Proxy;
pub use slacker_zk::local::{LocalEnsemble, LocalZkError, LocalZooKeeper, ZkMode};
pub use wait::{wait_for, wait_until, within, TimedOut, DEADLINE};

/// Shows the library's logs in a test's output when `RUST_LOG` is set (e.g.
/// `RUST_LOG=slacker_zk=debug cargo test ... -- --nocapture`); does nothing otherwise, or when
/// called twice.
pub fn log_from_env() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
