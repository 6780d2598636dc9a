//! tower on both sides: layers around the server's dispatch (first added outermost; a layer's
//! errors answered with result codes; a hand-written layer sees each request's head), and a
//! client stack (`load_shed` + `concurrency_limit`, `timeout`) under a typed stub through
//! `ServiceCaller`, whose errors come back as `Error::Layer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use slacker_core::server::{Rejection, ServerRequest};
use slacker_core::stack::ServiceCaller;
use slacker_core::{
    Client, ClientOptions, Error, HandlerOutput, ResultCode, Server, ServerOptions,
};
use slacker_tests::lab::{Lab, LabClient};
use slacker_tests::{wait_until, DEADLINE};
use tower::{BoxError, Layer, Service, ServiceBuilder};

/// Refuses `div` with `Unauthorized` and records every function it let through.
#[derive(Clone, Default)]
struct Gatekeeper(Arc<Mutex<Vec<String>>>);

impl<S> Layer<S> for Gatekeeper {
    type Service = GatekeeperService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GatekeeperService {
            inner,
            seen: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct GatekeeperService<S> {
    inner: S,
    seen: Arc<Mutex<Vec<String>>>,
}

type Boxed = Pin<Box<dyn Future<Output = Result<HandlerOutput, BoxError>> + Send>>;

impl<S> Service<ServerRequest> for GatekeeperService<S>
where
    S: Service<ServerRequest, Response = HandlerOutput, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HandlerOutput;
    type Error = BoxError;
    type Future = Boxed;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: ServerRequest) -> Self::Future {
        let function = req.head().function.to_string();
        if function == "div" {
            return Box::pin(async {
                Err(Rejection::new(ResultCode::Unauthorized, "div is not for you").into())
            });
        }
        self.seen.lock().expect("lock").push(function);
        Box::pin(self.inner.call(req))
    }
}

async fn layered_server(gatekeeper: Gatekeeper) -> (Server, Arc<slacker_tests::lab::Probe>) {
    let lab = Lab::default();
    let probe = lab.probe.clone();
    let server = Server::builder()
        .service(lab)
        .options(ServerOptions::default())
        .layer(gatekeeper)
        .layer(tower::load_shed::LoadShedLayer::new())
        .layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    (server, probe)
}

async fn client(server: &Server) -> Client {
    Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect")
}

#[tokio::test]
async fn server_layers_wrap_dispatch_and_answer_with_result_codes() {
    let gatekeeper = Gatekeeper::default();
    let (server, probe) = layered_server(gatekeeper.clone()).await;
    let lab = LabClient::new(client(&server).await);
    assert_eq!(lab.add(2, 3).await.expect("through the layers"), 5);

    // A layer's own answer: its Rejection's code.
    let err = lab.div(1, 1).await.expect_err("refused by the gatekeeper");
    assert_eq!(err.code(), Some(ResultCode::Unauthorized), "{err}");

    // One request runs at a time; the shed layer outside the limit answers a second at once.
    let held = tokio::spawn({
        let lab = lab.clone();
        async move { lab.hold().await }
    });
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("hold runs");
    let err = lab
        .add(1, 1)
        .await
        .expect_err("shed while the limit is taken");
    assert_eq!(err.code(), Some(ResultCode::Overloaded), "{err}");
    probe.gate.add_permits(1);
    held.await.expect("join").expect("hold finishes");
    assert_eq!(lab.add(1, 1).await.expect("served again"), 2);

    // The outermost layer saw every request it let through, in order.
    let seen = gatekeeper.0.lock().expect("lock").clone();
    assert_eq!(seen, ["add", "hold", "add", "add"]);
}

#[tokio::test]
async fn a_client_stack_runs_under_a_typed_stub() {
    let lab_service = Lab::default();
    let probe = lab_service.probe.clone();
    let server = Server::builder()
        .service(lab_service)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let plain = client(&server).await;

    let limited = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .service(plain.clone());
    let lab = LabClient::new(ServiceCaller::new(limited));
    let held = tokio::spawn({
        let lab = lab.clone();
        async move { lab.hold().await }
    });
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("hold runs");
    match lab.add(1, 1).await {
        Err(Error::Layer { message }) => assert!(message.contains("overloaded"), "{message}"),
        other => panic!("expected the client's load_shed to refuse, got {other:?}"),
    }
    probe.gate.add_permits(1);
    held.await.expect("join").expect("hold finishes");
    assert_eq!(lab.add(1, 1).await.expect("room again"), 2);

    // A timeout layer: the call fails as Error::Layer and the server drops the handler.
    let timed = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(plain);
    let lab = LabClient::new(ServiceCaller::new(timed));
    let aborted = probe.aborted.load(Ordering::SeqCst);
    match lab.hold().await {
        Err(Error::Layer { message }) => assert!(message.contains("timed out"), "{message}"),
        other => panic!("expected the client's timeout, got {other:?}"),
    }
    wait_until(DEADLINE, || async {
        probe.aborted.load(Ordering::SeqCst) == aborted + 1
    })
    .await
    .expect("the server aborted the abandoned handler");
    assert_eq!(lab.add(2, 2).await.expect("fast calls pass"), 4);
}
