//! `/v1/batches`: create a batch, add files (many per multipart request), seal it, read its progress.
//! A file refused at upload (too large, unsupported, empty) becomes a failed item with its reason: the
//! batch's counts always add up to every file the client sent.

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::Json;
use futures::TryStreamExt;
use mediamill_core::event::{self, BatchEvent};
use mediamill_core::model::{Batch, BatchStatus};
use mediamill_core::outbox::batch_event;
use mediamill_core::repo::now_ms;
use serde::Deserialize;
use serde_json::{json, Value};

use super::media::{accept, declared_length, filename_from_headers, is_multipart};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;
use crate::upload::clean_filename;

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

async fn owned_batch(st: &AppState, tenant_id: &str, id: &str) -> Result<Batch, ApiError> {
    st.repo.get_batch(tenant_id, id).await?.ok_or_else(|| ApiError::not_found("batch"))
}

/// A tenant's batch that still takes files; 409 once sealed.
async fn open_batch(st: &AppState, tenant_id: &str, id: &str) -> Result<Batch, ApiError> {
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
    body: bytes::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.len() > MAX_METADATA_BYTES * 2 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a batch description is at most {} bytes", MAX_METADATA_BYTES * 2),
        ));
    }
    let nb: NewBatch = if body.iter().all(|b| b.is_ascii_whitespace()) {
        NewBatch::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("bad_batch", format!("batch description: {e}")))?
    };
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
        id: uuid::Uuid::now_v7().to_string(),
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
    st.repo.create_batch(&b).await?;
    let mut out = batch_json(&st.cfg.public_url(), &b, &Default::default());
    if let Some(s) = &b.webhook_secret {
        out["webhook_secret"] = json!(s); // shown once, here
    }
    Ok((StatusCode::CREATED, Json(out)))
}

/// One file's answer within a batch upload.
fn item_answer(filename: Option<String>, r: Result<mediamill_core::model::Media, ApiError>) -> (Value, Option<ApiError>) {
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
    batch_id: &str,
    filename: Option<String>,
    r: Result<mediamill_core::model::Media, ApiError>,
) -> Result<Value, ApiError> {
    let (answer, err) = item_answer(filename.clone(), r);
    if let Some(e) = err {
        if e.status.is_server_error() {
            return Err(e);
        }
        st.repo.add_refused_item(batch_id, filename.as_deref(), e.code, &e.message).await?;
    }
    Ok(answer)
}

/// `POST /v1/batches/{id}/media`: a raw body (one file) or multipart with any number of file fields.
pub async fn add_media(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b = open_batch(&st, &tenant.id, &id).await?;
    let headers = req.headers().clone();
    let mut items = Vec::new();
    if is_multipart(&headers) {
        let mut mp = Multipart::from_request(req, &st)
            .await
            .map_err(|e| ApiError::bad_request("bad_multipart", format!("multipart body: {e}")))?;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => f,
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => return Err(ApiError::bad_request("bad_multipart", format!("multipart body: {e}"))),
            };
            let filename = field.file_name().and_then(clean_filename);
            let r = accept(&st, &tenant.id, field, None, filename.clone(), Some(b.id.clone()), None).await;
            items.push(record(&st, &b.id, filename, r).await?);
        }
        if items.is_empty() {
            return Err(ApiError::bad_request("no_file", "the multipart body has no file field"));
        }
    } else {
        let filename = filename_from_headers(&headers);
        let stream = req.into_body().into_data_stream().map_err(|e| e.to_string());
        let r = accept(&st, &tenant.id, stream, declared_length(&headers), filename.clone(), Some(b.id.clone()), None).await;
        items.push(record(&st, &b.id, filename, r).await?);
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"batch_id": b.id, "items": items}))))
}

/// `POST /v1/batches/{id}/archive`: a zip whose entries become the batch's items. See [`crate::archive`]
/// for what is refused and what is skipped.
pub async fn add_archive(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let b = open_batch(&st, &tenant.id, &id).await?;
    let internal = |e: std::io::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string());
    let limit = st.cfg.limits.max_archive_bytes;
    let too_large = || ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the archive is larger than {limit} bytes (limits.max_archive_bytes)"),
    );
    if declared_length(req.headers()).is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Spool to disk: a zip's directory is at its end, and memory must stay flat.
    let tmp = tempfile::NamedTempFile::new().map_err(internal)?;
    let path = tmp.path().to_path_buf();
    let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
    let mut body = req.into_body().into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("upload_interrupted", format!("the upload stream broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    if size == 0 {
        return Err(ApiError::bad_request("empty", "the archive has no bytes"));
    }
    let limits = st.cfg.limits.clone();
    let p2 = path.clone();
    let plan = tokio::task::spawn_blocking(move || crate::archive::plan(&p2, &limits))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;

    let mut items = Vec::new();
    let mut skipped: Vec<Value> = plan.skipped.iter().map(|(n, r)| json!({"name": n, "reason": r})).collect();
    for entry in plan.entries {
        let (p3, e3) = (path.clone(), entry.clone());
        if tokio::task::spawn_blocking(move || crate::archive::is_nested_archive(&p3, &e3)).await.unwrap_or(false) {
            skipped.push(json!({"name": entry.name, "reason": "nested_archive"}));
            continue;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (p4, e4) = (path.clone(), entry.clone());
        let reader = tokio::task::spawn_blocking(move || crate::archive::stream_entry(&p4, &e4, tx));
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
        let filename = entry.name.rsplit('/').next().and_then(clean_filename);
        let r = accept(&st, &tenant.id, Box::pin(stream), Some(entry.size), filename.clone(), Some(b.id.clone()), None).await;
        let _ = reader.await;
        match r {
            Err(e) if e.code == "unsupported_media_type" || e.code == "empty" => {
                skipped.push(json!({"name": entry.name, "reason": e.code, "message": e.message}));
            }
            r => items.push(record(&st, &b.id, filename, r).await?),
        }
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"batch_id": b.id, "items": items, "skipped": skipped}))))
}

/// `POST /v1/batches/{id}/seal`: no more files; the batch completes when every item is terminal.
pub async fn seal(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let b = owned_batch(&st, &tenant.id, &id).await?;
    if st.repo.seal_batch(&b.id).await? {
        // Every item may already be terminal: then sealing is what completes it.
        let make = |b: &Batch, c: &mediamill_core::model::BatchCounts| vec![batch_event(b, c, event::BATCH_COMPLETED)];
        if st.repo.complete_batch_if_done(&b.id, &make).await?.is_some() {
            st.waker.wake();
        }
    }
    let b = owned_batch(&st, &tenant.id, &id).await?;
    let counts = st.repo.batch_counts(&b.id).await?;
    Ok(Json(batch_json(&st.cfg.public_url(), &b, &counts)))
}

/// Query of `GET /v1/batches/{id}`.
#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/batches/{id}`: counts per state, percent done, timing, and a page of items.
pub async fn get_one(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Value>, ApiError> {
    let b = owned_batch(&st, &tenant.id, &id).await?;
    let counts = st.repo.batch_counts(&b.id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = st.repo.batch_items(&b.id, q.cursor.as_deref(), limit).await?;
    let next = (items.len() as u32 == limit).then(|| items.last().map(|i| i.item_id.clone())).flatten();
    let mut out = batch_json(&st.cfg.public_url(), &b, &counts);
    out["items"] = serde_json::to_value(&items).unwrap_or_default();
    out["next_cursor"] = json!(next);
    Ok(Json(out))
}
