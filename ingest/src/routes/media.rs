//! `/v1/media`: upload, read, list and delete media items.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use mediamill_core::event::{self, MediaEvent};
use mediamill_core::model::{BatchId, Media, MediaId, MediaStatus, Tenant, TenantId, TenantLimit};
use mediamill_core::outbox::{job_event, media_event};
use mediamill_core::repo::{now_ms, Inserted, MediaQuery, OutboxEvent};
use mediamill_core::store;
use serde::Deserialize;

use super::view;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;
use crate::upload::{self, clean_filename, Received};
use crate::upload_body::{next_file, UploadBody};

const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let s = v.to_str().map_err(|_| ApiError::bad_request("bad_idempotency_key", "Idempotency-Key must be ASCII"))?;
    check_idempotency_key("Idempotency-Key", s)?;
    Ok(Some(s.to_string()))
}

/// The one rule for an idempotency key, wherever it comes from (a header, tus metadata, a direct plan), named
/// `what` in the answer.
pub fn check_idempotency_key(what: &str, key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::bad_request(
            "bad_idempotency_key",
            format!("{what} must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    Ok(())
}

/// The job and `uploaded` event that go out with a new item.
fn upload_events(m: &Media) -> Vec<OutboxEvent> {
    vec![job_event(m, 1), media_event(m, event::MEDIA_UPLOADED, &MediaEvent::of(m, MediaStatus::Uploaded))]
}

/// `POST /v1/media`: a raw body (Content-Type and an optional `X-Filename` or Content-Disposition filename)
/// or multipart/form-data with exactly one file field (several files go to `POST /v1/batches/{id}/media`).
/// Answers 202 with the new item.
pub async fn create(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    headers: HeaderMap,
    body: UploadBody,
) -> Result<Response, ApiError> {
    let idem = idempotency_key(&headers)?;
    let base = st.backends.cfg.public_url();
    // Read before any await: a body is not `Sync`, so no reference to it may live across one.
    let raw_length = match &body {
        UploadBody::Raw(raw) => raw.declared_length,
        UploadBody::Form(_) => None,
    };
    if let Some(k) = &idem {
        // A declared length that differs from the first request's proves another body: no need to read it.
        if let Some(m) = st.backends.repo.media_by_idempotency_key(&tenant.id, k).await? {
            if raw_length.is_some_and(|n| n != m.size) {
                return Err(idempotency_reused(k));
            }
        }
    }
    let upload = Upload { tenant: &tenant, batch_id: None, idem };
    let m = match body {
        UploadBody::Form(mut fields) => {
            let field = next_file!(fields)?
                .ok_or_else(|| ApiError::bad_request("no_file", "the multipart body has no file field"))?;
            let filename = field.file_name().and_then(clean_filename);
            let field_name = field.name().unwrap_or("").to_string();
            let stored = store_upload(&st, &tenant, field, None).await?;
            // Nothing is recorded until the whole body was read: a second file refuses the request, and the
            // first file's bytes go with it, so a client never believes both were taken.
            let second: Result<Option<_>, ApiError> = next_file!(fields);
            match second {
                Ok(None) => {}
                Ok(Some(second)) => {
                    let _ = st.backends.store.delete(&stored.raw_key).await;
                    return Err(ApiError::bad_request(
                        "multiple_files",
                        format!(
                            "POST /v1/media takes one file; the body has another in field {:?} after \
                             {field_name:?}: upload several files with POST /v1/batches/{{id}}/media",
                            second.name().unwrap_or("")
                        ),
                    ));
                }
                Err(e) => {
                    let _ = st.backends.store.delete(&stored.raw_key).await;
                    return Err(e);
                }
            }
            record_upload(&st, &upload, stored, filename).await?
        }
        UploadBody::Raw(raw) => {
            let (declared, filename) = (raw.declared_length, raw.filename.clone());
            let stored = store_upload(&st, &tenant, raw.into_stream(), declared).await?;
            record_upload(&st, &upload, stored, filename).await?
        }
    };
    Ok((StatusCode::ACCEPTED, Json(view::accepted(&base, &m))).into_response())
}

fn idempotency_reused(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        format!("Idempotency-Key {key:?} was used before with a different request; use a new key for a new upload"),
    )
}

/// Who an upload belongs to and what it joins.
pub struct Upload<'a> {
    pub tenant: &'a Tenant,
    pub batch_id: Option<BatchId>,
    /// The client's `Idempotency-Key` for this file.
    pub idem: Option<String>,
}

