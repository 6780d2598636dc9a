//! The HTTP gateway on a server's HTTP port (slacker's `POST /ns/fn.json`): any HTTP client can
//! call the server's functions. Previous hop: `http.rs` routes `POST /{namespace}/{function}.{json|msgpack}`
//! and `GET /` / `GET /functions` here; next hop: `dispatch.rs`, through a virtual connection
//! per request, so a gateway call gets the admission, limits, deadline, cancellation, metrics
//! and spans of any other call.
//!
//! | request | answer |
//! |---|---|
//! | body: the argument array (`[1, 2]`, `[]` for none) in the format the suffix names | the result in the same format, `Content-Type: application/json` or `application/msgpack` |
//! | the handler returned `Err(e)` | **200** with header `x-slacker-application-error: true`, body = `e` |
//! | unknown namespace or function | 404 |
//! | arguments that do not decode, malformed JSON, unknown suffix | 400 (serde's message) |
//! | the deadline (`?timeout=MS` or header `x-slacker-timeout-ms`) passed | 504 |
//! | overloaded, shutting down | 503 |
//! | the handler panicked, internal error | 500 |
//! | an interceptor refused the caller | 403 |
//!
//! Errors other than application errors have the JSON body `{"code": "<result code label>",
//! "message": "..."}`. Headers `x-slacker-ext-<key>: <value>` become request extension `key`;
//! `traceparent` and `tracestate` pass through. Bodies are capped at [`MAX_BODY`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::conn::Conn;
use super::dispatch;
use super::http::HttpState;
use crate::codec::Outgoing;
use crate::observe::trace::{TRACEPARENT, TRACESTATE};
use crate::protocol::{Packet, Request};
use crate::{ContentType, Extensions, ResultCode};

/// Largest request body the gateway reads.
pub const MAX_BODY: usize = 1024 * 1024;
/// The deadline of a gateway call that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Header naming the application error answer.
pub const APPLICATION_ERROR_HEADER: &str = "x-slacker-application-error";
/// Prefix of headers that become request extensions.
pub const EXTENSION_HEADER_PREFIX: &str = "x-slacker-ext-";

/// `?timeout=MS`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct CallQuery {
    timeout: Option<u64>,
}

/// A gateway error answer: status and `{"code", "message"}`.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "code": code, "message": message.into() })),
    )
        .into_response()
}

/// The HTTP status of a result code.
pub fn status_of(code: ResultCode) -> StatusCode {
    match code {
        ResultCode::Success | ResultCode::ApplicationError => StatusCode::OK,
        ResultCode::UnknownNamespace | ResultCode::UnknownFunction => StatusCode::NOT_FOUND,
        ResultCode::BadArguments | ResultCode::ProtocolError => StatusCode::BAD_REQUEST,
        ResultCode::DeadlineExceeded | ResultCode::Canceled => StatusCode::GATEWAY_TIMEOUT,
        ResultCode::Overloaded | ResultCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        ResultCode::Unauthorized => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP status and code label of a caller-side error (for gateways over a client).
pub fn status_of_error(e: &crate::Error) -> (StatusCode, &'static str) {
    use crate::Error;
    match e {
        Error::Remote { code, .. } => (status_of(*code), code.label()),
        Error::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
        Error::Unavailable { .. }
        | Error::Connection { .. }
        | Error::Backlog { .. }
        | Error::Closed => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        Error::Config(_) => (StatusCode::BAD_REQUEST, "bad_arguments"),
        Error::Grouped { failures, .. } => failures
            .first()
            .map_or((StatusCode::BAD_GATEWAY, "internal"), |(_, e)| {
                status_of_error(e)
            }),
        _ => (StatusCode::BAD_GATEWAY, "internal"),
    }
}

/// Splits the last path segment `function.json` / `function.msgpack` into the function, the
/// content type and its MIME type; the error answer (404 without a suffix, 400 for an unknown
/// one) otherwise.
#[allow(clippy::result_large_err)]
pub fn split_file(file: &str) -> Result<(&str, ContentType, &'static str), Response> {
    let Some((function, suffix)) = file.rsplit_once('.') else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "unknown_function",
            "call /<namespace>/<function>.json or .msgpack",
        ));
    };
    let Some((content_type, mime)) = format_of(suffix) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_arguments",
            format!("unknown format `.{suffix}`: use .json or .msgpack"),
        ));
    };
    Ok((function, content_type, mime))
}

/// The content type a path suffix names, and its MIME type.
pub fn format_of(suffix: &str) -> Option<(ContentType, &'static str)> {
    match suffix {
        "json" => Some((ContentType::Json, "application/json")),
        "msgpack" => Some((ContentType::MessagePack, "application/msgpack")),
        _ => None,
    }
}

