//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The process can serve: database, object store and broker each answer.
pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let db = st.repo.ping().await.map_err(|e| e.to_string());
    let store = st.store.check().await.map_err(|e| e.to_string());
    let broker = match st.producer.clone() {
        Some(p) => tokio::task::spawn_blocking(move || p.check(Duration::from_secs(2)).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        None => Ok(()),
    };
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let ok = db.is_ok() && store.is_ok() && broker.is_ok();
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"ready": ok, "checks": {"database": show(&db), "store": show(&store), "broker": show(&broker)}})))
}

/// Prometheus text format.
pub async fn metrics() -> impl IntoResponse {
    let body = crate::metrics_handle::handle().map(|h| h.render()).unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Any path that is not a route.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