/// An upload's bytes in the store, not yet recorded.
pub struct Stored {
    pub media_id: MediaId,
    pub raw_key: String,
    pub received: Received,
}

/// An upload's places on this instance and in its tenant's concurrent uploads, held while its bytes stream.
pub struct UploadSlots<'a> {
    _instance: tokio::sync::SemaphorePermit<'a>,
    _tenant: crate::rate::Slot,
}

/// Takes an upload's slots: `429` naming the limit when this instance or the tenant is at its maximum.
pub fn upload_slots<'a>(st: &'a AppState, tenant: &Tenant) -> Result<UploadSlots<'a>, ApiError> {
    let limit = st.backends.cfg.limits.max_concurrent_uploads;
    let instance = st
        .gates
        .uploads
        .try_acquire()
        .map_err(|_| crate::state::busy("uploads", "limits.max_concurrent_uploads", limit))?;
    let own = st.backends.cfg.tenants.effective(&tenant.limits, TenantLimit::ConcurrentUploads);
    let tenant = st.tenants.uploads.take(tenant.id.as_str(), own, "uploads", "tenants.concurrent_uploads")?;
    Ok(UploadSlots { _instance: instance, _tenant: tenant })
}

/// `body` slowed to the tenant's upload pace (`tenants.upload_bytes_per_sec`).
pub fn paced<S, E>(st: &AppState, tenant: &Tenant, body: S) -> impl futures::Stream<Item = Result<bytes::Bytes, E>>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>>,
{
    let rate = st.backends.cfg.tenants.effective(&tenant.limits, TenantLimit::UploadBytesPerSec);
    let (guards, key) = (st.tenants.clone(), tenant.id.clone());
    body.then(move |chunk| {
        let wait = chunk.as_ref().map(|c| guards.upload_bytes.pace(key.as_str(), c.len(), rate)).unwrap_or_default();
        async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            chunk
        }
    })
}

/// Streams one uploaded file into the store (sniffed, limited, hashed, paced to the tenant's upload rate);
/// nothing is recorded yet. Refused first: a full instance, the tenant's concurrent uploads, its quotas.
pub async fn store_upload<S, E>(
    st: &AppState,
    tenant: &Tenant,
    body: S,
    declared: Option<u64>,
) -> Result<Stored, ApiError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let _slots = upload_slots(st, tenant)?;
    check_quotas(st, tenant, declared.unwrap_or(0)).await?;
    let paced = paced(st, tenant, body);
    let media_id = MediaId::generate();
    let raw_key = store::raw_key(&tenant.id, &media_id);
    let received =
        upload::receive(Box::pin(paced), st.backends.store.as_ref(), &raw_key, &st.backends.cfg.limits, declared)
            .await?;
    Ok(Stored { media_id, raw_key, received })
}

/// The tenant's quotas on what it keeps (`stored_bytes`, `media_count`), with `more` bytes on the way.
pub async fn check_quotas(st: &AppState, tenant: &Tenant, more: u64) -> Result<(), ApiError> {
    let max_bytes = st.backends.cfg.tenants.effective(&tenant.limits, TenantLimit::StoredBytes);
    let max_items = st.backends.cfg.tenants.effective(&tenant.limits, TenantLimit::MediaCount);
    if max_bytes == 0 && max_items == 0 {
        return Ok(());
    }
    let (bytes, items) = st.backends.repo.tenant_usage(&tenant.id).await?;
    if max_items > 0 && items >= max_items {
        return Err(crate::rate::quota_exceeded(
            TenantLimit::MediaCount,
            max_items,
            format!("this tenant keeps {items} media items"),
        ));
    }
    if max_bytes > 0 && bytes.saturating_add(more) > max_bytes {
        return Err(crate::rate::quota_exceeded(
            TenantLimit::StoredBytes,
            max_bytes,
            format!("this tenant keeps {bytes} bytes of uploads and this one adds {more}"),
        ));
    }
    Ok(())
}

