//! # slacker-zk
//!
//! slacker on ZooKeeper: server registration, live discovery, the cluster client, leader election
//! and the manager API.
//!
//! ## The ZooKeeper tree
//!
//! slacker-cluster's layout, with JSON instead of EDN. `<root>` is `/slacker/cluster` unless
//! configured; a chroot in the connect string (`zk1:2181,zk2:2181/apps`) is prepended by
//! ZooKeeper itself. Every path is built in [`paths`].
//!
//! | path under `<root>/<cluster>` | mode | data |
//! |---|---|---|
//! | `servers` | persistent | empty |
//! | `servers/<host:port>` | **ephemeral** | server-data as JSON (`null` by default) |
//! | `namespaces/<ns>` | persistent | empty |
//! | `namespaces/<ns>/<host:port>` | **ephemeral** | empty: "this server serves `<ns>` now" |
//! | `namespaces/<ns>/_leader` | persistent | `host:port` of the last election winner |
//! | `namespaces/<ns>/_leader/mutex/_c_<uuid>-lock-<seq>` | ephemeral sequential | participant id `host:port` (Curator `LeaderSelector` lock nodes) |
//! | `functions/<ns>/<fn>` | persistent | [`slacker_core::FunctionDesc`] as JSON, updated when it changes |
//!
//! Children of `namespaces/<ns>` whose names start with `_` are never servers. A server is
//! routable for `<ns>` when both `servers/<addr>` and `namespaces/<ns>/<addr>` exist; the leader
//! of `<ns>` is the participant of the lowest-sequence lock node.
//!
//! ## Sessions and failures
//!
//! * A disconnect within the session loses nothing: ephemerals and watches survive, and
//!   discovery re-lists everything on reconnect (persistent watches may drop events in the gap).
//! * On session expiry a new session is opened ([`session`]); the server re-creates its
//!   ephemerals from its *current* state and rejoins its elections ([`registry`]); discovery
//!   re-lists and diffs ([`discovery`]).
//! * ZooKeeper unreachable is not "no servers": discovery keeps the last known membership.
//!
//! ## Securing the tree: the cluster secret
//!
//! By default every node is open (`world:anyone` may do anything), as in slacker-cluster. With
//! a secret ([`ZkAuth::digest`], set with [`ClusterServerBuilder::zk_auth`] or
//! [`ZkOptions::auth`]) the server's session authenticates with ZooKeeper's `digest` scheme and
//! creates `<root>/<cluster>` and everything the registry writes below it readable by anyone but
//! writable only by that identity. ZooKeeper itself then refuses (`NoAuth`) a process without
//! the secret that tries to register a server, announce a namespace, join an election or
//! rewrite server-data; discovery and the cluster client only read and need no secret. Not
//! protected: the connection to ZooKeeper (plain TCP, the secret included), reads, the data
//! of the election's lock nodes (created open, like Curator's; they cannot be created or
//! deleted without the secret), and nodes created before the secret was configured (ACLs are
//! set at creation). The `<root>` above the cluster stays open so clusters with other secrets
//! can live beside it. TLS between clients and servers is slacker-core's feature `tls`.
//!
//! ## A cluster in a few lines
//!
//! ```no_run
//! # use std::time::Duration;
//! # use slacker_core::{Call, Caller, Replies, Result as CallResult, NamespaceService};
//! # use slacker_zk::{ClusterClient, ClusterOptions, ClusterServer};
//! # async fn demo(api: impl NamespaceService) -> Result<(), slacker_zk::Error> {
//! // Server: bind, check that the port answers, then register under /slacker/cluster/shop.
//! let server = ClusterServer::builder("shop", "zk1:2181,zk2:2181,zk3:2181")
//!     .service(api) // e.g. a `#[remote]` trait's `{Trait}Server`
//!     .server_data(serde_json::json!({"zone": "a"}))
//!     .bind("0.0.0.0:7000")
//!     .await?;
//!
//! // Client: a `Caller` for any generated `{Trait}Client`, routed by live membership.
//! let cluster = ClusterClient::connect("shop", "zk1:2181,zk2:2181,zk3:2181", ClusterOptions::default()).await?;
//! println!("{:?}", cluster.membership().borrow().namespaces);
//!
//! // Deregister, let clients stop routing, drain, leave.
//! server.shutdown(Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! (With the `local` feature, the tutorial below runs the same against a private ZooKeeper.)
//!
//! ## Running a 3-server cluster by hand
//!
//! ```sh
//! # a private ZooKeeper (Debian: apt-get install zookeeper); prints `ZK 127.0.0.1:PORT`, use that below
//! cargo run -p slacker-examples --bin local_zk
//! cargo run -p slacker-examples --bin cluster_server -- --zk 127.0.0.1:2181 --cluster example --port 2104
//! cargo run -p slacker-examples --bin cluster_server -- --zk 127.0.0.1:2181 --cluster example --port 2105
//! cargo run -p slacker-examples --bin cluster_server -- --zk 127.0.0.1:2181 --cluster example --port 2106 --server-data '{"zone":"b"}'
//! cargo run -p slacker-examples --bin cluster_client -- --zk 127.0.0.1:2181 --cluster example
//! cargo run -p slacker-examples --bin demo   # all of it in one process, with its own ZooKeeper
//! ```
#![cfg_attr(feature = "local", doc = include_str!("../docs/tutorial.md"))]
#![warn(missing_docs)]

pub mod client;
pub mod discovery;
pub mod election;
mod error;
#[cfg(feature = "local")]
pub mod local;
pub mod manager;
mod observe;
pub mod paths;
pub mod registry;
mod server;
pub mod session;
mod znode;

pub use client::{ClusterClient, ClusterClientBuilder, ClusterOptions};
pub use discovery::{Discovery, DiscoveryOptions, Membership, NamespaceView};
pub use error::{Error, Result};
pub use registry::{Registration, RegistrationState, RegistryOptions};
pub use server::{ClusterServer, ClusterServerBuilder, DEFAULT_ROUTING_GRACE};
pub use session::{ZkAuth, ZkOptions, ZkState};
