//! `/v1/batches`: create a batch, add files (many per multipart request), seal it, read its progress.
//! A file refused at upload (too large, unsupported, empty) becomes a failed item with its reason: the
//! batch's counts always add up to every file the client sent.

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use mediamill_core::event::{self, BatchEvent};
use mediamill_core::model::{Batch, BatchId, BatchStatus, TenantId};
use mediamill_core::outbox::batch_event;
use mediamill_core::repo::now_ms;
use serde::Deserialize;
use serde_json::{json, Value};

use super::media::{accept, idempotency_key, Upload};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::state::AppState;
use crate::upload::clean_filename;
use crate::upload_body::{declared_length, next_file, UploadBody};

/// Body of `POST /v1/batches`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    name: Option<String>,
    expected_count: Option<u64>,
    metadata: Option<Value>,
    webhook_url: Option<String>,
}

const MAX_NAME: usize = 200;
const MAX_METADATA_BYTES: usize = 16 * 1024;

fn batch_json(base: &str, b: &Batch, counts: &mediamill_core::model::BatchCounts) -> Value {
    let ev = BatchEvent::of(b, counts);
    let url = format!("{base}/v1/batches/{}", b.id);
    json!({
        "id": b.id, "name": b.name, "status": b.status, "outcome": b.outcome, "round": b.round,
        "expected_count": b.expected_count, "metadata": b.metadata, "webhook_url": b.webhook_url,
        "counts": counts, "total": counts.total(), "percent_done": ev.percent_done,
        "created_at": b.created_at, "sealed_at": b.sealed_at, "completed_at": b.completed_at,
        "duration_ms": b.completed_at.map(|c| c - b.created_at),
        "links": {"self": url, "media": format!("{url}/media"), "seal": format!("{url}/seal")},
    })
}

async fn owned_batch(st: &AppState, tenant_id: &TenantId, id: &BatchId) -> Result<Batch, ApiError> {
    st.backends.repo.get_batch(tenant_id, id).await?.ok_or_else(|| ApiError::not_found("batch"))
}

/// A tenant's batch that still takes files; 409 once sealed.
pub async fn open_batch(st: &AppState, tenant_id: &TenantId, id: &BatchId) -> Result<Batch, ApiError> {
    let b = owned_batch(st, tenant_id, id).await?;
    if b.status != BatchStatus::Open {
        return Err(ApiError::new(StatusCode::CONFLICT, "batch_sealed", "the batch is sealed and takes no more files"));
    }
    Ok(b)
}

/// `POST /v1/batches` → 201 with the new, open batch.
pub async fn create(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    JsonBody(nb): JsonBody<NewBatch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let nb = nb.unwrap_or_default();
    if nb.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
        return Err(ApiError::bad_request("bad_batch", format!("name is longer than {MAX_NAME} characters")));
    }
    if nb.metadata.as_ref().is_some_and(|m| m.to_string().len() > MAX_METADATA_BYTES) {
        return Err(ApiError::bad_request("bad_batch", format!("metadata is larger than {MAX_METADATA_BYTES} bytes")));
    }
    if let Some(u) = &nb.webhook_url {
        super::webhooks::check_target(&st, u).await?;
    }
    let b = Batch {
        id: BatchId::generate(),
        tenant_id: tenant.id.clone(),
        name: nb.name,
        expected_count: nb.expected_count,
        metadata: nb.metadata,
        webhook_secret: nb.webhook_url.as_ref().map(|_| mediamill_core::webhook_target::new_secret()),
        webhook_url: nb.webhook_url,
        status: BatchStatus::Open,
        outcome: None,
        round: 1,
        created_at: now_ms(),
        sealed_at: None,
        completed_at: None,
    };
    st.backends.repo.create_batch(&b).await?;
    let mut out = batch_json(&st.backends.cfg.public_url(), &b, &Default::default());
    if let Some(s) = &b.webhook_secret {
        out["webhook_secret"] = json!(s); // shown once, here
    }
    Ok((StatusCode::CREATED, Json(out)))
}

/// One file's answer within a batch upload.
fn item_answer(
    filename: Option<String>,
    r: Result<mediamill_core::model::Media, ApiError>,
) -> (Value, Option<ApiError>) {
    match r {
        Ok(m) => (json!({"media_id": m.id, "filename": filename, "status": m.status}), None),
        Err(e) => (
            json!({"media_id": null, "filename": filename, "status": "failed",
                   "error": {"code": e.code, "message": e.message}}),
            Some(e),
        ),
    }
}

