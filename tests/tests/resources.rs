//! Resource use of a server, measured from `/proc/<pid>` of a `slacker-probe-server` child
//! process (so that the test's own sockets and allocations do not blur the numbers): memory
//! per idle connection, no descriptor or memory leak over 10,000 connect/hello/call/close
//! cycles, and no memory committed for bytes a length prefix only claims.
//!
//! The numbers are printed for RELIABILITY.md. The assertions are outcome checks with generous
//! bounds (a leak or a per-connection pre-allocation would exceed them by far), not speed limits.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use slacker_core::codec::PacketCodec;
use slacker_core::inspect::InspectRequest;
use slacker_core::protocol::{Packet, Request, DEFAULT_MAX_FRAME_LEN};
use slacker_core::{Client, ClientOptions, ContentType, Extensions, ResultCode};
use slacker_tests::procfs::{ensure_open_files, open_fds, rss_kib};
use slacker_tests::{wait_until, TestProcess, DEADLINE};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::codec::Framed;

/// A `slacker-probe-server` child and a control client for inspect.
struct ServerChild {
    _process: TestProcess,
    pid: u32,
    addr: SocketAddr,
    control: Client,
}

impl ServerChild {
    async fn start(args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_slacker-probe-server"));
        command.args(args);
        let mut process = TestProcess::spawn("slacker-probe-server", command).expect("spawn");
        let line = process
            .wait_for_line(DEADLINE, |l| l.starts_with("listening "))
            .await
            .expect("server up");
        let addr: SocketAddr = line["listening ".len()..].parse().expect("address");
        let pid = process.pid().expect("running");
        let control = Client::connect(addr, ClientOptions::default())
            .await
            .expect("control client");
        Self {
            _process: process,
            pid,
            addr,
            control,
        }
    }

    /// Open connections, the control client's included.
    async fn clients(&self) -> usize {
        self.control
            .inspect(InspectRequest::default())
            .await
            .expect("inspect")
            .server
            .clients
            .len()
    }

    /// Waits until only the control client is connected and the descriptor count is `fds`
    /// (or, without `fds`, just the former); returns how long that took.
    async fn wait_released(&self, fds: Option<usize>) -> Duration {
        let started = Instant::now();
        wait_until(DEADLINE, || async { self.clients().await == 1 })
            .await
            .expect("connections released");
        if let Some(fds) = fds {
            wait_until(DEADLINE, || async { self.fds() == fds })
                .await
                .unwrap_or_else(|_| panic!("fds back to {fds}, still {}", self.fds()));
        }
        started.elapsed()
    }

    fn rss(&self) -> u64 {
        rss_kib(self.pid).expect("VmRSS")
    }

    fn fds(&self) -> usize {
        open_fds(self.pid).expect("fd count")
    }

    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }
}

/// Connects, says hello and makes one `add` call with raw frames; returns the open connection.
async fn hello_and_call(addr: SocketAddr, n: i64) -> Framed<TcpStream, PacketCodec> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut framed = Framed::new(stream, PacketCodec::default());
    framed
        .send(Packet::ClientHello {
            name: "resources".into(),
            version: "0".into(),
        })
        .await
        .expect("hello");
    assert!(
        matches!(
            framed.next().await,
            Some(Ok(Ok(Packet::ServerHello { .. })))
        ),
        "server hello"
    );
    framed
        .send(Packet::Request(Request {
            tid: 1,
            content_type: ContentType::MessagePack,
            flags: 0,
            deadline_ms: 0,
            namespace: "slacker.probe".into(),
            function: "add".into(),
            extensions: Extensions::new(),
            payload: rmp_serde::to_vec(&(n, 1i64)).expect("args").into(),
        }))
        .await
        .expect("request");
    match framed.next().await {
        Some(Ok(Ok(Packet::Response {
            tid: 1,
            code: ResultCode::Success,
            payload,
            ..
        }))) => assert_eq!(rmp_serde::from_slice::<i64>(&payload).expect("sum"), n + 1),
        other => panic!("call {n}: {other:?}"),
    }
    framed
}

/// `total` connect/hello/call/close cycles, `workers` at a time.
async fn cycles(addr: SocketAddr, total: i64, workers: i64) {
    futures::future::join_all((0..workers).map(|w| async move {
        for n in (w..total).step_by(usize::try_from(workers).expect("workers")) {
            drop(hello_and_call(addr, n).await);
        }
    }))
    .await;
}

#[tokio::test]
async fn memory_per_idle_connection() {
    let n = 1000;
    ensure_open_files(4 * n as u64).expect("open-files limit");
    let server = ServerChild::start(&[]).await;
    cycles(server.addr, 200, 4).await; // warm-up: runtime threads, allocator pools
    server.wait_released(None).await;
    let (rss0, fds0) = (server.rss(), server.fds());

    let mut idle = Vec::new();
    for i in 0..n {
        idle.push(hello_and_call(server.addr, i).await);
    }
    wait_until(DEADLINE, || async {
        server.clients().await == n as usize + 1
    })
    .await
    .expect("all connected");
    let (rss1, fds1) = (server.rss(), server.fds());
    let per_conn = (rss1.saturating_sub(rss0)) as f64 / n as f64;
    println!(
        "idle connections: RSS {rss0} KiB with 0, {rss1} KiB with {n}: {per_conn:.1} KiB per connection; fds {fds0} -> {fds1}"
    );
    assert_eq!(fds1 - fds0, n as usize, "one descriptor per connection");
    assert!(per_conn < 256.0, "{per_conn} KiB per idle connection");

    drop(idle);
    server.wait_released(Some(fds0)).await;
}

