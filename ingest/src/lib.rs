//! The HTTP upload API (axum): streams uploads to the object store, records each with its outbox events in
//! one transaction, and serves status, variants, health and metrics.
//!
//! Ingest never talks to Kafka inside a request: what it accepts (HTTP 202) is in the database and the
//! object store, and the outbox relay publishes it whenever the broker is reachable.
#![warn(missing_docs)]

pub mod archive;
pub mod auth;
pub mod body_guard;
pub mod cors;
mod direct;
mod error;
pub mod gateway_log;
mod json_body;
pub mod linger;
pub mod live;
mod openapi;
mod rate;
mod routes;
mod server;
mod signed_url;
mod state;
pub mod tus;
mod upload;
pub mod upload_body;
mod web;

pub use error::ApiError;
pub use rate::TenantGuards;
pub use state::{AppState, Gates};

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    // Install the recorder before the first request, so no count is lost before /metrics is first read.
    mediamill_core::metrics_handle::handle();
    let page = if state.backends.cfg.server.web {
        Router::new()
            .route("/", get(web::index))
            .route("/web/app.js", get(web::script))
            .route("/web/app.css", get(web::style))
    } else {
        Router::new()
    };
    page.route("/v1/media", get(routes::media::list).post(routes::media::create))
        .route("/v1/media/{id}", get(routes::media::get_one).delete(routes::media::delete))
        .route("/v1/media/{id}/events", get(routes::live::media_events))
        .route("/v1/batches/{id}/events", get(routes::live::batch_events))
        .route("/v1/media/{id}/variants", get(routes::variants::list))
        .route("/v1/media/{id}/variants/{name}", get(routes::variants::get_variant))
        .route("/v1/media/{id}/variants/{name}/signed-url", get(routes::variants::signed_url))
        .route("/v1/media/{id}/hls/{file}", get(routes::hls::get_file))
        .route("/v1/batches", get(routes::batches::list).post(routes::batches::create))
        .route("/v1/batches/{id}", get(routes::batches::get_one))
        .route("/v1/batches/{id}/media", axum::routing::post(routes::batches::add_media))
        .route("/v1/batches/{id}/archive", axum::routing::post(routes::batches::add_archive))
        .route("/v1/batches/{id}/seal", axum::routing::post(routes::batches::seal))
        .route("/v1/webhooks", get(routes::webhooks::list).post(routes::webhooks::create))
        .route("/v1/webhooks/{id}", axum::routing::delete(routes::webhooks::delete))
        .route("/v1/webhooks/{id}/rotate-secret", axum::routing::post(routes::webhooks::rotate_secret))
        .route("/v1/webhooks/{id}/deliveries", get(routes::webhooks::deliveries))
        .route("/v1/webhooks/{id}/deliveries/{delivery_id}/replay", axum::routing::post(routes::webhooks::replay))
        .route("/v1/email-recipients", get(routes::webhooks::list_recipients).post(routes::webhooks::create_recipient))
        .route("/v1/email-recipients/{id}", axum::routing::delete(routes::webhooks::delete_recipient))
        .route("/v1/email-recipients/{id}/deliveries", get(routes::webhooks::recipient_deliveries))
        .route("/v1/email-recipients/{id}/confirm", get(routes::webhooks::confirm_recipient))
        .route("/v1/media/{id}/stats", get(routes::stats::media))
        .route("/v1/users/{id}/stats", get(routes::stats::user))
        .route("/v1/stats/daily", get(routes::stats::daily))
        .route("/v1/users/{id}/preferences", get(routes::users::get_preferences).put(routes::users::put_preferences))
        .route("/v1/users/{id}/notifications", get(routes::users::feed))
        .route("/v1/users/{id}/notifications/read", axum::routing::post(routes::users::mark_read))
        .route("/v1/users/{id}/notifications/events", get(routes::users::feed_events))
        .route(
            "/v1/users/{id}/push-subscriptions",
            get(routes::users::list_subscriptions).post(routes::users::add_subscription),
        )
        .route("/v1/users/{id}/push-subscriptions/{sub}", axum::routing::delete(routes::users::delete_subscription))
        .route("/v1/users/{id}/deliveries", get(routes::users::deliveries))
        .route("/v1/conversations/{id}/messages", get(routes::conversations::messages))
        .merge(tus_routes(state.clone()))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/uploads/direct", axum::routing::post(direct::create))
        .route("/v1/uploads/direct/{id}/complete", axum::routing::post(direct::complete))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .fallback(routes::health::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), body_guard::guard_bodies))
        // Outside the guard, so it also sees the answers of the method-not-allowed fallback and of the guard.
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors::cors))
        // Outermost: every request, with its final status, goes to the gateway log.
        .layer(axum::middleware::from_fn_with_state(state.clone(), gateway_log::log_requests))
        // Uploads are streamed and limited per kind by our own code, which names the limit that was hit.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// `/v1/uploads`: resumable uploads (tus), every answer with its `Tus-Resumable` header.
fn tus_routes(state: AppState) -> Router<AppState> {
    use axum::routing::{head, post};
    Router::new()
        .route("/v1/uploads", post(tus::create).options(tus::options))
        .route("/v1/uploads/{id}", head(tus::head).patch(tus::patch).delete(tus::terminate).options(tus::options))
        .layer(axum::middleware::from_fn(tus::tus_header))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` fires; in-flight requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: mediamill_core::shutdown::Shutdown,
) -> std::io::Result<()> {
    let limits = server::ConnLimits {
        max_connections: state.backends.cfg.server.max_connections,
        header_read_timeout: std::time::Duration::from_secs(state.backends.cfg.server.header_read_timeout_secs),
    };
    let finishing = state.tus_finishing.clone();
    let served = server::serve(listener, router(state), limits, shutdown).await;
    // Answered tus requests still storing their bytes end before the process does.
    finishing.drain(std::time::Duration::from_secs(60)).await;
    served
}
