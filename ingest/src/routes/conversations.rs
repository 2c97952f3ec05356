//! `/v1/conversations/{id}/messages`: the chat archive, so a client that was offline catches up from the last
//! message it has.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::routes::users::check_id;
use crate::state::AppState;

/// Query of `GET /v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    /// The id of the last message the client has; absent: from the first.
    after: Option<String>,
    /// Messages per page, 1–500 (default 100).
    limit: Option<u32>,
}

/// `GET /v1/conversations/{id}/messages?after=`: oldest first, each with its recipients' delivery and seen
/// times; `next` is the `after` of the following page.
pub async fn messages(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Path(id): Path<String>,
    Query(q): Query<After>,
) -> Result<Json<Value>, ApiError> {
    check_id("conversation id", &id)?;
    if let Some(a) = &q.after {
        check_id("after", a)?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("bad_limit", "limit must be 1 to 500"));
    }
    let items = st.backends.repo.conversation_messages(&tenant.id, &id, q.after.as_deref(), limit).await?;
    let next = (items.len() as u32 == limit).then(|| items.last().map(|m| m.message_id.clone())).flatten();
    Ok(Json(json!({"items": items, "next": next})))
}
