//! Receiving one upload: sniff the first bytes, enforce the size limit of that kind, hash and count, and
//! stream into the object store. Memory holds at most the sniff window and one store part.

use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use mediamill_core::config::Limits;
use mediamill_core::model::MediaKind;
use mediamill_core::sniff::{sniff, Sniffed, SNIFF_BYTES};
use mediamill_core::store::{ObjectWriter, Store};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use tracing::Instrument;

/// A stored upload.
#[derive(Debug, Clone)]
pub struct Received {
    pub sniffed: Sniffed,
    pub size: u64,
    pub sha256: String,
}

/// The size limit of a kind and the config key that sets it.
pub fn limit_for(limits: &Limits, kind: MediaKind) -> (u64, &'static str) {
    match kind {
        MediaKind::Image => (limits.max_image_bytes, "limits.max_image_bytes"),
        MediaKind::Video | MediaKind::Audio => (limits.max_video_bytes, "limits.max_video_bytes"),
    }
}

/// `413` naming the kind's limit and the setting.
pub fn too_large(seen: u64, limit: u64, key: &str, kind: MediaKind, at_least: bool) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "{} upload is {}{} bytes; the limit is {limit} bytes ({key})",
            kind.as_str(),
            if at_least { "more than " } else { "" },
            if at_least { limit } else { seen }
        ),
    )
}

/// The largest upload taken: the larger of the two kinds' limits (which one applies is known from the bytes).
pub fn largest(limits: &Limits) -> u64 {
    limits.max_image_bytes.max(limits.max_video_bytes)
}

/// A size declared before any byte (`Upload-Length`, a direct upload's plan), named `what` in the answer:
/// `400 empty` for none, `413 too_large` past every kind's limit.
pub fn check_declared(limits: &Limits, what: &str, size: u64) -> Result<(), ApiError> {
    if size == 0 {
        return Err(ApiError::bad_request("empty", format!("the upload has no bytes ({what} 0)")));
    }
    if size > largest(limits) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{what} {size} is over every kind's limit: images {} bytes (limits.max_image_bytes), videos {} bytes \
                 (limits.max_video_bytes)",
                limits.max_image_bytes, limits.max_video_bytes
            ),
        ));
    }
    Ok(())
}

/// `415`: the first bytes match no format taken.
pub fn unsupported() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "the upload's first bytes match no supported format ({}); the filename and Content-Type are not trusted",
            mediamill_core::sniff::supported_formats()
        ),
    )
}

/// Streams `body` into `store` under `key`. `declared` is the Content-Length (or an archive entry's size), if
/// any: an upload that announces itself too large is refused before its bytes are read, one of a known size
/// goes to the store in one request, and a body that does not match its declared size is refused.
pub async fn receive<S, E>(
    mut body: S,
    store: &dyn Store,
    key: &str,
    limits: &Limits,
    declared: Option<u64>,
) -> Result<Received, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let interrupted = |e: E| ApiError::bad_request("upload_interrupted", format!("the upload stream broke off: {e}"));

    // 1. Enough bytes to know what this is.
    let mut head = BytesMut::new();
    let mut ended = false;
    while head.len() < SNIFF_BYTES {
        match body.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(interrupted)?),
            None => {
                ended = true;
                break;
            }
        }
    }
    if head.is_empty() {
        return Err(ApiError::bad_request("empty", "the upload has no bytes"));
    }
    let sniffed = sniff(&head).ok_or_else(unsupported)?;
    let (limit, limit_key) = limit_for(limits, sniffed.kind);
    if let Some(d) = declared.filter(|d| *d > limit) {
        return Err(too_large(d, limit, limit_key, sniffed.kind, false));
    }
    if head.len() as u64 > limit {
        return Err(too_large(head.len() as u64, limit, limit_key, sniffed.kind, !ended));
    }
    if let Some(d) = declared.filter(|d| head.len() as u64 > *d) {
        return Err(size_mismatch(head.len() as u64, d, true));
    }

    // 2. Stream the rest into the store, hashing and counting as it goes.
    let mut hasher = Sha256::new();
    let mut size = head.len() as u64;
    hasher.update(&head);
    let span = tracing::info_span!("store.put", key, content_type = sniffed.mime);
    let writer = match declared {
        Some(size) => store.writer_sized(key, sniffed.mime, size).instrument(span.clone()).await,
        None => store.writer(key, sniffed.mime).instrument(span.clone()).await,
    };
    let mut writer = writer?;
    let res: Result<(), ApiError> = async {
        writer.write(head.freeze()).await?;
        if !ended {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(interrupted)?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(too_large(size, limit, limit_key, sniffed.kind, true));
                }
                if let Some(d) = declared.filter(|d| size > *d) {
                    return Err(size_mismatch(size, d, true));
                }
                hasher.update(&chunk);
                writer.write(chunk).await?;
            }
        }
        match declared {
            Some(d) if d != size => Err(size_mismatch(size, d, false)),
            _ => Ok(()),
        }
    }
    .instrument(span.clone())
    .await;
    finish(writer, res).instrument(span).await?;
    Ok(Received { sniffed, size, sha256: hex::encode(hasher.finalize()) })
}

/// The body held more (`more`: at least `got`) or fewer bytes than its declared size.
fn size_mismatch(got: u64, declared: u64, more: bool) -> ApiError {
    let got = if more { format!("more than {declared}") } else { got.to_string() };
    ApiError::bad_request("size_mismatch", format!("the body held {got} bytes but declared {declared}"))
}

async fn finish(writer: Box<dyn ObjectWriter>, res: Result<(), ApiError>) -> Result<(), ApiError> {
    match res {
        Ok(()) => {
            writer.finish().await?;
            Ok(())
        }
        Err(e) => {
            // Nothing half-written stays behind.
            writer.abort().await;
            Err(e)
        }
    }
}

/// A filename a client sent, reduced to a safe display name (no folders, no control characters).
pub fn clean_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim().to_string();
    (!cleaned.is_empty() && cleaned != "." && cleaned != "..").then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_cleaned() {
        assert_eq!(clean_filename("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_filename("C:\\Users\\a\\photo.jpg").as_deref(), Some("photo.jpg"));
        assert_eq!(clean_filename("a\u{0}b\nc.png").as_deref(), Some("abc.png"));
        assert_eq!(clean_filename(".."), None);
        assert_eq!(clean_filename("   "), None);
        assert_eq!(clean_filename(&"x".repeat(1000)).map(|s| s.len()), Some(255));
    }
}
