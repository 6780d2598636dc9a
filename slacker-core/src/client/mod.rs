//! The point-to-point client: one multiplexed TCP connection to one server. Previous hop: a
//! generated stub or [`Caller`] user; next hop: `driver.rs` (the task owning the socket), then
//! `codec.rs`.
//!
//! Shape: a cheap-to-clone [`Client`] handle and one driver task per client (tarpc's
//! `Channel` + `RequestDispatch`). A call takes a transaction id, parks a oneshot in the
//! pending map (a std mutex held for an insert or a remove, never across an await), and
//! queues its request frame to the connection's writer. The driver's reader completes the
//! oneshot when the reply arrives. A call that times out or whose future is dropped removes
//! itself from the map and queues a cancel packet, so the server aborts the handler.
//!
//! A call made from inside a handler inherits the handler's deadline: its timeout is capped by
//! the time the upstream caller has left (tarpc does the same), so abandoned work does not
//! fan out further.
//!
//! When the connection is lost every pending call fails at once with the same
//! [`Error::Connection`], and the driver reconnects in the background with capped,
//! jittered exponential backoff. Calls made while a connection attempt is in progress wait
//! for it (within their timeout); calls made while the client is backing off fail fast.

mod driver;
mod exchange;
mod interceptor;
mod json;
mod options;
mod pending;
mod shared;

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub(crate) use exchange::Bound;
use exchange::{Awaiting, Exchange, Outgoing};
pub use interceptor::ClientInterceptor;
pub(crate) use json::{decode_json_response, encode_json_args};
pub use options::ClientOptions;
#[cfg(feature = "tls")]
pub use options::ClientTls;
use pending::Pending;
use shared::{Link, PendingGuard, Shared};

use crate::inspect::{InspectRequest, InspectResponse};
use crate::observe::trace::TRACEPARENT;
use crate::observe::TraceContext;
use crate::protocol::{check_request, Packet, Request, FLAG_NO_REPLY};
use crate::{
    serialization, Call, CallOptions, Caller, ContentType, Error, Replies, Reply, Response, Result,
    ResultCode, ServerAddr,
};

/// The connection state of a [`Client`], as published by [`Client::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnState {
    /// A connection attempt (TCP + hello) is in progress; calls wait for it.
    Connecting,
    /// Connected; calls are sent.
    Connected,
    /// The last attempt failed or the connection was lost; calls fail fast until the next
    /// attempt.
    Disconnected,
    /// [`Client::close`] was called or every handle was dropped.
    Closed,
}

/// Closes the client when the last [`Client`] clone is dropped.
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.close.cancel();
    }
}

/// A multiplexed connection to one server. Clones share the connection.
///
/// # Examples
///
/// ```
/// # use slacker_core::{remote, Client, ClientOptions, Server};
/// # #[remote(namespace = "calc")]
/// # pub trait Calc { async fn add(&self, a: i64, b: i64) -> i64; }
/// # struct CalcImpl;
/// # impl Calc for CalcImpl { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), slacker_core::Error> {
/// # let server = Server::builder().service(CalcServer::new(CalcImpl)).bind("127.0.0.1:0").await?;
/// let client = Client::connect(server.local_addr(), ClientOptions::default()).await?;
/// let calc = CalcClient::new(client.clone()); // the typed stub of a #[remote] trait
/// assert_eq!(calc.add(1, 2).await?, 3);
/// let sum = client.call_by_name("calc", "add", serde_json::json!([1, 2]), Default::default()).await?;
/// assert_eq!(sum, serde_json::json!(3));
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.shared().addr)
            .field("state", &*self.shared().state.borrow())
            .finish()
    }
}

