//! Client interceptors: async hooks around every call this client sends (adding auth tokens,
//! tracing ids, client-side metrics, refusing calls locally).

use futures::future::BoxFuture;

use crate::{Call, Response, Result};

/// An async hook around every call. `before` hooks run in the order given, `after` hooks in
/// reverse order. Both default to doing nothing.
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Runs before the call is sent; may edit it (e.g. add an extension). `Err` short-circuits:
    /// nothing is sent and the caller gets the error.
    fn before<'a>(&'a self, call: &'a mut Call) -> BoxFuture<'a, Result<()>> {
        let _ = call;
        Box::pin(async { Ok(()) })
    }

    /// Runs after the reply (or the failure) is known.
    fn after<'a>(&'a self, call: &'a Call, result: &'a Result<Response>) -> BoxFuture<'a, ()> {
        let _ = (call, result);
        Box::pin(async {})
    }
}