/// The answer for one file; a refused file is kept as a failed item, unless the refusal was ours (store or
/// database down), which fails the request so the client retries.
async fn record(
    st: &AppState,
    batch_id: &BatchId,
    filename: Option<String>,
    r: Result<mediamill_core::model::Media, ApiError>,
) -> Result<Value, ApiError> {
    let (answer, err) = item_answer(filename.clone(), r);
    if let Some(e) = err {
        // Our own trouble (store or database down) and a reused idempotency key fail the request instead:
        // retrying it is the right answer, and it must not leave a failed item behind.
        if e.status.is_server_error() || e.code == "idempotency_key_reused" {
            return Err(e);
        }
        st.backends.repo.add_refused_item(batch_id, filename.as_deref(), e.code, &e.message).await?;
    }
    Ok(answer)
}

/// `POST /v1/batches/{id}/media`: a raw body (one file) or multipart with any number of file fields (at most
/// `limits.max_parts_per_request`). An `Idempotency-Key` covers the request: a raw body's file takes the key
/// itself, the files of a multipart body `KEY/0`, `KEY/1`, … in order, so a retried request maps each file to
/// the item it made the first time.
pub async fn add_media(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<BatchId>,
    headers: HeaderMap,
    body: UploadBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b = open_batch(&st, &tenant.id, &id).await?;
    let idem = idempotency_key(&headers)?;
    let mut items = Vec::new();
    match body {
        UploadBody::Form(mut fields) => {
            let mut n = 0usize;
            let max = st.backends.cfg.limits.max_parts_per_request;
            while let Some(field) = next_file!(fields)? {
                if n == max {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_many_parts",
                        format!(
                            "a request carries at most {max} files (limits.max_parts_per_request); the first \
                             {max} were added to the batch, send the rest in another request"
                        ),
                    ));
                }
                let filename = field.file_name().and_then(clean_filename);
                let up = Upload {
                    tenant: &tenant,
                    batch_id: Some(b.id.clone()),
                    idem: idem.as_ref().map(|k| format!("{k}/{n}")),
                };
                let r = accept(&st, &up, field, None, filename.clone()).await;
                items.push(record(&st, &b.id, filename, r).await?);
                n += 1;
            }
            if items.is_empty() {
                return Err(ApiError::bad_request("no_file", "the multipart body has no file field"));
            }
        }
        UploadBody::Raw(raw) => {
            let (declared, filename) = (raw.declared_length, raw.filename.clone());
            let up = Upload { tenant: &tenant, batch_id: Some(b.id.clone()), idem };
            let r = accept(&st, &up, raw.into_stream(), declared, filename.clone()).await;
            items.push(record(&st, &b.id, filename, r).await?);
        }
    }
    seal_when_expected(&st, &b).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"batch_id": b.id, "items": items}))))
}

/// A batch created with `expected_count` seals itself once it holds that many files (accepted or refused),
/// so it completes when they are all terminal without a separate seal call.
async fn seal_when_expected(st: &AppState, b: &Batch) -> Result<(), ApiError> {
    let Some(expected) = b.expected_count else { return Ok(()) };
    if st.backends.repo.batch_counts(&b.id).await?.total() >= expected {
        seal_and_complete(st, &b.id).await?;
    }
    Ok(())
}

/// `open` → `sealed`, and `completed` at once when every item is already terminal.
async fn seal_and_complete(st: &AppState, batch_id: &BatchId) -> Result<(), ApiError> {
    if st.backends.repo.seal_batch(batch_id).await? {
        let make = |b: &Batch, c: &mediamill_core::model::BatchCounts| vec![batch_event(b, c, event::BATCH_COMPLETED)];
        if st.backends.repo.complete_batch_if_done(batch_id, &make).await?.is_some() {
            st.backends.waker.wake();
        }
    }
    Ok(())
}

