//! The task that owns a client's socket. Previous hop: `client/mod.rs` (calls queue frames
//! and park in the pending map); next hop: `codec.rs`.
//!
//! One loop per client: connect (TCP + hello, bounded by `connect_timeout`), then a session
//! that reads replies and completes pending calls while a writer task batches outgoing frames;
//! heartbeats ride on the same loop. When the session ends the writer is stopped *before* the
//! pending map is failed, so no call can slip a frame into a dead connection unnoticed. Then
//! back off (capped, jittered, reset after a successful connection) and try again, until the
//! client is closed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Interval;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::shared::{Link, Shared};
use crate::backoff::Backoff;
use crate::codec::{write_loop, Batch, PacketCodec, READ_BUFFER_BYTES};
use crate::protocol::{Packet, VERSION};
use crate::stream::{self, ReadHalf, WriteHalf};
use crate::{ContentType, Error, Response, ResultCode};

/// Frames queued for the writer; calls wait for room (within their timeout).
const WRITE_QUEUE: usize = 1024;

type Reader = FramedRead<ReadHalf, PacketCodec>;
type Writer = FramedWrite<WriteHalf, PacketCodec>;

pub(super) async fn run(shared: Arc<Shared>) {
    let o = &shared.options;
    // Never a hot loop, whatever the options say (Backoff waits at least 1 ms).
    let mut backoff = Backoff::new(o.reconnect_min, o.reconnect_max);
    loop {
        shared.set_link(Link::Connecting);
        let attempt = tokio::select! {
            _ = shared.close.cancelled() => break,
            r = tokio::time::timeout(o.connect_timeout, connect(&shared)) => r,
        };
        let err = match attempt {
            Err(_) => Error::connection(
                &shared.addr,
                format!("connect timed out after {:?}", o.connect_timeout),
            ),
            Ok(Err(e)) => e,
            Ok(Ok((reader, writer))) => {
                backoff.reset();
                session(&shared, reader, writer).await
            }
        };
        if shared.close.is_cancelled() {
            break;
        }
        tracing::info!(server = %shared.addr, error = %err, "disconnected; reconnecting");
        shared.set_link(Link::Down(err.clone()));
        shared.fail_all(&err);
        tokio::select! {
            _ = shared.close.cancelled() => break,
            () = backoff.wait() => {}
        }
    }
    shared.set_link(Link::Closed);
    shared.fail_all(&Error::Closed);
}

/// TCP connect, the TLS handshake if configured, then the hello handshake.
async fn connect(shared: &Shared) -> Result<(Reader, Writer), Error> {
    let addr = &shared.addr;
    let stream = TcpStream::connect(addr.as_str())
        .await
        .map_err(|e| Error::connection(addr, format!("connect: {e}")))?;
    stream
        .set_nodelay(true)
        .map_err(|e| Error::connection(addr, format!("set_nodelay: {e}")))?;
    #[cfg(feature = "tls")]
    let (read, write) = match &shared.options.tls {
        Some(tls) => {
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            let stream = connector
                .connect(tls.server_name.clone(), stream)
                .await
                .map_err(|e| Error::connection(addr, format!("TLS handshake: {e}")))?;
            stream::tls(stream)
        }
        None => stream::plain(stream),
    };
    #[cfg(not(feature = "tls"))]
    let (read, write) = stream::plain(stream);
    let max = shared.options.max_frame_len;
    let mut reader = FramedRead::with_capacity(read, PacketCodec::new(max), READ_BUFFER_BYTES);
    let mut writer = FramedWrite::new(write, PacketCodec::new(max));
    writer
        .send(Packet::ClientHello {
            name: shared.options.name.clone(),
            version: VERSION.to_owned(),
        })
        .await
        .map_err(|e| Error::connection(addr, format!("hello: {e}")))?;
    let protocol = |message: String| Error::Protocol {
        server: addr.clone(),
        message: message.into(),
    };
    match reader.next().await {
        Some(Ok(Ok(Packet::ServerHello {
            version,
            max_frame_len,
        }))) => {
            tracing::debug!(server = %addr, %version, max_frame_len, "connected");
            let limit = shared.options.max_frame_len.min(max_frame_len as usize);
            shared.frame_limit.store(limit, Ordering::Relaxed);
            Ok((reader, writer))
        }
        Some(Ok(Ok(Packet::Error { code, message, .. }))) => Err(match code {
            ResultCode::ProtocolError => protocol(message),
            code => Error::Remote {
                server: addr.clone(),
                code,
                message,
            },
        }),
        Some(Ok(Ok(other))) => Err(protocol(format!("expected a server hello, got {other:?}"))),
        Some(Ok(Err(bad))) => Err(protocol(bad.reason)),
        Some(Err(e)) => Err(Error::connection(
            addr,
            format!("hello: {e}{}", tls_hint(shared)),
        )),
        None => Err(Error::connection(
            addr,
            format!("closed during the handshake{}", tls_hint(shared)),
        )),
    }
}

