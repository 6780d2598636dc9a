//! Every way a call can fail on the server side arrives as a typed error naming the server,
//! and the server keeps serving afterwards.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::json;
use slacker_core::protocol::{Packet, Request};
use slacker_core::server::{Reject, RequestHead, ServerInterceptor};
use slacker_core::{
    CallOptions, Client, ClientOptions, ContentType, Error, Extensions, ResultCode, Server,
    ServerOptions,
};
use slacker_tests::lab::{lab_server, Lab, LabClient, Raw};
use slacker_tests::{wait_until, within, DEADLINE};

async fn connect(server: &slacker_core::Server) -> Client {
    Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect")
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> ResultCode {
    match r {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("not a remote error: {e:?}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test]
async fn unknown_namespace_and_function_and_bad_arguments_are_typed() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let client = connect(&server).await;
    let none = CallOptions::default;
    let err = client
        .call_by_name("nope", "x", json!([]), none())
        .await
        .expect_err("no namespace");
    assert_eq!(err.code(), Some(ResultCode::UnknownNamespace));
    assert_eq!(err.server(), Some(client.addr()));
    assert!(err.to_string().contains("nope"), "{err}");
    let r = client.call_by_name("lab", "nope", json!([]), none()).await;
    assert_eq!(code(r), ResultCode::UnknownFunction);
    let r = client
        .call_by_name("lab", "add", json!(["one", 2]), none())
        .await;
    assert_eq!(code(r), ResultCode::BadArguments);
    let r = client
        .call_by_name("lab", "add", json!({"a": 1}), none())
        .await;
    assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
}

#[tokio::test]
async fn application_error_stays_typed_and_surfaces_as_json_by_name() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let client = connect(&server).await;
    let lab = LabClient::new(client.clone());
    assert_eq!(
        lab.div(1, 0).await.expect("call"),
        Err("division by zero".to_owned())
    );
    let err = client
        .call_by_name("lab", "div", json!([1, 0]), CallOptions::default())
        .await
        .expect_err("application error");
    match err {
        Error::Remote {
            code,
            message,
            server,
        } => {
            assert_eq!(code, ResultCode::ApplicationError);
            assert_eq!(message, "\"division by zero\"");
            assert_eq!(&server, client.addr());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn panicking_handler_is_reported_and_the_server_keeps_serving() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let lab = LabClient::new(connect(&server).await);
    let err = lab.boom().await.expect_err("panics");
    assert_eq!(err.code(), Some(ResultCode::HandlerPanicked));
    assert!(err.to_string().contains("boom on purpose"), "{err}");
    assert_eq!(lab.add(1, 1).await.expect("still serving"), 2);
}

/// Waits in `before` until the request's deadline has passed.
struct OutwaitDeadline;

impl ServerInterceptor for OutwaitDeadline {
    fn before<'a>(&'a self, head: &'a mut RequestHead) -> BoxFuture<'a, Result<(), Reject>> {
        Box::pin(async move {
            if let Some(d) = head.deadline {
                tokio::time::sleep_until(d.into()).await;
            }
            Ok(())
        })
    }
}

fn request(tid: u64, function: &'static str, deadline_ms: u32) -> Packet {
    Packet::Request(Request {
        tid,
        content_type: ContentType::MessagePack,
        flags: 0,
        deadline_ms,
        namespace: "lab".into(),
        function: function.into(),
        extensions: Extensions::new(),
        payload: Bytes::from_static(&[0x90]),
    })
}

#[tokio::test]
async fn work_past_its_deadline_is_not_started() {
    let lab = Lab::default();
    let probe = lab.probe.clone();
    let server = Server::builder()
        .service(lab)
        .interceptor(OutwaitDeadline)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut raw = Raw::connect(server.local_addr()).await;
    raw.send(request(5, "count", 30)).await;
    match raw.next().await {
        Some(Ok(Packet::Error {
            tid: 5,
            code: ResultCode::DeadlineExceeded,
            message,
        })) => {
            assert!(message.contains("before the handler started"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        probe.ran.load(Ordering::SeqCst),
        0,
        "the handler must not run"
    );
}

#[tokio::test]
async fn handler_running_past_its_deadline_is_aborted() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let mut raw = Raw::connect(server.local_addr()).await;
    raw.send(request(9, "hold", 50)).await;
    match raw.next().await {
        Some(Ok(Packet::Error {
            tid: 9,
            code: ResultCode::DeadlineExceeded,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(probe.started.load(Ordering::SeqCst), 1);
    wait_until(DEADLINE, || async {
        probe.aborted.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the handler was dropped");
}

/// Refuses calls without the right `token` extension.
struct Auth;

impl ServerInterceptor for Auth {
    fn before<'a>(&'a self, head: &'a mut RequestHead) -> BoxFuture<'a, Result<(), Reject>> {
        Box::pin(async move {
            match head.extensions.get_str("token") {
                Some("s3cret") => {
                    head.extensions.insert("user", "ada");
                    Ok(())
                }
                _ => Err(Reject::new(
                    ResultCode::Unauthorized,
                    "missing or wrong token",
                )),
            }
        })
    }
}

/// A client interceptor adding the token to every call.
struct AddToken;

impl slacker_core::ClientInterceptor for AddToken {
    fn before<'a>(
        &'a self,
        call: &'a mut slacker_core::Call,
    ) -> BoxFuture<'a, slacker_core::Result<()>> {
        call.options.extensions.insert("token", "s3cret");
        Box::pin(async { Ok(()) })
    }
}

/// A client interceptor refusing locally.
struct Deny;

impl slacker_core::ClientInterceptor for Deny {
    fn before<'a>(
        &'a self,
        _call: &'a mut slacker_core::Call,
    ) -> BoxFuture<'a, slacker_core::Result<()>> {
        Box::pin(async { Err(Error::Config("denied locally".into())) })
    }
}

#[tokio::test]
async fn interceptors_authorize_and_short_circuit() {
    let lab = Lab::default();
    let probe = lab.probe.clone();
    let server = Server::builder()
        .service(lab)
        .interceptor(Auth)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let anonymous = LabClient::new(connect(&server).await);
    assert_eq!(code(anonymous.count().await), ResultCode::Unauthorized);
    assert_eq!(probe.ran.load(Ordering::SeqCst), 0);

    let options = ClientOptions::default().interceptor(AddToken);
    let authed = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let me = LabClient::new(authed).whoami().await.expect("authorized");
    assert_eq!(
        me.user.as_deref(),
        Some("ada"),
        "the server interceptor's edit reaches the handler"
    );

    let options = ClientOptions::default()
        .interceptor(Deny)
        .interceptor(AddToken);
    let denied = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let r = LabClient::new(denied).count().await;
    assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    assert_eq!(probe.ran.load(Ordering::SeqCst), 0, "nothing was sent");
}

#[tokio::test]
async fn in_flight_limits_answer_overloaded() {
    let options = ServerOptions::default()
        .max_in_flight_per_connection(2)
        .max_in_flight(3);
    let (server, probe) = lab_server(options).await;
    let a = LabClient::new(connect(&server).await);
    let b = LabClient::new(connect(&server).await);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.hold().await })
        })
        .collect();
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 2
    })
    .await
    .expect("two holds run");
    assert_eq!(
        code(a.count().await),
        ResultCode::Overloaded,
        "per connection"
    );
    let b_held = {
        let b = b.clone();
        tokio::spawn(async move { b.hold().await })
    };
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 3
    })
    .await
    .expect("three holds run");
    assert_eq!(code(b.count().await), ResultCode::Overloaded, "per server");
    assert_eq!(probe.ran.load(Ordering::SeqCst), 0);
    probe.gate.add_permits(3);
    for h in held {
        h.await.expect("join").expect("hold");
    }
    b_held.await.expect("join").expect("hold");
    assert_eq!(b.count().await.expect("capacity is back"), 1);
}

