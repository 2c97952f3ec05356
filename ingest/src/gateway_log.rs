//! The gateway log: every HTTP request becomes one record on `gateway.requests` (type
//! `mediamill.gateway.request.v1`, keyed by tenant id) for analysis, the API gateway's job in the app.
//!
//! A record is made when the answer's body has been sent (or the client went away), so a stream's latency
//! and bytes are whole. Records pass through a bounded queue to a sender task; a request never waits for
//! Kafka, and when the queue is full the record is dropped and counted
//! (`mediamill_gateway_log_dropped_total`). What a record never holds: a key, any header but the user agent,
//! a query string.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Response};
use axum::middleware::Next;
use bytes::Bytes;
use futures::StreamExt;
use mediamill_core::event::Envelope;
use mediamill_core::kafka::EventProducer;
use mediamill_core::shutdown::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::state::AppState;
use tracing::Instrument;

/// Type of a gateway record.
pub const REQUEST: &str = "mediamill.gateway.request.v1";
/// Records waiting to be sent; more are dropped.
const QUEUE: usize = 10_000;

/// One request, as `gateway.requests` carries it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// When the request arrived (ms since the epoch).
    pub time: i64,
    /// The request's id (`x-request-id`, made when absent).
    pub request_id: String,
    /// The caller's tenant, once authenticated.
    pub tenant_id: Option<String>,
    /// The key used, once authenticated.
    pub key_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The route template (`/v1/media/{id}`), never the path with its ids or a query string.
    pub route: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Body bytes received.
    pub bytes_in: u64,
    /// Body bytes sent.
    pub bytes_out: u64,
    /// Time from the request's arrival to its answer, in milliseconds.
    pub latency_ms: f64,
    /// The client's address.
    pub client: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

/// What a request learns on its way that its record needs: who it was (set by authentication) and how many
/// body bytes came in (counted by the body guard).
#[derive(Default)]
pub struct Note {
    /// Set by authentication.
    pub tenant_id: OnceLock<String>,
    /// Set by authentication.
    pub key_id: OnceLock<String>,
    /// Counted by the body guard.
    pub bytes_in: AtomicU64,
}

/// The sending end of the log's queue.
#[derive(Clone)]
pub struct GatewayLog {
    tx: mpsc::Sender<RequestRecord>,
}

impl GatewayLog {
    /// Starts the sender task: records go to `topic` through `producer` until `shutdown`.
    pub fn start(producer: EventProducer, topic: String, shutdown: Shutdown) -> GatewayLog {
        let (tx, rx) = mpsc::channel::<RequestRecord>(QUEUE);
        tokio::spawn(async move {
            let records = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
            let send = records.for_each_concurrent(256, |r| {
                let (producer, topic) = (producer.clone(), topic.clone());
                async move {
                    let key = r.tenant_id.clone().unwrap_or_else(|| "anonymous".into());
                    let env = Envelope::new(REQUEST, Some(r.request_id.clone()), &r);
                    if let Err(e) = producer.send(&topic, &key, &env).await {
                        metrics::counter!("mediamill_gateway_log_dropped_total", "why" => "send").increment(1);
                        tracing::debug!(error = %e, "gateway log: send");
                    }
                }
            });
            tokio::select! {
                _ = send => {}
                _ = shutdown.wait() => producer.flush(std::time::Duration::from_secs(2)),
            }
        });
        GatewayLog { tx }
    }

    fn record(&self, r: RequestRecord) {
        if self.tx.try_send(r).is_err() {
            metrics::counter!("mediamill_gateway_log_dropped_total", "why" => "queue_full").increment(1);
        }
    }
}

/// A request id the client sent (`X-Request-Id`, kept when it is short and plain), else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Notes every request and logs it when its answer's body is done.
pub async fn log_requests(State(st): State<AppState>, mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let id = request_id(&req);
    let note = Arc::new(Note::default());
    req.extensions_mut().insert(note.clone());
    let partial = RequestRecord {
        time: mediamill_core::repo::now_ms(),
        request_id: id.clone(),
        tenant_id: None,
        key_id: None,
        method: req.method().to_string(),
        route: req
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "(no route)".into()),
        status: 0,
        bytes_in: 0,
        bytes_out: 0,
        latency_ms: 0.0,
        client: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    };
    // The request's span continues the client's trace when it sent a W3C `traceparent`.
    let span = tracing::info_span!("http.request", method = %partial.method, route = %partial.route, request_id = %id);
    mediamill_core::telemetry::set_remote_parent(
        &span,
        req.headers().get(mediamill_core::telemetry::TRACEPARENT).and_then(|v| v.to_str().ok()),
    );
    let mut res = next.run(req).instrument(span).await;
    // Labelled by route template, never by path: ids would make a series per item.
    let status = res.status().as_u16().to_string();
    metrics::counter!("mediamill_http_requests_total", "route" => partial.route.clone(), "method" => partial.method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("mediamill_http_request_seconds", "route" => partial.route.clone())
        .record(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    let Some(log) = st.gateway.clone() else { return res };
    let record = RequestRecord { status: res.status().as_u16(), ..partial };
    let (parts, body) = res.into_parts();
    // A body of its own kind, not a stream: the length stays known (Content-Length, not chunked), which a
    // client that is still sending when the answer comes needs to read it whole.
    let counted = Counted { inner: body, sent: 0, pending: Some(Pending { log, record, note, started }) };
    Response::from_parts(parts, Body::new(counted))
}

/// What is still to be logged when the body ends.
struct Pending {
    log: GatewayLog,
    record: RequestRecord,
    note: Arc<Note>,
    started: Instant,
}

/// The answer's body, counted; logs its request once, at its end or when dropped.
struct Counted {
    inner: Body,
    sent: u64,
    pending: Option<Pending>,
}

impl Counted {
    fn finish(&mut self) {
        let Some(p) = self.pending.take() else { return };
        let mut r = p.record;
        r.tenant_id = p.note.tenant_id.get().cloned();
        r.key_id = p.note.key_id.get().cloned();
        r.bytes_in = p.note.bytes_in.load(Ordering::Relaxed);
        r.bytes_out = self.sent;
        r.latency_ms = p.started.elapsed().as_secs_f64() * 1000.0;
        p.log.record(r);
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => this.sent += f.data_ref().map_or(0, |d| d.len() as u64),
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.finish();
    }
}