#[tokio::test]
async fn ten_thousand_connect_cycles_leak_neither_descriptors_nor_memory() {
    let server = ServerChild::start(&[]).await;
    cycles(server.addr, 1000, 8).await; // warm-up
    server.wait_released(None).await;
    let (rss0, fds0) = (server.rss(), server.fds());

    let started = Instant::now();
    cycles(server.addr, 10_000, 8).await;
    let elapsed = started.elapsed();
    let released = server.wait_released(Some(fds0)).await;
    let rss1 = server.rss();
    println!(
        "10,000 connect/hello/call/close cycles in {elapsed:?}; released in {released:?}; fds {fds0} -> {}; RSS {rss0} -> {rss1} KiB ({:+} KiB)",
        server.fds(),
        rss1 as i64 - rss0 as i64
    );
    // A leaked connection costs tens of KiB: 10,000 of them would be hundreds of MiB.
    assert!(
        rss1 < rss0 + 16 * 1024,
        "RSS grew from {rss0} to {rss1} KiB"
    );
}

#[tokio::test]
async fn length_prefixes_that_lie_commit_no_memory_for_the_bytes_they_claim() {
    let n = 200;
    let sent = 64 * 1024;
    ensure_open_files(4 * n as u64).expect("open-files limit");
    let server = ServerChild::start(&["--read-timeout-ms", "2000"]).await;
    cycles(server.addr, 200, 4).await;
    server.wait_released(None).await;
    let (rss0, fds0) = (server.rss(), server.fds());

    // Each peer claims the largest frame the server accepts, sends 64 KiB of it, then stalls.
    let mut peers = Vec::new();
    let claim = u32::try_from(DEFAULT_MAX_FRAME_LEN).expect("u32");
    for _ in 0..n {
        let mut s = TcpStream::connect(server.addr).await.expect("connect");
        s.write_all(&claim.to_be_bytes()).await.expect("prefix");
        s.write_all(&vec![1u8; sent])
            .await
            .expect("part of the body");
        peers.push(s);
    }
    let stalled = Instant::now();
    let released = server.wait_released(Some(fds0)).await;
    let peak = server.peak_rss();
    let claimed_kib = n as u64 * u64::from(claim) / 1024;
    println!(
        "{n} peers claiming {} MiB each, {} KiB sent each: peak RSS {rss0} -> {peak} KiB (+{} KiB, {} MiB claimed); all cut off {:?} after stalling (read timeout 2 s), released in {released:?}",
        claim >> 20,
        sent / 1024,
        peak.saturating_sub(rss0),
        claimed_kib / 1024,
        stalled.elapsed(),
    );
    assert!(
        peak.saturating_sub(rss0) < claimed_kib / 10,
        "peak RSS grew by {} KiB for {claimed_kib} KiB claimed",
        peak - rss0
    );
    // And the server still serves.
    drop(hello_and_call(server.addr, 1).await);
}

#[tokio::test]
async fn a_peer_that_never_reads_its_replies_cannot_grow_the_server_without_bound() {
    let server = ServerChild::start(&[]).await;
    cycles(server.addr, 200, 4).await;
    server.wait_released(None).await;
    let rss0 = server.rss();
    let bystander = slacker_tests::probe::Bystander::start(server.addr)
        .await
        .expect("bystander");

    // Echo requests of 64 KiB, written as fast as the server takes them, replies never read.
    // Bounded: at most 4,000 (250 MiB); a write that makes no progress for 2 s means the
    // server has stopped reading, which is the backpressure this test is after.
    let payload =
        rmp_serde::to_vec(&(serde_bytes::ByteBuf::from(vec![7u8; 64 * 1024]),)).expect("args");
    let mut codec = PacketCodec::default();
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut sent = 0u64;
    let mut pushed_back = false;
    for tid in 1..=4000u64 {
        let mut wire = bytes::BytesMut::new();
        tokio_util::codec::Encoder::encode(
            &mut codec,
            Packet::Request(Request {
                tid,
                content_type: ContentType::MessagePack,
                flags: 0,
                deadline_ms: 0,
                namespace: "slacker.probe".into(),
                function: "echo".into(),
                extensions: Extensions::new(),
                payload: payload.clone().into(),
            }),
            &mut wire,
        )
        .expect("encode");
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&wire)).await {
            Ok(Ok(())) => sent += wire.len() as u64,
            Ok(Err(e)) => panic!("write: {e}"),
            Err(_) => {
                pushed_back = true;
                break;
            }
        }
    }
    let rss1 = server.rss();
    println!(
        "never-reading peer: sent {} MiB of echo requests; server RSS {rss0} -> {rss1} KiB (+{} MiB)",
        sent >> 20,
        rss1.saturating_sub(rss0) >> 10
    );
    bystander
        .progress(20)
        .await
        .expect("bystander served meanwhile");
    let report = bystander.finish().await;
    println!(
        "never-reading peer: bystander made {} calls, {} failed, slowest {:?}",
        report.calls, report.failures, report.max_latency
    );
    assert_eq!(report.failures, 0, "{:?}", report.first_failure);
    assert!(pushed_back, "the server read all {} MiB", sent >> 20);
    assert!(
        rss1.saturating_sub(rss0) < 128 * 1024,
        "server RSS grew by {} MiB for one peer",
        rss1.saturating_sub(rss0) >> 10
    );
    drop(stream);
    server.wait_released(None).await;
}
