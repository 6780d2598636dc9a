//! One client connection: a reader loop (this task) and a writer task. Previous hop:
//! `server/mod.rs` (accept); next hop: `dispatch.rs`, which runs each request
//! in this task until it has to wait (most handlers answer right away) and then in a task of
//! its own, answering through the connection's [`Conn`] (`conn.rs`) back to the writer here.
//!
//! Reads and writes run in separate tasks so that a peer that is slow to read never stops us
//! from reading (two peers both blocked on writing would deadlock). Answers made in this task
//! are encoded here and handed to the writer together once nothing more can be read without
//! waiting (one write per read, as a hand-written server would do); the writer also batches
//! what request tasks queue: it feeds every reply already queued, then flushes once. Its queue is bounded, and the reader
//! waits for room in it before reading the next frame, so a peer that sends without reading
//! is pushed back by TCP flow control instead of growing the server's memory.
//!
//! Control packets (ping, cancel, hello, inspect) are answered here, inline. Malformed frames
//! that carry a readable tid get a `ProtocolError` reply and the connection keeps going; an
//! unreadable frame, an oversized length prefix or a peer stalled mid-frame closes this one
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, FramedRead};

use super::conn::{error, Conn};
use super::dispatch::{self, Answer};
use super::wire::{self, Wire};
use super::Shared;
use crate::codec::{write_loop, Batch, Frames, Outgoing, PacketCodec, READ_BUFFER_BYTES};
use crate::inspect::InspectRequest;
use crate::protocol::{Packet, HEADER_LEN, VERSION};
use crate::stream::{ReadHalf, WriteHalf};
use crate::ResultCode;

/// Packets queued for one connection's writer before the reader stops reading.
const WRITE_QUEUE: usize = 1024;

