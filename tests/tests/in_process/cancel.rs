//! A call the client stops waiting for is aborted on the server: the handler future is
//! dropped, whether the caller dropped its future or timed out.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use slacker_core::server::{Reject, RequestHead, ServerInterceptor};
use slacker_core::{CallOptions, Client, ClientOptions, Error, Server};
use slacker_tests::lab::{Lab, LabClient};
use slacker_tests::{wait_until, DEADLINE};

/// Drops the request's deadline, so only a cancel packet can stop the handler.
struct IgnoreDeadline;

impl ServerInterceptor for IgnoreDeadline {
    fn before<'a>(&'a self, head: &'a mut RequestHead) -> BoxFuture<'a, Result<(), Reject>> {
        head.deadline = None;
        Box::pin(async { Ok(()) })
    }
}

async fn server() -> (Server, std::sync::Arc<slacker_tests::lab::Probe>) {
    let lab = Lab::default();
    let probe = lab.probe.clone();
    let server = Server::builder()
        .service(lab)
        .interceptor(IgnoreDeadline)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    (server, probe)
}

#[tokio::test]
async fn dropping_the_call_future_aborts_the_handler() {
    let (server, probe) = server().await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    let call = tokio::spawn(async move { lab.hold().await });
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the handler started");
    call.abort();
    wait_until(DEADLINE, || async {
        probe.aborted.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the handler was aborted");
    assert_eq!(client.in_flight(), 0);
    assert_eq!(server.in_flight(), 0);
}

#[tokio::test]
async fn client_timeout_aborts_the_handler() {
    let (server, probe) = server().await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone())
        .with_options(CallOptions::new().timeout(Duration::from_millis(100)));
    match lab.hold().await {
        Err(Error::Timeout {
            server: Some(s),
            after,
        }) => {
            assert_eq!(&s, client.addr());
            assert_eq!(after, Duration::from_millis(100));
        }
        other => panic!("{other:?}"),
    }
    wait_until(DEADLINE, || async {
        probe.aborted.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the handler was aborted");
    assert_eq!(client.in_flight(), 0);
}