/// Records a stored upload (and its outbox events, and its batch item) in one transaction. An idempotency
/// key used before answers the first item when the bytes (and batch) are the same, `422` when not.
pub async fn record_upload(
    st: &AppState,
    up: &Upload<'_>,
    stored: Stored,
    filename: Option<String>,
) -> Result<Media, ApiError> {
    let Stored { media_id, raw_key, received } = stored;
    // Checked again with the real size: a body without Content-Length says its size only at its end.
    if let Err(e) = check_quotas(st, up.tenant, received.size).await {
        let _ = st.backends.store.delete(&raw_key).await;
        return Err(e);
    }
    let now = now_ms();
    let m = Media {
        id: media_id,
        tenant_id: up.tenant.id.clone(),
        kind: received.sniffed.kind,
        status: MediaStatus::Uploaded,
        content_type: received.sniffed.mime.to_string(),
        filename,
        size: received.size,
        sha256: received.sha256,
        raw_key: raw_key.clone(),
        width: None,
        height: None,
        metadata: None,
        failure_reason: None,
        failure_message: None,
        batch_id: up.batch_id.clone(),
        idempotency_key: up.idem.clone(),
        created_at: now,
        updated_at: now,
    };
    let inserted = match st.backends.repo.insert_media(&m, &upload_events(&m)).await {
        Ok(i) => i,
        Err(e) => {
            let _ = st.backends.store.delete(&raw_key).await;
            return Err(e.into());
        }
    };
    match inserted {
        Inserted::Created(m) => {
            st.backends.waker.wake();
            metrics::counter!("mediamill_uploads_total", "kind" => m.kind.as_str()).increment(1);
            Ok(m)
        }
        Inserted::Existing(first) => {
            // A retry (or a concurrent one that won the race): our copy of the bytes is not needed.
            let _ = st.backends.store.delete(&raw_key).await;
            if first.sha256 != m.sha256 || first.batch_id != m.batch_id {
                return Err(idempotency_reused(up.idem.as_deref().unwrap_or_default()));
            }
            Ok(first)
        }
    }
}

/// Stores and records one file.
pub async fn accept<S, E>(
    st: &AppState,
    up: &Upload<'_>,
    body: S,
    declared: Option<u64>,
    filename: Option<String>,
) -> Result<Media, ApiError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let stored = store_upload(st, up.tenant, body, declared).await?;
    record_upload(st, up, stored, filename).await
}

/// A tenant's media item that was not deleted: 404 when there is none, 410 when it was deleted (its id
/// stays known, so a client can tell "gone" from "never existed").
pub async fn existing(st: &AppState, tenant_id: &TenantId, id: &MediaId) -> Result<Media, ApiError> {
    let m = st.backends.repo.get_media(tenant_id, id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    if m.status == MediaStatus::Deleted {
        return Err(ApiError::new(StatusCode::GONE, "deleted", format!("media {id} was deleted")));
    }
    Ok(m)
}

/// `GET /v1/media/{id}`: 410 once deleted.
pub async fn get_one(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<MediaId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let m = existing(&st, &tenant.id, &id).await?;
    let vs = st.backends.repo.variants(&m.id).await?;
    Ok(Json(view::media(&st.backends.cfg.public_url(), &m, &vs)))
}

/// Query of `GET /v1/media`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/media?status=&cursor=&limit=`: oldest first; `next_cursor` fetches the next page.
pub async fn list(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<MediaStatus>().map_err(|_| {
            ApiError::bad_request(
                "bad_status",
                format!("status {s:?} is not one of uploaded, processing, processed, failed"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let items = st
        .backends
        .repo
        .list_media(&tenant.id, &MediaQuery { status, after: q.cursor.map(MediaId::from), limit })
        .await?;
    let base = st.backends.cfg.public_url();
    let next = (items.len() as u32 == limit).then(|| items.last().map(|m| m.id.clone())).flatten();
    let mut out = Vec::with_capacity(items.len());
    for m in &items {
        out.push(view::media(&base, m, &st.backends.repo.variants(&m.id).await?));
    }
    Ok(Json(serde_json::json!({"items": out, "next_cursor": next})))
}

/// `DELETE /v1/media/{id}`: removes the raw and derived objects and emits `deleted`.
pub async fn delete(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<MediaId>,
) -> Result<StatusCode, ApiError> {
    let m = st.backends.repo.get_media(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    let ev = media_event(&m, event::MEDIA_DELETED, &MediaEvent::of(&m, MediaStatus::Deleted));
    st.backends.repo.delete_media(&tenant.id, &id, &[ev]).await?.ok_or_else(|| ApiError::not_found("media"))?;
    st.backends.waker.wake();
    st.backends.store.delete(&m.raw_key).await?;
    st.backends.store.delete_prefix(&store::derived_prefix(&m.tenant_id, &m.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
