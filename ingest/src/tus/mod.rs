//! Resumable uploads at `/v1/uploads`: tus 1.0 (the protocol of tusd, Uppy, tus-js-client, TUSKit, tuspy) with
//! the creation, creation-with-upload, termination, checksum and expiration extensions.
//!
//! An upload's state is in the database and its bytes in the object store ([`append`]), so any instance takes
//! its next request. When the last byte arrives the upload becomes a media item exactly as `POST /v1/media`
//! makes one (sniffed, limited, recorded with its outbox events, joining its batch); the final `PATCH`
//! answers its id in `Media-Id` and its URL in `Media-Location`.

mod append;
pub(crate) mod complete;
pub mod finishing;
pub mod hashes;
mod protocol;
pub mod sweep;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mediamill_core::model::{BatchId, MediaId, ResumableUpload, Tenant, UploadId, UploadProgress};
use mediamill_core::repo::now_ms;
use mediamill_core::store;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;
use crate::upload::clean_filename;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const MEDIA_ID: HeaderName = HeaderName::from_static("media-id");
const MEDIA_LOCATION: HeaderName = HeaderName::from_static("media-location");

/// Every answer of these routes says which protocol it speaks, errors included.
pub async fn tus_header(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(TUS_RESUMABLE, HeaderValue::from_static(protocol::VERSION));
    res
}

/// `OPTIONS /v1/uploads`: what this server speaks. Needs no key.
pub async fn options(State(st): State<AppState>) -> Response {
    let mut h = HeaderMap::new();
    h.insert("tus-version", HeaderValue::from_static(protocol::VERSION));
    h.insert("tus-extension", HeaderValue::from_static(protocol::EXTENSIONS));
    h.insert("tus-max-size", HeaderValue::from(crate::upload::largest(&st.backends.cfg.limits)));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static(protocol::CHECKSUM_ALGORITHMS));
    (StatusCode::NO_CONTENT, h).into_response()
}

fn upload_url(st: &AppState, id: &UploadId) -> String {
    format!("{}/v1/uploads/{id}", st.backends.cfg.public_url())
}

/// The headers every answer about an upload carries.
fn state_headers(u: &ResumableUpload) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(u.progress.offset));
    h.insert(UPLOAD_EXPIRES, protocol::http_date(u.expires_at));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h
}

fn media_headers(st: &AppState, h: &mut HeaderMap, id: &MediaId) {
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        h.insert(MEDIA_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/media/{id}", st.backends.cfg.public_url())) {
        h.insert(MEDIA_LOCATION, v);
    }
}

/// The metadata keys read; the rest is kept and echoed only.
struct Wanted {
    filename: Option<String>,
    batch_id: Option<BatchId>,
    idempotency_key: Option<String>,
}

fn wanted(m: &serde_json::Map<String, serde_json::Value>) -> Result<Wanted, ApiError> {
    let text = |k: &str| m.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
    let idempotency_key = text("idempotency_key");
    if let Some(k) = &idempotency_key {
        crate::routes::media::check_idempotency_key("idempotency_key", k)?;
    }
    Ok(Wanted {
        // Uppy and tus-js-client send `filename` or `name`.
        filename: text("filename").or_else(|| text("name")).and_then(|f| clean_filename(&f)),
        batch_id: text("batch_id").map(BatchId::from),
        idempotency_key,
    })
}

/// How long a request waits for this instance to store what it answered before (normally a part's last
/// milliseconds); past it the request goes on with the saved progress.
const FINISHING_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A tenant's tus upload, expired or not: 404 for another tenant's, a direct upload's or none. Read once this
/// instance has stored what it last answered for it, so it is where that answer said.
async fn tus_upload(st: &AppState, tenant: &Tenant, id: &UploadId) -> Result<ResumableUpload, ApiError> {
    st.tus_finishing.wait(id, FINISHING_WAIT).await;
    st.backends
        .repo
        .get_upload(&tenant.id, id)
        .await?
        .filter(|u| !u.metadata.contains_key(crate::direct::MARK))
        .ok_or_else(|| ApiError::not_found("upload"))
}

/// A tenant's upload that can still be used: 404 when it has none by that id, 410 once it expired.
async fn owned(st: &AppState, tenant: &Tenant, id: &UploadId) -> Result<ResumableUpload, ApiError> {
    usable(tus_upload(st, tenant, id).await?)
}

