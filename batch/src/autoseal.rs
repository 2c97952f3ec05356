//! Seals batches left open longer than `batch.auto_seal_secs`, then completes those already finished.

use std::sync::Arc;
use std::time::Duration;

use mediamill_core::outbox::Waker;
use mediamill_core::repo::{now_ms, Repo};
use mediamill_core::shutdown::Shutdown;

use crate::tracker::completed_events;

/// Runs until shutdown, checking every `every`.
pub async fn run(repo: Arc<dyn Repo>, waker: Waker, max_open: Duration, every: Duration, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let cutoff = now_ms() - max_open.as_millis() as i64;
        let ids = match repo.open_batches_before(cutoff, 500).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "auto-seal: listing open batches");
                continue;
            }
        };
        for id in ids {
            let r = async {
                if repo.seal_batch(&id).await? {
                    tracing::info!(batch_id = %id, "auto-sealed");
                    repo.complete_batch_if_done(&id, &completed_events).await?;
                }
                Ok::<(), mediamill_core::repo::RepoError>(())
            }
            .await;
            if let Err(e) = r {
                tracing::warn!(batch_id = %id, error = %e, "auto-seal");
            }
        }
        waker.wake();
    }
}