#[tokio::test]
async fn full_backlog_fails_fast_without_sending() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let options = ClientOptions::default().max_pending(2);
    let client = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    let held: Vec<_> = (0..2)
        .map(|_| {
            let lab = lab.clone();
            tokio::spawn(async move { lab.hold().await })
        })
        .collect();
    wait_until(DEADLINE, || async { client.in_flight() == 2 })
        .await
        .expect("two calls pending");
    match lab.count().await {
        Err(Error::Backlog { server, limit: 2 }) => assert_eq!(&server, client.addr()),
        other => panic!("{other:?}"),
    }
    probe.gate.add_permits(2);
    for h in held {
        within("hold", h).await.expect("join").expect("hold");
    }
    assert_eq!(
        probe.ran.load(Ordering::SeqCst),
        0,
        "the refused call was never sent"
    );
    assert_eq!(lab.count().await.expect("room again"), 1);
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_with_overloaded() {
    let options = ServerOptions::default().max_connections(1);
    let (server, _) = lab_server(options).await;
    let first = connect(&server).await;
    match Client::connect(server.local_addr(), ClientOptions::default()).await {
        Err(Error::Remote {
            code: ResultCode::Overloaded,
            server: s,
            ..
        }) => {
            assert_eq!(s.as_str(), server.local_addr().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        LabClient::new(first.clone())
            .add(1, 2)
            .await
            .expect("first still served"),
        3
    );
    first.close().await;
    // The server frees the slot when it notices the close; retry until it has.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let second = loop {
        if let Ok(c) = Client::connect(server.local_addr(), ClientOptions::default()).await {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never freed up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert_eq!(
        LabClient::new(second)
            .add(2, 2)
            .await
            .expect("second served"),
        4
    );
}
