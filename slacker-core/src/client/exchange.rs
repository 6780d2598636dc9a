//! The futures a call waits on once its frame is queued. Previous hop: `Client::exchange`
//! (registers the call, queues its frame); next hop: the connection's driver completes the
//! call's slot when the reply arrives (`driver.rs`).
//!
//! They are written by hand, not as `async fn`s, for their size: every layer above a call
//! (the stub, the cluster's attempt, the spans) holds this future inside its own, and each
//! such future is moved a few times per call. An `async fn` chain here was 1.1 KB of state
//! copied at every level; [`Exchange`] is the reply slot and a few words. The deadline is not
//! here: the client's sweeper fails the call through the same slot (`pending.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use pin_project_lite::pin_project;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::shared::PendingGuard;
use super::Client;
use crate::protocol::Packet;
use crate::{Error, Response, Result, ResultCode};

/// How long an exchange may take: its timeout, and the instant it runs out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    pub(crate) timeout: Duration,
    pub(crate) deadline: Instant,
}

impl Bound {
    pub(super) fn from_now(timeout: Duration) -> Self {
        Self {
            timeout,
            deadline: Instant::now() + timeout,
        }
    }
}

/// A checked request frame and what to do with it.
pub(super) enum Outgoing {
    /// Send it and wait for the reply to this request id within the bound.
    Exchange(Packet, u64, Bound),
    /// Fire-and-forget: send it (waiting for a connection and for room at most this long).
    NoReply(Packet, Duration),
}

pin_project! {
    /// One exchange, as [`Client::exchange`] started it.
    #[project = ExchangeProj]
    pub(super) enum Exchange<'a> {
        /// Queued; waiting for the reply.
        Waiting { #[pin] wait: Awaiting<'a> },
        /// Waiting for a connection or for room in the writer's queue first (rare: boxed).
        Slow { fut: BoxFuture<'a, Result<Response>> },
        /// Failed before anything was sent (taken once).
        Done { result: Option<Result<Response>> },
    }
}

impl Future for Exchange<'_> {
    type Output = Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ExchangeProj::Waiting { wait } => wait.poll(cx),
            ExchangeProj::Slow { fut } => fut.as_mut().poll(cx),
            ExchangeProj::Done { result } => match result.take() {
                Some(result) => Poll::Ready(result),
                None => Poll::Ready(Err(Error::Closed)),
            },
        }
    }
}

pin_project! {
    /// A queued call waiting for its reply, or for the sweeper's timeout when its deadline
    /// passes (`pending.rs`: whichever takes the call out of the pending map first decides,
    /// and the sweeper asks the server to cancel). Dropped before either (the caller gave
    /// up), its guard takes the call out of the pending map and asks the server to cancel it.
    pub(super) struct Awaiting<'a> {
        pub(super) client: &'a Client,
        pub(super) guard: PendingGuard<'a>,
        pub(super) reply: oneshot::Receiver<Result<Response>>,
        pub(super) timeout: Duration,
    }
}

impl Future for Awaiting<'_> {
    type Output = Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match ready!(Pin::new(&mut *this.reply).poll(cx)) {
            // The server saw the same deadline pass (they fall in the same millisecond): one
            // error for "the caller's deadline passed", whichever side noticed first.
            Ok(Err(Error::Remote {
                code: ResultCode::DeadlineExceeded,
                ..
            })) => Err(this.client.timeout(*this.timeout)),
            Ok(result) => result,
            // The driver dropped the slot: the connection is gone.
            Err(_) => Err(this.client.lost()),
        };
        // Whoever completed the slot took the call out of the pending map (and the sweeper
        // sent the cancel): nothing left for the guard to do.
        this.guard.armed = false;
        Poll::Ready(result)
    }
}