/// `POST /v1/batches/{id}/archive`: a zip whose entries become the batch's items. See [`crate::archive`]
/// for what is refused and what is skipped.
pub async fn add_archive(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<BatchId>,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let b = open_batch(&st, &tenant.id, &id).await?;
    let limit = st.backends.cfg.limits.max_archive_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the archive is larger than {limit} bytes (limits.max_archive_bytes)"),
        )
    };
    if declared_length(req.headers()).is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Each spool may take `max_archive_bytes` of disk: only a few at once per instance.
    let max = st.backends.cfg.limits.max_concurrent_archives;
    let _slot = st
        .gates
        .archives
        .try_acquire()
        .map_err(|_| crate::state::busy("archives", "limits.max_concurrent_archives", max))?;
    // Spool to disk: a zip's directory is at its end, and memory must stay flat.
    let tmp = tempfile::NamedTempFile::new().map_err(spool_error)?;
    let path = tmp.path().to_path_buf();
    // Gathered to 1 MiB a write: tokio hands each file write to its blocking pool.
    let mut file =
        tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::create(&path).await.map_err(spool_error)?);
    let mut body = req.into_body().into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("upload_interrupted", format!("the upload stream broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(spool_error)?;
    }
    file.flush().await.map_err(spool_error)?;
    if size == 0 {
        return Err(ApiError::bad_request("empty", "the archive has no bytes"));
    }
    let limits = st.backends.cfg.limits.clone();
    let p2 = path.clone();
    let (zip, plan) = tokio::task::spawn_blocking(move || crate::archive::open(&p2, &limits))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(archive_error)?;

    let mut items = Vec::new();
    let mut skipped: Vec<Value> = plan.skipped.iter().map(|(n, r)| json!({"name": n, "reason": r})).collect();
    for entry in plan.entries {
        let (z3, e3) = (zip.clone(), entry.clone());
        if tokio::task::spawn_blocking(move || crate::archive::is_nested_archive(&z3, &e3)).await.unwrap_or(false) {
            skipped.push(json!({"name": entry.name, "reason": "nested_archive"}));
            continue;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (z4, e4) = (zip.clone(), entry.clone());
        let reader = tokio::task::spawn_blocking(move || crate::archive::stream_entry(&z4, &e4, tx));
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
        let filename = entry.name.rsplit('/').next().and_then(clean_filename);
        let up = Upload { tenant: &tenant, batch_id: Some(b.id.clone()), idem: None };
        let r = accept(&st, &up, Box::pin(stream), Some(entry.size), filename.clone()).await;
        let _ = reader.await;
        match r {
            Err(e) if e.code == "unsupported_media_type" || e.code == "empty" => {
                skipped.push(json!({"name": entry.name, "reason": e.code, "message": e.message}));
            }
            r => items.push(record(&st, &b.id, filename, r).await?),
        }
    }
    seal_when_expected(&st, &b).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"batch_id": b.id, "items": items, "skipped": skipped}))))
}

/// The archive's spool failed on this instance's disk.
fn spool_error(e: std::io::Error) -> ApiError {
    ApiError::local_disk("spooling the archive", &e)
}

/// The HTTP answer for a refused archive.
fn archive_error(e: crate::archive::ArchiveError) -> ApiError {
    use crate::archive::ArchiveError as A;
    let msg = e.to_string();
    match e {
        A::Unreadable(_) => ApiError::bad_request("bad_archive", msg),
        A::TooManyEntries { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_entries", msg),
        A::Unsafe(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsafe_archive", msg),
        A::Bomb(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "zip_bomb", msg),
        A::Io(_) => {
            tracing::warn!(error = %msg, "archive spool");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
        }
    }
}

/// `POST /v1/batches/{id}/seal`: no more files; the batch completes when every item is terminal.
pub async fn seal(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<BatchId>,
) -> Result<Json<Value>, ApiError> {
    let b = owned_batch(&st, &tenant.id, &id).await?;
    // Every item may already be terminal: then sealing is what completes it.
    seal_and_complete(&st, &b.id).await?;
    let b = owned_batch(&st, &tenant.id, &id).await?;
    let counts = st.backends.repo.batch_counts(&b.id).await?;
    Ok(Json(batch_json(&st.backends.cfg.public_url(), &b, &counts)))
}

/// `GET /v1/batches?cursor=&limit=`: the tenant's batches, oldest first, each with its counts.
pub async fn list(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let bs = st.backends.repo.list_batches(&tenant.id, q.cursor.map(BatchId::from).as_ref(), limit).await?;
    let base = st.backends.cfg.public_url();
    let mut items = Vec::with_capacity(bs.len());
    for b in &bs {
        items.push(batch_json(&base, b, &st.backends.repo.batch_counts(&b.id).await?));
    }
    let next = (bs.len() as u32 == limit).then(|| bs.last().map(|b| b.id.clone())).flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// Query of `GET /v1/batches` and `GET /v1/batches/{id}`.
#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/batches/{id}`: counts per state, percent done, timing, and a page of items.
pub async fn get_one(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<BatchId>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Value>, ApiError> {
    let b = owned_batch(&st, &tenant.id, &id).await?;
    let counts = st.backends.repo.batch_counts(&b.id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = st.backends.repo.batch_items(&b.id, q.cursor.as_deref(), limit).await?;
    let next = (items.len() as u32 == limit).then(|| items.last().map(|i| i.item_id.clone())).flatten();
    let mut out = batch_json(&st.backends.cfg.public_url(), &b, &counts);
    out["items"] = serde_json::to_value(&items).unwrap_or_default();
    out["next_cursor"] = json!(next);
    Ok(Json(out))
}
