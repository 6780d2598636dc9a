//! [`PacketCodec`]: the `tokio_util` codec that turns a byte stream into [`Packet`]s and back.
//! Previous hop: the client's or server's connection task; next hop: `protocol.rs` for the
//! bytes inside a frame.
//!
//! Framing is a u32 big-endian length prefix (the bytes `LengthDelimitedCodec` reads and writes
//! with no adjustment) and an explicit maximum frame length. Errors come in two kinds, so that one bad frame never kills a healthy
//! connection by accident:
//! * a frame that is delimited but malformed is yielded as `Ok(Some(Err(Malformed)))`, and the
//!   connection can answer it and keep going;
//! * a length prefix over the limit, or a stream that ends mid-frame, is an `io::Error`: nothing
//!   can be attributed, and the connection closes.

use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

use crate::protocol::{KnownNames, Malformed, Packet, DEFAULT_MAX_FRAME_LEN};

/// Encoder/decoder of [`Packet`]s, for `Framed`, `FramedRead` and `FramedWrite`.
#[derive(Debug)]
pub struct PacketCodec {
    max_frame_len: usize,
    /// A server's namespaces and functions, decoded without allocating.
    names: Option<Arc<KnownNames>>,
}

impl PacketCodec {
    /// A codec that refuses frames longer than `max_frame_len` bytes (header + body).
    pub fn new(max_frame_len: usize) -> Self {
        Self {
            max_frame_len,
            names: None,
        }
    }

    /// As [`PacketCodec::new`], decoding requests that name one of `names` without allocating
    /// (a server's codec: its namespaces and functions).
    pub(crate) fn with_names(max_frame_len: usize, names: Arc<KnownNames>) -> Self {
        Self {
            names: Some(names),
            ..Self::new(max_frame_len)
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

    /// Framing by hand rather than through `LengthDelimitedCodec`: its general offsets,
    /// adjustments and state machine were a quarter of the cost of decoding a small frame, and
    /// a u32 prefix needs none of them. The frame is cut from `src` without copying.
    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let Some(&prefix) = src.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix) as usize;
        if len > self.max_frame_len {
            // Read: the peer sent it.
            return Err(self.too_long(io::ErrorKind::InvalidData, len));
        }
        if src.len() < 4 + len {
            // Room for the rest of this frame, so that the next read can complete it.
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(len).freeze();
        Ok(Some(Packet::decode_with(frame, self.names.as_deref())))
    }
}

impl Encoder<Packet> for PacketCodec {
    type Error = io::Error;

    /// Writes the length prefix and the frame straight into `dst` (no intermediate buffer); the
    /// bytes are exactly what `LengthDelimitedCodec` would produce. An error packet's message
    /// is cut to fit the limit, so that reporting an error can never fail; any other packet
    /// over the limit is refused (senders check sizes first).
    fn encode(&mut self, packet: Packet, dst: &mut BytesMut) -> io::Result<()> {
        let packet = self.check(packet)?;
        let len = packet.encoded_len();
        dst.reserve(4 + len);
        packet.write_prefixed_head(Some(len as u32), dst);
        if let Some(payload) = packet.payload() {
            dst.extend_from_slice(payload);
        }
        Ok(())
    }
}

impl PacketCodec {
    fn too_long(&self, kind: io::ErrorKind, len: usize) -> io::Error {
        io::Error::new(
            kind,
            format!(
                "frame of {len} bytes exceeds the limit of {}",
                self.max_frame_len
            ),
        )
    }

    /// Cuts an error packet's message to fit the limit; refuses any other packet over it.
    fn check(&self, mut packet: Packet) -> io::Result<Packet> {
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
            // Written: the caller handed it over.
            return Err(self.too_long(io::ErrorKind::InvalidInput, len));
        }
        Ok(packet)
    }
}

/// Payloads up to this size are copied into the write buffer; larger ones are written from
/// where they are.
pub(crate) const COPY_PAYLOAD_BYTES: usize = 1024;

/// Frames encoded and not yet written, in order: heads and small payloads copied into one
/// buffer, payloads over [`COPY_PAYLOAD_BYTES`] and frames encoded elsewhere kept where they
/// are. The buffer is cut into chunks only when the frames are taken: cutting it after every
/// large payload left a tail with no room, so the next frame's head was an allocation of its
/// own (two per 4 KiB answer). Once the chunks of one batch are written and dropped, the next
/// batch reuses the same buffer.
#[derive(Default)]
pub(crate) struct Frames {
    buf: BytesMut,
    /// Chunks kept where they are, each with the length `buf` had when it was added.
    kept: Vec<(usize, Bytes)>,
    /// The bytes in `kept`.
    kept_bytes: usize,
    /// The size of the last frame or chunk added.
    last: usize,
}

