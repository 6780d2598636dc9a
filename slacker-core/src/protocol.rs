//! The bytes on the wire: one length-delimited frame per packet. Next hop: `codec.rs`, which
//! cuts a TCP byte stream into these frames and back.
//!
//! Unlike the Clojure original (self-delimiting fields, so an unknown enum value looked like
//! "need more bytes" and stalled the connection), every frame here carries an explicit length,
//! and the fixed header is the same in every protocol version. A receiver can therefore always
//! skip a frame it does not understand and answer it with a typed `ProtocolError` naming the
//! frame's transaction id.
//!
//! # Frame
//!
//! ```text
//! +----------+---------+---------+---------+------------+---------------------+
//! | len: u32 | ver: u8 | type:u8 | ctype:u8| tid: u64   | body (per type)     |
//! +----------+---------+---------+---------+------------+---------------------+
//!   4 bytes    \________________ header: 11 bytes ____/
//! ```
//!
//! All integers are big-endian. `len` counts the bytes after itself (header + body) and is capped
//! by the receiver's max frame length (default 16 MiB); a larger prefix closes the connection,
//! since nothing in it can be attributed. `str16` is a `u16` byte length then UTF-8 bytes; `str8`
//! the same with a `u8` length; `bytes16` a `u16` length then raw bytes. "rest" is everything up
//! to the end of the frame.
//!
//! | field | meaning |
//! |---|---|
//! | `ver` | protocol version, currently [`PROTOCOL_VERSION`] (1) |
//! | `type` | packet type, see below |
//! | `ctype` | content type of the payload ([`ContentType`]: 1 MessagePack, 2 JSON); 0 when the packet has no typed payload |
//! | `tid` | transaction id, chosen by the client, echoed by the server. 0 is reserved for ping, pong and hello. A `u64` counter never wraps in practice |
//!
//! | type | packet | direction | body |
//! |---:|---|---|---|
//! | 1 | request | c -> s | `flags:u8`, `deadline_ms:u32` (relative, 0 = none), `namespace:str16`, `function:str16`, `ext_count:u8`, `ext_count × (key:str8, value:bytes16)`, `payload`: rest (the argument tuple) |
//! | 2 | response | s -> c | `code:u8` (`Success` or `ApplicationError`), `payload`: rest (value or application error) |
//! | 3 | error | s -> c | `code:u8` (any other [`ResultCode`]), `message`: rest (UTF-8) |
//! | 4 | ping | both | empty; `tid` 0 |
//! | 5 | pong | both | empty; `tid` 0 |
//! | 6 | cancel | c -> s | empty; `tid` is the call to abort. No reply |
//! | 7 | inspect request | c -> s | rest: JSON [`InspectRequest`](crate::inspect::InspectRequest) |
//! | 8 | inspect response | s -> c | rest: JSON [`InspectResponse`](crate::inspect::InspectResponse) |
//! | 9 | client hello | c -> s | `name:str16`, `version:str16` (software version); `tid` 0 |
//! | 10 | server hello | s -> c | `version:str16`, `max_frame_len:u32` (the largest frame it accepts; clients refuse bigger calls locally); `tid` 0 |
//!
//! Request flags: bit 0 ([`FLAG_NO_REPLY`]) = fire-and-forget, the server sends no reply.
//! Extensions are bounded: at most [`MAX_EXTENSIONS`] pairs, values at most
//! [`MAX_EXTENSION_VALUE`] bytes. Result codes are listed on [`ResultCode`].
//!
//! A request for tid 7 calling `math/add` with MessagePack `[1, 2]`, 5 s deadline, no extensions:
//!
//! ```text
//! 0000001f 01 01 01 0000000000000007 | 00 00001388 0004 6d617468 0003 616464 00 | 92 01 02
//! ```

use std::borrow::Cow;

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use crate::names::FastBuild;
use crate::{ContentType, Extensions, ResultCode};

/// The protocol version this build speaks. Frames with any other version are refused with
/// `ProtocolError`.
pub const PROTOCOL_VERSION: u8 = 1;

