//! Throughput at a fixed concurrency: slacker (client + server over loopback TCP) against a
//! raw tokio + `LengthDelimitedCodec` + rmp-serde echo doing the same work with the same
//! batching. Prints calls per second and the ratio; asserts nothing.
//!
//! `cargo bench -p slacker-core --bench echo [-- CONCURRENCY SECONDS]`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use slacker_core::{
    Call, CallOptions, Client, ClientOptions, ContentType, DispatchError, HandlerFuture,
    NamespaceInfo, Server, Service,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::{Framed, FramedRead, FramedWrite, LengthDelimitedCodec};

static ECHO: NamespaceInfo = NamespaceInfo {
    name: "bench",
    doc: "",
    methods: &[],
};

type Msg = (u64, String);

struct Echo;

impl Service for Echo {
    fn info(&self) -> &'static NamespaceInfo {
        &ECHO
    }

    fn dispatch(
        &self,
        _: &str,
        ct: ContentType,
        payload: Bytes,
    ) -> Result<HandlerFuture, DispatchError> {
        let (msg,): (Msg,) = slacker_core::__private::decode_args(ct, &payload, "Msg")?;
        Ok(Box::pin(async move {
            slacker_core::__private::output_value(ct, &msg)
        }))
    }
}

fn msg(i: u64) -> Msg {
    (i, "0123456789abcdef0123456789abcdef".to_owned())
}

async fn run_slacker(concurrency: usize, secs: u64) -> f64 {
    let server = Server::builder()
        .service(Echo)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (client, stop, done) = (client.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = w as u64;
                while !stop.load(Ordering::Relaxed) {
                    let payload =
                        slacker_core::serialization::encode(ContentType::MessagePack, &(msg(i),))
                            .expect("encode");
                    let call = Call {
                        namespace: "bench".into(),
                        function: "echo".into(),
                        method: None,
                        content_type: ContentType::MessagePack,
                        payload,
                        options: CallOptions::default(),
                    };
                    let r = client.call_one(call).await.expect("call");
                    let back: Msg = slacker_core::serialization::decode(r.content_type, &r.payload)
                        .expect("decode");
                    assert_eq!(back.0, i);
                    done.fetch_add(1, Ordering::Relaxed);
                    i += concurrency as u64;
                }
            })
        })
        .collect();
    measure(&done, &stop, secs, workers).await
}

async fn measure(
    done: &AtomicU64,
    stop: &AtomicBool,
    secs: u64,
    workers: Vec<tokio::task::JoinHandle<()>>,
) -> f64 {
    tokio::time::sleep(Duration::from_millis(500)).await; // warm-up
    let (n0, t0) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let rate = (done.load(Ordering::Relaxed) - n0) as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    rate
}

/// The raw echo server: one task per connection, in-order, flushing when no frame is waiting.
async fn raw_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            s.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let mut framed = Framed::new(s, LengthDelimitedCodec::new());
                loop {
                    let next = match framed.next().now_or_never() {
                        Some(n) => n,
                        None => {
                            if SinkExt::<Bytes>::flush(&mut framed).await.is_err() {
                                return;
                            }
                            framed.next().await
                        }
                    };
                    let Some(Ok(frame)) = next else { return };
                    let req: (u64, Msg) = rmp_serde::from_slice(&frame).expect("decode");
                    let out = rmp_serde::to_vec(&req).expect("encode");
                    if framed.feed(Bytes::from(out)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Raw baseline 1: one connection, `concurrency` requests kept in flight by a single pipelined
/// writer (request = response = `(id, Msg)` in rmp-serde). No per-call task, no pending map:
/// an upper bound rather than a like-for-like RPC.
async fn run_raw(concurrency: usize, secs: u64) -> f64 {
    let addr = raw_server().await;
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let (r, w) = s.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let mut sink = FramedWrite::new(w, LengthDelimitedCodec::new());
        while let Some(b) = rx.recv().await {
            let _ = sink.feed(b).await;
            while let Ok(b) = rx.try_recv() {
                let _ = sink.feed(b).await;
            }
            if SinkExt::<Bytes>::flush(&mut sink).await.is_err() {
                return;
            }
        }
    });
    let window = Arc::new(Semaphore::new(concurrency));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let reader = {
        let (window, done) = (window.clone(), done.clone());
        tokio::spawn(async move {
            let mut frames = FramedRead::new(r, LengthDelimitedCodec::new());
            while let Some(Ok(frame)) = frames.next().await {
                let _: (u64, Msg) = rmp_serde::from_slice(&frame).expect("decode");
                done.fetch_add(1, Ordering::Relaxed);
                window.add_permits(1);
            }
        })
    };
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(p) = window.acquire().await else {
                    return;
                };
                p.forget();
                let b = rmp_serde::to_vec(&(i, msg(i))).expect("encode");
                if tx.send(Bytes::from(b)).is_err() {
                    return;
                }
                i += 1;
            }
        })
    };
    let rate = measure(&done, &stop, secs, vec![writer]).await;
    reader.abort();
    rate
}

