//! API errors: `{"error": {"code", "message"}}` with an honest status. Messages name the limit or the cause.
//!
//! Handlers return [`ApiError`]; everything else that can answer with an error (axum's extractor rejections,
//! the method-not-allowed fallback) passes through [`json_errors`], so no client ever parses plain text.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mediamill_core::repo::RepoError;
use mediamill_core::store::StoreError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`too_large`, `rate_limited`…).
    pub code: &'static str,
    /// What happened and which limit was hit, for people.
    pub message: String,
    /// Headers the status calls for (`Content-Range` on a 416, `Retry-After` on a 429, `Allow` on a 405).
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), headers: Vec::new() }
    }
    /// 404 naming what was not found.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    /// 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401: no key, or a key that does not work.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// An error of this instance's own disk while spooling a request (a tus request, an archive): `507
    /// insufficient_storage` with `Retry-After` when the disk is full, which the client can wait out or take
    /// to another instance (tus clients retry on it); `500` for anything else. Either way it is logged.
    pub fn local_disk(what: &str, e: &std::io::Error) -> ApiError {
        if e.kind() != std::io::ErrorKind::StorageFull {
            return ApiError::failed_here(what, e);
        }
        tracing::error!(error = %e, "{what}");
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            format!(
                "{what}: this instance's disk is full; retry later (a resumable upload from the offset HEAD gives)"
            ),
        )
        .with_header(header::RETRY_AFTER, "30")
    }
    /// `500 internal` for a step of this instance's own that failed (`what`), the cause logged, not shown.
    pub fn failed_here(what: &str, e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "{what}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{what} failed on this instance"))
    }
    /// Adds a header to the answer.
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        let mut r = (self.status, Json(body)).into_response();
        let h = r.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        r
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> ApiError {
        tracing::warn!(error = %e, "repository");
        if e.is_transient() {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; try again shortly",
            )
        } else {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(_) => ApiError::not_found("object"),
            StoreError::RangeNotSatisfiable { size } => ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the requested range lies outside the object's {size} bytes"),
            )
            // RFC 9110 §14.4: a 416 names the representation's length so the client can ask again.
            .with_header(header::CONTENT_RANGE, format!("bytes */{size}")),
            // Credentials or permissions: no retry by the client helps, so not a 503.
            StoreError::Refused(_) | StoreError::InvalidKey(_) => {
                tracing::error!(error = %e, "object store refused a request: check store.s3 credentials and permissions");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_refused",
                    "the object store refused the request; nothing was stored; the operator must fix its configuration",
                )
            }
            other => {
                tracing::warn!(error = %other, "object store");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the object store is unavailable; nothing was stored; try again shortly",
                )
            }
        }
    }
}

/// The machine-readable code of an error status that no handler of ours produced.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Turns every error answer that is not already our JSON shape into it: axum's query, path and body
/// rejections (plain text) and its method-not-allowed answer (an empty body) included.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).map(str::to_string);
    // Rejection texts are a line or two; anything longer is not one of them and is cut.
    let text = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (status, &allow) {
        (StatusCode::METHOD_NOT_ALLOWED, Some(a)) => format!("{method} is not allowed on this path; allowed: {a}"),
        (StatusCode::METHOD_NOT_ALLOWED, None) => format!("{method} is not allowed on this path"),
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut e = ApiError::new(status, code_of(status), message);
    if let Some(a) = allow {
        e = e.with_header(header::ALLOW, a);
    }
    if method == Method::HEAD {
        return (status, e.into_response().headers().clone()).into_response();
    }
    e.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_with_retry_after_and_other_disk_errors_500() {
        let full =
            ApiError::local_disk("writing the spool file", &std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!((full.status, full.code), (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage"));
        assert!(full.message.contains("disk is full"), "{}", full.message);
        let r = full.into_response();
        assert_eq!(r.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"30"[..]));
        // ENOSPC as the kernel reports it maps to the same kind.
        let enospc = ApiError::local_disk("copying the spool file", &std::io::Error::from_raw_os_error(28));
        assert_eq!(enospc.status, StatusCode::INSUFFICIENT_STORAGE);
        let other = ApiError::local_disk("writing the spool file", &std::io::Error::other("bad sector"));
        assert_eq!((other.status, other.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    }
}
