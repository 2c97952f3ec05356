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

/// How long one round of readiness checks answers every `/readyz` call: a flood of probes (the endpoint
/// needs no key) costs the database, store and broker one check each per this interval.
const READY_TTL: Duration = Duration::from_secs(2);

/// The process can serve: database, object store and broker each answer, and the consumers of roles running
/// in the same process have joined their groups. Each check says `ok` or
/// `unavailable`; why is in the log, not in this unauthenticated answer.
pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let mut cached = st.ready.0.lock().await;
    let fresh = cached.as_ref().filter(|(at, ..)| at.elapsed() < READY_TTL).map(|(_, ok, v)| (*ok, v.clone()));
    let (ok, checks) = match fresh {
        Some(hit) => hit,
        None => {
            let (ok, checks) = check_all(&st).await;
            *cached = Some((std::time::Instant::now(), ok, checks.clone()));
            (ok, checks)
        }
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"ready": ok, "checks": checks})))
}

async fn check_all(st: &AppState) -> (bool, serde_json::Value) {
    let db = st.backends.repo.ping().await.map_err(|e| e.to_string());
    let store = st.backends.store.check().await.map_err(|e| e.to_string());
    let broker = match st.producer.clone() {
        Some(p) => tokio::task::spawn_blocking(move || p.check(Duration::from_secs(2)).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
        None => Ok(()),
    };
    let show = |name: &str, r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => {
            tracing::warn!(check = name, error = %e, "not ready");
            json!("unavailable")
        }
    };
    let mut checks =
        json!({"database": show("database", &db), "store": show("store", &store), "broker": show("broker", &broker)});
    let mut ok = db.is_ok() && store.is_ok() && broker.is_ok();
    // Roles in this process (`up`) take no job until their groups assign them; until then, not ready.
    let consumers = &st.backends.consumers;
    if consumers.any() {
        let joining = consumers.pending();
        ok &= joining.is_empty();
        checks["consumers"] = json!(if joining.is_empty() { "ok" } else { "joining" });
    }
    (ok, checks)
}

/// Prometheus text format.
pub async fn metrics() -> impl IntoResponse {
    let body = mediamill_core::metrics_handle::render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Any path that is not a route.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
