//! `/v1/users/{id}/…`: a user's notification preferences, their in-app feed (paged, unread count, mark read,
//! live stream), their Web Push subscriptions and the log of what was sent to them by push, email and SMS. Users are the app's (announced on `user.events`), within the
//! caller's tenant; the app's own backend calls these on its users' behalf.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use mediamill_core::app_model::{Preferences, PushSubscription};
use mediamill_core::repo::now_ms;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{AdminAuthed, Authed};
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::routes::live::{live_response, Watched};
use crate::routes::webhooks::{log_page, LogQuery};
use crate::state::AppState;

/// Push subscriptions one user may register (browsers and devices).
const MAX_SUBSCRIPTIONS: usize = 20;

/// Checks an id from a path: what the event contracts allow (1–128 of `A–Z a–z 0–9 . _ : @ -`).
pub fn check_id(what: &'static str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "._:@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("bad_id", format!("{what} must be 1 to 128 of A-Z a-z 0-9 . _ : @ -")))
    }
}

/// `GET /v1/users/{id}/preferences`
pub async fn get_preferences(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(user): Path<String>,
) -> Result<Json<Preferences>, ApiError> {
    check_id("user id", &user)?;
    Ok(Json(st.backends.repo.preferences(&tenant.id, &user).await?))
}

/// `PUT /v1/users/{id}/preferences`: replaces them; unknown fields, kinds or channels are refused by name.
pub async fn put_preferences(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(user): Path<String>,
    JsonBody(p): JsonBody<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    check_id("user id", &user)?;
    let p = p.ok_or_else(|| ApiError::bad_request("bad_json", "the request needs a JSON object body"))?;
    p.check().map_err(|e| ApiError::bad_request("bad_preferences", e))?;
    st.backends.repo.put_preferences(&tenant.id, &user, &p).await?;
    Ok(Json(p))
}

/// Query of `GET /v1/users/{id}/notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// The `next` of the previous page.
    before: Option<String>,
    /// Items per page, 1–100 (default 20).
    limit: Option<u32>,
}

/// `GET /v1/users/{id}/notifications`: newest first, with the unread count and the next page's cursor.
pub async fn feed(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(user): Path<String>,
    Query(q): Query<FeedQuery>,
) -> Result<Json<Value>, ApiError> {
    check_id("user id", &user)?;
    if let Some(b) = &q.before {
        check_id("before", b)?;
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("bad_limit", "limit must be 1 to 100"));
    }
    let repo = &st.backends.repo;
    let items = repo.feed(&tenant.id, &user, q.before.as_deref(), limit).await?;
    let unread = repo.unread_count(&tenant.id, &user).await?;
    let next = (items.len() as u32 == limit).then(|| items.last().map(|i| i.id.clone())).flatten();
    Ok(Json(json!({"items": items, "unread_count": unread, "next": next})))
}

/// Body of `POST /v1/users/{id}/notifications/read`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// The items to mark; absent: every item of the user.
    ids: Option<Vec<String>>,
}

/// `POST /v1/users/{id}/notifications/read`
pub async fn mark_read(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<MarkRead>,
) -> Result<Json<Value>, ApiError> {
    check_id("user id", &user)?;
    let ids = body.and_then(|b| b.ids);
    if let Some(ids) = &ids {
        if ids.len() > 100 {
            return Err(ApiError::bad_request("too_many_ids", "mark at most 100 ids at once (or give none for all)"));
        }
        for id in ids {
            check_id("notification id", id)?;
        }
    }
    let marked = st.backends.repo.mark_read(&tenant.id, &user, ids.as_deref()).await?;
    let unread = st.backends.repo.unread_count(&tenant.id, &user).await?;
    Ok(Json(json!({"marked": marked, "unread_count": unread})))
}

/// `GET /v1/users/{id}/notifications/events`: Server-Sent Events, a `snapshot` with the unread count first,
/// then one event per change of the feed (`notification_id`: fetch the page again or that item).
pub async fn feed_events(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Extension(caller): Extension<crate::auth::CallerKey>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_id("user id", &user)?;
    let unread = st.backends.repo.unread_count(&tenant.id, &user).await?;
    let watched = Watched {
        stream_name: "notifications",
        key: format!("{}/{user}", tenant.id),
        snapshot: json!({"unread_count": unread}),
        already_final: false,
    };
    live_response(&st, &tenant, &caller, watched, &headers)
}

/// Body of `POST /v1/users/{id}/push-subscriptions`: what `PushSubscription.toJSON()` gives a page.
#[derive(Debug, Deserialize)]
pub struct NewSubscription {
    endpoint: String,
    keys: SubscriptionKeys,
}

/// The browser's keys.
#[derive(Debug, Deserialize)]
pub struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

fn b64url_len(s: &str) -> Option<usize> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok().map(|b| b.len())
}

/// `POST /v1/users/{id}/push-subscriptions`: 201 with the subscription (the same endpoint again updates its keys).
pub async fn add_subscription(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<NewSubscription>,
) -> Result<Response, ApiError> {
    check_id("user id", &user)?;
    let s = body.ok_or_else(|| ApiError::bad_request("bad_json", "the request needs a JSON object body"))?;
    if b64url_len(&s.keys.p256dh) != Some(65) || b64url_len(&s.keys.auth) != Some(16) {
        return Err(ApiError::bad_request(
            "bad_push_keys",
            "keys.p256dh must be a 65-byte P-256 point and keys.auth 16 bytes, base64url (RFC 8291)",
        ));
    }
    crate::routes::webhooks::check_target(&st, &s.endpoint).await?;
    let repo = &st.backends.repo;
    let existing = repo.push_subscriptions(&tenant.id, &user).await?;
    if existing.len() >= MAX_SUBSCRIPTIONS && !existing.iter().any(|e| e.endpoint == s.endpoint) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_subscriptions",
            format!("a user may have {MAX_SUBSCRIPTIONS} push subscriptions; delete one first"),
        ));
    }
    let sub = PushSubscription {
        id: uuid::Uuid::now_v7().simple().to_string(),
        tenant_id: tenant.id.clone(),
        user_id: user,
        endpoint: s.endpoint,
        p256dh: s.keys.p256dh,
        auth: s.keys.auth,
        created_at: now_ms(),
    };
    let saved = repo.add_push_subscription(&sub).await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// `GET /v1/users/{id}/push-subscriptions`
pub async fn list_subscriptions(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_id("user id", &user)?;
    let items = st.backends.repo.push_subscriptions(&tenant.id, &user).await?;
    Ok(Json(json!({"items": items})))
}

/// `DELETE /v1/users/{id}/push-subscriptions/{sub}`
pub async fn delete_subscription(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path((user, sub)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_id("user id", &user)?;
    if st.backends.repo.delete_push_subscription(&tenant.id, &user, &sub).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("push subscription"))
    }
}

/// `GET /v1/users/{id}/deliveries?cursor=&limit=`: what was sent to the user by push, email and SMS, newest
/// first, each with its attempts (admin keys: it shows addresses and phone numbers).
pub async fn deliveries(
    State(st): State<AppState>,
    AdminAuthed(tenant): AdminAuthed,
    Path(user): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    check_id("user id", &user)?;
    let ds = st.backends.repo.user_deliveries(&tenant.id, &user, q.cursor(), q.limit()).await?;
    log_page(&st, ds, q.limit()).await
}