/// A plaintext hello answered by a TLS server reads as garbage (a TLS alert) or a close: say so.
fn tls_hint(shared: &Shared) -> &'static str {
    #[cfg(feature = "tls")]
    if shared.options.tls.is_some() {
        return "";
    }
    let _ = shared;
    " (is the server expecting TLS?)"
}

/// Runs one connection until it fails or the client closes; returns why it ended.
async fn session(shared: &Arc<Shared>, mut reader: Reader, writer: Writer) -> Error {
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    // A lone frame with no other call in flight: nothing else is about to queue (a burst, or
    // calls waiting for replies that will send again, are worth the wait).
    let calls = Arc::clone(shared);
    let batch = Batch::with_hint(shared.options.max_frame_len, move |items| {
        items > 1 || calls.pending().len() > items
    });
    let mut write_task = tokio::spawn(write_loop(writer.into_inner(), rx, batch));
    shared.set_link(Link::Up(tx.clone()));
    let o = &shared.options;
    // The liveness check runs every `heartbeat_interval`, and at least four times per
    // `heartbeat_timeout`, so a silent peer is declared dead soon after the timeout passes.
    // Each check that finds the connection quiet since the last one sends a ping.
    let check_every = o
        .heartbeat_interval
        .min(o.heartbeat_timeout / 4)
        .max(Duration::from_millis(10));
    let mut heartbeat = (!o.heartbeat_interval.is_zero()).then(|| {
        let mut i =
            tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut last_heard = tokio::time::Instant::now();
    let mut writer_done = false;
    let closing = shared.close.cancelled();
    tokio::pin!(closing);
    let err = loop {
        // Biased: a frame already waiting is read before the liveness check looks at the
        // clock, so a client that was itself starved of CPU never blames the server for it.
        tokio::select! {
            biased;
            _ = &mut closing => break Error::Closed,
            _ = &mut write_task => {
                writer_done = true;
                break Error::connection(&shared.addr, "write failed");
            }
            next = reader.next() => {
                last_heard = tokio::time::Instant::now();
                shared.frames_read.fetch_add(1, Ordering::Release);
                match next {
                    None => break Error::connection(&shared.addr, "closed by the server"),
                    Some(Err(e)) => break Error::connection(&shared.addr, format!("read: {e}")),
                    Some(Ok(Err(bad))) => {
                        let err = Error::Protocol {
                            server: shared.addr.clone(),
                            message: bad.reason.into(),
                        };
                        match bad.tid {
                            Some(tid) if tid != 0 => shared.complete(tid, Err(err)),
                            _ => break err,
                        }
                    }
                    Some(Ok(Ok(packet))) => deliver(shared, &tx, packet),
                }
            }
            _ = tick(&mut heartbeat) => {
                let silent_for = last_heard.elapsed();
                if silent_for >= o.heartbeat_timeout {
                    break Error::connection(
                        &shared.addr,
                        format!(
                            "nothing heard for {} ms (heartbeat timeout {} ms): server presumed dead",
                            silent_for.as_millis(),
                            o.heartbeat_timeout.as_millis()
                        ),
                    );
                }
                // A busy connection needs no ping: its replies prove the server alive.
                if silent_for >= check_every {
                    let _ = tx.try_send(Packet::Ping);
                }
            }
        }
    };
    // New calls fail fast from here on; stop the writer (dropping its queue) before the
    // caller fails the pending map.
    shared.set_link(Link::Down(err.clone()));
    if !writer_done {
        write_task.abort();
        let _ = write_task.await;
    }
    err
}

async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn deliver(shared: &Shared, tx: &mpsc::Sender<Packet>, packet: Packet) {
    match packet {
        Packet::Response {
            tid,
            code,
            content_type,
            payload,
        } => shared.complete(
            tid,
            Ok(Response {
                code,
                content_type,
                payload,
            }),
        ),
        Packet::Error {
            tid: 0,
            code,
            message,
        } => {
            tracing::warn!(server = %shared.addr, %code, %message, "connection-level error from the server");
        }
        Packet::Error { tid, code, message } => shared.complete(
            tid,
            Err(Error::Remote {
                server: shared.addr.clone(),
                code,
                message,
            }),
        ),
        Packet::InspectResponse { tid, payload } => shared.complete(
            tid,
            Ok(Response {
                code: ResultCode::Success,
                content_type: ContentType::Json,
                payload,
            }),
        ),
        Packet::Ping => {
            let _ = tx.try_send(Packet::Pong);
        }
        Packet::Pong | Packet::ServerHello { .. } => {}
        other => {
            tracing::debug!(server = %shared.addr, packet = ?other, "unexpected packet from a server; ignored");
        }
    }
}