/// The slacker version servers and clients announce in their hello.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Bytes of the fixed header after the length prefix: version, type, content type, tid.
pub const HEADER_LEN: usize = 11;

/// Default cap on a frame's length (header + body).
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Most extensions a request may carry.
pub const MAX_EXTENSIONS: usize = 32;

/// Longest extension value, in bytes. Keys are at most 255 bytes.
pub const MAX_EXTENSION_VALUE: usize = 4096;

/// Request flag: the client does not want a reply.
pub const FLAG_NO_REPLY: u8 = 1;

/// Fixed request-body bytes besides the names, extensions and payload.
const REQUEST_FIXED: usize = 1 + 4 + 2 + 2 + 1;

mod ty {
    pub(super) const REQUEST: u8 = 1;
    pub(super) const RESPONSE: u8 = 2;
    pub(super) const ERROR: u8 = 3;
    pub(super) const PING: u8 = 4;
    pub(super) const PONG: u8 = 5;
    pub(super) const CANCEL: u8 = 6;
    pub(super) const INSPECT_REQUEST: u8 = 7;
    pub(super) const INSPECT_RESPONSE: u8 = 8;
    pub(super) const CLIENT_HELLO: u8 = 9;
    pub(super) const SERVER_HELLO: u8 = 10;
}

/// A call, as it travels from client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Transaction id (never 0).
    pub tid: u64,
    /// Content type of `payload`; the server answers in the same one.
    pub content_type: ContentType,
    /// Bit set of `FLAG_*`.
    pub flags: u8,
    /// Relative deadline in milliseconds; 0 = none.
    pub deadline_ms: u32,
    /// Namespace.
    pub namespace: Cow<'static, str>,
    /// Function name.
    pub function: Cow<'static, str>,
    /// Key/value metadata.
    pub extensions: Extensions,
    /// The encoded argument tuple.
    pub payload: Bytes,
}

/// One packet of the protocol (see the module docs for the layout of each).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// A call.
    Request(Request),
    /// The handler ran: its value (`Success`) or its application error (`ApplicationError`).
    Response {
        /// Transaction id of the request.
        tid: u64,
        /// `Success` or `ApplicationError`.
        code: ResultCode,
        /// Content type of `payload`.
        content_type: ContentType,
        /// The encoded value or application error.
        payload: Bytes,
    },
    /// The call failed with any other result code.
    Error {
        /// Transaction id of the request (0 when the failure concerns the connection).
        tid: u64,
        /// Why.
        code: ResultCode,
        /// Human-readable detail.
        message: String,
    },
    /// Liveness probe.
    Ping,
    /// Answer to a ping.
    Pong,
    /// Abort the call with this tid; no reply is sent for it.
    Cancel {
        /// The call to abort.
        tid: u64,
    },
    /// Ask the server to describe itself.
    InspectRequest {
        /// Transaction id.
        tid: u64,
        /// JSON [`InspectRequest`](crate::inspect::InspectRequest).
        payload: Bytes,
    },
    /// The server's self-description.
    InspectResponse {
        /// Transaction id of the inspect request.
        tid: u64,
        /// JSON [`InspectResponse`](crate::inspect::InspectResponse).
        payload: Bytes,
    },
    /// First packet of a client: who it is.
    ClientHello {
        /// Client name (may be empty).
        name: String,
        /// Client software version.
        version: String,
    },
    /// The server's answer to a client hello.
    ServerHello {
        /// Server software version.
        version: String,
        /// Largest frame the server accepts.
        max_frame_len: u32,
    },
}

/// A frame that was delimited correctly but could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The frame's transaction id, when the header was complete enough to read it. A server
    /// answers such a frame with a `ProtocolError` for this tid.
    pub tid: Option<u64>,
    /// What was wrong.
    pub reason: String,
}

impl Malformed {
    fn new(tid: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            tid,
            reason: reason.into(),
        }
    }
}

