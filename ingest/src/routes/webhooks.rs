//! `/v1/webhooks` and `/v1/email-recipients`: where a tenant's events are delivered, and the delivery log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use mediamill_core::model::TenantLimit;
use mediamill_core::notify_model::{Delivery, EmailRecipient, Endpoint};
use mediamill_core::repo::now_ms;
use mediamill_core::webhook_target;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AdminAuthed;
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::state::AppState;

const MAX_TYPES: usize = 50;

/// Body of `POST /v1/webhooks` and `POST /v1/email-recipients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    url: Option<String>,
    address: Option<String>,
    /// Event types (`mediamill.batch.completed.v1`), prefixes (`mediamill.media.*`) or `*`; default all.
    event_types: Option<Vec<String>>,
}

fn required(t: Option<NewTarget>) -> Result<NewTarget, ApiError> {
    t.ok_or_else(|| ApiError::bad_request("bad_json", "the request needs a JSON object body"))
}

fn event_types(t: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let t = t.unwrap_or_else(|| vec!["*".into()]);
    let ok = !t.is_empty()
        && t.len() <= MAX_TYPES
        && t.iter().all(|s| {
            !s.is_empty() && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || ".*_-".contains(c))
        });
    if ok {
        for f in &t {
            webhook_target_types(f)?;
        }
        Ok(t)
    } else {
        Err(ApiError::bad_request(
            "bad_event_types",
            format!(
                "event_types must be 1 to {MAX_TYPES} types like mediamill.media.failed.v1, prefixes ending in *, or *"
            ),
        ))
    }
}

fn webhook_target_types(f: &str) -> Result<(), ApiError> {
    mediamill_core::notify_model::check_type_filter(f).map_err(|e| ApiError::bad_request("bad_event_types", e))
}

/// Checks a webhook URL against the SSRF rules; 400 naming the rule when refused.
pub async fn check_target(st: &AppState, url: &str) -> Result<(), ApiError> {
    if url.len() > 2048 {
        return Err(ApiError::bad_request("bad_webhook_url", "the URL is longer than 2048 characters"));
    }
    webhook_target::check(url, &st.backends.cfg.notify.target_policy())
        .await
        .map_err(|e| ApiError::bad_request("bad_webhook_url", format!("webhook target refused: {e}")))
}

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id, "url": e.url, "event_types": e.event_types, "enabled": e.enabled,
        "disabled_reason": e.disabled_reason, "failing_since": e.failing_since, "created_at": e.created_at,
        "previous_secret_until": e.previous_secret_until,
    })
}

/// One more of what `count` counts fits the tenant's `quota`; `count` runs only when there is a quota.
async fn within_count(
    st: &AppState,
    tenant: &mediamill_core::model::Tenant,
    quota: TenantLimit,
    what: &str,
    count: impl std::future::Future<Output = Result<usize, mediamill_core::repo::RepoError>>,
) -> Result<(), ApiError> {
    let max = st.backends.cfg.tenants.effective(&tenant.limits, quota);
    if max == 0 {
        return Ok(());
    }
    let have = count.await? as u64;
    if have >= max {
        return Err(crate::rate::quota_exceeded(quota, max, format!("this tenant has {have} {what}")));
    }
    Ok(())
}

/// `POST /v1/webhooks` → 201 with the endpoint and its secret (shown only here).
pub async fn create(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    JsonBody(t): JsonBody<NewTarget>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = required(t)?;
    within_count(&st, &tenant, TenantLimit::Webhooks, "webhook endpoints", async {
        Ok(st.backends.repo.list_endpoints(&tenant.id).await?.len())
    })
    .await?;
    let url = t.url.ok_or_else(|| ApiError::bad_request("bad_webhook_url", "url is required"))?;
    check_target(&st, &url).await?;
    let e = Endpoint {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.id,
        url,
        secret: webhook_target::new_secret(),
        event_types: event_types(t.event_types)?,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: now_ms(),
        previous_secret: None,
        previous_secret_until: None,
    };
    st.backends.repo.create_endpoint(&e).await?;
    let mut out = endpoint_json(&e);
    out["secret"] = json!(e.secret);
    Ok((StatusCode::CREATED, Json(out)))
}

/// Body of `POST /v1/webhooks/{id}/rotate-secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the old secret keeps signing beside the new one (default a day, at most a week).
    overlap_secs: Option<u64>,
}

/// `POST /v1/webhooks/{id}/rotate-secret` → the new secret (shown only here); until the overlap ends, every
/// delivery carries a signature by each secret, so a receiver can switch at its own pace.
pub async fn rotate_secret(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rotation>,
) -> Result<Json<Value>, ApiError> {
    let overlap = body.unwrap_or_default().overlap_secs.unwrap_or(24 * 3600);
    if overlap > 7 * 24 * 3600 {
        return Err(ApiError::bad_request("bad_overlap", "overlap_secs is at most 604800 (a week)"));
    }
    let until = now_ms() + overlap as i64 * 1000;
    let secret = webhook_target::new_secret();
    let e = st
        .backends
        .repo
        .rotate_endpoint_secret(&tenant.id, &id, &secret, until)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let mut out = endpoint_json(&e);
    out["secret"] = json!(secret);
    Ok(Json(out))
}

/// `GET /v1/webhooks`: the tenant's endpoints, with why any was disabled.
pub async fn list(State(st): State<AppState>, AdminAuthed(tenant): AdminAuthed) -> Result<Json<Value>, ApiError> {
    let es = st.backends.repo.list_endpoints(&tenant.id).await?;
    Ok(Json(json!({"items": es.iter().map(endpoint_json).collect::<Vec<_>>()})))
}

