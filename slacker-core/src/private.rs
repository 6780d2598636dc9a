//! Support code for what `#[remote]` generates. Not a public API: names and signatures here may
//! change in any release. Generated code reaches everything through
//! `::slacker_core::__private::...` so that it works under `#![no_implicit_prelude]`.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::merge::Merge;
use crate::service::{DispatchError, HandlerOutput};
use crate::{
    serialization, Call, CallOptions, Caller, ContentType, Error, MethodInfo, Replies, Response,
    Result, ResultCode, ServerAddr,
};

pub use bytes;
pub use futures::future::BoxFuture;
pub use serde;
pub use serde_bytes;
pub use std::boxed::Box;
pub use std::clone::Clone;
pub use std::collections::BTreeMap as Map;
pub use std::future::Future;
pub use std::option::Option;
pub use std::result::Result as StdResult;
pub use std::sync::Arc;
pub use std::time::Duration;
pub use std::vec::Vec;
pub use tower;

/// What every argument and result type of a `#[remote]` method must be: serde both ways. The
/// macro asserts it once per type, spanned on the type as written, so a type that cannot travel
/// is reported there (and with this message) rather than inside the generated code.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot travel as a #[remote] argument or result: it must implement serde's `Serialize` and `Deserialize`",
    label = "not `Serialize + DeserializeOwned`",
    note = "derive both: `#[derive(serde::Serialize, serde::Deserialize)]`"
)]
pub trait Wire: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Wire for T {}

/// The static assertion behind [`Wire`].
pub const fn assert_wire<T: Wire>() {}

/// The argument tuple of a method with no arguments: an empty array on the wire (JSON `[]`),
/// and tolerant of `null` when decoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoArgs;

impl Serialize for NoArgs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        s.serialize_tuple(0)?.end()
    }
}

