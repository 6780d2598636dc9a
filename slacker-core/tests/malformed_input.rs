//! Bad bytes from the network: each gets a typed `ProtocolError` for its tid when the frame
//! can be attributed, otherwise that one connection is closed. Never a stall or a panic, and
//! other clients of the same server are unaffected.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use common::{lab_server, within, LabClient, Raw};
use slacker_core::protocol::{Packet, PROTOCOL_VERSION};
use slacker_core::{Client, ClientOptions, ResultCode, RunningServer, ServerOptions};
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

async fn bystander(server: &RunningServer) -> LabClient<Client> {
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
async fn garbage_closes_only_that_connection() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let other = bystander(&server).await;
    let raw = raw_bytes(server.local_addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_closed(raw).await;
    // A frame shorter than the header cannot be attributed either.
    let raw = raw_bytes(server.local_addr(), &[0, 0, 0, 3, 1, 2, 3]).await;
    assert_closed(raw).await;
    assert_eq!(other.add(2, 3).await.expect("bystander"), 5);
}

#[tokio::test]
async fn oversized_length_prefix_closes_only_that_connection() {
    let options = ServerOptions {
        max_frame_len: 1024,
        ..ServerOptions::default()
    };
    let (server, _) = lab_server(options).await;
    let other = bystander(&server).await;
    let raw = raw_bytes(server.local_addr(), &[0, 0x10, 0, 0, 1, 1, 1]).await;
    assert_closed(raw).await;
    // A call whose payload is over the limit is refused by the client before sending.
    let err = other.echo(vec![7; 2048]).await.expect_err("too big");
    assert!(err.to_string().contains("frame limit"), "{err}");
    assert_eq!(other.add(3, 3).await.expect("bystander"), 6);
}

#[tokio::test]
async fn half_a_frame_then_silence_is_disconnected() {
    let options = ServerOptions {
        read_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
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
