//! Graceful shutdown: running calls finish within the grace period, new calls get
//! `ShuttingDown`, then connections close; past the grace period running calls are aborted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use slacker_core::{Client, ClientOptions, Error, ResultCode, ServerOptions};
use slacker_tests::lab::{lab_server, LabClient};
use slacker_tests::{wait_until, within, DEADLINE};

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_call_finish() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let addr = server.local_addr();
    let client = Client::connect(addr, ClientOptions::default())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    let running = {
        let lab = lab.clone();
        tokio::spawn(async move { lab.hold().await })
    };
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the call runs");
    let shutdown = tokio::spawn(server.shutdown(Duration::from_secs(20)));

    // New work is refused while draining.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match lab.count().await {
            Err(e) if e.code() == Some(ResultCode::ShuttingDown) => break,
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "never refused"),
            Err(e) => panic!("{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!shutdown.is_finished(), "waits for the running call");

    probe.gate.add_permits(1);
    assert_eq!(
        within("running call", running)
            .await
            .expect("join")
            .expect("finished"),
        0
    );
    within("shutdown", shutdown).await.expect("join");
    assert!(
        Client::connect(addr, ClientOptions::default())
            .await
            .is_err(),
        "port closed"
    );
}

#[tokio::test]
async fn calls_running_past_the_grace_period_are_cut_off() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    let running = {
        let lab = lab.clone();
        tokio::spawn(async move { lab.hold().await })
    };
    wait_until(DEADLINE, || async {
        probe.started.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the call runs");
    within("shutdown", server.shutdown(Duration::from_millis(50))).await;
    assert!(matches!(
        within("call", running).await.expect("join"),
        Err(Error::Connection { .. })
    ));
    wait_until(DEADLINE, || async {
        probe.aborted.load(Ordering::SeqCst) == 1
    })
    .await
    .expect("the handler was aborted");
}