/// Request extensions from `x-slacker-ext-*` headers, plus `traceparent` / `tracestate`.
pub fn extensions_of(headers: &HeaderMap) -> Extensions {
    let mut ext = Extensions::new();
    for (name, value) in headers {
        let name = name.as_str();
        if let Some(key) = name.strip_prefix(EXTENSION_HEADER_PREFIX) {
            if !key.is_empty() {
                ext.insert(key, Bytes::copy_from_slice(value.as_bytes()));
            }
        } else if name == TRACEPARENT || name == TRACESTATE {
            ext.insert(name, Bytes::copy_from_slice(value.as_bytes()));
        }
    }
    ext
}

/// The call's timeout: the query parameter, else the header, else [`DEFAULT_TIMEOUT`].
pub fn timeout_of(query: Option<u64>, headers: &HeaderMap) -> Duration {
    query
        .or_else(|| {
            headers
                .get("x-slacker-timeout-ms")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        })
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// `POST /{namespace}/{function}.{json|msgpack}`.
pub(super) async fn call(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((namespace, file)): Path<(String, String)>,
    Query(query): Query<CallQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (function, content_type, mime) = match split_file(&file) {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let payload = match normalize_args(content_type, &body) {
        Ok(p) => p,
        Err(message) => return error(StatusCode::BAD_REQUEST, "bad_arguments", message),
    };
    let timeout = timeout_of(query.timeout, &headers);
    let (tx, mut rx) = mpsc::channel(1);
    let conn = Arc::new(Conn::new(peer, tx));
    let request = Request {
        tid: 1,
        content_type,
        flags: 0,
        deadline_ms: u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1),
        namespace: namespace.into(),
        function: function.to_owned().into(),
        extensions: extensions_of(&headers),
        payload,
    };
    // Cancels the call if the HTTP client goes away (axum drops this future).
    let _cancel = CancelOnDrop(conn.clone());
    let packet = match dispatch::begin(&state.shared, &conn, request).await {
        Some(answered) => answered.packet,
        // The server's own deadline answers first; the grace only covers a lost answer.
        None => match tokio::time::timeout(timeout + Duration::from_secs(1), rx.recv()).await {
            Ok(Some(Outgoing::Packet(p))) => p,
            Ok(Some(Outgoing::Frames(_))) | Ok(None) | Err(_) => {
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    ResultCode::DeadlineExceeded.label(),
                    format!("no answer within {} ms", timeout.as_millis()),
                )
            }
        },
    };
    answer(packet, mime)
}

/// Turns the server's answer into the HTTP response.
fn answer(packet: Packet, mime: &'static str) -> Response {
    match packet {
        Packet::Response { code, payload, .. } => {
            let mut response = (StatusCode::OK, payload).into_response();
            let headers = response.headers_mut();
            headers.insert("content-type", HeaderValue::from_static(mime));
            if code == ResultCode::ApplicationError {
                headers.insert(APPLICATION_ERROR_HEADER, HeaderValue::from_static("true"));
            }
            response
        }
        Packet::Error { code, message, .. } => error(status_of(code), code.label(), message),
        other => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ResultCode::Internal.label(),
            format!("unexpected answer {other:?}"),
        ),
    }
}

/// Checks that the body is an argument array in `content_type` (an empty body means no
/// arguments), so that malformed input is a 400 with the parser's message.
fn normalize_args(content_type: ContentType, body: &[u8]) -> Result<bytes::Bytes, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return crate::serialization::encode_value(content_type, &serde_json::json!([]))
            .map_err(|e| e.to_string());
    }
    if content_type == ContentType::MessagePack {
        // fixarray, array 16, array 32: the argument types check the rest.
        return match body.first() {
            Some(0x90..=0x9f | 0xdc | 0xdd) => Ok(bytes::Bytes::copy_from_slice(body)),
            _ => Err("the body must be a MessagePack array of the arguments".into()),
        };
    }
    let value = crate::serialization::decode_value(content_type, body)
        .map_err(|e| format!("the body is not a valid argument array: {e}"))?;
    if !value.is_array() {
        return Err(format!(
            "the body must be an array of the arguments (e.g. `[1, \"a\"]`, `[]` for none), not {value}"
        ));
    }
    Ok(bytes::Bytes::copy_from_slice(body))
}

struct CancelOnDrop(Arc<Conn>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel_all();
    }
}

/// `GET /` and `GET /functions`: every namespace with its functions, argument names and types,
/// and docs, as inspect returns them.
pub(super) async fn functions(State(state): State<HttpState>) -> Response {
    let answer = state
        .shared
        .inspect(&crate::inspect::InspectRequest::default());
    axum::Json(serde_json::json!({ "namespaces": answer.namespaces })).into_response()
}
