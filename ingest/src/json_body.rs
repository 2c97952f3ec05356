//! JSON request bodies, read with a byte bound before anything is buffered (`limits.max_json_bytes`).
//!
//! A body over the bound is cut off as soon as it passes it, so an 800 MB "JSON" costs at most the bound in
//! memory. Errors never name our internal types: a body that is not an object says so, and field errors
//! are serde's own words about the field.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON object body; `None` when the body is empty.
pub struct JsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, ApiError> {
        let limit = st.backends.cfg.limits.max_json_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the JSON body is larger than {limit} bytes (limits.max_json_bytes)"),
            )
        };
        if crate::upload_body::declared_length(req.headers()).is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
            // `to_bytes` stops at the bound; any other failure is the client's stream breaking off.
            if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
                too_large()
            } else {
                ApiError::bad_request("upload_interrupted", format!("the request body broke off: {e}"))
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a JSON object; empty (or blank) means `None`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("bad_json", format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("bad_json", "the body must be a JSON object"));
    }
    serde_json::from_value(v).map(Some).map_err(|e| ApiError::bad_request("bad_json", format!("request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        name: Option<String>,
        count: Option<u64>,
    }

    #[test]
    fn errors_name_no_internal_type() {
        for body in [&b"[1,2,3,4]"[..], b"\"text\"", b"42", b"null"] {
            let e = parse::<Thing>(body).unwrap_err();
            assert_eq!(e.message, "the body must be a JSON object", "{}", String::from_utf8_lossy(body));
        }
        let e = parse::<Thing>(br#"{"count": "x"}"#).unwrap_err();
        assert!(!e.message.contains("Thing"), "{}", e.message);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = parse::<Thing>(br#"{"nmae": "x"}"#).unwrap_err();
        assert!(e.message.contains("unknown field `nmae`") && !e.message.contains("Thing"), "{}", e.message);
        assert!(parse::<Thing>(b"{\"name\": ").unwrap_err().message.starts_with("the body is not valid JSON"));
        assert!(parse::<Thing>(b"  \n").unwrap().is_none());
    }
}
