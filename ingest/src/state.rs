//! What every request handler can reach.

use std::sync::Arc;

use mediamill_core::config::Config;
use mediamill_core::kafka::EventProducer;
use mediamill_core::outbox::Waker;
use mediamill_core::repo::Repo;
use mediamill_core::store::Store;

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    pub repo: Arc<dyn Repo>,
    pub store: Arc<dyn Store>,
    /// Pokes the outbox relay after each accepted upload.
    pub waker: Waker,
    /// Used only by `/readyz` to see whether a broker answers.
    pub producer: Option<EventProducer>,
    /// Live events for SSE streams.
    pub hub: Option<std::sync::Arc<crate::live::EventHub>>,
}