fn usable(u: ResumableUpload) -> Result<ResumableUpload, ApiError> {
    let id = &u.id;
    if u.completed_at.is_none() && u.expires_at < now_ms() {
        return Err(ApiError::new(StatusCode::GONE, "upload_expired", format!("upload {id} expired; start a new one")));
    }
    Ok(u)
}

/// `POST /v1/uploads`: a new upload of `Upload-Length` bytes, with `Upload-Metadata` (`filename`, `batch_id`,
/// `idempotency_key`); with a body of upload bytes, its first bytes too. `201` with its URL in `Location`.
pub async fn create(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    protocol::check_version(&headers)?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "defer_length_unsupported",
            "Upload-Defer-Length is not served (no creation-defer-length): send Upload-Length",
        ));
    }
    let length = protocol::number(&headers, "upload-length")?
        .ok_or_else(|| ApiError::bad_request("no_length", "Upload-Length is required"))?;
    crate::upload::check_declared(&st.backends.cfg.limits, "Upload-Length", length)?;
    let metadata = protocol::metadata(&headers)?;
    if metadata.contains_key(crate::direct::MARK) {
        return Err(ApiError::bad_request(
            "bad_metadata",
            format!("Upload-Metadata key {:?} is reserved", crate::direct::MARK),
        ));
    }
    let w = wanted(&metadata)?;
    if let Some(b) = &w.batch_id {
        crate::routes::batches::open_batch(&st, &tenant.id, b).await?;
    }
    crate::routes::media::check_quotas(&st, &tenant, length).await?;
    let now = now_ms();
    let media_id = MediaId::generate();
    let u = ResumableUpload {
        id: UploadId::generate(),
        tenant_id: tenant.id.clone(),
        length,
        metadata,
        filename: w.filename,
        batch_id: w.batch_id,
        idempotency_key: w.idempotency_key,
        raw_key: store::resumable_key(&tenant.id, &media_id),
        media_id,
        expires_at: now + (st.backends.cfg.uploads.expire_secs as i64) * 1000,
        completed_at: None,
        created_at: now,
        progress: UploadProgress::default(),
    };
    st.backends.repo.create_upload(&u).await?;
    metrics::counter!("mediamill_tus_uploads_created_total").increment(1);
    let location = upload_url(&st, &u.id);
    let with_bytes = protocol::is_offset_stream(&headers);
    let (u, media, refused) =
        if with_bytes { take_bytes(&st, &tenant, u, None, &headers, body).await? } else { (u, None, None) };
    if let Some(e) = refused {
        return Err(e.with_header(axum::http::header::LOCATION, location));
    }
    let mut h = state_headers(&u);
    h.insert(
        axum::http::header::LOCATION,
        HeaderValue::from_str(&location).map_err(|_| ApiError::not_found("upload"))?,
    );
    h.insert(UPLOAD_LENGTH, HeaderValue::from(u.length));
    if let Some(m) = media {
        media_headers(&st, &mut h, &m);
    }
    Ok((StatusCode::CREATED, h).into_response())
}

/// `HEAD /v1/uploads/{id}`: how many bytes are kept (`Upload-Offset`) and how many are declared.
pub async fn head(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<UploadId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    protocol::check_version(&headers)?;
    let u = owned(&st, &tenant, &id).await?;
    let mut h = state_headers(&u);
    h.insert(UPLOAD_LENGTH, HeaderValue::from(u.length));
    if let Ok(v) = HeaderValue::from_str(&protocol::encode_metadata(&u.metadata)) {
        h.insert("upload-metadata", v);
    }
    if u.completed_at.is_some() {
        media_headers(&st, &mut h, &u.media_id);
    }
    Ok((StatusCode::OK, h).into_response())
}

/// `PATCH /v1/uploads/{id}`: bytes at `Upload-Offset`, optionally with `Upload-Checksum` (`460` on mismatch,
/// nothing kept). `204` with the new offset; the request that completes the upload also answers `Media-Id`
/// and `Media-Location`.
pub async fn patch(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<UploadId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    protocol::check_version(&headers)?;
    if !protocol::is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_content_type",
            format!("a PATCH carries Content-Type: {}", protocol::OFFSET_STREAM),
        ));
    }
    let offset = protocol::number(&headers, "upload-offset")?
        .ok_or_else(|| ApiError::bad_request("no_offset", "Upload-Offset is required"))?;
    // A request this instance answered for this tenant's upload is still storing: this one follows it at
    // once, from the answered state (newer than the saved one, which is not read).
    if let Some((answered, before)) = st.tus_finishing.follow(&id, offset, &tenant.id) {
        let u = usable(answered.upload.clone())?;
        let (u, media, refused) = take_bytes(&st, &tenant, u, Some((answered, before)), &headers, body).await?;
        return patched(&st, u, media, refused);
    }
    let u = owned(&st, &tenant, &id).await?;
    if u.completed_at.is_some() || offset != u.progress.offset {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!(
                "Upload-Offset is {offset} but the upload has {} bytes; HEAD it and resume from there",
                u.progress.offset
            ),
        )
        .with_header(UPLOAD_OFFSET, u.progress.offset.to_string()));
    }
    let (u, media, refused) = take_bytes(&st, &tenant, u, None, &headers, body).await?;
    patched(&st, u, media, refused)
}