impl Frames {
    /// The bytes in these frames.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() + self.kept_bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether another frame the size of the last one would take these frames over
    /// [`WRITE_BATCH_BYTES`]: time to write them.
    pub(crate) fn full(&self) -> bool {
        self.len() + self.last > WRITE_BATCH_BYTES
    }

    /// Appends `packet`, length prefix included.
    ///
    /// # Errors
    /// A packet over the frame limit (an error packet's message is cut to fit instead).
    pub(crate) fn encode(&mut self, codec: &PacketCodec, packet: Packet) -> io::Result<()> {
        let packet = codec.check(packet)?;
        let len = packet.encoded_len();
        let large = packet.payload().filter(|p| p.len() > COPY_PAYLOAD_BYTES);
        let copied = 4 + len - large.map_or(0, Bytes::len);
        // Grows as a `Vec` does (doubling); an idle connection keeps only what its first
        // answers took (a 16 KiB minimum cost each idle connection 4.8 KiB more resident).
        self.buf.reserve(copied);
        packet.write_prefixed_head(Some(len as u32), &mut self.buf);
        self.last = 4 + len;
        match large {
            Some(payload) => {
                self.kept_bytes += payload.len();
                self.kept.push((self.buf.len(), payload.clone()));
            }
            None => {
                if let Some(payload) = packet.payload() {
                    self.buf.extend_from_slice(payload);
                }
            }
        }
        Ok(())
    }

    /// Appends `chunk` (bytes already framed) without copying it.
    pub(crate) fn keep(&mut self, chunk: Bytes) {
        self.last = chunk.len();
        self.kept_bytes += chunk.len();
        self.kept.push((self.buf.len(), chunk));
    }

    /// Moves everything, in order, to the end of `chunks`.
    pub(crate) fn take_into(&mut self, chunks: &mut Vec<Bytes>) {
        let mut cut = 0;
        for (at, chunk) in self.kept.drain(..) {
            if at > cut {
                chunks.push(self.buf.split_to(at - cut).freeze());
                cut = at;
            }
            chunks.push(chunk);
        }
        if !self.buf.is_empty() {
            chunks.push(self.buf.split().freeze());
        }
        self.kept_bytes = 0;
    }
}

/// What a connection's writer is handed: a packet to encode, or frames already encoded, in
/// chunks to write in order (a server connection encodes the answers of one read together and
/// hands them over at once, large payloads as chunks of their own).
#[derive(Debug)]
pub(crate) enum Outgoing {
    Packet(Packet),
    Frames(Vec<Bytes>),
}

/// The most one write of a batch holds, as far as the frames' sizes let it (see
/// [`Frames::full`]): a writer flushes there even if more packets are queued, and a server
/// connection hands its answers over. Below 64 KiB so that a batch is one segment on loopback
/// (MTU 64 KiB) and one read of the peer's 64 KiB buffer: a batch of sixteen 4 KiB answers
/// (65.8 KiB) went out as a full segment plus a few hundred bytes, and the server's CPU per
/// call was a fifth higher than with fifteen.
pub(crate) const WRITE_BATCH_BYTES: usize = 63 * 1024;

/// Read buffer of a connection: one `read` takes up to this much, so a busy connection decodes
/// many frames per syscall (with tokio-util's default 8 KiB, a 4 KiB frame took about one read
/// each: what was left of the buffer after the last frame). Untouched pages of an idle
/// connection's buffer are not resident.
pub(crate) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Writes queued packets until the queue closes or a write fails, with one vectored write per
/// batch: every packet already queued is taken before writing, so a busy connection makes few
/// syscalls, and large payloads and pre-encoded frames are written from where they are.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin, T: Into<Outgoing>>(
    mut io: W,
    mut rx: mpsc::Receiver<T>,
    mut batch: Batch,
) {
    while let Some(first) = rx.recv().await {
        if let Err(e) = batch.collect(first, &mut rx).await {
            tracing::debug!(error = %e, "unencodable packet; closing");
            return;
        }
        if let Err(e) = write_chunks(&mut io, &mut batch.chunks).await {
            tracing::debug!(error = %e, "write failed; closing");
            return;
        }
    }
}