impl Packet {
    /// The transaction id the packet carries in its header.
    pub fn tid(&self) -> u64 {
        match self {
            Self::Request(r) => r.tid,
            Self::Response { tid, .. }
            | Self::Error { tid, .. }
            | Self::Cancel { tid }
            | Self::InspectRequest { tid, .. }
            | Self::InspectResponse { tid, .. } => *tid,
            Self::Ping | Self::Pong | Self::ClientHello { .. } | Self::ServerHello { .. } => 0,
        }
    }

    /// The frame length (header + body) this packet encodes to, without the length prefix.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Self::Request(r) => {
                    REQUEST_FIXED
                        + r.namespace.len()
                        + r.function.len()
                        + r.extensions
                            .iter()
                            .map(|(k, v)| 1 + k.len() + 2 + v.len())
                            .sum::<usize>()
                        + r.payload.len()
                }
                Self::Response { payload, .. } => 1 + payload.len(),
                Self::Error { message, .. } => 1 + message.len(),
                Self::Ping | Self::Pong | Self::Cancel { .. } => 0,
                Self::InspectRequest { payload, .. } | Self::InspectResponse { payload, .. } => {
                    payload.len()
                }
                Self::ClientHello { name, version } => 4 + name.len() + version.len(),
                Self::ServerHello { version, .. } => 2 + version.len() + 4,
            }
    }

    /// Appends header and body (not the length prefix) to `dst`.
    ///
    /// The caller has checked the packet with [`check_request`] / the frame limit, so string
    /// lengths fit their prefixes; oversized strings are truncated rather than corrupting the
    /// frame.
    #[cfg(test)]
    pub(crate) fn write_to(&self, dst: &mut BytesMut) {
        self.write_prefixed_head(None, dst);
        if let Some(payload) = self.payload() {
            dst.extend_from_slice(payload);
        }
    }

    /// The bytes that end the frame: a request's arguments, a response's result, an inspect
    /// document. A writer may send them from where they are instead of copying them.
    pub(crate) fn payload(&self) -> Option<&Bytes> {
        match self {
            Self::Request(r) => Some(&r.payload),
            Self::Response { payload, .. }
            | Self::InspectRequest { payload, .. }
            | Self::InspectResponse { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The frame's length prefix (when given), header and body up to the [`Packet::payload`], appended
    /// to `dst` with one copy: the head is put together on the stack first (written field by
    /// field into `dst`, a dozen `BytesMut::put_*` calls per packet were 5% of a small call's
    /// instructions). A head too long for the stack buffer is written field by field.
    pub(crate) fn write_prefixed_head(&self, prefix: Option<u32>, dst: &mut BytesMut) {
        let mut head = StackHead {
            buf: [0; STACK_HEAD],
            len: 0,
            overflow: false,
        };
        self.put_head(prefix, &mut head);
        if head.overflow {
            self.put_head(prefix, dst);
        } else {
            dst.extend_from_slice(&head.buf[..head.len]);
        }
    }

    fn put_head(&self, prefix: Option<u32>, out: &mut impl HeadSink) {
        let (ty, ct) = match self {
            Self::Request(r) => (ty::REQUEST, r.content_type.as_u8()),
            Self::Response { content_type, .. } => (ty::RESPONSE, content_type.as_u8()),
            Self::Error { .. } => (ty::ERROR, 0),
            Self::Ping => (ty::PING, 0),
            Self::Pong => (ty::PONG, 0),
            Self::Cancel { .. } => (ty::CANCEL, 0),
            Self::InspectRequest { .. } => (ty::INSPECT_REQUEST, ContentType::Json.as_u8()),
            Self::InspectResponse { .. } => (ty::INSPECT_RESPONSE, ContentType::Json.as_u8()),
            Self::ClientHello { .. } => (ty::CLIENT_HELLO, 0),
            Self::ServerHello { .. } => (ty::SERVER_HELLO, 0),
        };
        if let Some(len) = prefix {
            out.put(&len.to_be_bytes());
        }
        let t = self.tid().to_be_bytes();
        out.put(&[
            PROTOCOL_VERSION,
            ty,
            ct,
            t[0],
            t[1],
            t[2],
            t[3],
            t[4],
            t[5],
            t[6],
            t[7],
        ]);
        match self {
            Self::Request(r) => {
                let d = r.deadline_ms.to_be_bytes();
                out.put(&[r.flags, d[0], d[1], d[2], d[3]]);
                put_str16(out, &r.namespace);
                put_str16(out, &r.function);
                let n = r.extensions.len().min(MAX_EXTENSIONS);
                out.put(&[n as u8]);
                for (k, v) in r.extensions.iter().take(n) {
                    let k = &k.as_bytes()[..k.len().min(u8::MAX as usize)];
                    out.put(&[k.len() as u8]);
                    out.put(k);
                    let v = &v[..v.len().min(u16::MAX as usize)];
                    out.put(&(v.len() as u16).to_be_bytes());
                    out.put(v);
                }
            }
            Self::Response { code, .. } => out.put(&[code.as_u8()]),
            Self::Error { code, message, .. } => {
                out.put(&[code.as_u8()]);
                out.put(message.as_bytes());
            }
            Self::Ping
            | Self::Pong
            | Self::Cancel { .. }
            | Self::InspectRequest { .. }
            | Self::InspectResponse { .. } => {}
            Self::ClientHello { name, version } => {
                put_str16(out, name);
                put_str16(out, version);
            }
            Self::ServerHello {
                version,
                max_frame_len,
            } => {
                put_str16(out, version);
                out.put(&max_frame_len.to_be_bytes());
            }
        }
    }

    /// Parses one frame (header + body, without the length prefix).
    ///
    /// # Errors
    /// [`Malformed`] for anything unexpected: short header, unknown version, packet type, content
    /// type or result code, truncated fields, invalid UTF-8, too many extensions.
    pub fn decode(frame: Bytes) -> Result<Packet, Malformed> {
        Self::decode_with(frame, None)
    }

    /// As [`Packet::decode`]; a request's namespace and function that are among `names` are
    /// taken as the `&'static str` registered there (no allocation).
    pub(crate) fn decode_with(
        frame: Bytes,
        names: Option<&KnownNames>,
    ) -> Result<Packet, Malformed> {
        let mut r = Reader(frame);
        if r.0.len() < HEADER_LEN {
            return Err(Malformed::new(
                None,
                format!("frame of {} bytes is shorter than the header", r.0.len()),
            ));
        }
        let version = r.0.get_u8();
        let ty = r.0.get_u8();
        let ct = r.0.get_u8();
        let tid = r.0.get_u64();
        let bad = |reason: String| Malformed::new(Some(tid), reason);
        if version != PROTOCOL_VERSION {
            return Err(bad(format!(
                "unsupported protocol version {version} (this peer speaks {PROTOCOL_VERSION})"
            )));
        }
        let content_type =
            || ContentType::from_u8(ct).ok_or_else(|| bad(format!("unknown content type {ct}")));
        let packet = match ty {
            ty::REQUEST => {
                let content_type = content_type()?;
                let flags = r.u8().map_err(bad)?;
                let deadline_ms = r.u32().map_err(bad)?;
                let namespace = r.name16(names).map_err(bad)?;
                let function = r.name16(names).map_err(bad)?;
                let count = r.u8().map_err(bad)? as usize;
                if count > MAX_EXTENSIONS {
                    return Err(bad(format!(
                        "{count} extensions (at most {MAX_EXTENSIONS})"
                    )));
                }
                let mut extensions = Extensions::new();
                for _ in 0..count {
                    let key = r.str8().map_err(bad)?;
                    let len = r.u16().map_err(bad)? as usize;
                    if len > MAX_EXTENSION_VALUE {
                        return Err(bad(format!(
                            "extension `{key}` of {len} bytes (at most {MAX_EXTENSION_VALUE})"
                        )));
                    }
                    extensions.insert(key, r.bytes(len).map_err(bad)?);
                }
                Packet::Request(Request {
                    tid,
                    content_type,
                    flags,
                    deadline_ms,
                    namespace,
                    function,
                    extensions,
                    payload: r.0,
                })
            }
            ty::RESPONSE => {
                let content_type = content_type()?;
                let code = r.code().map_err(bad)?;
                if !matches!(code, ResultCode::Success | ResultCode::ApplicationError) {
                    return Err(bad(format!("response packet with error code {code}")));
                }
                Packet::Response {
                    tid,
                    code,
                    content_type,
                    payload: r.0,
                }
            }
            ty::ERROR => {
                let code = r.code().map_err(bad)?;
                Packet::Error {
                    tid,
                    code,
                    message: String::from_utf8_lossy(&r.0).into_owned(),
                }
            }
            ty::PING => Packet::Ping,
            ty::PONG => Packet::Pong,
            ty::CANCEL => Packet::Cancel { tid },
            ty::INSPECT_REQUEST => Packet::InspectRequest { tid, payload: r.0 },
            ty::INSPECT_RESPONSE => Packet::InspectResponse { tid, payload: r.0 },
            ty::CLIENT_HELLO => Packet::ClientHello {
                name: r.str16().map_err(bad)?,
                version: r.str16().map_err(bad)?,
            },
            ty::SERVER_HELLO => Packet::ServerHello {
                version: r.str16().map_err(bad)?,
                max_frame_len: r.u32().map_err(bad)?,
            },
            other => return Err(bad(format!("unknown packet type {other}"))),
        };
        Ok(packet)
    }
}

/// Checks what the encoder cannot represent, before a request is sent: name lengths and the
/// extension bounds.
///
/// # Errors
/// A message naming the offending field.
pub fn check_request(r: &Request) -> Result<(), String> {
    for (what, s) in [("namespace", &r.namespace), ("function", &r.function)] {
        if s.len() > u16::MAX as usize {
            return Err(format!("{what} of {} bytes is too long", s.len()));
        }
    }
    if r.extensions.len() > MAX_EXTENSIONS {
        return Err(format!(
            "{} extensions (at most {MAX_EXTENSIONS})",
            r.extensions.len()
        ));
    }
    for (k, v) in r.extensions.iter() {
        if k.len() > u8::MAX as usize || v.len() > MAX_EXTENSION_VALUE {
            return Err(format!(
                "extension `{k}` too large (key <= 255 bytes, value <= {MAX_EXTENSION_VALUE} bytes)"
            ));
        }
    }
    Ok(())
}

fn put_str16(out: &mut impl HeadSink, s: &str) {
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.put(&(b.len() as u16).to_be_bytes());
    out.put(b);
}

/// Where [`Packet::put_head`] writes: [`StackHead`], or the frame buffer itself.
trait HeadSink {
    fn put(&mut self, bytes: &[u8]);
}

/// Heads up to this long (nearly all: header, names, a trace context) are put together on the
/// stack.
const STACK_HEAD: usize = 256;

struct StackHead {
    buf: [u8; STACK_HEAD],
    len: usize,
    overflow: bool,
}

impl HeadSink for StackHead {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            _ => self.overflow = true,
        }
    }
}

