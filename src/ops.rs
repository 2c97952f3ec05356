//! The operator endpoints of the roles without an API (workers, batch, notify): `/metrics` (Prometheus) and
//! `/healthz`, on `server.ops_listen`. Here in the binary, not in the HTTP crate, so a worker links no API code.

use axum::routing::get;
use axum::Router;

/// Installs the metrics recorder now, so counters from the very first job are kept.
pub fn install_recorder() {
    let _ = mediamill_core::metrics_handle::handle();
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: mediamill_core::shutdown::Shutdown,
) -> std::io::Result<()> {
    install_recorder();
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    mediamill_core::metrics_handle::render(),
                )
            }),
        )
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }));
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.wait().await }).await
}
