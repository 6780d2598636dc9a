//! Packet generators for the property tests (`decoder_fuzz`, `fuzz_frames`): names and payloads
//! the probe server knows mixed with arbitrary ones, requests with any flags and deadlines, and
//! a valid packet of every type.

use bytes::Bytes;
use proptest::prelude::*;
use slacker_core::protocol::{Packet, Request, FLAG_NO_REPLY};
use slacker_core::{ContentType, Extensions, ResultCode};

/// A namespace or function name: one the probe server serves, or anything.
pub fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("slacker.probe".to_owned()),
        Just("add".to_owned()),
        Just("echo".to_owned()),
        ".{0,12}",
    ]
}

/// An argument payload: well-typed msgpack for the probe, a byte string, JSON, or noise.
pub fn arb_payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        (any::<i64>(), any::<i64>())
            .prop_map(|args| rmp_serde::to_vec(&args).unwrap_or_default().into()),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(|d| rmp_serde::to_vec(&(
            serde_bytes::ByteBuf::from(d),
        ))
        .unwrap_or_default()
        .into()),
        Just(Bytes::from_static(b"[1,2]")),
        proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from),
    ]
}

/// A request with any tid, flags, deadline, names, extensions and payload.
pub fn arb_request() -> impl Strategy<Value = Packet> {
    (
        any::<u64>(),
        any::<bool>(),
        prop_oneof![Just(0u8), Just(FLAG_NO_REPLY), any::<u8>()],
        prop_oneof![Just(0u32), 1u32..5000, any::<u32>()],
        arb_name(),
        arb_name(),
        proptest::collection::vec(
            ("[a-z]{0,6}", proptest::collection::vec(any::<u8>(), 0..8)),
            0..3,
        ),
        arb_payload(),
    )
        .prop_map(
            |(tid, json, flags, deadline_ms, namespace, function, ext, payload)| {
                let mut extensions = Extensions::new();
                for (k, v) in ext {
                    extensions.insert(k, v);
                }
                Packet::Request(Request {
                    tid,
                    content_type: if json {
                        ContentType::Json
                    } else {
                        ContentType::MessagePack
                    },
                    flags,
                    deadline_ms,
                    namespace: namespace.into(),
                    function: function.into(),
                    extensions,
                    payload,
                })
            },
        )
}

/// A valid packet of any type.
pub fn arb_packet() -> impl Strategy<Value = Packet> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..32).prop_map(Bytes::from);
    prop_oneof![
        4 => arb_request(),
        1 => (any::<u64>(), any::<bool>(), bytes()).prop_map(|(tid, app, payload)| Packet::Response {
            tid,
            code: if app { ResultCode::ApplicationError } else { ResultCode::Success },
            content_type: ContentType::MessagePack,
            payload,
        }),
        1 => (any::<u64>(), ".{0,16}").prop_map(|(tid, message)| Packet::Error {
            tid,
            code: ResultCode::BadArguments,
            message,
        }),
        1 => Just(Packet::Ping),
        1 => Just(Packet::Pong),
        1 => any::<u64>().prop_map(|tid| Packet::Cancel { tid }),
        1 => (any::<u64>(), prop_oneof![Just(Bytes::from_static(b"{}")), bytes()])
            .prop_map(|(tid, payload)| Packet::InspectRequest { tid, payload }),
        1 => (any::<u64>(), bytes()).prop_map(|(tid, payload)| Packet::InspectResponse { tid, payload }),
        1 => (".{0,8}", ".{0,8}").prop_map(|(name, version)| Packet::ClientHello { name, version }),
        1 => (".{0,8}", any::<u32>())
            .prop_map(|(version, max_frame_len)| Packet::ServerHello { version, max_frame_len }),
    ]
}
