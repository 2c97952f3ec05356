//! The last byte of a resumable upload has arrived: join its parts into the raw object, hash and sniff it,
//! and record it exactly as `POST /v1/media` records an upload (quotas, idempotency, batch, outbox events).

use axum::http::StatusCode;
use futures::StreamExt;
use mediamill_core::model::{MediaId, ResumableUpload, Tenant};
use mediamill_core::repo::now_ms;
use mediamill_core::sniff::{sniff, SNIFF_BYTES};
use mediamill_core::store::ByteRange;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::routes::media::{record_upload, Stored, Upload};
use crate::state::AppState;
use crate::upload::Received;

/// Records the finished upload `u` as a media item and returns its id (the first item's, when its
/// idempotency key was used before for the same bytes). On any failure the upload is removed, since its
/// bytes were already joined: the answer says why, and a batch it was joining counts it as refused.
pub async fn complete(st: &AppState, tenant: &Tenant, u: &ResumableUpload) -> Result<MediaId, ApiError> {
    settle(st, u, record(st, tenant, u).await).await
}

/// Marks the upload complete when its item was recorded; otherwise removes it and its bytes, and counts it as
/// refused in the batch it was joining when the refusal was the upload's own doing.
pub async fn settle(
    st: &AppState,
    u: &ResumableUpload,
    recorded: Result<MediaId, ApiError>,
) -> Result<MediaId, ApiError> {
    match recorded {
        Ok(id) => {
            st.backends.repo.complete_upload(&u.id, now_ms()).await?;
            // The last part took the tail's bytes along; its object is no longer needed.
            if let Err(e) = st.backends.store.delete(&u.tail_key()).await {
                tracing::warn!(upload = %u.id, error = %e, "deleting a finished upload's tail");
            }
            metrics::counter!("mediamill_tus_uploads_completed_total").increment(1);
            Ok(id)
        }
        Err(e) => {
            super::sweep::discard(&st.backends, u).await;
            let _ = st.backends.store.delete(&u.raw_key).await;
            if let (Some(b), true) = (&u.batch_id, e.status.is_client_error()) {
                st.backends.repo.add_refused_item(b, u.filename.as_deref(), e.code, &e.message).await?;
            }
            Err(e)
        }
    }
}

async fn record(st: &AppState, tenant: &Tenant, u: &ResumableUpload) -> Result<MediaId, ApiError> {
    let store = &st.backends.store;
    let p = &u.progress;
    let (Some(handle), Some(mime)) = (&p.store_handle, &p.content_type) else {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a finished upload has no parts"));
    };
    store.finish_parts(&u.raw_key, handle, mime, &p.parts).await?;
    let (sha256, head) = match st.tus_hashes.take(&u.id, u.length) {
        // Every byte came through this instance: the digest is here, only the sniff window is read back.
        Some(h) => {
            let window = ByteRange::FromTo(0, (SNIFF_BYTES as u64).min(u.length) - 1);
            let mut body = store.open(&u.raw_key, Some(window)).await?.body;
            let mut head = Vec::with_capacity(SNIFF_BYTES);
            while let Some(c) = body.next().await {
                head.extend_from_slice(&c.map_err(unavailable)?);
            }
            (hex::encode(h.finalize()), head)
        }
        None => read_back(st, u).await?,
    };
    record_received(st, tenant, u, sha256, &head).await
}

/// Records an upload whose bytes are in the store under its raw key, of the digest and first bytes given: the
/// type sniffed again (`415`), the batch still open (`409`), then as `POST /v1/media` records an upload.
pub async fn record_received(
    st: &AppState,
    tenant: &Tenant,
    u: &ResumableUpload,
    sha256: String,
    head: &[u8],
) -> Result<MediaId, ApiError> {
    let sniffed = sniff(head).ok_or_else(crate::upload::unsupported)?;
    let (limit, key) = crate::upload::limit_for(&st.backends.cfg.limits, sniffed.kind);
    if u.length > limit {
        return Err(crate::upload::too_large(u.length, limit, key, sniffed.kind, false));
    }
    if let Some(b) = &u.batch_id {
        crate::routes::batches::open_batch(st, &tenant.id, b).await?;
    }
    let up = Upload { tenant, batch_id: u.batch_id.clone(), idem: u.idempotency_key.clone() };
    let stored = Stored {
        media_id: u.media_id.clone(),
        raw_key: u.raw_key.clone(),
        received: Received { sniffed, size: u.length, sha256 },
    };
    let m = record_upload(st, &up, stored, u.filename.clone()).await?;
    Ok(m.id)
}

fn unavailable(e: std::io::Error) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.to_string())
}

/// The digest and sniff window of the joined object, read back once: the requests came to several instances.
pub async fn read_back(st: &AppState, u: &ResumableUpload) -> Result<(String, Vec<u8>), ApiError> {
    let mut body = st.backends.store.open(&u.raw_key, None).await?.body;
    let (mut hasher, mut head, mut size) = (Sha256::new(), Vec::with_capacity(SNIFF_BYTES), 0u64);
    while let Some(c) = body.next().await {
        let c = c.map_err(unavailable)?;
        if head.len() < SNIFF_BYTES {
            head.extend_from_slice(&c[..c.len().min(SNIFF_BYTES - head.len())]);
        }
        hasher.update(&c);
        size += c.len() as u64;
    }
    if size != u.length {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the joined upload has {size} bytes, not the {} received", u.length),
        ));
    }
    Ok((hex::encode(hasher.finalize()), head))
}
