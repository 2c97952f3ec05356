//! `GET /v1/media/{id}/variants`: the item's variants; `GET /v1/media/{id}/variants/{name}`: streams one,
//! honouring `Range` so players can seek.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use mediamill_core::store::ByteRange;

use axum::Json;
use mediamill_core::model::ext_of;

use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/media/{id}/variants`: `{"items": [...]}` in the shape and order of the item's `variants`.
pub async fn list(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let m = super::media::existing(&st, &tenant.id, &id).await?;
    let vs = st.repo.variants(&m.id).await?;
    Ok(Json(serde_json::json!({"items": super::view::variants(&st.cfg.public_url(), &m, &vs)})))
}

/// `name` is `thumb` (the first format stored) or `thumb.webp` / `thumb.jpg`.
pub async fn get_variant(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let m = super::media::existing(&st, &tenant.id, &id).await?;
    let vs = st.repo.variants(&m.id).await?;
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, Some(e)),
        None => (name.as_str(), None),
    };
    let v = vs
        .iter()
        .find(|v| v.name == base && ext.is_none_or(|e| ext_of(&v.format) == e || v.format == e))
        .ok_or_else(|| ApiError::not_found("variant"))?;
    serve(&st, &v.key, &headers).await
}

/// Streams the object under `key`, honouring `Range`.
pub async fn serve(st: &AppState, key: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let range = headers.get(header::RANGE).and_then(|h| h.to_str().ok()).and_then(ByteRange::parse);
    let obj = st.store.open(key, range).await?;
    let mut b = Response::builder()
        .header(header::CONTENT_TYPE, &obj.content_type)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=31536000, immutable");
    b = match obj.range {
        Some((s, e)) => b
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{}", obj.total_size))
            .header(header::CONTENT_LENGTH, e - s + 1),
        None => b.status(StatusCode::OK).header(header::CONTENT_LENGTH, obj.total_size),
    };
    b.body(Body::from_stream(obj.body))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}
