//! Losing the connection: pending calls fail at once naming the server, the client reconnects
//! in the background, heartbeats find a peer that went silent without closing, and the client
//! lifecycle (`connect`, `lazy`, `close`) behaves.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slacker_core::{Client, ClientOptions, ConnState, Error, Server, ServerOptions};
use slacker_tests::lab::{lab_server, Lab, LabClient};
use slacker_tests::{wait_until, within, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn fast_reconnect() -> ClientOptions {
    ClientOptions::default()
        .reconnect_min(Duration::from_millis(20))
        .reconnect_max(Duration::from_millis(200))
}

async fn wait_state(client: &Client, want: ConnState) {
    let mut state = client.state();
    within("state change", state.wait_for(|s| *s == want))
        .await
        .expect("client alive");
}

#[tokio::test]
async fn lost_connection_fails_every_pending_call_at_once_naming_the_server() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let client = Client::connect(server.local_addr(), fast_reconnect())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let lab = lab.clone();
            tokio::spawn(async move { lab.hold().await })
        })
        .collect();
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 5
    })
    .await
    .expect("five handlers run");
    drop(server);
    let mut messages = Vec::new();
    for call in calls {
        match within("pending call fails", call).await.expect("join") {
            Err(Error::Connection { server, message }) => {
                assert_eq!(&server, client.addr());
                messages.push(message);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        messages.windows(2).all(|w| w[0] == w[1]),
        "one error for all: {messages:?}"
    );
    assert_eq!(client.in_flight(), 0);
}

#[tokio::test]
async fn client_reconnects_after_the_server_restarts_on_the_same_port() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let addr = server.local_addr();
    let client = Client::connect(addr, fast_reconnect())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    assert_eq!(lab.add(1, 2).await.expect("first server"), 3);
    server.shutdown(Duration::from_secs(1)).await;
    let mut state = client.state();
    within(
        "disconnect noticed",
        state.wait_for(|s| *s != ConnState::Connected),
    )
    .await
    .expect("alive");
    let restarted = Server::builder()
        .service(Lab::default())
        .bind(addr)
        .await
        .expect("rebind");
    wait_state(&client, ConnState::Connected).await;
    assert_eq!(lab.add(2, 3).await.expect("second server"), 5);
    drop(restarted);
}

/// A TCP proxy that can be frozen: existing connections stop forwarding without closing,
/// like a peer behind a dead network path. Connections made after a thaw forward again.
struct Proxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pipe(ri, wo, f.clone()));
                tokio::spawn(pipe(ro, wi, f.clone()));
            }
        });
        Self { addr, frozen }
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Keep both sockets open and never forward again.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn heartbeat_detects_a_silent_peer_and_reconnects() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let proxy = Proxy::start(server.local_addr()).await;
    let options = fast_reconnect()
        .heartbeat_interval(Duration::from_millis(50))
        .heartbeat_timeout(Duration::from_millis(300));
    let client = Client::connect(proxy.addr, options).await.expect("connect");
    let lab = LabClient::new(client.clone());
    assert_eq!(lab.add(1, 1).await.expect("through the proxy"), 2);

    proxy.frozen.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    match within("pending call fails", lab.add(2, 2)).await {
        Err(Error::Connection { server, message }) => {
            assert_eq!(&server, client.addr());
            assert!(message.contains("presumed dead"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    println!("silent peer detected after {:?}", started.elapsed());

    proxy.frozen.store(false, Ordering::SeqCst);
    wait_state(&client, ConnState::Connected).await;
    assert_eq!(lab.add(3, 3).await.expect("after reconnect"), 6);
}

#[tokio::test]
async fn eager_connect_to_an_unreachable_server_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    match Client::connect(addr, ClientOptions::default()).await {
        Err(Error::Connection { server, .. }) => assert_eq!(server.as_str(), addr.to_string()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn lazy_client_connects_in_the_background_and_close_fails_pending_calls() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let client = Client::lazy(server.local_addr(), ClientOptions::default());
    let lab = LabClient::new(client.clone());
    assert_eq!(lab.add(1, 2).await.expect("waits for the connection"), 3);
    assert_eq!(*client.state().borrow(), ConnState::Connected);

    let pending = {
        let lab = lab.clone();
        tokio::spawn(async move { lab.hold().await })
    };
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the call is pending");
    within("close", client.close()).await;
    assert!(matches!(
        within("pending", pending).await.expect("join"),
        Err(Error::Closed)
    ));
    assert!(matches!(lab.add(1, 1).await, Err(Error::Closed)));
    assert_eq!(*client.state().borrow(), ConnState::Closed);
}

#[tokio::test]
async fn server_closes_connections_that_send_nothing_but_not_heartbeating_clients() {
    let options = ServerOptions::default()
        .read_timeout(Duration::from_millis(100))
        .idle_timeout(Duration::from_millis(300));
    let (server, _) = lab_server(options).await;
    let client_options = ClientOptions::default().heartbeat_interval(Duration::from_millis(50));
    let client = Client::connect(server.local_addr(), client_options)
        .await
        .expect("connect");
    let state = client.state();
    let mut silent = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let n = within("idle connection closed", silent.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(
        !state.has_changed().expect("alive"),
        "the pinging client was never disconnected"
    );
    assert_eq!(
        LabClient::new(client)
            .add(1, 1)
            .await
            .expect("still connected"),
        2
    );
}
