//! Bearer-key authentication: every `/v1` request names its tenant through its key.
//!
//! A key is looked up on every request, so a revoked one stops at once. A revoked or expired key is refused
//! (401) and the refusal goes to `auth.events` (at most one event per key a minute per instance, so a
//! client hammering with a dead key cannot flood the outbox); the first refusal after an expiry also
//! announces `key.expired`. A key's scope decides what it may do: [`Authed`] takes any key, [`AdminAuthed`]
//! only `admin` ones.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use mediamill_core::event;
use mediamill_core::model::{ApiKey, KeyScope, Tenant, TenantLimit};
use mediamill_core::outbox::key_event;
use mediamill_core::repo::now_ms;

use crate::error::ApiError;
use crate::state::AppState;

/// The tenant the request's key belongs to (any scope).
pub struct Authed(pub Tenant);

/// The tenant of a request whose key has the `admin` scope.
pub struct AdminAuthed(pub Tenant);

/// The key that authenticated the request, for handlers that follow it (live streams close when it is
/// revoked).
#[derive(Clone)]
pub struct CallerKey(pub ApiKey);

/// What this instance remembers about keys between requests: when each was last written as used, and when
/// its last refusal was announced.
#[derive(Default)]
pub struct KeyActivity {
    touched: Mutex<HashMap<String, i64>>,
    refused: Mutex<HashMap<String, i64>>,
}

/// `last_used_at` is written at most this often per key (ms), and refusals announced at most this often.
const QUIET_MS: i64 = 60_000;

impl KeyActivity {
    /// Whether `key` was not marked in `map` within the quiet period; marks it.
    fn due(map: &Mutex<HashMap<String, i64>>, key: &str, now: i64) -> bool {
        let Ok(mut m) = map.lock() else { return false };
        if m.len() > 100_000 {
            m.retain(|_, at| now - *at < QUIET_MS);
        }
        match m.get(key) {
            Some(at) if now - at < QUIET_MS => false,
            _ => {
                m.insert(key.to_string(), now);
                true
            }
        }
    }
}

/// Authenticates a request from its parts (for handlers where the key is optional).
pub(crate) async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Tenant, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <key> header"))?;
    let value = header.to_str().map_err(|_| ApiError::unauthorized("Authorization header is not text"))?;
    let secret = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <key>'"))?;
    let Some((tenant, key)) = state.backends.repo.key_by_hash(&mediamill_core::apikey::hash(secret)).await? else {
        return Err(ApiError::unauthorized("unknown API key"));
    };
    let now = now_ms();
    let refusal = if key.revoked_at.is_some() {
        Some("revoked")
    } else if key.expired(now) {
        Some("expired")
    } else {
        None
    };
    if let Some(reason) = refusal {
        announce_refusal(state, &key, reason, now).await;
        return Err(ApiError::unauthorized(format!("this API key was {reason}")));
    }
    state
        .tenants
        .requests
        .check(tenant.id.as_str(), state.backends.cfg.tenants.effective(&tenant.limits, TenantLimit::RequestsPerSec))?;
    if KeyActivity::due(&state.keys.touched, &key.id, now) {
        let (repo, id) = (state.backends.repo.clone(), key.id.clone());
        // Off the request's path: when a key was last used is worth a write a minute, not a wait.
        tokio::spawn(async move {
            if let Err(e) = repo.touch_key(&id, now).await {
                tracing::debug!(error = %e, "recording a key's last use");
            }
        });
    }
    if let Some(note) = parts.extensions.get::<std::sync::Arc<crate::gateway_log::Note>>() {
        let _ = note.tenant_id.set(tenant.id.to_string());
        let _ = note.key_id.set(key.id.clone());
    }
    if let Some(allowed) = parts.extensions.get::<std::sync::Arc<crate::cors::AllowedOrigins>>() {
        let _ = allowed.0.set(tenant.cors_origins.clone());
    }
    parts.extensions.insert(CallerKey(key));
    Ok(tenant)
}

async fn announce_refusal(state: &AppState, key: &ApiKey, reason: &str, now: i64) {
    if reason == "expired" {
        match state.backends.repo.report_expiry(key, &|k| vec![key_event(k, event::KEY_EXPIRED, None)]).await {
            Ok(true) => state.backends.waker.wake(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "announcing a key's expiry"),
        }
    }
    if KeyActivity::due(&state.keys.refused, &key.id, now) {
        match state.backends.repo.append_events(&[key_event(key, event::KEY_REFUSED, Some(reason))]).await {
            Ok(()) => state.backends.waker.wake(),
            Err(e) => tracing::warn!(error = %e, "announcing a refused key"),
        }
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(Authed)
    }
}

impl FromRequestParts<AppState> for AdminAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let tenant = authenticate(parts, state).await?;
        let scope = parts.extensions.get::<CallerKey>().map(|k| k.0.scope).unwrap_or(KeyScope::Upload);
        if !scope.covers(KeyScope::Admin) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this key has the upload scope; webhooks and email recipients need an admin key \
                 (mediamill keys create --scope admin)",
            ));
        }
        Ok(AdminAuthed(tenant))
    }
}
