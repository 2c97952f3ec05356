//! Direct-to-storage uploads: `POST /v1/uploads/direct` plans an upload that goes from the client straight into
//! the S3 store (one presigned `PUT`, or presigned parts for large files) for the exact size and SHA-256 the
//! client declares; `POST /v1/uploads/direct/{id}/complete` checks what arrived (size, SHA-256 of the bytes,
//! the type sniffed from the first bytes, the kind's size limit) before the item enters the flow exactly as an
//! upload through ingest does. The local store (the embedded default) cannot take them: `501 not_supported`.
//!
//! A plan is a row of the resumable uploads' table (so the same sweeper removes an abandoned one at its expiry),
//! marked by the `direct_upload` entry of its metadata; tus requests do not see it.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mediamill_core::model::{BatchId, MediaId, ResumableUpload, UploadId, UploadProgress};
use mediamill_core::repo::now_ms;
use mediamill_core::store::{self, DirectUploads, Part};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::state::AppState;
use crate::tus::complete;
use crate::upload::clean_filename;

/// The metadata entry that marks a row as a direct upload, holding what was declared.
pub const MARK: &str = "direct_upload";
/// S3 takes at most this many parts.
const MAX_PARTS: u64 = 10_000;

/// The body of `POST /v1/uploads/direct`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Exact size in bytes.
    size: u64,
    /// SHA-256 of the bytes, hex.
    sha256: String,
    filename: Option<String>,
    batch_id: Option<BatchId>,
    idempotency_key: Option<String>,
}

fn not_supported() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_supported",
        "direct uploads need the S3 store (store.backend = \"s3\"); the local store takes uploads through \
         POST /v1/media or resumable ones through /v1/uploads",
    )
}

fn direct(st: &AppState) -> Result<&dyn DirectUploads, ApiError> {
    st.backends.store.direct().ok_or_else(not_supported)
}

