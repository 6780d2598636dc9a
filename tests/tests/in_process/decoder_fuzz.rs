//! Property tests: the decoder never panics, whatever bytes arrive and however they are split,
//! and every packet survives an encode/decode round trip.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use slacker_core::codec::PacketCodec;
use slacker_core::protocol::Packet;
use slacker_core::ResultCode;
use slacker_tests::packets::arb_request;
use tokio_util::codec::{Decoder, Encoder};

/// Feeds `bytes` to a fresh codec in chunks of the given sizes, draining frames as they come.
fn feed(bytes: &[u8], chunks: &[usize]) {
    let mut codec = PacketCodec::new(4096);
    let mut src = BytesMut::new();
    let mut rest = bytes;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        src.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut src) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return, // unattributable: the connection would close
            }
        }
    }
    let _ = codec.decode_eof(&mut src);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                chunks in proptest::collection::vec(1usize..64, 1..8)) {
        feed(&bytes, &chunks);
    }

    #[test]
    fn random_frame_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Packet::decode(Bytes::from(body));
    }

    #[test]
    fn encoded_packets_round_trip_and_truncations_never_panic(p in arb_request(), cut in any::<prop::sample::Index>()) {
        let mut codec = PacketCodec::new(1 << 20);
        let mut wire = BytesMut::new();
        codec.encode(p.clone(), &mut wire).expect("encode");
        let mut whole = wire.clone();
        let decoded = codec.decode(&mut whole).expect("io").expect("complete").expect("well formed");
        prop_assert_eq!(&decoded, &p);

        // Cut the frame body short but keep the length prefix consistent with it.
        let body_len = wire.len() - 4;
        let keep = cut.index(body_len + 1);
        let mut truncated = BytesMut::new();
        truncated.extend_from_slice(&(keep as u32).to_be_bytes());
        truncated.extend_from_slice(&wire[4..4 + keep]);
        // The payload is "the rest of the frame", so only cuts into the fixed fields must fail.
        let payload_len = match &p { Packet::Request(r) => r.payload.len(), _ => 0 };
        match codec.decode(&mut truncated).expect("io").expect("complete") {
            Ok(_) => prop_assert!(keep >= body_len - payload_len, "cut at {} of {}", keep, body_len),
            Err(bad) => prop_assert!(keep < body_len - payload_len && !bad.reason.is_empty()),
        }
    }

    #[test]
    fn error_packets_round_trip(tid in any::<u64>(), msg in ".{0,64}") {
        let p = Packet::Error { tid, code: ResultCode::Internal, message: msg };
        let mut codec = PacketCodec::default();
        let mut wire = BytesMut::new();
        codec.encode(p.clone(), &mut wire).expect("encode");
        prop_assert_eq!(codec.decode(&mut wire).expect("io").expect("complete").expect("ok"), p);
    }
}
