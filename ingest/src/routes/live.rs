//! `GET /v1/batches/{id}/events` and `GET /v1/media/{id}/events`: Server-Sent Events.
//!
//! A stream opens with a `snapshot` event (the resource as `GET` shows it), then the events the client
//! missed since its `Last-Event-ID`, then live events. A batch stream ends after `batch.completed`; a media
//! stream after `processed`, `failed` or `deleted` (a client may reconnect with `Last-Event-ID`). A stream
//! of a resource that is already finished ends after its snapshot. Event ids are CloudEvents ids, unique
//! across restarts.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use mediamill_core::model::{BatchId, MediaId};

use crate::auth::Authed;
use crate::error::ApiError;
use crate::live::LiveEvent;
use crate::state::AppState;

/// A broadcast receiver as a stream; a lagged receiver skips ahead (the client still converges from its
/// snapshot on reconnect).
fn broadcast_stream<T: Clone + Send + 'static>(rx: broadcast::Receiver<T>) -> impl Stream<Item = T> + Send {
    BroadcastStream::new(rx).filter_map(|r| std::future::ready(r.ok()))
}

fn is_final(stream: &str, ty: &str) -> bool {
    match stream {
        "batch" => ty == mediamill_core::event::BATCH_COMPLETED,
        _ => matches!(
            ty,
            mediamill_core::event::MEDIA_PROCESSED
                | mediamill_core::event::MEDIA_FAILED
                | mediamill_core::event::MEDIA_DELETED
        ),
    }
}

fn to_sse(e: &LiveEvent) -> Event {
    Event::default().id(e.sse_id()).event(e.ty.clone()).data(e.json.clone())
}

/// `Last-Event-ID`, if the client sent a plausible one (ids are ours; anything long is not).
fn last_event_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("last-event-id")?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 200).then(|| v.to_string())
}

/// What a live stream follows: one media item or batch, as it is now.
pub(crate) struct Watched {
    /// `media`, `batch` or `notifications`.
    pub(crate) stream_name: &'static str,
    /// Its id (the Kafka key of its events).
    pub(crate) key: String,
    /// The stream's first event: the state now.
    pub(crate) snapshot: serde_json::Value,
    /// Whether the watched thing is finished already.
    pub(crate) already_final: bool,
}

/// The SSE answer of a watched stream, with keep-alives.
pub(crate) fn live_response(
    st: &AppState,
    tenant: &mediamill_core::model::Tenant,
    caller: &crate::auth::CallerKey,
    watched: Watched,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let s = live_stream(st, tenant, caller, watched, headers)?;
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

fn live_stream(
    st: &AppState,
    tenant: &mediamill_core::model::Tenant,
    caller: &crate::auth::CallerKey,
    watched: Watched,
    headers: &HeaderMap,
) -> Result<impl Stream<Item = Result<Event, Infallible>> + Send + 'static, ApiError> {
    let Watched { stream_name, key, snapshot, already_final } = watched;
    let hub = st.hub.clone().ok_or_else(|| {
        ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "live_unavailable", "live events need a broker")
    })?;
    let max = st.backends.cfg.tenants.effective(&tenant.limits, mediamill_core::model::TenantLimit::SseStreams);
    let slot = st.tenants.streams.take(tenant.id.as_str(), max, "live event streams", "tenants.sse_streams")?;
    let last = last_event_id(headers);
    let rx = hub.subscribe();
    let missed = hub.since(stream_name, &key, last.as_deref()).unwrap_or_default();
    let mut seen: HashSet<String> = missed.iter().map(|e| e.id.clone()).collect();
    let first = Event::default().event("snapshot").data(snapshot.to_string());
    let final_missed = missed.iter().any(|e| is_final(stream_name, &e.ty));
    let head = stream::iter(std::iter::once(first).chain(missed.iter().map(to_sse)).map(Ok).collect::<Vec<_>>());
    let mine = broadcast_stream(rx).filter(move |e| {
        let take = e.stream == stream_name && e.key == key && seen.insert(e.id.clone());
        futures::future::ready(take)
    });
    // Ends right after the final event, including it: a client's stream closes instead of idling on
    // keep-alives for ever.
    let until_final = stream::unfold((Box::pin(mine), false), move |(mut s, ended)| async move {
        if ended {
            return None;
        }
        let e = s.next().await?;
        let fin = is_final(stream_name, &e.ty);
        Some((Ok(to_sse(&e)), (s, fin)))
    });
    let live = if final_missed || (already_final && last.is_none()) {
        // The snapshot (or a replayed event) already shows the end.
        until_final.take(0).boxed()
    } else if already_final {
        // A resuming client of a finished resource: its final event may still be on its way through the
        // outbox and Kafka; wait briefly for it, then end.
        until_final.take_until(tokio::time::sleep(Duration::from_secs(5))).boxed()
    } else {
        until_final.boxed()
    };
    // A revoked key's stream ends on every instance as soon as the revocation arrives on auth.events.
    let revoked = hub.revoked(caller.0.id.clone());
    // The slot goes with the stream: given back when the stream ends or the client goes away.
    Ok(head.chain(live).take_until(revoked).map(move |e| {
        let _held = &slot;
        e
    }))
}

/// `GET /v1/batches/{id}/events`
pub async fn batch_events(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Extension(caller): Extension<crate::auth::CallerKey>,
    Path(id): Path<BatchId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let b = st.backends.repo.get_batch(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("batch"))?;
    let counts = st.backends.repo.batch_counts(&b.id).await?;
    let snapshot = serde_json::to_value(mediamill_core::event::BatchEvent::of(&b, &counts)).unwrap_or_default();
    let done = b.status == mediamill_core::model::BatchStatus::Completed;
    let watched = Watched { stream_name: "batch", key: b.id.to_string(), snapshot, already_final: done };
    live_response(&st, &tenant, &caller, watched, &headers)
}

/// `GET /v1/media/{id}/events`
pub async fn media_events(
    State(st): State<AppState>,
    Authed(tenant): Authed,
    Extension(caller): Extension<crate::auth::CallerKey>,
    Path(id): Path<MediaId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let m = st.backends.repo.get_media(&tenant.id, &id).await?.ok_or_else(|| ApiError::not_found("media"))?;
    let vs = st.backends.repo.variants(&m.id).await?;
    let snapshot = super::view::media(&st.backends.cfg.public_url(), &m, &vs);
    let done = m.status.is_terminal();
    let watched = Watched { stream_name: "media", key: m.id.to_string(), snapshot, already_final: done };
    live_response(&st, &tenant, &caller, watched, &headers)
}