/// `DELETE /v1/webhooks/{id}`
pub async fn delete(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.backends.repo.delete_endpoint(&tenant.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// Query of the delivery log.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

impl LogQuery {
    /// The page size asked for (50 unless given, at most 200).
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 200)
    }

    /// The delivery id the page starts after.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

/// One page of a delivery log, each delivery with its attempts.
pub async fn log_page(st: &AppState, ds: Vec<Delivery>, limit: u32) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::with_capacity(ds.len());
    for d in &ds {
        let attempts = st.backends.repo.delivery_attempts(&d.id).await?;
        let mut v = serde_json::to_value(d).unwrap_or_default();
        v["attempt_log"] = json!(attempts);
        items.push(v);
    }
    let next = (ds.len() as u32 == limit).then(|| ds.last().map(|d| d.id.clone())).flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

/// `GET /v1/webhooks/{id}/deliveries`: newest first, each with its attempts.
pub async fn deliveries(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    st.backends.repo.get_endpoint(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    let ds = st.backends.repo.list_deliveries(&id, q.cursor(), q.limit()).await?;
    log_page(&st, ds, q.limit()).await
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/replay`: send the same message (same `webhook-id`) again.
pub async fn replay(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let e = st.backends.repo.get_endpoint(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    if !e.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "webhook_disabled",
            format!(
                "the endpoint is disabled ({}); create it again to resume deliveries",
                e.disabled_reason.unwrap_or_default()
            ),
        ));
    }
    if st.backends.repo.replay_delivery(&id, &delivery_id).await? {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found("delivery"))
    }
}

fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && a.len() <= 254
        && !a.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

/// `POST /v1/email-recipients` → 201.
pub async fn create_recipient(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    JsonBody(t): JsonBody<NewTarget>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = required(t)?;
    within_count(&st, &tenant, TenantLimit::EmailRecipients, "email recipients", async {
        Ok(st.backends.repo.list_recipients(&tenant.id).await?.len())
    })
    .await?;
    let address = t
        .address
        .filter(|a| valid_address(a))
        .ok_or_else(|| ApiError::bad_request("bad_address", "address must be one email address"))?;
    let types = match t.event_types {
        Some(t) => event_types(Some(t))?,
        None => vec!["mediamill.batch.completed.v1".into(), "mediamill.media.failed.v1".into()],
    };
    let r = EmailRecipient {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.id.clone(),
        address,
        event_types: types,
        created_at: now_ms(),
        confirmed_at: None,
    };
    // The address's owner must confirm before anything else is sent to it: one message with a link holding a
    // random token (only its hash is stored).
    let token = mediamill_core::webhook_target::new_secret().trim_start_matches("whsec_").replace(['+', '/', '='], "");
    let token_hash = mediamill_core::apikey::hash(&token);
    let url = format!("{}/v1/email-recipients/{}/confirm?token={token}", st.backends.cfg.public_url(), r.id);
    let confirmation = confirmation_delivery(&r, &tenant.name, &url);
    st.backends.repo.create_recipient(&r, &token_hash, &confirmation).await?;
    let mut out = serde_json::to_value(&r).unwrap_or_default();
    out["status"] = json!("pending_confirmation");
    Ok((StatusCode::CREATED, Json(out)))
}

fn confirmation_delivery(r: &EmailRecipient, tenant: &str, url: &str) -> mediamill_core::notify_model::Delivery {
    use mediamill_core::notify_model::{Channel, Delivery, DeliveryTarget, EMAIL_CONFIRM};
    let payload = json!({"type": EMAIL_CONFIRM, "data": {"confirm_url": url, "tenant": tenant, "address": r.address}});
    let to = DeliveryTarget {
        tenant_id: &r.tenant_id,
        channel: Channel::Email,
        target_id: &r.id,
        target: &r.address,
        secret: None,
    };
    Delivery::pending(to, format!("confirm:{}", r.id), EMAIL_CONFIRM.into(), payload.to_string())
}

/// Query of the confirmation link.
#[derive(Debug, Deserialize)]
pub struct ConfirmQuery {
    token: String,
}

/// `GET /v1/email-recipients/{id}/confirm?token=`: the link in the confirmation message (no key: the owner of
/// the address follows it). A wrong token or id answers 404 and says nothing more.
pub async fn confirm_recipient(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ConfirmQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.token.is_empty() || q.token.len() > 200 {
        return Err(ApiError::not_found("confirmation"));
    }
    let r = st
        .backends
        .repo
        .confirm_recipient(&id, &mediamill_core::apikey::hash(&q.token))
        .await?
        .ok_or_else(|| ApiError::not_found("confirmation"))?;
    Ok(Json(json!({"id": r.id, "address": r.address, "status": "confirmed", "confirmed_at": r.confirmed_at})))
}

/// `GET /v1/email-recipients`
pub async fn list_recipients(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": st.backends.repo.list_recipients(&tenant.id).await?})))
}

/// `GET /v1/email-recipients/{id}/deliveries`: the email delivery log, newest first.
pub async fn recipient_deliveries(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    if !st.backends.repo.list_recipients(&tenant.id).await?.iter().any(|r| r.id == id) {
        return Err(ApiError::not_found("email recipient"));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let ds = st.backends.repo.list_deliveries(&id, q.cursor.as_deref(), limit).await?;
    let next = (ds.len() as u32 == limit).then(|| ds.last().map(|d| d.id.clone())).flatten();
    Ok(Json(json!({"items": ds, "next_cursor": next})))
}

/// `DELETE /v1/email-recipients/{id}`
pub async fn delete_recipient(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.backends.repo.delete_recipient(&tenant.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("email recipient"))
    }
}