impl Client {
    /// Connects (TCP + hello handshake) and returns once the connection is up.
    ///
    /// # Errors
    /// The failure of the first attempt: [`Error::Connection`] (unreachable, handshake timed
    /// out), [`Error::Protocol`] (version mismatch) or [`Error::Remote`] (refused, e.g.
    /// `Overloaded`). Nothing keeps running after an error.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub async fn connect(addr: impl Into<ServerAddr>, options: ClientOptions) -> Result<Self> {
        let client = Self::lazy(addr, options);
        let mut link = client.shared().link.subscribe();
        loop {
            match &*link.borrow_and_update() {
                Link::Up(_) => return Ok(client),
                Link::Down(e) => return Err(e.clone()),
                Link::Closed => return Err(Error::Closed),
                Link::Connecting => {}
            }
            if link.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    /// Returns at once and connects in the background; calls wait for the first attempt.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn lazy(addr: impl Into<ServerAddr>, options: ClientOptions) -> Self {
        let shared = Arc::new(Shared {
            addr: addr.into(),
            frame_limit: AtomicUsize::new(options.max_frame_len),
            options,
            next_tid: AtomicU64::new(1),
            pending: Mutex::new(Pending::default()),
            sweep: Notify::new(),
            frames_read: AtomicU64::new(0),
            link: watch::Sender::new(Link::Connecting),
            state: watch::Sender::new(ConnState::Connecting),
            conn: AtomicU8::new(ConnState::Connecting as u8),
            close: CancellationToken::new(),
        });
        tokio::spawn(driver::run(shared.clone()));
        tokio::spawn(pending::sweep(shared.clone()));
        Self {
            handle: Arc::new(Handle(shared)),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.0
    }

    /// The server this client talks to.
    pub fn addr(&self) -> &ServerAddr {
        &self.shared().addr
    }

    /// The connection state, as a watch (clone-able, awaitable with `changed()`).
    pub fn state(&self) -> watch::Receiver<ConnState> {
        self.shared().state.subscribe()
    }

    /// The connection state now (what [`Client::state`] last published), without a lock.
    pub(crate) fn conn_state(&self) -> ConnState {
        self.shared().conn_state()
    }

    /// Whether client interceptors run around each call (they are not bounded by its timeout).
    pub(crate) fn has_interceptors(&self) -> bool {
        !self.shared().options.interceptors.is_empty()
    }

    /// Calls currently waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.shared().pending().len()
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.shared().options
    }

    /// Fails every call pending on this client at once with `err` (the connection stays up;
    /// the server is asked to cancel them). Returns how many there were. The cluster uses it
    /// for a server it ejects: callers must not wait for a server declared bad.
    pub(crate) fn abandon_pending(&self, err: &Error) -> usize {
        self.shared().abandon_all(err)
    }

