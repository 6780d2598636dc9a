//! # slacker-core
//!
//! A point-to-point RPC runtime: wire protocol, codec, server, multiplexed client, deadlines,
//! cancellation and typed errors, plus the `#[remote]` attribute that turns a trait into a server
//! dispatch table and a typed client stub.
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
pub use service::{DispatchError, HandlerFuture, HandlerOutput, Service};

pub use slacker_macros::remote;
