//! A structure-aware fuzzer for the frame decoder, on the codec directly and over TCP to a real
//! server.
//!
//! `cargo fuzz` (libFuzzer) needs a nightly toolchain for its sanitizer and coverage flags, and
//! the project builds on stable only, so this is a property-based fuzzer instead: proptest
//! generates streams of *valid* packets of every type, then mutates each one (bit flips,
//! truncations, length prefixes that lie, random headers, appended junk, pure noise). Mutating
//! valid frames reaches far deeper into the decoder than random bytes, which almost always die
//! at the length prefix. Properties:
//!
//! * codec: decoding never panics however the stream is split; whatever decodes re-encodes
//!   and decodes to the same packet; unmutated streams decode to exactly their packets;
//! * TCP: the server answers only with well-formed frames, closes the connection once the
//!   peer is done, never panics (a panic hook watches its runtime's threads), and a
//!   [`Bystander`] calling throughout sees zero failures.
//!
//! The normal suite runs a short version. The long one is ignored; run it with
//! `FUZZ_SECS=600 cargo test --release -p slacker-tests --test fuzz_frames -- --ignored --nocapture`.
//! Any failure proptest finds is shrunk, and becomes a regression case below.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use slacker_core::codec::PacketCodec;
use slacker_core::inspect::InspectRequest;
use slacker_core::protocol::{Malformed, Packet};
use slacker_core::{Client, ClientOptions, Server};
use slacker_tests::packets::arb_packet;
use slacker_tests::probe::{replies_until_closed, Bystander, ProbeImpl, ProbeServer};
use slacker_tests::{wait_until, DEADLINE};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

/// The codec tests' frame limit: small, so that length lies near it are cheap.
const CODEC_LIMIT: usize = 64 * 1024;

/// Threads of the server runtime, so that the panic hook counts only server panics.
const SERVER_THREAD: &str = "fuzz-server";

static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_server_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(SERVER_THREAD) {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

/// What is done to one encoded frame.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    /// XOR these bytes with these (non-zero) masks.
    Flip(Vec<(Index, u8)>),
    /// Cut the frame anywhere, prefix included (the next frame then starts misaligned).
    Truncate(Index),
    /// Cut the body but make the length prefix agree.
    TruncateBody(Index),
    /// Replace the length prefix.
    LieLength(u32),
    /// Replace version, type and content type.
    Header(u8, u8, u8),
    /// Append random bytes.
    Junk(Vec<u8>),
    /// Replace the frame with random bytes.
    Noise(Vec<u8>),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        3 => proptest::collection::vec((any::<Index>(), 1u8..), 1..4).prop_map(Mutation::Flip),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => any::<Index>().prop_map(Mutation::TruncateBody),
        2 => prop_oneof![
            0u32..64,
            Just(CODEC_LIMIT as u32),
            Just(CODEC_LIMIT as u32 + 1),
            Just(16 << 20),
            Just(u32::MAX),
            any::<u32>(),
        ]
        .prop_map(Mutation::LieLength),
        2 => (prop_oneof![Just(1u8), any::<u8>()], any::<u8>(), prop_oneof![0u8..4, any::<u8>()])
            .prop_map(|(v, t, c)| Mutation::Header(v, t, c)),
        1 => proptest::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Junk),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Mutation::Noise),
    ]
}

fn encode(packet: &Packet) -> Vec<u8> {
    let mut wire = BytesMut::new();
    PacketCodec::new(CODEC_LIMIT)
        .encode(packet.clone(), &mut wire)
        .expect("generated packets fit");
    wire.to_vec()
}

fn mutate(mut frame: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::None => {}
        Mutation::Flip(flips) => {
            for (i, mask) in flips {
                let at = i.index(frame.len());
                frame[at] ^= mask;
            }
        }
        Mutation::Truncate(i) => frame.truncate(i.index(frame.len())),
        Mutation::TruncateBody(i) => {
            let keep = i.index(frame.len() - 4 + 1);
            frame.truncate(4 + keep);
            frame[..4].copy_from_slice(&u32::try_from(keep).unwrap_or(0).to_be_bytes());
        }
        Mutation::LieLength(len) => frame[..4].copy_from_slice(&len.to_be_bytes()),
        Mutation::Header(v, t, c) => frame[4..7].copy_from_slice(&[*v, *t, *c]),
        Mutation::Junk(junk) => frame.extend_from_slice(junk),
        Mutation::Noise(noise) => frame.clone_from(noise),
    }
    frame
}

/// A stream: packets, their mutations, and how the bytes are split into reads.
#[derive(Debug, Clone)]
struct Case {
    pieces: Vec<(Packet, Mutation)>,
    chunks: Vec<usize>,
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        self.pieces
            .iter()
            .flat_map(|(p, m)| mutate(encode(p), m))
            .collect()
    }

    fn unmutated(&self) -> bool {
        self.pieces.iter().all(|(_, m)| matches!(m, Mutation::None))
    }
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((arb_packet(), arb_mutation()), 1..6),
        proptest::collection::vec(1usize..128, 1..6),
    )
        .prop_map(|(pieces, chunks)| Case { pieces, chunks })
}

