//! Stable numbers for everything that crosses the wire as an enum: result codes and content types.
//!
//! These numbers are part of the protocol. Never renumber a variant; add new ones at unused values.

use std::fmt;

/// The outcome of one request, as the server reports it. The number is stable on the wire.
///
/// | code | name | meaning |
/// |-----:|------|---------|
/// | 0 | `Success` | the handler returned a value; payload = the value |
/// | 1 | `ApplicationError` | the handler returned `Err(e)`; payload = `e`, typed by the method's `Result<T, E>` |
/// | 10 | `UnknownNamespace` | no service is registered under the namespace |
/// | 11 | `UnknownFunction` | the namespace exists but has no such function |
/// | 12 | `BadArguments` | the payload did not decode into the function's argument types |
/// | 13 | `HandlerPanicked` | the handler panicked; the server keeps serving |
/// | 14 | `DeadlineExceeded` | the request's deadline passed before or while it ran |
/// | 15 | `Canceled` | the client canceled the call |
/// | 16 | `Overloaded` | an in-flight limit was reached; nothing ran |
/// | 17 | `Unauthorized` | an interceptor refused the caller |
/// | 18 | `ProtocolError` | the frame was malformed or used an unknown version/type/content type |
/// | 19 | `ShuttingDown` | the server is draining and takes no new work |
/// | 20 | `Internal` | the server failed in a way not covered above (for example, encoding the result) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
#[non_exhaustive]
pub enum ResultCode {
    /// The handler returned a value.
    Success = 0,
    /// The handler returned its declared error type.
    ApplicationError = 1,
    /// No service is registered under the namespace.
    UnknownNamespace = 10,
    /// The namespace has no such function.
    UnknownFunction = 11,
    /// The arguments did not decode into the declared types.
    BadArguments = 12,
    /// The handler panicked.
    HandlerPanicked = 13,
    /// The deadline passed.
    DeadlineExceeded = 14,
    /// The client canceled the call.
    Canceled = 15,
    /// An in-flight limit was reached.
    Overloaded = 16,
    /// The caller was refused.
    Unauthorized = 17,
    /// Malformed frame, unknown version, packet type or content type.
    ProtocolError = 18,
    /// The server is shutting down.
    ShuttingDown = 19,
    /// Any other server-side failure.
    Internal = 20,
}

impl ResultCode {
    /// Decodes a wire number. Unknown numbers are `None`, never a panic.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Success,
            1 => Self::ApplicationError,
            10 => Self::UnknownNamespace,
            11 => Self::UnknownFunction,
            12 => Self::BadArguments,
            13 => Self::HandlerPanicked,
            14 => Self::DeadlineExceeded,
            15 => Self::Canceled,
            16 => Self::Overloaded,
            17 => Self::Unauthorized,
            18 => Self::ProtocolError,
            19 => Self::ShuttingDown,
            20 => Self::Internal,
            _ => return None,
        })
    }

    /// The wire number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// A stable snake_case name, for metric labels and logs (`success`, `overloaded`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ApplicationError => "application_error",
            Self::UnknownNamespace => "unknown_namespace",
            Self::UnknownFunction => "unknown_function",
            Self::BadArguments => "bad_arguments",
            Self::HandlerPanicked => "handler_panicked",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Canceled => "canceled",
            Self::Overloaded => "overloaded",
            Self::Unauthorized => "unauthorized",
            Self::ProtocolError => "protocol_error",
            Self::ShuttingDown => "shutting_down",
            Self::Internal => "internal",
        }
    }

    /// True when the request certainly did not run on the server, so retrying it elsewhere is
    /// safe even for a non-idempotent method.
    pub fn not_executed(self) -> bool {
        matches!(
            self,
            Self::UnknownNamespace
                | Self::UnknownFunction
                | Self::BadArguments
                | Self::Overloaded
                | Self::Unauthorized
                | Self::ShuttingDown
                | Self::ProtocolError
        )
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Success => "success",
            Self::ApplicationError => "application error",
            Self::UnknownNamespace => "unknown namespace",
            Self::UnknownFunction => "unknown function",
            Self::BadArguments => "bad arguments",
            Self::HandlerPanicked => "handler panicked",
            Self::DeadlineExceeded => "deadline exceeded",
            Self::Canceled => "canceled",
            Self::Overloaded => "overloaded",
            Self::Unauthorized => "unauthorized",
            Self::ProtocolError => "protocol error",
            Self::ShuttingDown => "shutting down",
            Self::Internal => "internal error",
        };
        f.write_str(s)
    }
}

/// How a payload is serialized. The server answers in the request's content type.
///
/// | code | name |
/// |-----:|------|
/// | 1 | `MessagePack` (default; rmp-serde, structs as maps so fields can be added) |
/// | 2 | `Json` (serde_json) |
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
#[non_exhaustive]
pub enum ContentType {
    /// MessagePack via rmp-serde.
    #[default]
    MessagePack = 1,
    /// JSON via serde_json.
    Json = 2,
}

impl ContentType {
    /// Decodes a wire number.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::MessagePack),
            2 => Some(Self::Json),
            _ => None,
        }
    }

    /// The wire number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}
