//! The call context a handler can read: `slacker_core::context::current()`, and the
//! [`RequestHead`] it is made of (what server interceptors read and edit first; re-exported as
//! `slacker_core::server::RequestHead`).
//!
//! The server runs every handler inside a tokio task-local scope holding the request's head
//! (after server interceptors had their say), so handlers need no extra parameter to learn
//! their deadline, caller or extensions. Outside a handler, [`current`] returns `None`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::observe::TraceContext;
use crate::{ContentType, Extensions};

/// The parts of a request an interceptor can read and edit (everything but the payload).
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Namespace called.
    pub namespace: Cow<'static, str>,
    /// Function called.
    pub function: Cow<'static, str>,
    /// Content type of the arguments (and of the reply).
    pub content_type: ContentType,
    /// When the caller stops waiting, if it said.
    pub deadline: Option<Instant>,
    /// Request metadata; edits are visible to later interceptors and to the handler.
    pub extensions: Extensions,
    /// The caller's socket address.
    pub peer: SocketAddr,
}

tokio::task_local! {
    static CONTEXT: CallContext;
}

/// What a running handler knows about its call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallContext(Arc<Context>);

/// What a [`CallContext`] shares: one allocation per request.
#[derive(Debug)]
struct Context {
    head: RequestHead,
    trace: TraceContext,
}

impl CallContext {
    pub(crate) fn new(head: RequestHead, trace: TraceContext) -> Self {
        Self(Arc::new(Context { head, trace }))
    }

    /// The request's head.
    pub(crate) fn head(&self) -> &RequestHead {
        &self.0.head
    }

    /// This request's place in its trace: the caller's trace id (a new one when the caller sent
    /// none) and a span id of its own. Calls made from the handler carry a child of it.
    pub fn trace(&self) -> &TraceContext {
        &self.0.trace
    }

    /// When the caller stops waiting; `None` if it sent no deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.0.head.deadline
    }

    /// The caller's socket address.
    pub fn peer(&self) -> SocketAddr {
        self.0.head.peer
    }

    /// Namespace called.
    pub fn namespace(&self) -> &str {
        &self.0.head.namespace
    }

    /// Function called.
    pub fn function(&self) -> &str {
        &self.0.head.function
    }

    /// The request's extensions, as the interceptors left them.
    pub fn extensions(&self) -> &Extensions {
        &self.0.head.extensions
    }
}

/// The context of the call the current task is handling; `None` outside a handler.
pub fn current() -> Option<CallContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Runs `fut` with `ctx` as its call context.
pub(crate) async fn scope<F: std::future::Future>(ctx: CallContext, fut: F) -> F::Output {
    CONTEXT.scope(ctx, fut).await
}

/// Runs `f` (one poll of a handler, on the server's fast path) with `ctx` as the call context.
pub(crate) fn sync_scope<R>(ctx: CallContext, f: impl FnOnce() -> R) -> R {
    CONTEXT.sync_scope(ctx, f)
}
