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

/// The server above and a client connected to it with default options.
async fn connected() -> (Server, std::sync::Arc<slacker_tests::lab::Probe>, Client) {
    let (server, probe) = server().await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    (server, probe, client)
}

#[tokio::test]
async fn dropping_the_call_future_aborts_the_handler() {
    let (server, probe, client) = connected().await;
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
    let (_server, probe, client) = connected().await;
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

/// Deadlines are kept by one sweeper per client: a short one registered behind a long one
/// (per-call timeouts) must wake it, and the call it ends is cancelled on the server while the
/// other keeps waiting.
#[tokio::test]
async fn a_short_deadline_behind_a_long_one_fires_on_its_own() {
    let (_server, probe, client) = connected().await;
    let long = LabClient::new(client.clone())
        .with_options(CallOptions::new().timeout(Duration::from_secs(3600)));
    let long_call = tokio::spawn(async move { long.hold().await });
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the long call's handler started");
    let short = LabClient::new(client.clone())
        .with_options(CallOptions::new().timeout(Duration::from_millis(100)));
    let outcome = tokio::time::timeout(DEADLINE, short.hold())
        .await
        .expect("the short call ended at its own deadline, not the long one's");
    assert!(
        matches!(outcome, Err(Error::Timeout { after, .. }) if after == Duration::from_millis(100)),
        "{outcome:?}"
    );
    wait_until(DEADLINE, || async {
        probe.aborted.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the short call was cancelled on the server");
    assert!(!long_call.is_finished(), "the long call still waits");
    assert_eq!(client.in_flight(), 1);
    long_call.abort();
    wait_until(DEADLINE, || async { client.in_flight() == 0 })
        .await
        .expect("the long call left when dropped");
}