/// What a writer sends next: queued items encoded into `chunks`, in order.
pub(crate) struct Batch {
    codec: PacketCodec,
    frames: Frames,
    pub(crate) chunks: Vec<Bytes>,
    /// Given the items taken so far, whether more may be about to queue (see `collect`).
    more_may_come: Box<dyn Fn(usize) -> bool + Send>,
}

impl Batch {
    pub(crate) fn new(max_frame_len: usize) -> Self {
        Self {
            codec: PacketCodec::new(max_frame_len),
            frames: Frames::default(),
            chunks: Vec::new(),
            more_may_come: Box::new(|_| true),
        }
    }

    /// The same, told by `more_may_come` (given the items taken so far) whether anyone else
    /// could queue now: a client whose every call in flight is already in the batch has
    /// nothing to wait for.
    pub(crate) fn with_hint(
        max_frame_len: usize,
        more_may_come: impl Fn(usize) -> bool + Send + 'static,
    ) -> Self {
        Self {
            more_may_come: Box::new(more_may_come),
            ..Self::new(max_frame_len)
        }
    }

    /// Takes `first` and what is queued behind it, yields once so that tasks about to queue
    /// more can run, and takes again: under load many small writes become a few large ones.
    /// Stops at [`WRITE_BATCH_BYTES`]. No yield when nothing more can come: one call at a
    /// time gains nothing from it and pays a round through the scheduler (and its I/O poll)
    /// per write.
    pub(crate) async fn collect<T: Into<Outgoing>>(
        &mut self,
        first: T,
        rx: &mut mpsc::Receiver<T>,
    ) -> io::Result<()> {
        let mut next = Some(first);
        let mut items = 0;
        'rounds: for round in 0..2 {
            while let Some(item) = next.take().or_else(|| rx.try_recv().ok()) {
                items += 1;
                match item.into() {
                    Outgoing::Packet(p) => self.frames.encode(&self.codec, p)?,
                    Outgoing::Frames(frames) => {
                        for chunk in frames {
                            self.frames.keep(chunk);
                        }
                    }
                }
                if self.frames.full() {
                    break 'rounds;
                }
            }
            if round == 0 && (self.more_may_come)(items) {
                tokio::task::yield_now().await;
            }
        }
        self.frames.take_into(&mut self.chunks);
        Ok(())
    }
}

/// The most chunks one vectored write is given (the kernel's own limit is 1,024).
pub(crate) const MAX_SLICES: usize = 64;