impl<'de> serde::Deserialize<'de> for NoArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NoArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an empty argument list")
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<NoArgs, E> {
                Ok(NoArgs)
            }
            fn visit_none<E: serde::de::Error>(self) -> std::result::Result<NoArgs, E> {
                Ok(NoArgs)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<NoArgs, A::Error> {
                match seq.next_element::<serde::de::IgnoredAny>()? {
                    None => Ok(NoArgs),
                    Some(_) => Err(serde::de::Error::invalid_length(1, &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

// ---- server side --------------------------------------------------------------------------

/// Decodes a request's argument tuple.
///
/// # Errors
/// `BadArguments` naming the expected types.
pub fn decode_args<T: DeserializeOwned>(
    ct: ContentType,
    payload: &Bytes,
    expected: &'static str,
) -> std::result::Result<T, DispatchError> {
    serialization::decode(ct, payload)
        .map_err(|e| DispatchError::BadArguments(format!("expected ({expected}): {e}")))
}

/// Encodes a plain return value.
pub fn output_value<T: Serialize>(ct: ContentType, value: &T) -> HandlerOutput {
    match serialization::encode(ct, value) {
        Ok(payload) => HandlerOutput {
            code: ResultCode::Success,
            payload,
        },
        Err(e) => internal(format!("result did not encode: {e}")),
    }
}

/// Encodes a `Result<T, E>` return value: `Err` travels as `ApplicationError`.
pub fn output_result<T: Serialize, E: Serialize>(
    ct: ContentType,
    value: &std::result::Result<T, E>,
) -> HandlerOutput {
    match value {
        Ok(v) => output_value(ct, v),
        Err(e) => match serialization::encode(ct, e) {
            Ok(payload) => HandlerOutput {
                code: ResultCode::ApplicationError,
                payload,
            },
            Err(err) => internal(format!("application error did not encode: {err}")),
        },
    }
}

fn internal(msg: String) -> HandlerOutput {
    HandlerOutput {
        code: ResultCode::Internal,
        payload: Bytes::from(msg),
    }
}

// ---- client side --------------------------------------------------------------------------

/// Encodes the argument tuple in the caller's content type and builds the [`Call`].
///
/// # Errors
/// `Codec` when an argument does not serialize; `Config`, before anything is sent, for a
/// fire-and-forget call on a method that returns a value (the stub would have none to return).
pub fn build_call<C: Caller, A: Serialize>(
    caller: &C,
    method: &'static MethodInfo,
    args: &A,
    options: &CallOptions,
) -> Result<Call> {
    if options.fire_and_forget && !method.returns_unit {
        return Err(Error::Config(format!(
            "{}/{} returns `{}`: a fire-and-forget call gets no value back, so it is only \
             possible on a method returning `()` (or `Result<(), E>`); call it normally, or \
             send it with `Client::notify` and no stub",
            method.namespace, method.name, method.returns
        )));
    }
    let content_type = caller.content_type();
    let payload = serialization::encode(content_type, args).map_err(|e| Error::Codec {
        server: None,
        message: format!("arguments of {}/{}: {e}", method.namespace, method.name).into(),
    })?;
    Ok(Call {
        namespace: std::borrow::Cow::Borrowed(method.namespace),
        function: std::borrow::Cow::Borrowed(method.name),
        method: Some(method),
        content_type,
        payload,
        options: options.clone(),
    })
}

fn codec_err(server: &ServerAddr, what: &str, e: serialization::CodecError) -> Error {
    Error::Codec {
        server: Some(server.clone()),
        message: format!("{what} did not decode: {e}").into(),
    }
}

/// Decodes one server's response for a method declared `-> T`.
///
/// # Errors
/// `Codec` when the payload is not a `T`, or when an application error arrives for a method
/// that declares none.
pub fn decode_plain<T: DeserializeOwned>(server: &ServerAddr, resp: Response) -> Result<T> {
    match resp.code {
        ResultCode::Success => serialization::decode(resp.content_type, &resp.payload)
            .map_err(|e| codec_err(server, "result", e)),
        code => Err(Error::Remote {
            server: server.clone(),
            code,
            message: "application error for a method that declares none".into(),
        }),
    }
}

/// Decodes one server's response for a method declared `-> Result<T, E>`.
///
/// # Errors
/// `Codec` when the payload is not a `T` (or an `E`).
pub fn decode_result<T: DeserializeOwned, E: DeserializeOwned>(
    server: &ServerAddr,
    resp: Response,
) -> Result<std::result::Result<T, E>> {
    match resp.code {
        ResultCode::ApplicationError => serialization::decode(resp.content_type, &resp.payload)
            .map(Err)
            .map_err(|e| codec_err(server, "application error", e)),
        _ => decode_plain(server, resp).map(Ok),
    }
}

/// Decodes every reply with `decode`, after the caller's before-merge hook (if any) saw them.
pub fn decode_all<C: Caller, R>(
    merge: &Merge<'_, C>,
    replies: Replies,
    decode: fn(&ServerAddr, Response) -> Result<R>,
) -> Vec<(ServerAddr, Result<R>)> {
    let mut replies = replies.into_vec();
    merge.before(&mut replies);
    replies
        .into_iter()
        .map(|r| {
            let v = r.result.and_then(|resp| decode(&r.server, resp));
            (r.server, v)
        })
        .collect()
}

/// `grouping_results = single`: the first success in target order.
///
/// # Errors
/// As [`Merge::settle`]; `Unavailable` if no server answered at all.
pub fn merge_single<C: Caller, R>(
    merge: &Merge<'_, C>,
    decoded: Vec<(ServerAddr, Result<R>)>,
) -> Result<R> {
    merge
        .settle(decoded)?
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .ok_or_else(|| Error::Unavailable {
            namespace: merge.namespace().to_owned(),
        })
}

/// `grouping_results = single`, from the replies: a lone reply that no merge hook sees (every
/// point-to-point call) is decoded as it is, without building the lists [`decode_all`] and
/// [`merge_single`] make, which give the same answer for it.
///
/// # Errors
/// As [`merge_single`].
pub fn single<C: Caller, R>(
    merge: &Merge<'_, C>,
    replies: Replies,
    decode: fn(&ServerAddr, Response) -> Result<R>,
) -> Result<R> {
    match replies {
        Replies::One(reply) if merge.unobserved() => {
            reply.result.and_then(|resp| decode(&reply.server, resp))
        }
        replies => merge_single(merge, decode_all(merge, replies, decode)),
    }
}

/// `grouping_results = vector`.
///
/// # Errors
/// As [`Merge::settle`].
pub fn merge_vec<C: Caller, R>(
    merge: &Merge<'_, C>,
    decoded: Vec<(ServerAddr, Result<R>)>,
) -> Result<Vec<R>> {
    Ok(merge.settle(decoded)?.into_iter().map(|(_, v)| v).collect())
}

/// `grouping_results = map`, keyed by advertised address.
///
/// # Errors
/// As [`Merge::settle`].
pub fn merge_map<C: Caller, R>(
    merge: &Merge<'_, C>,
    decoded: Vec<(ServerAddr, Result<R>)>,
) -> Result<BTreeMap<String, R>> {
    Ok(merge
        .settle(decoded)?
        .into_iter()
        .map(|(s, v)| (s.as_str().to_owned(), v))
        .collect())
}

/// `grouping_results = nil`.
///
/// # Errors
/// As [`Merge::settle`].
pub fn merge_nil<C: Caller, R>(
    merge: &Merge<'_, C>,
    decoded: Vec<(ServerAddr, Result<R>)>,
) -> Result<()> {
    merge.settle(decoded).map(|_| ())
}

/// `grouping_results = my_fn`: `my_fn(Vec<(ServerAddr, T)>) -> T`.
///
/// # Errors
/// As [`Merge::settle`].
pub fn merge_custom<C: Caller, R>(
    merge: &Merge<'_, C>,
    decoded: Vec<(ServerAddr, Result<R>)>,
    combine: fn(Vec<(ServerAddr, R)>) -> R,
) -> Result<R> {
    merge.settle(decoded).map(combine)
}

/// True if `e` is the "no server for this namespace" error that `unavailable_value` replaces.
pub fn is_unavailable(e: &Error) -> bool {
    matches!(e, Error::Unavailable { .. })
}

// ---- the `Vec<u8>` fast path --------------------------------------------------------------
// `#[remote]` sends `Vec<u8>` results as MessagePack `bin` (one header, then the raw bytes)
// instead of an array of integers. Arguments are wrapped in `serde_bytes::ByteBuf` in the
// generated tuple; results go through these.

/// Encodes a `Vec<u8>` return value as `bin`.
pub fn output_bytes(ct: ContentType, value: &[u8]) -> HandlerOutput {
    output_value(ct, &serde_bytes::Bytes::new(value))
}

/// Encodes a `Result<Vec<u8>, E>` return value, the bytes as `bin`.
pub fn output_bytes_result<E: Serialize>(
    ct: ContentType,
    value: &std::result::Result<Vec<u8>, E>,
) -> HandlerOutput {
    output_result(ct, &value.as_ref().map(|v| serde_bytes::Bytes::new(v)))
}

/// Decodes one server's response for a method declared `-> Vec<u8>`.
///
/// # Errors
/// As [`decode_plain`].
pub fn decode_bytes(server: &ServerAddr, resp: Response) -> Result<Vec<u8>> {
    decode_plain::<serde_bytes::ByteBuf>(server, resp).map(serde_bytes::ByteBuf::into_vec)
}

/// Decodes one server's response for a method declared `-> Result<Vec<u8>, E>`.
///
/// # Errors
/// As [`decode_result`].
pub fn decode_bytes_result<E: DeserializeOwned>(
    server: &ServerAddr,
    resp: Response,
) -> Result<std::result::Result<Vec<u8>, E>> {
    decode_result::<serde_bytes::ByteBuf, E>(server, resp).map(|r| r.map(|b| b.into_vec()))
}