impl HeadSink for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Names a peer is expected to send (a server's namespaces and functions): a request naming
/// one of them is decoded without allocating, as the `&'static str` registered here.
#[derive(Debug, Default)]
pub(crate) struct KnownNames(HashMap<&'static [u8], &'static str, FastBuild>);

impl KnownNames {
    pub(crate) fn insert(&mut self, name: &'static str) {
        self.0.insert(name.as_bytes(), name);
    }

    fn get(&self, bytes: &[u8]) -> Option<&'static str> {
        self.0.get(bytes).copied()
    }
}

/// Bounds-checked reads over a frame body.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), String> {
        if self.0.remaining() < n {
            Err(format!(
                "truncated frame: needed {n} more bytes, {} left",
                self.0.remaining()
            ))
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8, String> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }

    fn u16(&mut self) -> Result<u16, String> {
        self.need(2)?;
        Ok(self.0.get_u16())
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }

    fn bytes(&mut self, n: usize) -> Result<Bytes, String> {
        self.need(n)?;
        Ok(self.0.split_to(n))
    }

    fn utf8(&mut self, n: usize) -> Result<String, String> {
        self.need(n)?;
        let s = std::str::from_utf8(&self.0[..n])
            .map_err(|_| "invalid UTF-8 in a string field".to_owned())?
            .to_owned();
        self.0.advance(n);
        Ok(s)
    }

    fn str16(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        self.utf8(n)
    }

    /// A u16-prefixed name: one of `names` borrowed as registered, any other copied.
    fn name16(&mut self, names: Option<&KnownNames>) -> Result<Cow<'static, str>, String> {
        let n = self.u16()? as usize;
        let known = self
            .0
            .get(..n)
            .and_then(|b| names.and_then(|names| names.get(b)));
        match known {
            Some(name) => {
                self.0.advance(n);
                Ok(Cow::Borrowed(name))
            }
            None => self.utf8(n).map(Cow::Owned),
        }
    }

    fn str8(&mut self) -> Result<String, String> {
        let n = self.u8()? as usize;
        self.utf8(n)
    }

    fn code(&mut self) -> Result<ResultCode, String> {
        let v = self.u8()?;
        ResultCode::from_u8(v).ok_or_else(|| format!("unknown result code {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn round_trip(p: Packet) {
        let mut buf = BytesMut::new();
        p.write_to(&mut buf);
        assert_eq!(buf.len(), p.encoded_len(), "{p:?}");
        assert_eq!(Packet::decode(buf.freeze()), Ok(p));
    }

    /// The head put together on the stack is the head written field by field, and a head too
    /// long for the stack buffer is written whole.
    #[test]
    fn heads_on_the_stack_and_past_it_are_the_same_bytes() {
        for namespace in [
            "math".to_owned(),
            "n".repeat(STACK_HEAD),
            "m".repeat(70_000),
        ] {
            let p = Packet::Request(Request {
                tid: 0x0102_0304_0506_0708,
                content_type: ContentType::MessagePack,
                flags: 0,
                deadline_ms: 0x0a0b_0c0d,
                namespace: namespace.clone().into(),
                function: "add".into(),
                extensions: Extensions::new().with("k", vec![9u8; 300]),
                payload: Bytes::from_static(b"\x91\x01"),
            });
            let mut by_fields = BytesMut::new();
            p.put_head(Some(77), &mut by_fields);
            let mut stacked = BytesMut::new();
            p.write_prefixed_head(Some(77), &mut stacked);
            assert_eq!(stacked, by_fields);
            assert_eq!(&stacked[..4], &77u32.to_be_bytes());
            if namespace.len() <= u16::MAX as usize {
                round_trip(p);
            }
        }
    }

    /// A server's own names decode as the registered `&'static str`; any other name is
    /// copied, and a bad one is refused as before.
    #[test]
    fn known_names_are_borrowed_and_others_copied() {
        let mut names = KnownNames::default();
        names.insert("math");
        names.insert("add");
        let frame = |namespace: &[u8], function: &[u8]| {
            let mut b = BytesMut::new();
            b.put_slice(&[
                PROTOCOL_VERSION,
                ty::REQUEST,
                ContentType::MessagePack.as_u8(),
            ]);
            b.put_u64(5);
            b.put_u8(0);
            b.put_u32(0);
            b.put_u16(namespace.len() as u16);
            b.put_slice(namespace);
            b.put_u16(function.len() as u16);
            b.put_slice(function);
            b.put_u8(0);
            b.freeze()
        };
        let decoded = Packet::decode_with(frame(b"math", b"sub"), Some(&names));
        let Ok(Packet::Request(r)) = decoded else {
            panic!("{decoded:?}")
        };
        assert!(
            matches!(r.namespace, Cow::Borrowed("math")),
            "{:?}",
            r.namespace
        );
        assert!(
            matches!(&r.function, Cow::Owned(f) if f == "sub"),
            "{:?}",
            r.function
        );
        let decoded = Packet::decode_with(frame(b"add", b"add"), Some(&names));
        let Ok(Packet::Request(r)) = decoded else {
            panic!("{decoded:?}")
        };
        assert!(matches!(r.function, Cow::Borrowed("add")));
        // Without the table, the same names are copied: the same packet either way.
        assert_eq!(
            Packet::decode(frame(b"add", b"add")),
            Ok(Packet::Request(r))
        );
        let bad = Packet::decode_with(frame(&[0xff, 0xfe], b"add"), Some(&names));
        assert!(
            matches!(&bad, Err(m) if m.reason.contains("UTF-8")),
            "{bad:?}"
        );
        let mut truncated = frame(b"math", b"add").to_vec();
        truncated.truncate(HEADER_LEN + 5 + 2 + 2);
        assert!(Packet::decode_with(Bytes::from(truncated), Some(&names)).is_err());
    }

    #[test]
    fn every_packet_round_trips() {
        round_trip(Packet::Request(Request {
            tid: 7,
            content_type: ContentType::Json,
            flags: FLAG_NO_REPLY,
            deadline_ms: 5000,
            namespace: "math".into(),
            function: "add".into(),
            extensions: Extensions::new()
                .with("token", "s3cret")
                .with("trace", vec![1u8, 2]),
            payload: Bytes::from_static(b"[1,2]"),
        }));
        round_trip(Packet::Response {
            tid: 1,
            code: ResultCode::ApplicationError,
            content_type: ContentType::MessagePack,
            payload: Bytes::from_static(&[0x92, 1, 2]),
        });
        round_trip(Packet::Error {
            tid: u64::MAX,
            code: ResultCode::Overloaded,
            message: "busy".into(),
        });
        round_trip(Packet::Ping);
        round_trip(Packet::Pong);
        round_trip(Packet::Cancel { tid: 9 });
        round_trip(Packet::InspectRequest {
            tid: 3,
            payload: Bytes::from_static(b"{}"),
        });
        round_trip(Packet::InspectResponse {
            tid: 3,
            payload: Bytes::from_static(b"{}"),
        });
        round_trip(Packet::ClientHello {
            name: "me".into(),
            version: "0.1.0".into(),
        });
        round_trip(Packet::ServerHello {
            version: "0.1.0".into(),
            max_frame_len: 1 << 24,
        });
    }

    #[test]
    fn documented_request_bytes() {
        let p = Packet::Request(Request {
            tid: 7,
            content_type: ContentType::MessagePack,
            flags: 0,
            deadline_ms: 5000,
            namespace: "math".into(),
            function: "add".into(),
            extensions: Extensions::new(),
            payload: Bytes::from_static(&[0x92, 1, 2]),
        });
        let mut buf = BytesMut::new();
        p.write_to(&mut buf);
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(p.encoded_len(), 0x1f);
        assert_eq!(
            hex,
            "010101000000000000000700000013880004\
             6d61746800036164640092\
             0102"
        );
    }

    #[test]
    fn unknown_values_are_attributed_to_their_tid() {
        let mut frame = vec![PROTOCOL_VERSION, 99, 0];
        frame.extend_from_slice(&42u64.to_be_bytes());
        let err = Packet::decode(Bytes::from(frame.clone())).expect_err("unknown type");
        assert_eq!(err.tid, Some(42));
        frame[0] = 9;
        let err = Packet::decode(Bytes::from(frame)).expect_err("unknown version");
        assert_eq!(err.tid, Some(42));
        assert!(err.reason.contains("version 9"), "{}", err.reason);
        let err = Packet::decode(Bytes::from_static(&[1, 1, 1])).expect_err("short");
        assert_eq!(err.tid, None);
    }
}
