//! # slacker-core
//!
//! A point-to-point RPC runtime: wire protocol, codec, server, multiplexed client, deadlines,
//! cancellation and typed errors, plus the `#[remote]` attribute that turns a trait into a server
//! dispatch table and a typed client stub.
//!
//! ## Tutorial
//!
//! ### 1. A remote trait, a server, a call
//!
//! `#[remote]` on a trait generates `CalcServer<T>` (give it to a server) and
//! `CalcClient<C>` (call through any [`Caller`]: a [`Client`], a cluster client). Arguments and
//! results are anything serde can carry; a `Result<T, E>` comes back as `Ok` or your `E`, and
//! every call can also fail with [`Error`] (the connection, a deadline, an unknown function).
//!
//! ```
//! use slacker_core::{remote, Client, ClientOptions, Server};
//!
//! /// Arithmetic, remotely.
//! #[remote(namespace = "calc")]
//! pub trait Calc {
//!     /// Adds two numbers.
//!     async fn add(&self, a: i64, b: i64) -> i64;
//!     /// Divides, or says why not.
//!     async fn div(&self, a: i64, b: i64) -> Result<i64, String>;
//! }
//!
//! struct CalcImpl;
//!
//! impl Calc for CalcImpl {
//!     async fn add(&self, a: i64, b: i64) -> i64 {
//!         a + b
//!     }
//!     async fn div(&self, a: i64, b: i64) -> Result<i64, String> {
//!         a.checked_div(b).ok_or_else(|| "division by zero".into())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), slacker_core::Error> {
//! let server = Server::builder()
//!     .service(CalcServer::new(CalcImpl))
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let client = Client::connect(server.local_addr(), ClientOptions::default()).await?;
//! let calc = CalcClient::new(client);
//!
//! assert_eq!(calc.add(2, 3).await?, 5);
//! assert_eq!(calc.div(7, 0).await?, Err("division by zero".to_owned()));
//! server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! ### 2. Deadlines, per-method options and the call context
//!
//! A method's `timeout_ms` is its deadline unless the call sets one ([`CallOptions`]); the
//! deadline travels with the request, so the server stops the handler when it passes and a
//! nested call inside the handler inherits what is left of it ([`context`]).
//!
//! ```
//! use std::time::Duration;
//! use slacker_core::{context, remote, CallOptions, Client, ClientOptions, Error, Server};
//!
//! #[remote(namespace = "slow")]
//! pub trait Slow {
//!     /// Sleeps, then reports how much of its deadline was left when it started.
//!     #[remote(timeout_ms = 2000)]
//!     async fn nap(&self, ms: u64) -> u64;
//! }
//!
//! struct SlowImpl;
//! impl Slow for SlowImpl {
//!     async fn nap(&self, ms: u64) -> u64 {
//!         let deadline = context::current().and_then(|c| c.deadline());
//!         let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
//!         tokio::time::sleep(Duration::from_millis(ms)).await;
//!         left.unwrap_or_default().as_millis() as u64
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), slacker_core::Error> {
//! let server = Server::builder().service(SlowServer::new(SlowImpl)).bind("127.0.0.1:0").await?;
//! let client = Client::connect(server.local_addr(), ClientOptions::default()).await?;
//! let slow = SlowClient::new(client.clone());
//! assert!(slow.nap(1).await? <= 2000); // the method's 2 s deadline
//!
//! let hurried = SlowClient::new(client).with_options(CallOptions::new().timeout(Duration::from_millis(50)));
//! assert!(matches!(hurried.nap(500).await, Err(Error::Timeout { .. })));
//! # Ok(()) }
//! ```
//!
//! ### 3. Calls by name and what a server offers
//!
//! Without the trait (a gateway, a script), call by name with JSON arguments, and ask the
//! server what it serves ([`inspect`]):
//!
//! ```
//! # use slacker_core::{remote, Client, ClientOptions, Server};
//! # #[remote(namespace = "calc")]
//! # pub trait Calc { async fn add(&self, a: i64, b: i64) -> i64; }
//! # struct CalcImpl;
//! # impl Calc for CalcImpl { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), slacker_core::Error> {
//! # let server = Server::builder().service(CalcServer::new(CalcImpl)).bind("127.0.0.1:0").await?;
//! let client = Client::connect(server.local_addr(), ClientOptions::default()).await?;
//! let sum = client.call_by_name("calc", "add", serde_json::json!([20, 22]), Default::default()).await?;
//! assert_eq!(sum, serde_json::json!(42));
//!
//! let described = client.inspect(Default::default()).await?;
//! let calc = described.namespaces.iter().find(|ns| ns.name == "calc").expect("calc is served");
//! assert_eq!(calc.functions[0].name, "add");
//! # Ok(()) }
//! ```
//!
//! ### 4. Many servers
//!
//! [`cluster::Cluster`] is a [`Caller`] over many servers (grouping, failover, ejection); fed
//! by hand here, by ZooKeeper with `slacker-zk`'s `ClusterClient`. The same stub calls it.
//!
//! ```
//! # use slacker_core::{remote, Server};
//! use slacker_core::cluster::{Cluster, ClusterOptions};
//! use slacker_core::membership::{Change, ServerInfo};
//! # #[remote(namespace = "calc")]
//! # pub trait Calc { #[remote(grouping = all, grouping_results = vector)] async fn add(&self, a: i64, b: i64) -> i64; }
//! # struct CalcImpl;
//! # impl Calc for CalcImpl { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), slacker_core::Error> {
//! let cluster = Cluster::new(ClusterOptions::default());
//! let mut servers = Vec::new();
//! for _ in 0..3 {
//!     let server = Server::builder().service(CalcServer::new(CalcImpl)).bind("127.0.0.1:0").await?;
//!     let addr = slacker_core::ServerAddr::from(server.local_addr().to_string());
//!     cluster.apply(Change::Insert(addr.clone(), ServerInfo { data: serde_json::Value::Null }));
//!     servers.push((server, addr));
//! }
//! let addrs = servers.iter().map(|(_, a)| a.clone()).collect();
//! cluster.apply(Change::Namespace { namespace: "calc".into(), servers: addrs, leader: None });
//!
//! // `add` is declared `grouping = all, grouping_results = vector`: one answer per server.
//! let calc = CalcClient::new(cluster);
//! assert_eq!(calc.add(1, 2).await?, vec![3, 3, 3]);
//! # Ok(()) }
//! ```
//!
//! A request's life, one file per hop:
//! generated stub ([`remote`]) -> [`caller`] -> [`client`] (pending map, deadlines, reconnect)
//! -> [`codec`] (frames, see [`protocol`] for the bytes) -> [`server`] connection -> `server`
//! dispatch -> [`service`]. Handlers read their call's deadline and metadata from [`context`].
//!
//! ## TLS (feature `tls`, off by default)
//!
//! With `features = ["tls"]`, `ServerOptions::tls` takes a `rustls::ServerConfig` and the
//! server then accepts only TLS connections (the handshake is bounded by `read_timeout`; a
//! plaintext or untrusted peer is logged and dropped, the server keeps serving);
//! `ClientOptions::tls` takes a `rustls::ClientConfig` and the name the server's certificate
//! must carry. rustls is built with the *ring* provider (aws-lc-rs needs cmake and nasm).
//! Client certificates (mutual TLS) are whatever the `ServerConfig`'s verifier demands.
//! What TLS protects: confidentiality and integrity of the traffic and, with a trusted CA,
//! the server's identity. What it does not: authorization of calls (use a server
//! interceptor), nor the ZooKeeper traffic (see slacker-zk's `ZkAuth` for its ACLs). Plain
//! TCP keeps its unsplit-lock-free path; only TLS connections pay for `tokio::io::split`.
#![warn(missing_docs)]

mod addr;
pub mod backoff;
pub mod caller;
pub mod client;
pub mod cluster;
pub mod codec;
mod codes;
pub mod context;
mod error;
pub mod inspect;
pub mod membership;
pub mod merge;
pub mod meta;
mod names;
pub mod observe;
pub mod protocol;
pub mod serialization;
pub mod server;
pub mod service;
pub mod stack;
mod stream;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use addr::ServerAddr;
pub use caller::{Call, CallOptions, Caller, Extensions, Replies, Reply, Response};
#[cfg(feature = "tls")]
pub use client::ClientTls;
pub use client::{Client, ClientInterceptor, ClientOptions, ConnState};
pub use codes::{ContentType, ResultCode};
pub use error::{Error, Result};
pub use meta::{
    ArgInfo, ExceptionsPolicy, FunctionDesc, GroupOutcome, Grouping, GroupingFn, GroupingInput,
    MethodInfo, NamespaceInfo, ResultsMode, Selection, ServerView,
};
pub use server::{Server, ServerOptions};
pub use service::{DispatchError, HandlerFuture, HandlerOutput, NamespaceService};

pub use slacker_macros::remote;
