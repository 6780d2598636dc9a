//! The seam between generated client stubs and whatever carries a call: the point-to-point
//! [`Client`](crate::Client) or a multi-server cluster client.
//!
//! A stub encodes the argument tuple once, builds a [`Call`] and hands it to a [`Caller`]. The
//! caller picks servers, applies the deadline, sends, and returns one [`Reply`] per server it
//! used. The stub then decodes each reply into the method's declared type and merges them
//! according to the method's `grouping_results` / `grouping_exceptions` (see
//! [`crate::__private`]). Next hop: `client/mod.rs` (one server) or `slacker_zk::ClusterClient`.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::merge::MergePolicy;
use crate::{
    ContentType, Error, ExceptionsPolicy, Grouping, MethodInfo, Result, ResultCode, ResultsMode,
    ServerAddr,
};

/// Small key/value metadata sent with a request (slacker's "extensions"): auth tokens, trace
/// ids, tenant names. Readable by server interceptors and handlers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions(Vec<(String, Bytes)>);

impl Extensions {
    /// No extensions.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Bytes>) -> &mut Self {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
        self
    }

    /// Builder form of [`Extensions::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.insert(key, value);
        self
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Bytes> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` as UTF-8 text.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Merges `other` over `self` (other's values win).
    pub fn extend_from(&mut self, other: &Extensions) {
        for (k, v) in &other.0 {
            self.insert(k.clone(), v.clone());
        }
    }
}

/// Per-call options. Per call beats per method beats per client.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Overrides the method's and the client's timeout.
    pub timeout: Option<Duration>,
    /// Overrides the method's and the client's grouping (cluster clients only).
    pub grouping: Option<Grouping>,
    /// Extensions sent with the request (merged over the client's).
    pub extensions: Extensions,
    /// Send without waiting for (or receiving) a reply.
    pub fire_and_forget: bool,
    /// Pin the call to this server (cluster clients only), bypassing grouping.
    pub server: Option<ServerAddr>,
    /// Overrides the method's and the client's `grouping_exceptions` (see [`crate::merge`]).
    pub exceptions: Option<ExceptionsPolicy>,
    /// The results shape of an untyped call (a typed method's shape is its signature; see
    /// [`crate::merge`]).
    pub results: Option<ResultsMode>,
}

impl CallOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Sets the grouping.
    pub fn grouping(mut self, g: Grouping) -> Self {
        self.grouping = Some(g);
        self
    }

    /// Adds an extension.
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.extensions.insert(key, value);
        self
    }

    /// Pins the call to one server.
    pub fn server(mut self, s: ServerAddr) -> Self {
        self.server = Some(s);
        self
    }

    /// Sets the `grouping_exceptions` of this call.
    pub fn exceptions(mut self, policy: ExceptionsPolicy) -> Self {
        self.exceptions = Some(policy);
        self
    }

    /// Sets the results shape of this (untyped) call.
    pub fn results(mut self, mode: ResultsMode) -> Self {
        self.results = Some(mode);
        self
    }
}

/// One call, encoded and ready to send.
#[derive(Debug, Clone)]
pub struct Call {
    /// Namespace.
    pub namespace: Cow<'static, str>,
    /// Remote function name.
    pub function: Cow<'static, str>,
    /// The method's static description; `None` for call-by-name.
    pub method: Option<&'static MethodInfo>,
    /// Content type of `payload`.
    pub content_type: ContentType,
    /// The encoded argument tuple.
    pub payload: Bytes,
    /// Per-call options.
    pub options: CallOptions,
}

impl Call {
    /// The timeout to apply: per call, then per method, then `client_default`.
    pub fn effective_timeout(&self, client_default: Duration) -> Duration {
        self.options
            .timeout
            .or(self.method.and_then(|m| m.timeout))
            .unwrap_or(client_default)
    }
}

/// A successful answer from one server: the handler ran and returned either its value
/// (`Success`) or its declared application error (`ApplicationError`).
#[derive(Debug, Clone)]
pub struct Response {
    /// `Success` or `ApplicationError`; any other code arrives as [`Error::Remote`].
    pub code: ResultCode,
    /// Content type of `payload`.
    pub content_type: ContentType,
    /// The encoded value or application error.
    pub payload: Bytes,
}

/// One server's answer to a call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Server that was called.
    pub server: ServerAddr,
    /// Its answer.
    pub result: Result<Response>,
}

/// The answers to one call, in target order. A point-to-point client always returns one.
#[derive(Debug)]
pub enum Replies {
    /// One server was called.
    One(Reply),
    /// Several servers were called (possibly zero, for fire-and-forget).
    Many(Vec<Reply>),
}

impl Replies {
    /// Number of replies.
    pub fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(v) => v.len(),
        }
    }

    /// True if no server was called.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The replies, in target order.
    pub fn iter(&self) -> std::slice::Iter<'_, Reply> {
        match self {
            Self::One(r) => std::slice::from_ref(r).iter(),
            Self::Many(v) => v.iter(),
        }
    }

    /// The replies as a vector.
    pub fn into_vec(self) -> Vec<Reply> {
        match self {
            Self::One(r) => vec![r],
            Self::Many(v) => v,
        }
    }
}

/// Something that can carry a [`Call`]: the point-to-point client, a cluster client, or a test
/// double. Generated `{Trait}Client<C>` stubs are generic over it.
pub trait Caller: Clone + Send + Sync + 'static {
    /// The content type stubs should encode arguments in.
    fn content_type(&self) -> ContentType {
        ContentType::MessagePack
    }

    /// Sends `call` to the servers the caller chooses and collects their replies.
    ///
    /// # Errors
    /// Errors that prevent any server from being called (no server available, client closed).
    /// Per-server failures are inside the returned [`Reply`]s.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the call: the server is told to abort the handler.
    fn call(&self, call: Call) -> impl Future<Output = Result<Replies>> + Send;

    /// The client-wide merge defaults and hooks ([`crate::merge`]); `None` (the default) for
    /// none. Cluster callers return their options' policy.
    fn merge_policy(&self) -> Option<&MergePolicy> {
        None
    }

    /// Reports that a multi-server call succeeded with some servers failing (under
    /// `grouping_exceptions = all`). The default logs at WARN.
    fn partial_failure(&self, namespace: &str, function: &str, failures: &[(ServerAddr, Error)]) {
        for (server, err) in failures {
            tracing::warn!(%server, namespace, function, error = %err, "partial failure in multi-server call");
        }
    }
}
