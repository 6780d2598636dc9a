//! Server interceptors: async hooks around every request (auth, metrics, logging).
//!
//! `before` hooks run in the order they were added and may refuse the request; `after` hooks
//! run in reverse order once the outcome is known, for every request that reached the chain
//! (including refused, failed and canceled ones), so metrics see everything.

use std::time::Duration;

use futures::future::BoxFuture;

pub use crate::context::RequestHead;
use crate::ResultCode;

/// An interceptor's refusal: the result code and message the caller receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Any code but `Success` / `ApplicationError`; typically `Unauthorized` or `Overloaded`.
    pub code: ResultCode,
    /// Sent to the caller.
    pub message: String,
}

impl Reject {
    /// A refusal with `code`.
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// How a request ended, as `after` hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The result code sent (or, for `Canceled`, not sent) to the caller.
    pub code: ResultCode,
    /// Time from receipt of the request to its outcome.
    pub elapsed: Duration,
}

/// An async hook around every request. Both methods default to doing nothing.
pub trait ServerInterceptor: Send + Sync + 'static {
    /// Runs before the handler. `Err` short-circuits: the handler does not run and the caller
    /// gets the rejection.
    fn before<'a>(&'a self, head: &'a mut RequestHead) -> BoxFuture<'a, Result<(), Reject>> {
        let _ = head;
        Box::pin(async { Ok(()) })
    }

    /// Runs after the outcome is known.
    fn after<'a>(&'a self, head: &'a RequestHead, outcome: &'a Outcome) -> BoxFuture<'a, ()> {
        let _ = (head, outcome);
        Box::pin(async {})
    }
}

impl<T: ServerInterceptor> ServerInterceptor for std::sync::Arc<T> {
    fn before<'a>(&'a self, head: &'a mut RequestHead) -> BoxFuture<'a, Result<(), Reject>> {
        (**self).before(head)
    }

    fn after<'a>(&'a self, head: &'a RequestHead, outcome: &'a Outcome) -> BoxFuture<'a, ()> {
        (**self).after(head, outcome)
    }
}
