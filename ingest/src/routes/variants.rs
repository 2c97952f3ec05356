//! `GET /v1/media/{id}/variants`: the item's variants; `GET /v1/media/{id}/variants/{name}`: streams one,
//! honouring `Range` so players can seek.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use mediamill_core::store::ByteRange;
use serde::Deserialize;

use axum::Json;
use mediamill_core::model::{ext_of, MediaId};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/media/{id}/variants`: `{"items": [...]}` in the shape and order of the item's `variants`.
pub async fn list(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<MediaId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let m = super::media::existing(&st, &tenant.id, &id).await?;
    let vs = st.backends.repo.variants(&m.id).await?;
    Ok(Json(serde_json::json!({"items": super::view::variants(&st.backends.cfg.public_url(), &m, &vs)})))
}

/// A signed URL's query (`?exp=&sig=`), or the life asked of a new one (`?ttl=`).
#[derive(Debug, Deserialize)]
pub struct Signed {
    exp: Option<i64>,
    sig: Option<String>,
    ttl: Option<u64>,
}

/// `GET /v1/media/{id}/variants/{name}/signed-url?ttl=SECONDS`: a URL of the variant that works without the
/// bearer key until it expires (default an hour, at most `server.max_signed_url_secs`).
pub async fn signed_url(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path((id, name)): Path<(MediaId, String)>,
    Query(q): Query<Signed>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Whose the item is, first: another tenant's id is a 404 whatever the server's settings.
    let m = super::media::existing(&st, &tenant.id, &id).await?;
    find(&st.backends.repo.variants(&m.id).await?, &name)?;
    let key = &st.backends.cfg.server.url_signing_key;
    if key.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_configured",
            "signed URLs are off: set server.url_signing_key",
        ));
    }
    let max = st.backends.cfg.server.max_signed_url_secs;
    let ttl = q.ttl.unwrap_or(3600);
    if ttl == 0 || ttl > max {
        return Err(ApiError::bad_request(
            "bad_ttl",
            format!("ttl must be 1 to {max} seconds (server.max_signed_url_secs)"),
        ));
    }
    let exp = (mediamill_core::repo::now_ms() / 1000) + ttl as i64;
    let path = format!("/v1/media/{id}/variants/{name}");
    let sig = crate::signed_url::sign(key, &path, exp);
    Ok(Json(
        serde_json::json!({"url": format!("{}{path}?exp={exp}&sig={sig}", st.backends.cfg.public_url()), "expires_at": exp}),
    ))
}

fn find<'a>(
    vs: &'a [mediamill_core::model::Variant],
    name: &str,
) -> Result<&'a mediamill_core::model::Variant, ApiError> {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, Some(e)),
        None => (name, None),
    };
    vs.iter()
        .find(|v| v.name == base && ext.is_none_or(|e| ext_of(&v.format) == e || v.format == e))
        .ok_or_else(|| ApiError::not_found("variant"))
}

/// `name` is `thumb` (the first format stored) or `thumb.webp` / `thumb.jpg`. With `?exp=&sig=` (a signed
/// URL) no bearer key is needed.
pub async fn get_variant(
    State(st): State<AppState>,
    Path((id, name)): Path<(MediaId, String)>,
    Query(q): Query<Signed>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let headers = parts.headers.clone();
    let m = match (q.exp, q.sig.as_deref()) {
        (Some(exp), Some(sig)) => {
            let path = format!("/v1/media/{id}/variants/{name}");
            crate::signed_url::verify(
                &st.backends.cfg.server.url_signing_key,
                &path,
                exp,
                sig,
                mediamill_core::repo::now_ms() / 1000,
            )
            .map_err(|r| {
                ApiError::unauthorized(match r {
                    crate::signed_url::Refusal::Expired => "this signed URL has expired",
                    crate::signed_url::Refusal::NotConfigured => "signed URLs are off on this server",
                    crate::signed_url::Refusal::BadSignature => "this signed URL's signature does not match",
                })
            })?;
            let m = st.backends.repo.get_media_any(&id).await?.ok_or_else(|| ApiError::not_found("media"))?;
            if m.status == mediamill_core::model::MediaStatus::Deleted {
                return Err(ApiError::new(StatusCode::GONE, "deleted", format!("media {id} was deleted")));
            }
            m
        }
        _ => {
            let tenant = crate::auth::authenticate(&mut parts, &st).await?;
            super::media::existing(&st, &tenant.id, &id).await?
        }
    };
    let vs = st.backends.repo.variants(&m.id).await?;
    let v = find(&vs, &name)?;
    serve(&st, &v.key, &headers).await
}

/// Streams the object under `key`, honouring `Range`.
pub async fn serve(st: &AppState, key: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let range = headers.get(header::RANGE).and_then(|h| h.to_str().ok()).and_then(ByteRange::parse);
    let obj = st.backends.store.open(key, range).await?;
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
