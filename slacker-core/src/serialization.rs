//! The one place where payload bytes are produced and read: arguments, results, application
//! errors, dynamic (call-by-name) values.
//!
//! MessagePack is written with rmp-serde's struct-as-map configuration so that peers can add
//! fields without breaking older readers. Byte payloads travel as MessagePack `bin` when the
//! type says so (`bytes::Bytes`, `serde_bytes::ByteBuf`); the `#[remote]` macro makes that the
//! default for `Vec<u8>` arguments and results.

use bytes::{Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

use crate::ContentType;

/// A payload could not be encoded or decoded. The message is meant for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// Serializes `value` in `ct`.
///
/// The bytes are cut from a per-thread block (see `ARENA_BYTES`): a payload kept for long
/// keeps that block alive; copy it (`Bytes::copy_from_slice`) to store it.
///
/// # Errors
/// When the value cannot be represented (for example a map with non-string keys in JSON).
pub fn encode<T: Serialize + ?Sized>(ct: ContentType, value: &T) -> Result<Bytes, CodecError> {
    ARENA.with(|arena| {
        let mut arena = arena.borrow_mut();
        if arena.capacity() - arena.len() < ARENA_MIN_ROOM {
            // Only a fresh block: the old one is freed when the last payload cut from it is.
            *arena = BytesMut::with_capacity(ARENA_BYTES);
        }
        // Empty but for what a `Serialize` that panicked half-way left behind.
        arena.clear();
        let written = write(ct, &mut BlockWriter(&mut arena), value);
        let payload = arena.split().freeze();
        written.map(|()| payload)
    })
}

/// Payloads are cut from a per-thread block of this size, so encoding a small value costs no
/// allocation of its own and a large one grows in place instead of from 64 bytes. 64 KiB: a
/// 4 KiB payload is one of fifteen in a block; with 16 KiB every fourth one did not fit what
/// was left, was written twice (into the old block, then a new one), and blocks were a
/// quarter of the allocations per call.
const ARENA_BYTES: usize = 64 * 1024;

/// A block with less room than this left is replaced before the next payload.
const ARENA_MIN_ROOM: usize = 512;

thread_local! {
    static ARENA: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// `io::Write` appending to a `BytesMut`. Not `bytes::buf::Writer`: its `write` goes through
/// the generic `BufMut::put` (a loop over chunks, not inlined), which the encoders call once
/// per marker and per field: over a hundred instructions for a small integer.
struct BlockWriter<'a>(&'a mut BytesMut);

impl std::io::Write for BlockWriter<'_> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(buf);
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write<T: Serialize + ?Sized>(
    ct: ContentType,
    w: &mut BlockWriter<'_>,
    value: &T,
) -> Result<(), CodecError> {
    match ct {
        ContentType::MessagePack => {
            let mut ser = rmp_serde::Serializer::new(w).with_struct_map();
            value
                .serialize(&mut ser)
                .map_err(|e| CodecError(e.to_string()))?;
        }
        ContentType::Json => {
            serde_json::to_writer(w, value).map_err(|e| CodecError(e.to_string()))?;
        }
    }
    Ok(())
}

/// Deserializes a `T` from `bytes` written in `ct`.
///
/// # Errors
/// When the bytes are not a valid `T` in that format.
pub fn decode<T: DeserializeOwned>(ct: ContentType, bytes: &[u8]) -> Result<T, CodecError> {
    match ct {
        ContentType::MessagePack => {
            rmp_serde::from_slice(bytes).map_err(|e| CodecError(e.to_string()))
        }
        ContentType::Json => serde_json::from_slice(bytes).map_err(|e| CodecError(e.to_string())),
    }
}

/// Converts a payload between a dynamic JSON value and the wire format, for call-by-name.
///
/// # Errors
/// As [`encode`].
pub fn encode_value(ct: ContentType, value: &serde_json::Value) -> Result<Bytes, CodecError> {
    encode(ct, value)
}

/// Decodes any payload into a dynamic JSON value (MessagePack `bin` becomes an array of numbers).
///
/// # Errors
/// As [`decode`].
pub fn decode_value(ct: ContentType, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
    decode(ct, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_formats() {
        for ct in [ContentType::MessagePack, ContentType::Json] {
            let v = (1u32, "two".to_string(), vec![3i64, 4]);
            let b = encode(ct, &v).expect("encode");
            let back: (u32, String, Vec<i64>) = decode(ct, &b).expect("decode");
            assert_eq!(back, v);
        }
    }

    #[test]
    fn bytes_travel_as_msgpack_bin() {
        let payload = Bytes::from(vec![7u8; 4096]);
        let b = encode(ContentType::MessagePack, &payload).expect("encode");
        // bin32 marker 0xc6 or bin16 marker 0xc5, then the raw bytes: no per-byte overhead.
        assert_eq!(b[0], 0xc5);
        assert_eq!(b.len(), 4096 + 3);
    }

    #[test]
    fn wrong_type_is_an_error_not_a_panic() {
        let b = encode(ContentType::MessagePack, &("x",)).expect("encode");
        assert!(decode::<(u64,)>(ContentType::MessagePack, &b).is_err());
        assert!(decode::<(u64,)>(ContentType::Json, b"{not json").is_err());
    }

    /// A value whose serialization writes part of itself, then fails or panics.
    struct HalfWritten {
        panic: bool,
    }

    impl Serialize for HalfWritten {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error, SerializeSeq};
            let mut seq = s.serialize_seq(Some(2))?;
            seq.serialize_element(&"written before the failure")?;
            if self.panic {
                panic!("a Serialize impl panicked half-way");
            }
            Err(S::Error::custom("failed half-way"))
        }
    }

    /// What a failed or panicking encode wrote never reaches the next payload cut from the
    /// same per-thread block.
    #[test]
    fn a_failed_or_panicking_encode_leaves_nothing_behind() {
        for ct in [ContentType::MessagePack, ContentType::Json] {
            let clean = encode(ct, &(5u8,)).expect("encode").to_vec();
            assert!(encode(ct, &HalfWritten { panic: false }).is_err());
            assert_eq!(encode(ct, &(5u8,)).expect("encode"), clean);
            let panicked = std::panic::catch_unwind(|| encode(ct, &HalfWritten { panic: true }));
            assert!(panicked.is_err());
            assert_eq!(encode(ct, &(5u8,)).expect("encode"), clean);
        }
    }
}
