//! The operator endpoints of the roles without an API (workers, batch, notify): `/metrics` (Prometheus) and
//! `/healthz`, on `server.ops_listen`.

use axum::routing::get;
use axum::Router;

/// Installs the metrics recorder now, so counters from the very first job are kept.
pub fn install_recorder() {
    let _ = crate::metrics_handle::handle();
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: mediamill_core::shutdown::Shutdown,
) -> std::io::Result<()> {
    install_recorder();
    let app = Router::new()
        .route("/metrics", get(crate::routes::health::metrics))
        .route("/healthz", get(crate::routes::health::healthz));
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.wait().await }).await
}
