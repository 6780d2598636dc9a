//! Call-by-name: JSON arguments in, JSON results out, for callers without a generated stub
//! (the `slacker` command, the gateways).

use crate::{serialization, ContentType, Error, Response, Result, ResultCode, ServerAddr};

/// Encodes call-by-name arguments: a JSON array (one element per argument) or `null` for none.
pub(crate) fn encode_json_args(
    content_type: ContentType,
    args: serde_json::Value,
) -> Result<bytes::Bytes> {
    let args = match args {
        serde_json::Value::Null => serde_json::Value::Array(Vec::new()),
        a @ serde_json::Value::Array(_) => a,
        _ => {
            return Err(Error::Config(
                "call-by-name arguments must be a JSON array (or null for none)".into(),
            ))
        }
    };
    serialization::encode_value(content_type, &args).map_err(|e| Error::Codec {
        server: None,
        message: format!("arguments: {e}").into(),
    })
}

/// Decodes a call-by-name response into JSON; an application error becomes [`Error::Remote`]
/// with code `ApplicationError` and the error value's JSON text as message.
pub(crate) fn decode_json_response(
    server: &ServerAddr,
    response: Response,
) -> Result<serde_json::Value> {
    let value =
        serialization::decode_value(response.content_type, &response.payload).map_err(|e| {
            Error::Codec {
                server: Some(server.clone()),
                message: format!("result: {e}").into(),
            }
        })?;
    match response.code {
        ResultCode::Success => Ok(value),
        code => Err(Error::Remote {
            server: server.clone(),
            code,
            message: value.to_string(),
        }),
    }
}
