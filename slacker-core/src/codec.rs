//! [`PacketCodec`]: the `tokio_util` codec that turns a byte stream into [`Packet`]s and back.
//! Previous hop: the client's or server's connection task; next hop: `protocol.rs` for the
//! bytes inside a frame.
//!
//! Framing is `LengthDelimitedCodec` (u32 big-endian length, no adjustment) with an explicit
//! maximum frame length. Errors come in two kinds, so that one bad frame never kills a healthy
//! connection by accident:
//! * a frame that is delimited but malformed is yielded as `Ok(Some(Err(Malformed)))`, and the
//!   connection can answer it and keep going;
//! * a length prefix over the limit, or a stream that ends mid-frame, is an `io::Error`: nothing
//!   can be attributed, and the connection closes.

use std::io;

use bytes::{BufMut, BytesMut};
use futures::SinkExt;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder, FramedWrite, LengthDelimitedCodec};

use crate::protocol::{Malformed, Packet, DEFAULT_MAX_FRAME_LEN};

/// Encoder/decoder of [`Packet`]s, for `Framed`, `FramedRead` and `FramedWrite`.
#[derive(Debug)]
pub struct PacketCodec {
    frames: LengthDelimitedCodec,
    max_frame_len: usize,
}

impl PacketCodec {
    /// A codec that refuses frames longer than `max_frame_len` bytes (header + body).
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            frames: LengthDelimitedCodec::builder()
                .max_frame_length(max_frame_len)
                .new_codec(),
            max_frame_len,
        }
    }

    /// The configured limit.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}

impl Default for PacketCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl Decoder for PacketCodec {
    type Item = Result<Packet, Malformed>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(self
            .frames
            .decode(src)?
            .map(|frame| Packet::decode(frame.freeze())))
    }
}

impl Encoder<Packet> for PacketCodec {
    type Error = io::Error;

    /// Writes the length prefix and the frame straight into `dst` (no intermediate buffer); the
    /// bytes are exactly what `LengthDelimitedCodec` would produce. An error packet's message
    /// is cut to fit the limit, so that reporting an error can never fail; any other packet
    /// over the limit is refused (senders check sizes first).
    fn encode(&mut self, mut packet: Packet, dst: &mut BytesMut) -> io::Result<()> {
        let mut len = packet.encoded_len();
        if let Packet::Error { message, .. } = &mut packet {
            if len > self.max_frame_len {
                let mut keep = message.len().saturating_sub(len - self.max_frame_len);
                while !message.is_char_boundary(keep) {
                    keep -= 1;
                }
                message.truncate(keep);
                len = packet.encoded_len();
            }
        }
        if len > self.max_frame_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame of {len} bytes exceeds the limit of {}",
                    self.max_frame_len
                ),
            ));
        }
        dst.reserve(4 + len);
        dst.put_u32(len as u32);
        packet.write_to(dst);
        Ok(())
    }
}

/// What a connection's writer is handed: a packet to encode, or frames already encoded (a
/// server connection encodes the answers of one read together and hands them over at once).
#[derive(Debug)]
pub(crate) enum Outgoing {
    Packet(Packet),
    Frames(bytes::Bytes),
}

impl Encoder<Outgoing> for PacketCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Outgoing, dst: &mut BytesMut) -> io::Result<()> {
        match item {
            Outgoing::Packet(p) => self.encode(p, dst),
            Outgoing::Frames(frames) => {
                dst.extend_from_slice(&frames);
                Ok(())
            }
        }
    }
}

/// Write buffer size at which a writer flushes even if more packets are queued; also the size
/// at which a server connection hands its batch of encoded answers to the writer.
pub(crate) const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Read buffer of a connection: one `read` takes up to this much, so a busy connection decodes
/// many frames per syscall (with tokio-util's default 8 KiB, a 4 KiB frame took about one read
/// each: what was left of the buffer after the last frame). Untouched pages of an idle
/// connection's buffer are not resident.
pub(crate) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Writes queued packets until the queue closes or a write fails, flushing once per batch:
/// every packet already queued is fed before the flush, so a busy connection makes few syscalls.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin, T>(
    mut sink: FramedWrite<W, PacketCodec>,
    mut rx: mpsc::Receiver<T>,
) where
    PacketCodec: Encoder<T, Error = io::Error>,
{
    sink.set_backpressure_boundary(WRITE_BATCH_BYTES);
    while let Some(p) = rx.recv().await {
        let mut result = sink.feed(p).await;
        // Drain what is queued, yield once so that tasks about to queue more can run, drain
        // again: under load this turns many small writes into a few large ones.
        for round in 0..2 {
            while result.is_ok() {
                match rx.try_recv() {
                    Ok(p) => result = sink.feed(p).await,
                    Err(_) => break,
                }
            }
            if round == 0 {
                tokio::task::yield_now().await;
            }
        }
        if let Err(e) = match result {
            Ok(()) => sink.flush().await,
            Err(e) => Err(e),
        } {
            tracing::debug!(error = %e, "write failed; closing");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResultCode;

    #[test]
    fn frames_split_across_reads_decode_once_complete() {
        let mut codec = PacketCodec::default();
        let mut wire = BytesMut::new();
        codec
            .encode(
                Packet::Error {
                    tid: 5,
                    code: ResultCode::Internal,
                    message: "boom".into(),
                },
                &mut wire,
            )
            .expect("encode");
        codec.encode(Packet::Ping, &mut wire).expect("encode");
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        for b in wire {
            src.put_u8(b);
            while let Some(p) = codec.decode(&mut src).expect("decode") {
                got.push(p.expect("well formed"));
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], Packet::Ping);
    }

    #[test]
    fn oversized_prefix_is_an_io_error_and_oversized_packet_is_refused() {
        let mut codec = PacketCodec::new(64);
        let mut src = BytesMut::from(&[0u8, 0, 1, 0][..]);
        assert!(codec.decode(&mut src).is_err());
        let big = Packet::InspectResponse {
            tid: 1,
            payload: vec![b' '; 100].into(),
        };
        assert!(codec.encode(big, &mut BytesMut::new()).is_err());
        let long_error = Packet::Error {
            tid: 1,
            code: ResultCode::Internal,
            message: "é".repeat(100),
        };
        let mut wire = BytesMut::new();
        codec.encode(long_error, &mut wire).expect("cut to fit");
        assert_eq!(wire.len(), 4 + 64);
        match codec.decode(&mut wire).expect("io").expect("frame") {
            Ok(Packet::Error { message, .. }) => assert_eq!(message, "é".repeat(26)),
            other => panic!("{other:?}"),
        }
    }
}