pub(super) async fn serve(
    shared: Arc<Shared>,
    read: ReadHalf,
    write: WriteHalf,
    peer: SocketAddr,
    id: u64,
) {
    let max = shared.options.max_frame_len;
    let codec = PacketCodec::with_names(max, shared.names.clone());
    let mut reader = FramedRead::with_capacity(read, codec, READ_BUFFER_BYTES);
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    // Plain TCP: the reader may write its own batches (`wire.rs`); TLS: the writer alone.
    let (wire, writer) = match write {
        WriteHalf::Plain(half) => {
            let wire = Wire::new(half);
            let writer = tokio::spawn(wire::write_loop(wire.clone(), rx, max));
            (Some(wire), writer)
        }
        #[allow(unreachable_patterns)]
        other => (None, tokio::spawn(write_loop(other, rx, Batch::new(max)))),
    };
    let wire = wire.as_deref();
    let conn = Arc::new(Conn::new(peer, tx));

    // Stall and idle detection without a timer per frame: a tick every read_timeout/2; two
    // ticks in a row that see a partial frame and no completed frame close the connection, and
    // so does `idle_timeout` without any frame (a vanished client that never sent a FIN).
    let half = (shared.options.read_timeout / 2).max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + half, half);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_timeout = shared.options.idle_timeout;
    let mut progressed = true;
    let mut stalled_ticks = 0u8;
    let mut idle_for = Duration::ZERO;
    let closing = shared.close.cancelled();
    tokio::pin!(closing);
    // Answers made in this task (most requests, and every control packet), encoded and not
    // yet handed on: they go over together once no further frame can be read without
    // waiting, so the answers to one read leave in one write.
    let mut batch = Answers::default();
    let encoder = PacketCodec::new(max);
    let reason = loop {
        let ready = if batch.is_empty() {
            None
        } else {
            reader.next().now_or_never()
        };
        let next = match ready {
            Some(next) => next,
            None => {
                if let Err(reason) = flush(&mut batch, wire, &conn.tx, closing.as_mut()).await {
                    break reason;
                }
                tokio::select! {
                    _ = &mut closing => break "server closing".to_owned(),
                    _ = tick.tick() => {
                        idle_for = if progressed { Duration::ZERO } else { idle_for + half };
                        if !idle_timeout.is_zero() && idle_for >= idle_timeout {
                            break format!("no frame for {idle_for:?}");
                        }
                        if progressed || reader.read_buffer().is_empty() {
                            stalled_ticks = 0;
                        } else {
                            stalled_ticks += 1;
                            if stalled_ticks >= 2 {
                                break format!("stalled mid-frame for {:?}", shared.options.read_timeout);
                            }
                        }
                        progressed = false;
                        continue;
                    }
                    // While the write queue is full (replies of running requests wait for room
                    // too), read nothing more: a peer that never reads cannot pile up requests
                    // and replies.
                    next = async {
                        drop(conn.tx.reserve().await);
                        reader.next().await
                    } => next,
                }
            }
        };
        progressed = true;
        let reply = match next {
            None => break "closed by peer".to_owned(),
            Some(Err(e)) => break format!("unreadable stream: {e}"),
            Some(Ok(Err(bad))) => match bad.tid {
                Some(tid) => {
                    tracing::debug!(%peer, tid, reason = %bad.reason, "malformed frame");
                    Some(error(tid, ResultCode::ProtocolError, bad.reason).into())
                }
                None => break format!("malformed frame: {}", bad.reason),
            },
            Some(Ok(Ok(packet))) => handle(&shared, &conn, id, packet).await,
        };
        if let Some(reply) = reply {
            batch.push(&encoder, reply);
            if batch.full() {
                if let Err(reason) = flush(&mut batch, wire, &conn.tx, closing.as_mut()).await {
                    break reason;
                }
            }
        }
    };
    // Answers already made still go out (a draining server's last ones).
    if !batch.is_empty() {
        let _ = conn.tx.try_send(Outgoing::Frames(batch.take()));
    }
    tracing::debug!(%peer, %reason, "connection closed");
    // Abort what still runs for this peer: nobody will read the replies.
    conn.cancel_all();
    // Let queued replies out (a draining server's last answers), but not forever.
    drop(conn);
    let mut writer = writer;
    if tokio::time::timeout(Duration::from_secs(1), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Sends the batch (if any): written right here when the writer is idle (plain TCP), else
/// handed to the writer as [`hand_over`] does.
async fn flush(
    batch: &mut Answers,
    wire: Option<&Wire>,
    tx: &mpsc::Sender<Outgoing>,
    closing: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut chunks = batch.take();
    if let Some(wire) = wire {
        match wire.write_now(chunks, tx) {
            Ok(None) => return Ok(()),
            Ok(Some(unsent)) => chunks = unsent,
            Err(e) => return Err(format!("write failed: {e}")),
        }
    }
    hand_over(tx, Outgoing::Frames(chunks), closing).await
}

/// Queues `item` for the writer, waiting for room. When the server closes meanwhile, the item
/// still goes in if there is room (a draining server's last answers), and the loop ends.
async fn hand_over(
    tx: &mpsc::Sender<Outgoing>,
    item: Outgoing,
    closing: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
) -> Result<(), String> {
    tokio::select! {
        _ = closing => {
            let _ = tx.try_send(item);
            Err("server closing".to_owned())
        }
        permit = tx.reserve() => match permit {
            Ok(permit) => {
                permit.send(item);
                Ok(())
            }
            Err(_) => Err("writer stopped".to_owned()),
        },
    }
}

/// Answers encoded in the reader's task and not yet handed on, in order (`codec::Frames`:
/// small ones copied into one buffer, large payloads written from where they are).
#[derive(Default)]
struct Answers(Frames);

impl Answers {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Time to write: see `Frames::full`.
    fn full(&self) -> bool {
        self.0.full()
    }

    /// Appends `answer`. A packet the codec refuses (over the frame limit; senders check
    /// sizes first, so this is a bug elsewhere) is answered with an `Internal` error.
    fn push(&mut self, encoder: &PacketCodec, answer: Answer) {
        let tid = answer.packet.tid();
        if let Err(e) = self.0.encode(encoder, answer.packet) {
            tracing::error!(tid, error = %e, "answer could not be encoded");
            let refused = error(tid, ResultCode::Internal, format!("answer not sent: {e}"));
            let _ = self.0.encode(encoder, refused);
        }
        // `answer`'s in-flight slot is released here, once the answer is in the batch.
    }

    /// Everything, as chunks to write in order; empties the batch.
    fn take(&mut self) -> Vec<Bytes> {
        let mut chunks = Vec::new();
        self.0.take_into(&mut chunks);
        chunks
    }
}

/// Handles one packet; returns the answer to queue, if any.
async fn handle(shared: &Arc<Shared>, conn: &Arc<Conn>, id: u64, packet: Packet) -> Option<Answer> {
    match packet {
        Packet::Request(req) => dispatch::begin(shared, conn, req).await,
        packet => control(shared, conn, id, packet).map(Answer::from),
    }
}

/// Answers a control packet (everything but a request), inline.
fn control(shared: &Arc<Shared>, conn: &Arc<Conn>, id: u64, packet: Packet) -> Option<Packet> {
    match packet {
        Packet::Ping => Some(Packet::Pong),
        Packet::Pong => None,
        Packet::Cancel { tid } => {
            conn.cancel(tid);
            None
        }
        Packet::InspectRequest { tid, payload } => {
            Some(match serde_json::from_slice::<InspectRequest>(&payload) {
                Ok(req) => match serde_json::to_vec(&shared.inspect(&req)) {
                    Ok(json) if HEADER_LEN + json.len() <= shared.options.max_frame_len => {
                        Packet::InspectResponse {
                            tid,
                            payload: json.into(),
                        }
                    }
                    Ok(json) => error(
                        tid,
                        ResultCode::Internal,
                        format!(
                            "inspect answer of {} bytes exceeds the frame limit",
                            json.len()
                        ),
                    ),
                    Err(e) => error(tid, ResultCode::Internal, e.to_string()),
                },
                Err(e) => error(
                    tid,
                    ResultCode::ProtocolError,
                    format!("bad inspect request: {e}"),
                ),
            })
        }
        Packet::ClientHello { name, version } => {
            if let Some(c) = shared.clients().get_mut(&id) {
                c.name = Some(name);
                c.version = Some(version);
            }
            Some(Packet::ServerHello {
                version: VERSION.to_owned(),
                max_frame_len: u32::try_from(shared.options.max_frame_len).unwrap_or(u32::MAX),
            })
        }
        // An error needs no answer (answering could ping-pong between two confused peers).
        Packet::Error { tid, code, message } => {
            tracing::debug!(peer = %conn.peer, tid, %code, %message, "error packet from a client");
            None
        }
        other => Some(error(
            other.tid(),
            ResultCode::ProtocolError,
            "packet type not accepted by a server".into(),
        )),
    }
}

/// Answers a connection over `max_connections` with one `Overloaded` error, then closes it.
/// The peer's first bytes (its hello) are drained for a moment first: closing with unread
/// data would reset the connection and could destroy the error frame in flight.
pub(super) async fn refuse(stream: TcpStream, max_frame_len: usize) {
    let mut framed = Framed::new(stream, PacketCodec::new(max_frame_len));
    let sent = framed
        .send(Packet::Error {
            tid: 0,
            code: ResultCode::Overloaded,
            message: "too many connections".into(),
        })
        .await;
    if sent.is_ok() {
        let mut stream = framed.into_inner();
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}
