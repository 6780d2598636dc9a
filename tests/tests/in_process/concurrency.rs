//! Many concurrent calls over one connection are all answered, each with its own result.

use std::time::Instant;

use slacker_core::{Client, ClientOptions, ServerOptions};
use slacker_tests::lab::{lab_server, LabClient};
use slacker_tests::within;

const CALLS: i64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_calls_over_one_connection() {
    let options = ServerOptions::default()
        .max_in_flight_per_connection(CALLS as usize)
        .max_in_flight(CALLS as usize);
    let (server, _) = lab_server(options).await;
    let options = ClientOptions::default().max_pending(CALLS as usize);
    let client = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    let started = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let lab = lab.clone();
            tokio::spawn(async move { (i, lab.add(i, i * 1_000).await) })
        })
        .collect();
    let mut answered = 0;
    for call in calls {
        let (i, result) = within("call", call).await.expect("join");
        assert_eq!(result.expect("answered"), i * 1_001);
        answered += 1;
    }
    println!(
        "{CALLS} concurrent calls over one connection took {:?}",
        started.elapsed()
    );
    assert_eq!(answered, CALLS);
    assert_eq!(client.in_flight(), 0);
}

#[tokio::test]
async fn large_payloads_round_trip() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let lab = LabClient::new(client);
    let data: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let started = Instant::now();
    assert_eq!(lab.echo(data.clone()).await.expect("echo"), data);
    println!("4 MiB echo took {:?}", started.elapsed());
}
