//! `/v1/media`: upload, read, list and delete media items.

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;
use mediamill_core::event::{self, MediaEvent};
use mediamill_core::model::{Media, MediaStatus};
use mediamill_core::outbox::{job_event, media_event};
use mediamill_core::repo::{now_ms, Inserted, MediaQuery, OutboxEvent};
use mediamill_core::store;
use serde::Deserialize;

use super::view;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;
use crate::upload::{self, clean_filename, Received};

const MAX_IDEMPOTENCY_KEY: usize = 255;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let s = v.to_str().map_err(|_| ApiError::bad_request("bad_idempotency_key", "Idempotency-Key must be ASCII"))?;
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::bad_request(
            "bad_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    Ok(Some(s.to_string()))
}

/// The filename a raw upload names in `X-Filename` or Content-Disposition.
pub fn filename_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(f) = headers.get("x-filename").and_then(|v| v.to_str().ok()) {
        return clean_filename(f);
    }
    let cd = headers.get("content-disposition")?.to_str().ok()?;
    let f = cd.split(';').map(str::trim).find_map(|p| p.strip_prefix("filename="))?;
    clean_filename(f.trim_matches('"'))
}

/// The job and `uploaded` event that go out with a new item.
fn upload_events(m: &Media) -> Vec<OutboxEvent> {
    vec![job_event(m, 1), media_event(m, event::MEDIA_UPLOADED, &MediaEvent::of(m, MediaStatus::Uploaded))]
}

/// `POST /v1/media`: a raw body (Content-Type and an optional `X-Filename` or Content-Disposition filename)
/// or multipart/form-data with one file field. Answers 202 with the new item.
pub async fn create(State(st): State<AppState>, Authed(tenant): Authed, req: Request) -> Result<Response, ApiError> {
    let headers = req.headers().clone();
    let idem = idempotency_key(&headers)?;
    let base = st.cfg.public_url();
    if let Some(k) = &idem {
        if let Some(m) = st.repo.media_by_idempotency_key(&tenant.id, k).await? {
            return Ok((StatusCode::ACCEPTED, Json(view::accepted(&base, &m))).into_response());
        }
    }

    let m = if is_multipart(&headers) {
        let mut mp = Multipart::from_request(req, &st)
            .await
            .map_err(|e| ApiError::bad_request("bad_multipart", format!("multipart body: {e}")))?;
        let field = loop {
            match mp.next_field().await {
                Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => break f,
                Ok(Some(_)) => continue,
                Ok(None) => return Err(ApiError::bad_request("no_file", "the multipart body has no file field")),
                Err(e) => return Err(ApiError::bad_request("bad_multipart", format!("multipart body: {e}"))),
            }
        };
        let filename = field.file_name().and_then(clean_filename);
        accept(&st, &tenant.id, field, None, filename, None, idem).await?
    } else {
        let stream = req.into_body().into_data_stream().map_err(|e| e.to_string());
        accept(&st, &tenant.id, stream, declared_length(&headers), filename_from_headers(&headers), None, idem).await?
    };
    Ok((StatusCode::ACCEPTED, Json(view::accepted(&base, &m))).into_response())
}

/// The body length a request declares in Content-Length, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// Whether a request body is multipart/form-data.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Stores one uploaded file and records it (and its outbox events, and its batch item) in one transaction.
pub async fn accept<S, E>(
    st: &AppState,
    tenant_id: &str,
    body: S,
    declared: Option<u64>,
    filename: Option<String>,
    batch_id: Option<String>,
    idem: Option<String>,
) -> Result<Media, ApiError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let media_id = uuid::Uuid::now_v7().to_string();
    let raw_key = store::raw_key(tenant_id, &media_id);
    let received: Received = upload::receive(body, st.store.as_ref(), &raw_key, &st.cfg.limits, declared).await?;
    let now = now_ms();
    let m = Media {
        id: media_id,
        tenant_id: tenant_id.to_string(),
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
        batch_id,
        idempotency_key: idem,
        created_at: now,
        updated_at: now,
    };
    let inserted = match st.repo.insert_media(&m, &upload_events(&m)).await {
        Ok(i) => i,
        Err(e) => {
            let _ = st.store.delete(&raw_key).await;
            return Err(e.into());
        }
    };
    Ok(match inserted {
        Inserted::Created(m) => {
            st.waker.wake();
            metrics::counter!("mediamill_uploads_total", "kind" => m.kind.as_str()).increment(1);
            m
        }
        Inserted::Existing(m) => {
            // A concurrent retry with the same key won the race: drop our copy of the bytes.
            let _ = st.store.delete(&raw_key).await;
            m
        }
    })
}

/// `GET /v1/media/{id}`
pub async fn get_one(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let m = st.repo.get_media(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    let vs = st.repo.variants(&m.id).await?;
    Ok(Json(view::media(&st.cfg.public_url(), &m, &vs)))
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
        Some(s) => Some(MediaStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request("bad_status", format!("status {s:?} is not one of uploaded, processing, processed, failed"))
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let items = st.repo.list_media(&tenant.id, &MediaQuery { status, after: q.cursor, limit }).await?;
    let base = st.cfg.public_url();
    let next = (items.len() as u32 == limit).then(|| items.last().map(|m| m.id.clone())).flatten();
    let mut out = Vec::with_capacity(items.len());
    for m in &items {
        out.push(view::media(&base, m, &st.repo.variants(&m.id).await?));
    }
    Ok(Json(serde_json::json!({"items": out, "next_cursor": next})))
}

/// `DELETE /v1/media/{id}`: removes the raw and derived objects and emits `deleted`.
pub async fn delete(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let m = st.repo.get_media(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    let ev = media_event(&m, event::MEDIA_DELETED, &MediaEvent::of(&m, MediaStatus::Deleted));
    st.repo.delete_media(&tenant.id, &id, &[ev]).await?.ok_or_else(|| ApiError::not_found("media"))?;
    st.waker.wake();
    st.store.delete(&m.raw_key).await?;
    st.store.delete_prefix(&store::derived_prefix(&m.tenant_id, &m.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