/// Slacker's server driven by a pipelined frame-level client (isolates the server).
async fn run_server_only(concurrency: usize, secs: u64) -> f64 {
    use slacker_core::codec::PacketCodec;
    use slacker_core::protocol::{Packet, Request};
    let server = Server::builder()
        .service(Echo)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let s = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let (r, w) = s.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Packet>();
    tokio::spawn(async move {
        let mut sink = FramedWrite::new(w, PacketCodec::default());
        while let Some(b) = rx.recv().await {
            let _ = sink.feed(b).await;
            while let Ok(b) = rx.try_recv() {
                let _ = sink.feed(b).await;
            }
            if SinkExt::<Packet>::flush(&mut sink).await.is_err() {
                return;
            }
        }
    });
    let window = Arc::new(Semaphore::new(concurrency));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let reader = {
        let (window, done) = (window.clone(), done.clone());
        tokio::spawn(async move {
            let mut frames = FramedRead::new(r, PacketCodec::default());
            while let Some(Ok(Ok(_))) = frames.next().await {
                done.fetch_add(1, Ordering::Relaxed);
                window.add_permits(1);
            }
        })
    };
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(p) = window.acquire().await else {
                    return;
                };
                p.forget();
                let payload =
                    slacker_core::serialization::encode(ContentType::MessagePack, &(msg(i),))
                        .expect("encode");
                let req = Packet::Request(Request {
                    tid: i,
                    content_type: ContentType::MessagePack,
                    flags: 0,
                    deadline_ms: 10_000,
                    namespace: "bench".into(),
                    function: "echo".into(),
                    extensions: Default::default(),
                    payload,
                });
                if tx.send(req).is_err() {
                    return;
                }
                i += 1;
            }
        })
    };
    let rate = measure(&done, &stop, secs, vec![writer]).await;
    reader.abort();
    rate
}

/// Raw baseline 2: `concurrency` tasks, each with its own connection, each sending a request
/// and waiting for its response (what a raw echo without multiplexing does).
async fn run_raw_per_connection(concurrency: usize, secs: u64) -> f64 {
    let addr = raw_server().await;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let (stop, done) = (stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut framed = Framed::new(s, LengthDelimitedCodec::new());
            let mut i = w as u64;
            while !stop.load(Ordering::Relaxed) {
                let b = rmp_serde::to_vec(&(i, msg(i))).expect("encode");
                framed.send(Bytes::from(b)).await.expect("send");
                let frame = framed.next().await.expect("open").expect("read");
                let back: (u64, Msg) = rmp_serde::from_slice(&frame).expect("decode");
                assert_eq!(back.0, i);
                done.fetch_add(1, Ordering::Relaxed);
                i += concurrency as u64;
            }
        }));
    }
    measure(&done, &stop, secs, workers).await
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let concurrency = args.first().and_then(|a| a.parse().ok()).unwrap_or(256);
    let secs = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let rt = match std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        Some(0) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .expect("runtime");
    if std::env::var_os("ONLY_SLACKER").is_some() {
        let r = rt.block_on(run_slacker(concurrency, secs));
        println!("slacker {r:.0} calls/s");
        return;
    }
    rt.block_on(async {
        let raw = run_raw(concurrency, secs).await;
        let per_conn = run_raw_per_connection(concurrency, secs).await;
        let slacker = run_slacker(concurrency, secs).await;
        let server_only = run_server_only(concurrency, secs).await;
        println!("raw, {concurrency} connections: {per_conn:.0} calls/s (slacker/that = {:.2})", slacker / per_conn);
        println!("slacker server driven by a pipelined frame client: {server_only:.0} calls/s");
        println!("concurrency {concurrency}: raw pipelined {raw:.0} calls/s, slacker {slacker:.0} calls/s, ratio {:.2}", slacker / raw);
    });
}
