//! Bearer-key authentication: every `/v1` request names its tenant through its key.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mediamill_core::apikey;
use mediamill_core::model::Tenant;

use crate::error::ApiError;
use crate::state::AppState;

/// The tenant the request's key belongs to.
pub struct Authed(pub Tenant);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <key> header"))?;
        let value = header.to_str().map_err(|_| ApiError::unauthorized("Authorization header is not text"))?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <key>'"))?;
        // Looked up on every request, so a revoked key stops working at once.
        match state.repo.tenant_for_key(&apikey::hash(key)).await? {
            Some(t) => {
                state.tenants.requests.check(&t.id, state.cfg.tenants.effective(&t.limits, "requests_per_sec"))?;
                Ok(Authed(t))
            }
            None => Err(ApiError::unauthorized("unknown or revoked API key")),
        }
    }
}
