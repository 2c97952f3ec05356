//! The `ingest` role's loops: the HTTP API, the sweeper of abandoned store writes and that of expired
//! resumable uploads.

use std::sync::Arc;
use std::time::Duration;

use mediamill_core::shutdown::Shutdown;
use mediamill_core::store::Store;
use mediamill_core::topics::{self, Topics};
use tokio::task::JoinHandle;

use mediamill_ingest::AppState;

use super::Roles;

impl Roles {
    /// Starts the HTTP API on `listener`.
    pub fn spawn_ingest(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
    ) -> anyhow::Result<JoinHandle<()>> {
        let state = AppState {
            backends: self.0.clone(),
            producer: Some(self.producer()?),
            gates: mediamill_ingest::Gates::new(&self.cfg.limits),
            ready: Default::default(),
            tenants: Default::default(),
            keys: Default::default(),
            cors: Default::default(),
            tus_hashes: Default::default(),
            tus_finishing: Arc::new(mediamill_ingest::tus::finishing::Finishing::new(
                self.cfg.limits.max_concurrent_uploads,
            )),
            gateway: Some(mediamill_ingest::gateway_log::GatewayLog::start(
                self.producer()?,
                Topics::new(&self.cfg.kafka.topic_prefix).name(topics::GATEWAY_REQUESTS),
                shutdown.clone(),
            )),
            hub: Some(mediamill_ingest::live::EventHub::start(
                &self.cfg.kafka.brokers,
                &self.cfg.kafka.topic_prefix,
                shutdown.clone(),
            )?),
        };
        tokio::spawn(sweep_abandoned_writes(self.store.clone(), shutdown.clone()));
        tokio::spawn(mediamill_ingest::tus::sweep::run(self.0.clone(), shutdown.clone()));
        Ok(tokio::spawn(async move {
            if let Err(e) = mediamill_ingest::serve(listener, state, shutdown).await {
                tracing::error!(error = %e, "ingest server stopped");
            }
        }))
    }
}

/// Hourly, removes what writers of killed processes left in the store (temporary files, unfinished
/// multipart uploads) once it is a day old: no upload takes that long, and a live one is never touched.
async fn sweep_abandoned_writes(store: Arc<dyn Store>, shutdown: Shutdown) {
    const AGE: Duration = Duration::from_secs(24 * 3600);
    loop {
        match store.sweep_incomplete(AGE).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "removed abandoned partial uploads from the store"),
            Err(e) => tracing::warn!(error = %e, "sweeping abandoned partial uploads"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