    /// Lets go of a server that left the cluster's membership. Calls pending on it still
    /// complete if the server answers (a graceful stop drains them), but it is probed at once:
    /// if it is not connected, or reads nothing within a third of `heartbeat_timeout` after a
    /// ping, every pending call fails at once with an [`Error::Connection`] that says so.
    /// The connection closes when the last handle (held by the calls) is dropped.
    pub(crate) fn retire(self) {
        let shared = self.shared().clone();
        drop(self);
        if shared.pending().is_empty() {
            return;
        }
        let gone = Error::connection(
            &shared.addr,
            "server left the cluster's membership and did not answer a probe",
        );
        let tx = match &*shared.link.borrow() {
            Link::Up(tx) => tx.clone(),
            _ => {
                shared.fail_all(&gone);
                return;
            }
        };
        let heard = shared.frames_read.load(Ordering::Acquire);
        if tx.try_send(Packet::Ping).is_err() {
            shared.abandon_all(&gone);
            return;
        }
        let wait = (shared.options.heartbeat_timeout / 3).max(Duration::from_millis(50));
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if shared.frames_read.load(Ordering::Acquire) == heard {
                shared.abandon_all(&gone);
            }
        });
    }

    /// Closes the connection and stops reconnecting; pending and later calls fail with
    /// [`Error::Closed`]. Returns once the driver has stopped.
    pub async fn close(&self) {
        self.shared().close.cancel();
        let mut state = self.state();
        let _ = state.wait_for(|s| *s == ConnState::Closed).await;
    }

    /// Sends one call and waits for its reply, running the client interceptors around it.
    ///
    /// # Errors
    /// Every [`Error`] a single-server call can meet; an interceptor's refusal.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the call: a cancel packet tells the server to abort it.
    ///
    /// (Not an `async fn`: an `async fn` keeps its arguments twice in its state, and this
    /// future is moved a few times per call.)
    pub fn call_one(&self, call: Call) -> impl Future<Output = Result<Response>> + Send + '_ {
        let span = tracing::debug_span!(
            "slacker.call",
            server = %self.addr(),
            namespace = %call.namespace,
            function = %call.function,
            tid = tracing::field::Empty,
            code = tracing::field::Empty,
        );
        self.call_in(call, None).instrument(span)
    }

    /// One attempt of a cluster call: as [`Client::call_one`] bounded by `bound` (the
    /// cluster's deadline, interceptors included), in a `slacker.attempt` span.
    pub(crate) async fn attempt(&self, call: &Call, bound: Bound) -> Result<Response> {
        let span = tracing::debug_span!(
            "slacker.attempt",
            server = %self.addr(),
            namespace = %call.namespace,
            function = %call.function,
            tid = tracing::field::Empty,
            code = tracing::field::Empty,
        );
        if self.has_interceptors() {
            // They may edit the call (hence the copy) and are not bounded by the exchange's
            // timeout: the whole attempt is.
            return self
                .intercepted_until(call.clone(), bound)
                .instrument(span)
                .await;
        }
        self.plain(call, Some(bound)).instrument(span).await
    }

    /// Interceptors around the exchange, inside the caller's span (a plain function returning
    /// an `async` block, for the reason given at [`Client::call_one`]).
    #[allow(clippy::manual_async_fn)] // An `async fn` would hold `call` twice.
    fn call_in(
        &self,
        call: Call,
        bound: Option<Bound>,
    ) -> impl Future<Output = Result<Response>> + Send + '_ {
        async move {
            if self.has_interceptors() {
                return self.intercepted_boxed(call, bound).await;
            }
            self.plain(&call, bound).await
        }
    }

    // The boxing helpers below are plain functions on purpose: a future boxed inside an
    // `async fn` still takes its full size in the caller's state (the temporary before the
    // box), and these are the rare paths of every call.

    /// [`Client::intercepted`], boxed.
    fn intercepted_boxed(
        &self,
        call: Call,
        bound: Option<Bound>,
    ) -> BoxFuture<'_, Result<Response>> {
        Box::pin(self.intercepted(call, bound))
    }

    /// [`Client::intercepted`] bounded by `bound` as a whole, boxed.
    fn intercepted_until(&self, call: Call, bound: Bound) -> BoxFuture<'_, Result<Response>> {
        let intercepted = self.intercepted(call, Some(bound));
        Box::pin(async move {
            tokio::time::timeout_at(bound.deadline, intercepted)
                .await
                .unwrap_or_else(|_| Err(self.timeout(bound.timeout)))
        })
    }

    async fn intercepted(&self, mut call: Call, bound: Option<Bound>) -> Result<Response> {
        let interceptors = &self.shared().options.interceptors;
        // As in `plain`: a call an interceptor refuses at once still yields now and then.
        tokio::task::consume_budget().await;
        for i in interceptors {
            i.before(&mut call).await?;
        }
        let result = self.plain(&call, bound).await;
        for i in interceptors.iter().rev() {
            i.after(&call, &result).await;
        }
        result
    }

    /// The exchange, inside the caller's span (after the interceptors' `before`, if any).
    async fn plain(&self, call: &Call, bound: Option<Bound>) -> Result<Response> {
        // As in the cluster: a call refused at once (connection closed) still yields now and
        // then, so a retry loop cannot starve its thread.
        tokio::task::consume_budget().await;
        let result = self.send(call, bound).await;
        record_code(&result);
        result
    }

    /// Sends `call` without waiting for a reply (the server sends none).
    ///
    /// # Errors
    /// When it could not be handed to a connection (see [`Client::call_one`]).
    pub async fn notify(&self, mut call: Call) -> Result<()> {
        call.options.fire_and_forget = true;
        self.call_one(call).await.map(drop)
    }

    /// Calls `namespace/function` with dynamic arguments: a JSON array (one element per
    /// argument) or `null` for none. The result comes back as JSON.
    ///
    /// # Errors
    /// As [`Client::call_one`]; an application error arrives as [`Error::Remote`] with code
    /// `ApplicationError` and the error value's JSON text as message; [`Error::Config`] when
    /// `args` is neither an array nor null.
    pub async fn call_by_name(
        &self,
        namespace: &str,
        function: &str,
        args: serde_json::Value,
        options: CallOptions,
    ) -> Result<serde_json::Value> {
        let content_type = self.content_type();
        let response = self
            .call_one(Call {
                namespace: Cow::Owned(namespace.to_owned()),
                function: Cow::Owned(function.to_owned()),
                method: None,
                content_type,
                payload: encode_json_args(content_type, args)?,
                options,
            })
            .await?;
        decode_json_response(self.addr(), response)
    }

    /// Asks the server to describe itself.
    ///
    /// # Errors
    /// As [`Client::call_one`]; [`Error::Codec`] for an unreadable answer.
    pub async fn inspect(&self, request: InspectRequest) -> Result<InspectResponse> {
        let payload = serde_json::to_vec(&request)
            .map_err(|e| self.codec_error(format!("inspect request: {e}")))?;
        let tid = self.next_tid();
        let packet = Packet::InspectRequest {
            tid,
            payload: payload.into(),
        };
        let response = self
            .exchange(packet, tid, Bound::from_now(self.shared().options.timeout))
            .await?;
        serde_json::from_slice(&response.payload)
            .map_err(|e| self.codec_error(format!("inspect response: {e}")))
    }

    fn next_tid(&self) -> u64 {
        self.shared().next_tid.fetch_add(1, Ordering::Relaxed)
    }

    fn codec_error(&self, message: String) -> Error {
        Error::Codec {
            server: Some(self.addr().clone()),
            message: message.into(),
        }
    }

    /// Builds the request frame for `call` and starts exchanging it, within `bound` when the
    /// caller gave one (else the call's own timeout). A plain function: see [`Exchange`].
    fn send(&self, call: &Call, bound: Option<Bound>) -> Exchange<'_> {
        match self.request(call, bound) {
            Ok(Outgoing::Exchange(packet, tid, bound)) => self.exchange(packet, tid, bound),
            // Boxed: its waits would otherwise enlarge every call's future.
            Ok(Outgoing::NoReply(packet, timeout)) => Exchange::Slow {
                fut: Box::pin(self.send_only(packet, call.content_type, timeout)),
            },
            Err(e) => Exchange::Done {
                result: Some(Err(e)),
            },
        }
    }

    /// The request frame for `call`, checked, and how long it may take (a plain function: what
    /// it builds would otherwise sit in every call's future).
    fn request(&self, call: &Call, bound: Option<Bound>) -> Result<Outgoing> {
        let shared = self.shared();
        let mut timeout = match bound {
            Some(bound) => bound.timeout,
            None => call.effective_timeout(shared.options.timeout),
        };
        let mut deadline = bound.map(|b| b.deadline);
        // Inside a handler, a downstream call gets no more than the caller's remaining time.
        if let Some(end) = crate::context::current().and_then(|c| c.deadline()) {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(self.timeout(Duration::ZERO));
            }
            if left < timeout {
                timeout = left;
                deadline = None;
            }
        }
        let mut extensions = if call.options.extensions.is_empty() {
            shared.options.extensions.clone()
        } else {
            let mut e = shared.options.extensions.clone();
            e.extend_from(&call.options.extensions);
            e
        };
        if extensions.get(TRACEPARENT).is_none() {
            if let Some(trace) = outgoing_trace() {
                trace.inject(&mut extensions);
            }
        }
        let fire_and_forget = call.options.fire_and_forget;
        let tid = self.next_tid();
        if let Some(span) = call_span() {
            span.record("tid", tid);
        }
        let request = Request {
            tid,
            content_type: call.content_type,
            flags: if fire_and_forget { FLAG_NO_REPLY } else { 0 },
            deadline_ms: u32::try_from(timeout.as_millis())
                .unwrap_or(u32::MAX)
                .max(1),
            namespace: call.namespace.clone(),
            function: call.function.clone(),
            extensions,
            payload: call.payload.clone(),
        };
        check_request(&request).map_err(|m| self.codec_error(m))?;
        let packet = Packet::Request(request);
        let len = packet.encoded_len();
        let limit = shared.frame_limit.load(Ordering::Relaxed);
        if len > limit {
            return Err(self.codec_error(format!(
                "request of {len} bytes exceeds the frame limit of {limit}"
            )));
        }
        if fire_and_forget {
            return Ok(Outgoing::NoReply(packet, timeout));
        }
        let bound = match deadline {
            Some(deadline) => Bound { timeout, deadline },
            None => Bound::from_now(timeout),
        };
        Ok(Outgoing::Exchange(packet, tid, bound))
    }

    /// Sends a fire-and-forget `packet` (waiting for a connection and for room until
    /// `timeout`); its answer is the unit value.
    async fn send_only(
        &self,
        packet: Packet,
        content_type: ContentType,
        timeout: Duration,
    ) -> Result<Response> {
        let deadline = Instant::now() + timeout;
        let tx = self.writer(deadline, timeout).await?;
        match tokio::time::timeout_at(deadline, tx.send(packet)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(self.lost()),
            Err(_) => return Err(self.timeout(timeout)),
        }
        Ok(Response {
            code: ResultCode::Success,
            content_type,
            payload: serialization::encode(content_type, &()).unwrap_or_default(),
        })
    }

    /// Sends `packet` (carrying `tid`) and waits for the reply to `tid` within `bound`.
    ///
    /// The common case, a connection up and room in its queue, is a plain function that
    /// registers the call and queues its frame, then a small hand-written future that waits
    /// for the reply or the deadline ([`Awaiting`]); every layer above (stub, cluster, span)
    /// holds that future, so it is moved a few times per call: it must stay small. Waiting
    /// for a connection or for room in the queue is `exchange_slow`, boxed.
    fn exchange(&self, packet: Packet, tid: u64, bound: Bound) -> Exchange<'_> {
        let shared = self.shared();
        let link = shared.link.borrow();
        let Link::Up(tx) = &*link else {
            drop(link);
            return Exchange::Slow {
                fut: Box::pin(self.exchange_slow(packet, tid, bound)),
            };
        };
        let reply = match self.register(tid, bound) {
            Ok(reply) => reply,
            Err(e) => {
                return Exchange::Done {
                    result: Some(Err(e)),
                }
            }
        };
        match tx.try_send(packet) {
            Ok(()) => Exchange::Waiting {
                wait: Awaiting {
                    client: self,
                    guard: PendingGuard {
                        shared,
                        tid,
                        armed: true,
                    },
                    reply,
                    timeout: bound.timeout,
                },
            },
            Err(mpsc::error::TrySendError::Full(packet)) => {
                // Waiting for room counts against the timeout: the slow path registers the
                // call again and waits.
                shared.pending().remove(tid);
                drop(link);
                Exchange::Slow {
                    fut: Box::pin(self.exchange_slow(packet, tid, bound)),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                shared.pending().remove(tid);
                Exchange::Done {
                    result: Some(Err(self.lost())),
                }
            }
        }
    }

    /// Parks call `tid` in the pending map until its reply or `bound`'s deadline (the
    /// sweeper's, `pending.rs`); refused when `max_pending` calls already wait.
    fn register(&self, tid: u64, bound: Bound) -> Result<oneshot::Receiver<Result<Response>>> {
        let shared = self.shared();
        let (slot, reply) = oneshot::channel();
        let wake = {
            let mut pending = shared.pending();
            if pending.len() >= shared.options.max_pending {
                return Err(self.backlog());
            }
            pending.insert(tid, slot, bound.deadline, bound.timeout)
        };
        if wake {
            shared.wake_sweeper();
        }
        Ok(reply)
    }

    /// [`Client::exchange`] when the connection is not up yet or its queue is full: waits for
    /// both within the deadline.
    async fn exchange_slow(&self, packet: Packet, tid: u64, bound: Bound) -> Result<Response> {
        let shared = self.shared();
        let Bound { timeout, deadline } = bound;
        // Refused before waiting for a connection, not after.
        if shared.pending().len() >= shared.options.max_pending {
            return Err(self.backlog());
        }
        let tx = self.writer(deadline, timeout).await?;
        let reply = self.register(tid, bound)?;
        let mut guard = PendingGuard {
            shared,
            tid,
            armed: true,
        };
        // The queue to the writer is bounded: waiting for room counts against the timeout.
        let queued = match tx.try_send(packet) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(packet)) => Some(tx.send(packet)),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                shared.pending().remove(tid);
                guard.armed = false;
                return Err(self.lost());
            }
        };
        let sent_and_answered = async {
            if let Some(send) = queued {
                if send.await.is_err() {
                    shared.pending().remove(tid);
                    return Err(self.lost());
                }
            }
            reply.await.unwrap_or_else(|_| Err(self.lost()))
        };
        let result = match tokio::time::timeout_at(deadline, sent_and_answered).await {
            // The server saw the same deadline pass (they fall in the same millisecond): one
            // error for "the caller's deadline passed", whichever side noticed first.
            Ok(Err(Error::Remote {
                code: ResultCode::DeadlineExceeded,
                ..
            }))
            | Err(_) => Err(self.timeout(timeout)),
            Ok(result) => result,
        };
        // After a timeout the guard removes the call and tells the server to abort it.
        guard.armed = matches!(result, Err(Error::Timeout { .. }));
        result
    }

    fn timeout(&self, after: Duration) -> Error {
        Error::Timeout {
            server: Some(self.addr().clone()),
            after,
        }
    }

    /// The current connection's writer; waits (until `deadline`) while a connection attempt
    /// is in progress.
    async fn writer(&self, deadline: Instant, timeout: Duration) -> Result<mpsc::Sender<Packet>> {
        let shared = self.shared();
        if let Some(tx) = self.writer_now() {
            return Ok(tx);
        }
        let mut link = shared.link.subscribe();
        loop {
            match &*link.borrow_and_update() {
                Link::Up(tx) => return Ok(tx.clone()),
                Link::Down(e) => return Err(e.clone()),
                Link::Closed => return Err(Error::Closed),
                Link::Connecting => {}
            }
            match tokio::time::timeout_at(deadline, link.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Closed),
                Err(_) => {
                    return Err(Error::Timeout {
                        server: Some(shared.addr.clone()),
                        after: timeout,
                    })
                }
            }
        }
    }

    /// The current connection's writer, when a connection is up.
    fn writer_now(&self) -> Option<mpsc::Sender<Packet>> {
        match &*self.shared().link.borrow() {
            Link::Up(tx) => Some(tx.clone()),
            _ => None,
        }
    }

    fn backlog(&self) -> Error {
        Error::Backlog {
            server: self.addr().clone(),
            limit: self.shared().options.max_pending,
        }
    }

    fn lost(&self) -> Error {
        Error::connection(self.addr(), "connection lost")
    }
}