/// The answer to a `PATCH` whose bytes were taken.
fn patched(
    st: &AppState,
    u: ResumableUpload,
    media: Option<MediaId>,
    refused: Option<ApiError>,
) -> Result<Response, ApiError> {
    if let Some(e) = refused {
        return Err(e.with_header(UPLOAD_OFFSET, u.progress.offset.to_string()));
    }
    let mut h = state_headers(&u);
    if let Some(m) = media {
        media_headers(st, &mut h, &m);
    }
    Ok((StatusCode::NO_CONTENT, h).into_response())
}

/// Appends a request's bytes and, when they were the last, turns the upload into a media item. A refusal of
/// the bytes themselves (their type, their kind's size limit) ends the upload: it could never be accepted.
async fn take_bytes(
    st: &AppState,
    tenant: &Tenant,
    u: ResumableUpload,
    follow: Option<(append::Answered, append::Predecessor)>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(ResumableUpload, Option<MediaId>, Option<ApiError>), ApiError> {
    let declared = protocol::number(headers, "content-length")?;
    if declared.is_some_and(|n| n > u.length - u.progress.offset) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "exceeds_upload_length",
            format!(
                "the request carries {} bytes but the upload has room for {} more (Upload-Length {})",
                declared.unwrap_or(0),
                u.length - u.progress.offset,
                u.length
            ),
        ));
    }
    let checksum = protocol::checksum(headers)?;
    let _slots = crate::routes::media::upload_slots(st, tenant)?;
    // The work goes on in its own task: a client that goes away drops this request's future, and what it sent
    // until then must still be kept, and an upload whose last byte arrived must still become its item.
    let (st2, tenant2) = (st.clone(), tenant.clone());
    let stream = Box::pin(crate::routes::media::paced(st, tenant, body.into_data_stream()));
    tokio::spawn(async move { append_and_complete(&st2, &tenant2, u, follow, stream, declared, checksum).await })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
}

async fn append_and_complete(
    st: &AppState,
    tenant: &Tenant,
    u: ResumableUpload,
    follow: Option<(append::Answered, append::Predecessor)>,
    stream: impl futures::Stream<Item = Result<bytes::Bytes, axum::Error>> + Unpin,
    declared: Option<u64>,
    checksum: Option<protocol::Checksum>,
) -> Result<(ResumableUpload, Option<MediaId>, Option<ApiError>), ApiError> {
    let appended = match append::append(st, u.clone(), follow, stream, declared, checksum).await {
        Ok(a) => a,
        Err(e) if e.code == "unsupported_media_type" || e.code == "too_large" => {
            sweep::discard(&st.backends, &u).await;
            tracing::info!(upload = %u.id, code = e.code, "upload refused by its first bytes; removed");
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if appended.refused.is_some() || !appended.upload.is_complete() {
        return Ok((appended.upload, None, appended.refused));
    }
    let media = complete::complete(st, tenant, &appended.upload).await?;
    let mut done = appended.upload;
    done.completed_at = Some(now_ms());
    Ok((done, Some(media), None))
}

/// `DELETE /v1/uploads/{id}`: ends an upload and removes its bytes; `204`. An upload that already became a
/// media item is only forgotten (delete the item with `DELETE /v1/media/{id}`).
pub async fn terminate(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<UploadId>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    protocol::check_version(&headers)?;
    let u = tus_upload(&st, &tenant, &id).await?;
    let live = u.completed_at.is_none() && u.expires_at > now_ms();
    if live && !st.backends.repo.lease_upload(&u.id, u.progress.offset, now_ms() + 60_000).await? {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "upload_locked",
            "a request is writing to this upload; try again once it is done",
        ));
    }
    sweep::discard(&st.backends, &u).await;
    Ok(StatusCode::NO_CONTENT)
}