/// The codec properties for one case.
fn check_codec(case: &Case) -> Result<(), TestCaseError> {
    let bytes = case.bytes();
    let mut codec = PacketCodec::new(CODEC_LIMIT);
    let mut src = BytesMut::new();
    let mut decoded = Vec::new();
    let mut rest = &bytes[..];
    let mut sizes = case.chunks.iter().cycle();
    let mut broken = false;
    'feed: while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        src.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut src) {
                Ok(Some(item)) => decoded.push(item),
                Ok(None) => break,
                Err(_) => {
                    broken = true; // unattributable: a connection would close here
                    break 'feed;
                }
            }
        }
    }
    if !broken {
        let _ = codec.decode_eof(&mut src);
    }
    for packet in decoded.iter().flatten() {
        // A fresh codec: the stream's one may be left in the middle of a frame.
        let mut codec = PacketCodec::new(CODEC_LIMIT);
        let mut wire = BytesMut::new();
        codec
            .encode(packet.clone(), &mut wire)
            .map_err(|e| TestCaseError::fail(format!("re-encoding {packet:?}: {e}")))?;
        let again = codec.decode(&mut wire);
        let Ok(Some(Ok(again))) = again else {
            return Err(TestCaseError::fail(format!(
                "{packet:?} re-decoded as {again:?}"
            )));
        };
        // An error message may have been cut to fit the limit on re-encoding.
        if !matches!(packet, Packet::Error { .. }) {
            prop_assert_eq!(&again, packet);
        }
    }
    if case.unmutated() {
        let originals: Vec<Result<Packet, Malformed>> =
            case.pieces.iter().map(|(p, _)| Ok(p.clone())).collect();
        prop_assert_eq!(decoded, originals);
    }
    Ok(())
}

/// The server-side properties for one case, on a fresh connection.
async fn check_server(server: &Server, case: &Case) -> Result<(), TestCaseError> {
    let panics = SERVER_PANICS.load(Ordering::SeqCst);
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .map_err(|e| TestCaseError::fail(format!("connect: {e}")))?;
    let bytes = case.bytes();
    let mut rest = &bytes[..];
    let mut sizes = case.chunks.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        // The server may close first (oversized prefix, unreadable frame): that is an outcome.
        if stream.write_all(&rest[..n]).await.is_err() {
            break;
        }
        rest = &rest[n..];
    }
    let _ = stream.shutdown().await;
    let replies = replies_until_closed(stream)
        .await
        .map_err(TestCaseError::fail)?;
    for r in &replies {
        prop_assert!(
            matches!(
                r,
                Packet::Response { .. }
                    | Packet::Error { .. }
                    | Packet::Pong
                    | Packet::InspectResponse { .. }
                    | Packet::ServerHello { .. }
            ),
            "server sent {:?}",
            r
        );
    }
    prop_assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        panics,
        "the server panicked"
    );
    Ok(())
}

/// Runs batches of `codec_cases` codec cases and `tcp_cases` TCP cases, with fresh random
/// seeds, until `duration` has passed (at least one batch).
fn fuzz(codec_cases: u32, tcp_cases: u32, duration: Duration) {
    count_server_panics();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(async {
        Server::builder()
            .service(ProbeServer::new(ProbeImpl))
            .bind("127.0.0.1:0")
            .await
            .expect("bind")
    });
    let addr = server.local_addr();
    let bystander = rt.block_on(Bystander::start(addr)).expect("bystander");
    let started = Instant::now();
    let (mut codec_done, mut tcp_done) = (0u64, 0u64);
    loop {
        let batch = |cases| Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new(batch(codec_cases))
            .run(&arb_case(), |case| check_codec(&case))
            .expect("codec property");
        codec_done += u64::from(codec_cases);
        TestRunner::new(batch(tcp_cases))
            .run(&arb_case(), |case| {
                rt.block_on(check_server(&server, &case))
            })
            .expect("server property");
        tcp_done += u64::from(tcp_cases);
        if started.elapsed() >= duration {
            break;
        }
    }
    let report = rt.block_on(bystander.finish());
    // Every fuzz connection was released.
    rt.block_on(async {
        let control = Client::connect(addr, ClientOptions::default())
            .await
            .expect("control");
        wait_until(DEADLINE, || async {
            control
                .inspect(InspectRequest::default())
                .await
                .is_ok_and(|r| r.server.clients.len() == 1)
        })
        .await
        .expect("fuzz connections released");
    });
    println!(
        "fuzz_frames: {codec_done} codec cases, {tcp_done} TCP cases in {:?}; bystander {} calls, {} failed, slowest {:?}; server panics {}",
        started.elapsed(),
        report.calls,
        report.failures,
        report.max_latency,
        SERVER_PANICS.load(Ordering::SeqCst)
    );
    assert_eq!(report.failures, 0, "{:?}", report.first_failure);
    assert_eq!(SERVER_PANICS.load(Ordering::SeqCst), 0);
}

#[test]
fn fuzz_frames_short() {
    fuzz(5_000, 500, Duration::ZERO);
}

#[test]
#[ignore = "long fuzz run: FUZZ_SECS (default 300) of codec and TCP cases"]
fn fuzz_frames_long() {
    let secs = std::env::var("FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    fuzz(20_000, 1_000, Duration::from_secs(secs));
}