/// The trace context an outgoing call carries: with the `otel` feature, that of the current
/// (`slacker.call`) span when OpenTelemetry gives it one; else, inside a handler, a child of the
/// handler's; else none (the server starts a trace).
fn outgoing_trace() -> Option<TraceContext> {
    #[cfg(feature = "otel")]
    {
        let span = tracing::Span::current();
        if !span.is_disabled() {
            if let Some(trace) = crate::observe::otel::context_of(&span) {
                return Some(trace);
            }
        }
    }
    crate::context::current().map(|c| c.trace().child())
}

impl Caller for Client {
    fn content_type(&self) -> ContentType {
        self.shared().options.content_type
    }

    fn call(&self, call: Call) -> impl Future<Output = Result<Replies>> + Send {
        self.call_one(call).map(|result| {
            Ok(Replies::One(Reply {
                server: self.addr().clone(),
                result,
            }))
        })
    }
}

/// Records a call's outcome on the current span (when it is enabled).
fn record_code(result: &Result<Response>) {
    if let Some(span) = call_span() {
        span.record("code", crate::observe::metrics::result_label(result));
    }
}

/// The current span, if it can be the call's: the call spans are DEBUG spans, and when no
/// subscriber enables DEBUG (the global level hint, one atomic load) looking up the current
/// span would only find a disabled one.
fn call_span() -> Option<tracing::Span> {
    if !tracing::level_enabled!(tracing::Level::DEBUG) {
        return None;
    }
    Some(tracing::Span::current()).filter(|span| !span.is_disabled())
}
