//! tower layers around dispatch ([`ServerBuilder::layer`](super::ServerBuilder::layer)): the
//! request, after the server's admission checks, its interceptors' `before` and the deadline
//! check, goes through the layers (first added = outermost) to [`Dispatch`], which decodes the
//! arguments and runs the handler in the call context. Previous hop: `dispatch.rs`; next hop:
//! the [`NamespaceService`]'s handler.
//!
//! A layer answers a request itself by returning an error: a [`Rejection`] carries its result
//! code to the caller; tower's `load_shed` overload becomes `Overloaded`, its `timeout`
//! `DeadlineExceeded`; anything else `Internal` with the error's message. Cancellation (a
//! cancel packet, a closed connection) and the request's deadline still apply around the whole
//! stack.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use tower::util::BoxCloneSyncService;
use tower::BoxError;

use super::RequestHead;
use crate::context::{self, CallContext};
use crate::{DispatchError, HandlerFuture, HandlerOutput, NamespaceService, ResultCode};

/// One request as the layers see it.
#[derive(Clone)]
pub struct ServerRequest {
    ctx: CallContext,
    payload: Bytes,
    service: Arc<dyn NamespaceService>,
}

impl std::fmt::Debug for ServerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRequest")
            .field("head", self.ctx.head())
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl ServerRequest {
    pub(super) fn new(
        ctx: CallContext,
        payload: Bytes,
        service: Arc<dyn NamespaceService>,
    ) -> Self {
        Self {
            ctx,
            payload,
            service,
        }
    }

    /// Namespace, function, content type, deadline, extensions and peer.
    pub fn head(&self) -> &RequestHead {
        self.ctx.head()
    }

    /// The encoded argument tuple.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

/// A layer's answer instead of the handler's: sent to the caller as `code` with `message`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The result code the caller gets.
    pub code: ResultCode,
    /// The message it gets.
    pub message: String,
}

impl Rejection {
    /// A rejection with `code` and `message`.
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The innermost service of the stack: decodes the arguments and runs the handler inside the
/// call context ([`crate::context`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Dispatch;

impl tower::Service<ServerRequest> for Dispatch {
    type Response = HandlerOutput;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HandlerOutput, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ServerRequest) -> Self::Future {
        let ServerRequest {
            ctx,
            payload,
            service,
        } = req;
        let fut = match dispatch(&service, ctx.head(), payload) {
            Ok(fut) => fut,
            Err((code, message)) => return rejected(code, message),
        };
        Box::pin(context::scope(ctx, fut).map(Ok))
    }
}

/// Decodes the arguments and builds the handler's future (`NamespaceService::dispatch`), or
/// the answer when it cannot run: unknown function, bad arguments, a panic while decoding.
/// Shared by [`Dispatch`] and the server's path without layers.
pub(super) fn dispatch(
    service: &Arc<dyn NamespaceService>,
    head: &RequestHead,
    payload: Bytes,
) -> Result<HandlerFuture, (ResultCode, String)> {
    let dispatched = std::panic::catch_unwind(AssertUnwindSafe(|| {
        service.dispatch(&head.function, head.content_type, payload)
    }));
    match dispatched {
        Err(panic) => Err((
            ResultCode::HandlerPanicked,
            panic_text("argument decoding", &*panic),
        )),
        Ok(Err(DispatchError::UnknownFunction)) => Err((
            ResultCode::UnknownFunction,
            format!(
                "namespace `{}` has no function `{}`",
                head.namespace, head.function
            ),
        )),
        Ok(Err(DispatchError::BadArguments(m))) => Err((ResultCode::BadArguments, m)),
        Ok(Ok(fut)) => Ok(fut),
    }
}

fn rejected(
    code: ResultCode,
    message: String,
) -> BoxFuture<'static, Result<HandlerOutput, BoxError>> {
    Box::pin(std::future::ready(
        Err(Rejection::new(code, message).into()),
    ))
}

/// `what panicked: <message>`.
pub(super) fn panic_text(what: &str, panic: &(dyn Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    format!("{what} panicked: {detail}")
}

/// The boxed stack the server runs requests through: what a layer given to
/// [`ServerBuilder::layer`](super::ServerBuilder::layer) wraps.
pub type DispatchStack = BoxCloneSyncService<ServerRequest, HandlerOutput, BoxError>;
pub(crate) type Stack = DispatchStack;

/// Wraps a stack in one more layer.
pub(crate) type LayerFn = Arc<dyn Fn(Stack) -> Stack + Send + Sync>;

/// The stack of `layers` (first = outermost) around [`Dispatch`]; `None` for no layers.
pub(crate) fn build(layers: &[LayerFn]) -> Option<Stack> {
    if layers.is_empty() {
        return None;
    }
    Some(
        layers
            .iter()
            .rev()
            .fold(BoxCloneSyncService::new(Dispatch), |stack, layer| {
                layer(stack)
            }),
    )
}

/// The result code and message a stack's error is answered with.
pub(crate) fn answer(err: &BoxError) -> (ResultCode, String) {
    if let Some(r) = err.downcast_ref::<Rejection>() {
        (r.code, r.message.clone())
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        (
            ResultCode::Overloaded,
            format!("a layer shed the request: {err}"),
        )
    } else if err.is::<tower::timeout::error::Elapsed>() {
        (
            ResultCode::DeadlineExceeded,
            format!("a layer's timeout passed: {err}"),
        )
    } else {
        (ResultCode::Internal, format!("a layer failed: {err}"))
    }
}
