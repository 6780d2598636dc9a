//! Hostile and bad input against a real server on 127.0.0.1: slow peers, lying length
//! prefixes, connection floods, unknown names, ill-typed arguments, garbage and unknown
//! protocol values. Each attack must end in a typed error or a closed connection, and a
//! well-behaved [`Bystander`] calling the same server throughout must see zero failures.
//!
//! Timings (how long until a slow peer is cut off, the bystander's slowest call) are printed
//! for RELIABILITY.md, never asserted.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slacker_core::codec::PacketCodec;
use slacker_core::inspect::InspectRequest;
use slacker_core::protocol::{Packet, PROTOCOL_VERSION};
use slacker_core::{
    CallOptions, Client, ClientOptions, ContentType, Error, ResultCode, Server, ServerOptions,
};
use slacker_tests::probe::{raw_frame, replies_until_closed, Bystander, ProbeImpl, ProbeServer};
use slacker_tests::{wait_until, DEADLINE};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Framed;

const NS: &str = "slacker.probe";

async fn server(options: ServerOptions) -> Server {
    Server::builder()
        .service(ProbeServer::new(ProbeImpl))
        .options(options)
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Stops the bystander and asserts it never failed; prints what it saw.
async fn assert_unaffected(scenario: &str, bystander: Bystander) {
    let report = bystander.finish().await;
    println!(
        "{scenario}: bystander made {} calls, {} failed, slowest {:?}",
        report.calls, report.failures, report.max_latency
    );
    assert_eq!(report.failures, 0, "{scenario}: {:?}", report.first_failure);
    assert!(report.calls > 0, "{scenario}: the bystander made no call");
}

/// Open connections the server reports (inspect's client list, this client included).
async fn clients(control: &Client) -> usize {
    control
        .inspect(InspectRequest::default())
        .await
        .expect("inspect")
        .server
        .clients
        .len()
}

#[tokio::test]
async fn slow_peers_are_cut_off_after_the_read_timeout_while_others_are_served() {
    let read_timeout = Duration::from_millis(400);
    let server = server(ServerOptions::default().read_timeout(read_timeout)).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");

    // Half a frame then silence, and a frame trickled one byte at a time (it never completes
    // within the timeout, so trickling does not keep the connection alive).
    let ping_with_body = raw_frame(PROTOCOL_VERSION, 4, 0, 0, &[0; 1000]);
    let started = Instant::now();
    let mut peers = Vec::new();
    for i in 0..40 {
        let mut s = connect(addr).await;
        s.write_all(&ping_with_body[..20]).await.expect("write");
        peers.push((format!("half frame {i}"), s, false));
    }
    for i in 0..10 {
        let s = connect(addr).await;
        peers.push((format!("trickle {i}"), s, true));
    }
    let closed_after =
        futures::future::join_all(peers.into_iter().map(|(name, mut s, trickle)| {
            let frame = ping_with_body.clone();
            async move {
                if trickle {
                    // Bounded: at most the whole frame, one byte every 50 ms; the server closes
                    // long before (a write then fails, or the read below sees the close).
                    for b in &frame {
                        if s.write_all(std::slice::from_ref(b)).await.is_err() {
                            break;
                        }
                        let mut probe = [0u8; 1];
                        let paced = Duration::from_millis(50);
                        if let Ok(Ok(0) | Err(_)) =
                            tokio::time::timeout(paced, s.peek(&mut probe)).await
                        {
                            break;
                        }
                    }
                }
                let replies = replies_until_closed(s).await.expect(&name);
                assert!(replies.is_empty(), "{name}: {replies:?}");
                started.elapsed()
            }
        }))
        .await;
    let slowest = closed_after.iter().max().copied().unwrap_or_default();
    println!(
        "slowloris: 50 slow peers closed, last after {slowest:?} (read_timeout {read_timeout:?})"
    );
    assert!(
        slowest >= read_timeout,
        "closed before the read timeout: {slowest:?}"
    );
    bystander
        .progress(20)
        .await
        .expect("bystander still served");
    assert_unaffected("slowloris", bystander).await;
}

#[tokio::test]
async fn length_prefixes_over_the_limit_close_the_connection_at_once() {
    let server = server(ServerOptions::default().max_frame_len(64 * 1024)).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");
    let started = Instant::now();
    let lies = [64 * 1024 + 1, 1 << 24, u32::MAX as usize];
    for (i, len) in lies.iter().cycle().take(60).enumerate() {
        let mut s = connect(addr).await;
        let mut bytes = u32::try_from(*len).expect("u32").to_be_bytes().to_vec();
        bytes.extend_from_slice(&[PROTOCOL_VERSION, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        s.write_all(&bytes).await.expect("write");
        let replies = replies_until_closed(s).await.expect("closed");
        assert!(replies.is_empty(), "lie {i}: {replies:?}");
    }
    println!(
        "oversized prefixes: 60 connections closed in {:?}",
        started.elapsed()
    );
    bystander
        .progress(20)
        .await
        .expect("bystander still served");
    assert_unaffected("oversized length prefix", bystander).await;
}

#[tokio::test]
async fn a_connection_flood_beyond_max_connections_is_refused_and_existing_clients_keep_working() {
    let max = 64;
    let server = server(ServerOptions::default().max_connections(max)).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");
    let control = Client::connect(addr, ClientOptions::default())
        .await
        .expect("control");

    // 300 connections at once, each saying hello; sockets are kept open until the end.
    let flood = 300;
    let outcomes = futures::future::join_all((0..flood).map(|_| async move {
        let mut framed = Framed::new(connect(addr).await, PacketCodec::default());
        framed
            .send(Packet::ClientHello {
                name: "flood".into(),
                version: "0".into(),
            })
            .await
            .expect("send hello");
        let first = tokio::time::timeout(DEADLINE, framed.next())
            .await
            .expect("an answer to every hello");
        (framed, first)
    }))
    .await;
    let mut kept = Vec::new();
    let mut refused = 0;
    for (framed, first) in outcomes {
        match first {
            Some(Ok(Ok(Packet::ServerHello { .. }))) => kept.push(framed),
            Some(Ok(Ok(Packet::Error {
                tid: 0,
                code: ResultCode::Overloaded,
                ..
            }))) => refused += 1,
            other => panic!("unexpected answer to a flood hello: {other:?}"),
        }
    }
    println!(
        "flood: {flood} connections, {} accepted, {refused} refused with Overloaded",
        kept.len()
    );
    assert_eq!(kept.len(), max - 2, "bystander + control hold two slots");
    assert_eq!(refused, flood - kept.len());
    // A typed refusal for a real client too, while the server is full.
    match Client::connect(addr, ClientOptions::default()).await {
        Err(Error::Remote {
            code: ResultCode::Overloaded,
            ..
        }) => {}
        other => panic!("expected Overloaded, got {other:?}"),
    }
    // Accepted flood connections are served normally.
    for framed in kept.iter_mut().take(5) {
        framed.send(Packet::Ping).await.expect("ping");
        assert!(matches!(framed.next().await, Some(Ok(Ok(Packet::Pong)))));
    }
    bystander
        .progress(20)
        .await
        .expect("bystander served while full");

    // When the flood goes away, the server takes new clients again.
    let released = Instant::now();
    drop(kept);
    wait_until(DEADLINE, || async { clients(&control).await == 2 })
        .await
        .expect("flood connections released");
    let fresh = Client::connect(addr, ClientOptions::default())
        .await
        .expect("a new client after the flood");
    println!(
        "flood: slots free and a new client connected {:?} after release",
        released.elapsed()
    );
    let result = fresh
        .call_by_name(NS, "add", serde_json::json!([2, 3]), CallOptions::default())
        .await
        .expect("call");
    assert_eq!(result, serde_json::json!(5));
    assert_unaffected("connection flood", bystander).await;
}

#[tokio::test]
async fn unknown_namespaces_and_functions_get_typed_errors() {
    let server = server(ServerOptions::default()).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");
    let client = Client::connect(addr, ClientOptions::default())
        .await
        .expect("connect");
    let mut rng = StdRng::seed_from_u64(7);
    for i in 0..500 {
        let len = rng.gen_range(0..200);
        let name: String = (0..len).map(|_| rng.gen_range(' '..='~')).collect();
        let (ns, function, expected) = if i % 2 == 0 {
            (name.as_str(), "add", ResultCode::UnknownNamespace)
        } else {
            (NS, name.as_str(), ResultCode::UnknownFunction)
        };
        let err = client
            .call_by_name(
                ns,
                function,
                serde_json::json!([1, 2]),
                CallOptions::default(),
            )
            .await
            .expect_err("unknown name");
        assert_eq!(err.code(), Some(expected), "{ns:?}/{function:?}: {err}");
    }
    assert_unaffected("unknown names", bystander).await;
}

#[tokio::test]
async fn arguments_that_do_not_match_the_declared_types_get_bad_arguments() {
    let server = server(ServerOptions::default()).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");
    let bad = [
        ("add", serde_json::json!(["1", "2"])),
        ("add", serde_json::json!([1])),
        ("add", serde_json::json!([1, 2, 3])),
        ("add", serde_json::json!(null)),
        ("add", serde_json::json!([1.5, 2])),
        ("add", serde_json::json!([18446744073709551615u64, 1])),
        ("add", serde_json::json!([{"a": 1}, [2]])),
        ("echo", serde_json::json!([{"not": "bytes"}])),
        ("echo", serde_json::json!([-1])),
    ];
    for content_type in [ContentType::MessagePack, ContentType::Json] {
        let client = Client::connect(addr, ClientOptions::default().content_type(content_type))
            .await
            .expect("connect");
        for (function, args) in &bad {
            let err = client
                .call_by_name(NS, function, args.clone(), CallOptions::default())
                .await
                .expect_err("ill-typed");
            assert_eq!(
                err.code(),
                Some(ResultCode::BadArguments),
                "{content_type:?} {function}({args}): {err}"
            );
        }
    }

    // Random payload bytes in well-formed request frames: a typed answer for every one.
    let mut framed = Framed::new(connect(addr).await, PacketCodec::default());
    let mut rng = StdRng::seed_from_u64(11);
    let mut codes = std::collections::BTreeMap::new();
    for tid in 1..=2000u64 {
        let payload: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
        let ct = if tid % 2 == 0 { 1 } else { 2 };
        let mut body = vec![0, 0, 0, 0, 0];
        for s in [NS, "add"] {
            body.extend_from_slice(&u16::try_from(s.len()).expect("short").to_be_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        body.push(0);
        body.extend_from_slice(&payload);
        let raw = raw_frame(PROTOCOL_VERSION, 1, ct, tid, &body);
        framed.get_mut().write_all(&raw).await.expect("write");
        let code = match tokio::time::timeout(DEADLINE, framed.next()).await {
            Ok(Some(Ok(Ok(Packet::Error { tid: t, code, .. })))) if t == tid => code,
            Ok(Some(Ok(Ok(Packet::Response { tid: t, code, .. })))) if t == tid => code,
            other => panic!("tid {tid}: {other:?}"),
        };
        assert!(
            matches!(code, ResultCode::BadArguments | ResultCode::Success),
            "tid {tid}: {code:?}"
        );
        *codes.entry(format!("{code:?}")).or_insert(0u32) += 1;
    }
    println!("random argument payloads: {codes:?}");
    assert_unaffected("ill-typed arguments", bystander).await;
}

#[tokio::test]
async fn garbage_bytes_close_only_the_connection_that_sent_them() {
    let server = server(ServerOptions::default()).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");
    let control = Client::connect(addr, ClientOptions::default())
        .await
        .expect("control");
    let mut rng = StdRng::seed_from_u64(3);
    let mut replies_seen = 0;
    for i in 0..200 {
        let len = rng.gen_range(1..4096);
        let mut garbage: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if i % 4 == 0 {
            // A plausible small length prefix, so that the body is parsed, not refused unseen.
            let n = u32::try_from(len - 4).unwrap_or(0).min(4000);
            garbage[..4].copy_from_slice(&n.to_be_bytes());
        }
        let mut s = connect(addr).await;
        // The server may close before reading everything: a failed write is an outcome too.
        let _ = s.write_all(&garbage).await;
        let _ = s.shutdown().await;
        let replies = replies_until_closed(s).await.expect("closed");
        replies_seen += replies.len();
        for r in &replies {
            assert!(
                matches!(
                    r,
                    Packet::Error { .. }
                        | Packet::Pong
                        | Packet::ServerHello { .. }
                        | Packet::Response { .. }
                        | Packet::InspectResponse { .. }
                ),
                "a server sent {r:?}"
            );
        }
    }
    println!("garbage: 200 connections closed, {replies_seen} typed replies before the close");
    wait_until(DEADLINE, || async { clients(&control).await == 2 })
        .await
        .expect("garbage connections released");
    assert_unaffected("garbage", bystander).await;
}

#[tokio::test]
async fn every_unknown_version_and_packet_type_gets_a_protocol_error_for_its_tid() {
    let server = server(ServerOptions::default()).await;
    let addr = server.local_addr();
    let bystander = Bystander::start(addr).await.expect("bystander");
    let mut framed = Framed::new(connect(addr).await, PacketCodec::default());
    let mut tid = 1000;
    // Every other version, and every type a server does not accept (including the ones only
    // a server sends), on one connection that must survive them all.
    let versions = (0..=u8::MAX)
        .filter(|v| *v != PROTOCOL_VERSION)
        .map(|v| (v, 1));
    let types = (0..=u8::MAX)
        .filter(|t| ![3, 4, 5, 6, 9].contains(t))
        .map(|t| (PROTOCOL_VERSION, t));
    let mut count = 0;
    for (version, ty) in versions.chain(types) {
        tid += 1;
        let raw = raw_frame(version, ty, 1, tid, &[0; 8]);
        framed.get_mut().write_all(&raw).await.expect("write");
        // A server hello is a connection-level packet (tid 0 by definition), so is its refusal.
        let expected = if version == PROTOCOL_VERSION && ty == 10 {
            0
        } else {
            tid
        };
        match tokio::time::timeout(DEADLINE, framed.next()).await {
            Ok(Some(Ok(Ok(Packet::Error {
                tid: t,
                code: ResultCode::ProtocolError,
                ..
            }))))
                if t == expected => {}
            other => panic!("version {version} type {ty}: {other:?}"),
        }
        count += 1;
    }
    framed.send(Packet::Ping).await.expect("ping");
    assert!(matches!(framed.next().await, Some(Ok(Ok(Packet::Pong)))));
    println!("unknown version/type: {count} frames, {count} ProtocolErrors, connection alive");
    assert_unaffected("unknown version and type", bystander).await;
}

/// Frame-level bad input (formerly `malformed_input.rs`): an attributable bad frame gets a
/// typed `ProtocolError` for its tid and the connection survives; a half frame is cut off; a
/// server speaking another version fails the client's handshake.
mod frames {

    use std::net::SocketAddr;
    use std::time::Duration;

    use bytes::{BufMut, BytesMut};
    use slacker_core::protocol::{Packet, PROTOCOL_VERSION};
    use slacker_core::{Client, ClientOptions, ResultCode, Server, ServerOptions};
    use slacker_tests::lab::{lab_server, LabClient, Raw};
    use slacker_tests::within;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(version: u8, ty: u8, ct: u8, tid: u64, body: &[u8]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_u32((11 + body.len()) as u32);
        b.put_u8(version);
        b.put_u8(ty);
        b.put_u8(ct);
        b.put_u64(tid);
        b.put_slice(body);
        b.to_vec()
    }

    /// Writes `bytes` on a fresh connection and returns the connection, read side intact.
    async fn raw_bytes(addr: SocketAddr, bytes: &[u8]) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.0.get_mut().write_all(bytes).await.expect("write");
        raw
    }

    /// Waits until the server closes the connection (EOF or reset).
    async fn assert_closed(raw: Raw) {
        let mut stream = raw.0.into_inner();
        let mut buf = [0u8; 256];
        loop {
            match within("server closes the connection", stream.read(&mut buf)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // a final error frame may precede the close
            }
        }
    }

    async fn expect_protocol_error(raw: &mut Raw, tid: u64) -> String {
        match raw.next().await {
            Some(Ok(Packet::Error {
                tid: t,
                code: ResultCode::ProtocolError,
                message,
            })) if t == tid => message,
            other => panic!("expected ProtocolError for tid {tid}, got {other:?}"),
        }
    }

    async fn bystander(server: &Server) -> LabClient<Client> {
        let client = Client::connect(server.local_addr(), ClientOptions::default())
            .await
            .expect("connect");
        let lab = LabClient::new(client);
        assert_eq!(lab.add(1, 1).await.expect("bystander works"), 2);
        lab
    }

    #[tokio::test]
    async fn attributable_bad_frames_get_typed_replies_and_the_connection_survives() {
        let (server, _) = lab_server(ServerOptions::default()).await;
        let other = bystander(&server).await;
        let addr = server.local_addr();
        let mut raw = raw_bytes(addr, &frame(9, 1, 1, 77, b"")).await;
        let msg = expect_protocol_error(&mut raw, 77).await;
        assert!(msg.contains("version 9"), "{msg}");

        let cases: [(Vec<u8>, u64, &str); 5] = [
            (
                frame(PROTOCOL_VERSION, 200, 1, 78, b""),
                78,
                "packet type 200",
            ),
            (
                frame(PROTOCOL_VERSION, 1, 42, 79, b""),
                79,
                "content type 42",
            ),
            // A request whose namespace length runs past the end of the frame.
            (
                frame(
                    PROTOCOL_VERSION,
                    1,
                    1,
                    80,
                    &[0, 0, 0, 0, 0, 0xff, 0xff, b'x'],
                ),
                80,
                "truncated",
            ),
            // Response packets are not for servers.
            (frame(PROTOCOL_VERSION, 2, 1, 81, &[0]), 81, "not accepted"),
            // Invalid UTF-8 in the function name.
            (
                frame(
                    PROTOCOL_VERSION,
                    1,
                    1,
                    82,
                    &[0, 0, 0, 0, 0, 0, 1, b'a', 0, 1, 0xff, 0],
                ),
                82,
                "UTF-8",
            ),
        ];
        for (bytes, tid, needle) in cases {
            raw.0.get_mut().write_all(&bytes).await.expect("write");
            let msg = expect_protocol_error(&mut raw, tid).await;
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
        // A hello from a client speaking another protocol version is refused with tid 0.
        raw.0
            .get_mut()
            .write_all(&frame(2, 9, 0, 0, &[0, 0, 0, 1, b'9']))
            .await
            .expect("write");
        let msg = expect_protocol_error(&mut raw, 0).await;
        assert!(msg.contains("version 2"), "{msg}");
        // The same connection still serves a well-formed ping.
        raw.send(Packet::Ping).await;
        assert_eq!(raw.next().await, Some(Ok(Packet::Pong)));
        assert_eq!(other.add(2, 2).await.expect("bystander"), 4);
    }

    #[tokio::test]
    async fn half_a_frame_then_silence_is_disconnected() {
        let options = ServerOptions::default().read_timeout(Duration::from_millis(200));
        let (server, _) = lab_server(options).await;
        let other = bystander(&server).await;
        // Opened first, so it has been idle longer than the stalled one was stalled.
        let mut idle = Raw::connect(server.local_addr()).await;
        let mut half = frame(PROTOCOL_VERSION, 4, 0, 0, &[0; 100]);
        half.truncate(40);
        let started = tokio::time::Instant::now();
        let raw = raw_bytes(server.local_addr(), &half).await;
        assert_closed(raw).await;
        println!("stalled peer closed after {:?}", started.elapsed());
        // An idle connection (no partial frame) is not closed by the same timeout.
        idle.send(Packet::Ping).await;
        assert_eq!(idle.next().await, Some(Ok(Packet::Pong)));
        assert_eq!(other.add(4, 4).await.expect("bystander"), 8);
    }

    #[tokio::test]
    async fn a_server_speaking_another_version_fails_the_handshake() {
        // A fake server answering every hello with a frame of protocol version 2.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(&frame(2, 10, 0, 0, &[0, 1, b'9'])).await;
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf).await;
            }
        });
        match Client::connect(addr, ClientOptions::default()).await {
            Err(slacker_core::Error::Protocol { server, message }) => {
                assert_eq!(server.as_str(), addr.to_string());
                assert!(message.contains("version 2"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
