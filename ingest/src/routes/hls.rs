//! `GET /v1/media/{id}/hls/{file}`: the HLS master playlist, the rendition playlists and their segments,
//! served under one folder so the playlists' relative URIs resolve. Players send the same bearer key.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use mediamill_core::model::MediaId;
use mediamill_core::store::{self, hls_content_type as content_type};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;

/// `file` is a plain name such as `master.m3u8`, `720p.m3u8` or `720p_00003.ts`.
pub async fn get_file(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path((id, file)): Path<(MediaId, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let plain = !file.is_empty()
        && file.len() <= 64
        && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !plain || file.starts_with('.') || content_type(&file).is_none() {
        return Err(ApiError::not_found("HLS file"));
    }
    let m = st.backends.repo.get_media(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    let vs = st.backends.repo.variants(&m.id).await?;
    if !vs.iter().any(|v| v.format == "m3u8") {
        return Err(ApiError::not_found("HLS output (video.hls is off, or the item is not a processed video)"));
    }
    super::variants::serve(&st, &store::hls_key(&m.tenant_id, &m.id, &file), &headers).await
}