/// `POST /v1/uploads/direct`: `{size, sha256, filename?, batch_id?, idempotency_key?}` → `201` with the plan:
/// one presigned `put`, or `parts` (each with its offset, size and presigned request), the `complete` URL and
/// when the URLs expire.
pub async fn create(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    JsonBody(plan): JsonBody<Plan>,
) -> Result<Response, ApiError> {
    let s3 = direct(&st)?;
    let plan = plan.ok_or_else(|| ApiError::bad_request("bad_plan", "send {size, sha256} as JSON"))?;
    let sha256 = plan.sha256.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("bad_plan", "sha256 must be 64 hex digits"));
    }
    crate::upload::check_declared(&st.backends.cfg.limits, "size", plan.size)?;
    if let Some(k) = &plan.idempotency_key {
        crate::routes::media::check_idempotency_key("idempotency_key", k)?;
    }
    if let Some(b) = &plan.batch_id {
        crate::routes::batches::open_batch(&st, &tenant.id, b).await?;
    }
    crate::routes::media::check_quotas(&st, &tenant, plan.size).await?;

    let cfg = &st.backends.cfg.uploads;
    let ttl = Duration::from_secs(cfg.direct_url_secs);
    let media_id = MediaId::generate();
    let raw_key = store::resumable_key(&tenant.id, &media_id);
    let mut progress = UploadProgress::default();
    let (put, parts) = if plan.size <= cfg.direct_single_put_mib << 20 {
        (Some(s3.presign_put(&raw_key, plan.size, ttl).await?), None)
    } else {
        let part_size = cfg.part_bytes().max(plan.size.div_ceil(MAX_PARTS));
        let handle = st.backends.store.start_parts(&raw_key, "application/octet-stream").await?;
        let mut planned = Vec::new();
        for (i, offset) in (0..plan.size).step_by(part_size as usize).enumerate() {
            let len = part_size.min(plan.size - offset);
            let number = i as i32 + 1;
            let request = s3.presign_part(&Part { key: &raw_key, handle: &handle, number }, len, ttl).await?;
            planned.push(json!({"part_number": number, "offset": offset, "size": len, "request": request}));
        }
        progress.store_handle = Some(handle);
        (None, Some(planned))
    };
    let now = now_ms();
    let mut metadata = serde_json::Map::new();
    let expected_parts = parts.as_ref().map(Vec::len);
    metadata.insert(MARK.into(), json!({"sha256": sha256, "parts": expected_parts}));
    let u = ResumableUpload {
        id: UploadId::generate(),
        tenant_id: tenant.id.clone(),
        length: plan.size,
        metadata,
        filename: plan.filename.as_deref().and_then(clean_filename),
        batch_id: plan.batch_id,
        idempotency_key: plan.idempotency_key,
        media_id,
        raw_key,
        // The URLs' life, plus an hour to call `complete` after the last byte.
        expires_at: now + (cfg.direct_url_secs as i64 + 3600) * 1000,
        completed_at: None,
        created_at: now,
        progress,
    };
    st.backends.repo.create_upload(&u).await?;
    metrics::counter!("mediamill_direct_uploads_planned_total").increment(1);
    let base = st.backends.cfg.public_url();
    let answer = json!({
        "id": u.id,
        "size": u.length,
        "sha256": sha256,
        "expires_at": chrono::DateTime::from_timestamp_millis(now + ttl.as_millis() as i64).map(|t| t.to_rfc3339()),
        "put": put,
        "parts": parts,
        "complete": format!("{base}/v1/uploads/direct/{}/complete", u.id),
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /v1/uploads/direct/{id}/complete`: checks the object (size, SHA-256, type, limit) and records the item:
/// `202` as `POST /v1/media` answers. `409 not_uploaded` while bytes are missing (nothing is lost: send them and
/// call again); `422 size_mismatch` or `checksum_mismatch` (the object is removed), `415`, `413`.
pub async fn complete(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<UploadId>,
) -> Result<Response, ApiError> {
    let s3 = direct(&st)?;
    let u = st.backends.repo.get_upload(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("upload"))?;
    let declared = u.metadata.get(MARK).cloned().ok_or_else(|| ApiError::not_found("upload"))?;
    let base = st.backends.cfg.public_url();
    if u.completed_at.is_some() {
        let m = crate::routes::media::existing(&st, &tenant.id, &u.media_id).await?;
        return Ok((StatusCode::ACCEPTED, Json(crate::routes::view::accepted(&base, &m))).into_response());
    }
    if u.expires_at < now_ms() {
        return Err(ApiError::new(StatusCode::GONE, "upload_expired", format!("upload {id} expired; plan a new one")));
    }
    if !st.backends.repo.lease_upload(&u.id, 0, now_ms() + 10 * 60_000).await? {
        return Err(ApiError::new(StatusCode::LOCKED, "upload_locked", "this upload is being completed already"));
    }
    let outcome = check_and_record(&st, s3, &tenant, &u, &declared).await;
    let media = match outcome {
        Err(e) if e.code == "not_uploaded" || e.status.is_server_error() => {
            // Nothing wrong with what is there: give the upload back for another call.
            let _ = st.backends.repo.save_upload_progress(&u.id, 0, &u.progress, u.expires_at, None).await;
            return Err(e);
        }
        other => complete::settle(&st, &u, other).await?,
    };
    let m = crate::routes::media::existing(&st, &tenant.id, &media).await?;
    Ok((StatusCode::ACCEPTED, Json(crate::routes::view::accepted(&base, &m))).into_response())
}

fn not_uploaded(why: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "not_uploaded", why)
}

async fn check_and_record(
    st: &AppState,
    s3: &dyn DirectUploads,
    tenant: &mediamill_core::model::Tenant,
    u: &ResumableUpload,
    declared: &serde_json::Value,
) -> Result<MediaId, ApiError> {
    if let (Some(handle), Some(expected)) = (&u.progress.store_handle, declared["parts"].as_u64()) {
        let parts = s3.uploaded_parts(&u.raw_key, handle).await?;
        let numbers: std::collections::BTreeSet<i32> = parts.iter().map(|p| p.0).collect();
        let missing: Vec<u64> = (1..=expected).filter(|n| !numbers.contains(&(*n as i32))).collect();
        if !missing.is_empty() {
            return Err(not_uploaded(format!(
                "{} of {expected} parts are not uploaded yet: {missing:?}",
                missing.len()
            )));
        }
        let tags: Vec<(i32, String)> = parts.into_iter().map(|(n, tag, _)| (n, tag)).collect();
        st.backends.store.finish_parts(&u.raw_key, handle, "application/octet-stream", &tags).await?;
    }
    let size = s3.size_of(&u.raw_key).await?.ok_or_else(|| not_uploaded("the object is not uploaded yet".into()))?;
    if size != u.length {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "size_mismatch",
            format!("the object has {size} bytes, not the {} declared; it was removed", u.length),
        ));
    }
    let (sha256, head) = complete::read_back(st, u).await?;
    if declared["sha256"].as_str() != Some(sha256.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "checksum_mismatch",
            format!(
                "the object's SHA-256 is {sha256}, not the {} declared; it was removed",
                declared["sha256"].as_str().unwrap_or("")
            ),
        ));
    }
    complete::record_received(st, tenant, u, sha256, &head).await
}
