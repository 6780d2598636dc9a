//! The write side of a plain-TCP server connection, shared by the connection's reader and its
//! writer task. Previous hop: `connection.rs`; next hop: the socket.
//!
//! The reader writes a batch of its own answers itself when the writer is idle and nothing is
//! queued for it: no hand-off and no wake-up of another task, the raw echo's one write per
//! read, large payloads included (written from where they are). Everything else goes through
//! the writer task: answers of requests that ran in their own task, a batch that arrives while
//! the writer is busy, and
//! whatever part of a batch the socket did not take at once (it is written first, so frames
//! never interleave). The reader never waits on the socket, so a peer that does not read
//! cannot stop the reader; the writer's bounded queue still pushes back. TLS connections keep
//! the writer task alone (`codec::write_loop`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use crate::codec::{write_chunks, Batch, Outgoing, MAX_SLICES};

/// The shared write side.
pub(super) struct Wire {
    io: Arc<OwnedWriteHalf>,
    state: Mutex<State>,
    /// Tells the writer that `State::rest` has bytes for it.
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// The writer is collecting or writing a batch: the reader must queue, not write.
    writing: bool,
    /// The end of a batch the reader began to write and the socket did not take.
    rest: Vec<Bytes>,
}

impl Wire {
    pub(super) fn new(io: OwnedWriteHalf) -> Arc<Self> {
        Arc::new(Self {
            io: Arc::new(io),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `chunks` now (one vectored write while the socket takes them) if the writer is
    /// idle and its queue `tx` is empty; what the socket does not take is left to the writer.
    /// Returns the chunks untouched when they must be queued instead.
    ///
    /// # Errors
    /// The socket's error: the connection is broken.
    pub(super) fn write_now(
        &self,
        chunks: Vec<Bytes>,
        tx: &mpsc::Sender<Outgoing>,
    ) -> io::Result<Option<Vec<Bytes>>> {
        if tx.capacity() < tx.max_capacity() {
            return Ok(Some(chunks));
        }
        let mut state = self.state();
        if state.writing || !state.rest.is_empty() {
            return Ok(Some(chunks));
        }
        let stream: &TcpStream = (*self.io).as_ref();
        let mut chunks = chunks;
        let mut done = 0;
        while done < chunks.len() {
            let written = {
                let mut slices = [io::IoSlice::new(&[]); MAX_SLICES];
                let mut n = 0;
                for (slice, chunk) in slices.iter_mut().zip(&chunks[done..]) {
                    *slice = io::IoSlice::new(chunk);
                    n += 1;
                }
                stream.try_write_vectored(&slices[..n])
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    while n > 0 {
                        let first = &mut chunks[done];
                        if n < first.len() {
                            first.advance(n);
                            break;
                        }
                        n -= first.len();
                        done += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    state.rest = chunks.split_off(done);
                    drop(state);
                    self.wake.notify_one();
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// The writer task: what the reader left (`State::rest`) first, then queued items, batched as
/// `codec::write_loop` does. Ends when the queue closes and nothing is left, or a write fails.
pub(super) async fn write_loop(
    wire: Arc<Wire>,
    mut rx: mpsc::Receiver<Outgoing>,
    max_frame_len: usize,
) {
    let mut batch = Batch::new(max_frame_len);
    let mut io = SharedWrite(wire.io.clone());
    let mut open = true;
    loop {
        let first = if open {
            tokio::select! {
                item = rx.recv() => {
                    open = item.is_some();
                    item
                }
                () = wire.wake.notified() => None,
            }
        } else {
            None
        };
        {
            let mut state = wire.state();
            state.writing = true;
            batch.chunks.append(&mut state.rest);
        }
        if let Some(first) = first {
            if let Err(e) = batch.collect(first, &mut rx).await {
                tracing::debug!(error = %e, "unencodable packet; closing");
                return;
            }
        }
        let written = write_chunks(&mut io, &mut batch.chunks).await;
        let rest_left = {
            let mut state = wire.state();
            state.writing = false;
            !state.rest.is_empty()
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "write failed; closing");
            return;
        }
        if !open && !rest_left {
            return;
        }
    }
}

/// The shared half as an `AsyncWrite`, for the writer task.
struct SharedWrite(Arc<OwnedWriteHalf>);

impl SharedWrite {
    /// Waits until the socket is writable and runs `write` (a `try_write*`), again after a
    /// spurious readiness.
    fn poll_try(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let stream: &TcpStream = (*self.0).as_ref();
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match write(stream) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

impl AsyncWrite for SharedWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_try(cx, |s| s.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_try(cx, |s| s.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The write side shuts down when the last holder of the half drops it.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
