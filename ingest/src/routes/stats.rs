//! `/v1/media/{id}/stats`, `/v1/users/{id}/stats`, `/v1/stats/daily`: what the analytics consumer
//! materialised from `social.events`, `auth.events` and `user.events`.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::routes::users::check_id;
use crate::state::AppState;

/// `GET /v1/media/{id}/stats`: likes standing and comments not deleted.
pub async fn media(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_id("media id", &id)?;
    let s = st.backends.repo.media_stats(&tenant.id, &id).await?;
    Ok(Json(json!({"media_id": id, "likes": s.likes, "comments": s.comments})))
}

/// `GET /v1/users/{id}/stats`: likes and comments the user's media received.
pub async fn user(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_id("user id", &id)?;
    let s = st.backends.repo.user_stats(&tenant.id, &id).await?;
    Ok(Json(json!({"user_id": id, "likes_received": s.likes, "comments_received": s.comments})))
}

/// Query of `GET /v1/stats/daily`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Days {
    /// First day, `YYYY-MM-DD` (default: 30 days ago).
    from: Option<String>,
    /// Last day (default: today, UTC).
    to: Option<String>,
}

fn day(s: Option<String>, default: chrono::NaiveDate, name: &str) -> Result<chrono::NaiveDate, ApiError> {
    match s {
        None => Ok(default),
        Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_request("bad_day", format!("{name} must be a day as YYYY-MM-DD"))),
    }
}

/// `GET /v1/stats/daily`: daily active users per UTC day (days without activity are listed with 0).
pub async fn daily(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Query(q): Query<Days>,
) -> Result<Json<Value>, ApiError> {
    let today = chrono::Utc::now().date_naive();
    let to = day(q.to, today, "to")?;
    let from = day(q.from, to - chrono::Days::new(29), "from")?;
    if from > to || (to - from).num_days() > 366 {
        return Err(ApiError::bad_request("bad_range", "from must be on or before to, at most 366 days apart"));
    }
    let (f, t) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    let found = st.backends.repo.daily_active(&tenant.id, &f, &t).await?;
    let days: Vec<Value> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| {
            let d = d.format("%Y-%m-%d").to_string();
            let n = found.iter().find(|x| x.day == d).map(|x| x.active_users).unwrap_or(0);
            json!({"day": d, "active_users": n})
        })
        .collect();
    Ok(Json(json!({"days": days})))
}
