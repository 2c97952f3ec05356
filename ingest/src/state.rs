//! What every request handler can reach.

use std::sync::Arc;

use mediamill_core::backends::Backends;
use mediamill_core::kafka::EventProducer;

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// Configuration, repository, store and the relay's waker (poked after each accepted upload).
    pub backends: Backends,
    /// Used only by `/readyz` to see whether a broker answers.
    pub producer: Option<EventProducer>,
    /// Live events for SSE streams.
    pub hub: Option<std::sync::Arc<crate::live::EventHub>>,
    /// How much work this instance takes on at once.
    pub gates: Arc<Gates>,
    /// The last readiness checks (`/readyz`).
    pub ready: Arc<ReadyCache>,
    /// Per-tenant rates and counts on this instance.
    pub tenants: Arc<crate::TenantGuards>,
    /// When keys were last recorded as used or refused.
    pub keys: Arc<crate::auth::KeyActivity>,
    /// Every origin some tenant allows (CORS preflights).
    pub cors: Arc<crate::cors::CorsCache>,
    /// The running digests of the resumable uploads this instance received.
    pub tus_hashes: Arc<crate::tus::hashes::RunningHashes>,
    /// tus requests that answered and are still storing their bytes.
    pub tus_finishing: Arc<crate::tus::finishing::Finishing>,
    /// Where every request is logged (`gateway.requests`); `None` without a broker.
    pub gateway: Option<crate::gateway_log::GatewayLog>,
}

/// The last readiness checks and when they ran; one caller checks while the others wait for its answer.
#[derive(Default)]
pub struct ReadyCache(pub(crate) tokio::sync::Mutex<Option<(std::time::Instant, bool, serde_json::Value)>>);

/// Per-instance caps on concurrent work whose cost is not bounded by one request's memory: uploads hold a
/// store connection and a multipart part each, archives up to `limits.max_archive_bytes` of disk each.
pub struct Gates {
    /// Uploads in progress on this instance (`limits.max_concurrent_uploads`).
    pub uploads: tokio::sync::Semaphore,
    /// Archives spooling on this instance (`limits.max_concurrent_archives`).
    pub archives: tokio::sync::Semaphore,
}

impl Gates {
    /// Gates sized by `limits`.
    pub fn new(limits: &mediamill_core::config::Limits) -> Arc<Gates> {
        Arc::new(Gates {
            uploads: tokio::sync::Semaphore::new(limits.max_concurrent_uploads),
            archives: tokio::sync::Semaphore::new(limits.max_concurrent_archives),
        })
    }
}

/// `429` for a full gate, naming the setting and when to come back.
pub fn busy(what: &str, key: &str, limit: usize) -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "instance_busy",
        format!("this instance is receiving {limit} {what} already ({key}); try again shortly"),
    )
    .with_header(axum::http::header::RETRY_AFTER, "1")
}
