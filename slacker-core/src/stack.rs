//! tower on the client side: [`Client`] and [`Cluster`] are `tower::Service<Call>`s, so
//! tower's middleware (`timeout`, `concurrency_limit`, `buffer`, `load_shed`, retries, your
//! own) stacks on them; [`ServiceCaller`] turns such a stack back into a [`Caller`], so a
//! generated stub calls through it. The server side is
//! [`ServerBuilder::layer`](crate::server::ServerBuilder::layer).
//!
//! ```
//! use std::time::Duration;
//! use slacker_core::stack::ServiceCaller;
//! use slacker_core::{remote, Client, ClientOptions, Server};
//! use tower::ServiceBuilder;
//!
//! #[remote(namespace = "calc")]
//! pub trait Calc { async fn add(&self, a: i64, b: i64) -> i64; }
//! struct CalcImpl;
//! impl Calc for CalcImpl { async fn add(&self, a: i64, b: i64) -> i64 { a + b } }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().service(CalcServer::new(CalcImpl)).bind("127.0.0.1:0").await?;
//! let client = Client::connect(server.local_addr(), ClientOptions::default()).await?;
//! let stack = ServiceBuilder::new()
//!     .load_shed()
//!     .timeout(Duration::from_millis(500))
//!     .service(client);
//! let calc = CalcClient::new(ServiceCaller::new(stack));
//! assert_eq!(calc.add(1, 2).await?, 3);
//! # Ok(()) }
//! ```

use tower::{BoxError, Service, ServiceExt};

use crate::cluster::Cluster;
use crate::{Call, Caller, Client, ContentType, Error, Replies, Result};

/// Implements `tower::Service<Call>` for a cloneable [`Caller`]: always ready (connections
/// multiplex, backlogs bound pending calls), each call on a clone. Used for `Client` and
/// `Cluster` here and for slacker-zk's `ClusterClient` (a blanket impl over every `Caller` is
/// not allowed for a foreign trait).
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_tower_service {
    ($caller:ty) => {
        impl $crate::__private::tower::Service<$crate::Call> for $caller {
            type Response = $crate::Replies;
            type Error = $crate::Error;
            type Future = $crate::__private::BoxFuture<'static, $crate::Result<$crate::Replies>>;

            fn poll_ready(
                &mut self,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<$crate::Result<()>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, call: $crate::Call) -> Self::Future {
                let caller = self.clone();
                Box::pin(async move { $crate::Caller::call(&caller, call).await })
            }
        }
    };
}

__impl_tower_service!(Client);
__impl_tower_service!(Cluster);

/// A [`Caller`] over a tower service stack ending in a slacker client: generated stubs call
/// through the stack. Each call uses a clone of the stack, as tower expects (`timeout`,
/// `concurrency_limit` and `load_shed` clones share their state; tower's `Buffer` makes any
/// stack cloneable).
#[derive(Clone)]
pub struct ServiceCaller<S> {
    service: S,
    content_type: ContentType,
}

impl<S> std::fmt::Debug for ServiceCaller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCaller")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl<S> ServiceCaller<S> {
    /// Calls through `service`, encoding arguments as MessagePack.
    pub fn new(service: S) -> Self {
        Self {
            service,
            content_type: ContentType::MessagePack,
        }
    }

    /// Encodes arguments as `content_type` (match the client at the bottom of the stack).
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }
}

impl<S> Caller for ServiceCaller<S>
where
    S: Service<Call, Response = Replies> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    fn content_type(&self) -> ContentType {
        self.content_type
    }

    async fn call(&self, call: Call) -> Result<Replies> {
        // A clone of the stack per call (tower's contract: `ready` then `call` on one value).
        let mut service = self.service.clone();
        let ready = service.ready().await.map_err(layer_error)?;
        ready.call(call).await.map_err(layer_error)
    }
}

/// A stack's error as a slacker error: slacker's own pass through; tower's timeout and load
/// shedding become [`Error::Layer`] naming them.
fn layer_error(err: impl Into<BoxError>) -> Error {
    let err: BoxError = err.into();
    match err.downcast::<Error>() {
        Ok(own) => *own,
        Err(other) => Error::Layer {
            message: other.to_string().into(),
        },
    }
}
