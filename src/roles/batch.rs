//! The `batch` role's loops: the tracker, progress events and auto-sealing.

use std::sync::Arc;
use std::time::Duration;

use mediamill_core::kafka::roster::ConsumerGroup;
use mediamill_core::kafka::run_consumer;
use mediamill_core::shutdown::Shutdown;
use tokio::task::JoinHandle;

use super::Roles;

impl Roles {
    /// Starts the batch tracker (a consumer of `media.events`), its progress flusher and the auto-sealer.
    pub fn spawn_batch(&self, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
        let cfg = &self.cfg;
        let progress = Arc::new(mediamill_batch::progress::Progress::default());
        let tracker = Arc::new(mediamill_batch::BatchTracker {
            repo: self.repo.clone(),
            waker: self.waker.clone(),
            progress: progress.clone(),
            shutdown: shutdown.clone(),
        });
        let settings = self.consumer_settings(ConsumerGroup::Batch, 32, Duration::from_secs(10));
        let interval = Duration::from_millis(cfg.batch.progress_interval_ms);
        let sd = shutdown.clone();
        vec![
            tokio::spawn(async move {
                if let Err(e) = run_consumer(settings, tracker, sd).await {
                    tracing::error!(error = %e, "batch tracker stopped");
                }
            }),
            tokio::spawn(progress.run(self.repo.clone(), self.waker.clone(), interval, shutdown.clone())),
            tokio::spawn(mediamill_batch::autoseal::run(
                self.repo.clone(),
                self.waker.clone(),
                Duration::from_secs(cfg.batch.auto_seal_secs),
                Duration::from_secs(5),
                shutdown,
            )),
        ]
    }
}