/// Writes every chunk, in order, with as few vectored writes as the socket allows.
pub(crate) async fn write_chunks<W: AsyncWrite + Unpin>(
    io: &mut W,
    chunks: &mut Vec<Bytes>,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut first = 0;
    while first < chunks.len() {
        // The slices live on the stack of one poll, not in the future: an array held across
        // an await would be a kilobyte more in every connection's writer task.
        let mut n = std::future::poll_fn(|cx| {
            let mut slices = [io::IoSlice::new(&[]); MAX_SLICES];
            let mut taken = 0;
            for (slice, chunk) in slices.iter_mut().zip(&chunks[first..]) {
                *slice = io::IoSlice::new(chunk);
                taken += 1;
            }
            std::pin::Pin::new(&mut *io).poll_write_vectored(cx, &slices[..taken])
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let chunk = &mut chunks[first];
            let step = n.min(chunk.len());
            chunk.advance(step);
            n -= step;
            if chunk.is_empty() {
                first += 1;
            }
        }
        while first < chunks.len() && chunks[first].is_empty() {
            first += 1;
        }
    }
    chunks.clear();
    io.flush().await
}

impl From<Packet> for Outgoing {
    fn from(p: Packet) -> Self {
        Self::Packet(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResultCode;
    use bytes::BufMut;

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

    /// The framing is the one `LengthDelimitedCodec` reads (other implementations of the
    /// protocol may use it): the same frames at every split of the stream, and a frame exactly
    /// at the limit is accepted where one byte more is refused.
    #[test]
    fn framing_matches_length_delimited_codec_at_every_split_and_at_the_limit() {
        use tokio_util::codec::LengthDelimitedCodec;
        let mut codec = PacketCodec::new(40);
        let mut wire = BytesMut::new();
        let packets = [
            Packet::Ping,
            Packet::Error {
                tid: 7,
                code: ResultCode::Internal,
                message: "x".repeat(200),
            },
            Packet::Pong,
        ];
        for p in packets.clone() {
            codec.encode(p, &mut wire).expect("encode");
        }
        for split in 0..=wire.len() {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            let mut reference = LengthDelimitedCodec::builder()
                .max_frame_length(40)
                .new_codec();
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            for part in [&wire[..split], &wire[split..]] {
                a.extend_from_slice(part);
                b.extend_from_slice(part);
                while let Some(p) = codec.decode(&mut a).expect("ours") {
                    ours.push(p.expect("well formed"));
                }
                while let Some(f) = reference.decode(&mut b).expect("reference") {
                    theirs.push(Packet::decode_with(f.freeze(), None).expect("well formed"));
                }
            }
            assert_eq!(ours, theirs, "split at {split}");
            assert_eq!(ours.len(), packets.len());
            assert!(a.is_empty());
        }
        let at_limit = [&40u32.to_be_bytes()[..], &[0; 40]].concat();
        let mut src = BytesMut::from(&at_limit[..]);
        assert!(codec.decode(&mut src).expect("at the limit").is_some());
        let mut over = BytesMut::from(&41u32.to_be_bytes()[..]);
        let err = codec.decode(&mut over).expect_err("over the limit");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    fn response(tid: u64, payload_len: usize) -> Packet {
        Packet::Response {
            tid,
            code: ResultCode::Success,
            content_type: crate::ContentType::MessagePack,
            payload: vec![tid as u8; payload_len].into(),
        }
    }

    /// Frames write exactly the encoder's bytes, in order, with pre-framed chunks where they
    /// were added; the heads between large payloads are cut from one buffer (contiguous in
    /// memory), not allocated one by one.
    #[test]
    fn frames_write_the_encoders_bytes_and_cut_heads_from_one_buffer() {
        let codec = PacketCodec::default();
        let mut reference = PacketCodec::default();
        let mut expected = BytesMut::new();
        let mut frames = Frames::default();
        let kept = Bytes::from_static(b"\0\0\0\x01\x05");
        for tid in 0..12u64 {
            let packet = match tid % 4 {
                0 => response(tid, 16),
                3 => Packet::Ping,
                _ => response(tid, 4096),
            };
            reference
                .encode(packet.clone(), &mut expected)
                .expect("encode");
            frames.encode(&codec, packet).expect("encode");
            if tid == 5 {
                expected.extend_from_slice(&kept);
                frames.keep(kept.clone());
            }
        }
        assert_eq!(frames.len(), expected.len());
        let mut chunks = Vec::new();
        frames.take_into(&mut chunks);
        assert!(frames.is_empty());
        assert_eq!(chunks.concat(), expected.to_vec());
        let heads: Vec<&Bytes> = chunks
            .iter()
            .filter(|c| c.len() < 1024 && c.as_ptr() != kept.as_ptr())
            .collect();
        assert!(heads.len() > 6, "{} heads", heads.len());
        for pair in heads.windows(2) {
            let end = pair[0].as_ptr().wrapping_add(pair[0].len());
            assert_eq!(end, pair[1].as_ptr(), "heads not cut from one buffer");
        }
    }

    /// A writer's batch stops before a frame would take it over `WRITE_BATCH_BYTES`, with the
    /// bytes in large payloads too (they were not counted, so a batch took everything queued).
    #[tokio::test]
    async fn a_batch_of_large_payloads_stops_at_the_batch_size() {
        let (tx, mut rx) = mpsc::channel::<Packet>(64);
        for tid in 0..64 {
            tx.try_send(response(tid, 4096)).expect("room");
        }
        let first = rx.recv().await.expect("queued");
        let mut batch = Batch::new(1 << 20);
        batch.collect(first, &mut rx).await.expect("encode");
        let bytes: usize = batch.chunks.iter().map(Bytes::len).sum();
        let frame = 4 + response(0, 4096).encoded_len();
        assert!(bytes <= WRITE_BATCH_BYTES, "{bytes}");
        assert!(bytes + frame > WRITE_BATCH_BYTES, "{bytes}");
        assert_eq!(bytes % frame, 0);
        assert!(!rx.is_empty(), "the rest waits for the next write");
    }
}
