//! The batch tracker: a consumer of `media.events` that keeps batch items in line with their media.

use std::sync::Arc;

use async_trait::async_trait;
use mediamill_core::event::{self, MediaEvent};
use mediamill_core::kafka::{Handler, Outcome, OwnedJob};
use mediamill_core::model::{Batch, BatchCounts, MediaStatus};
use mediamill_core::outbox::{batch_event, Waker};
use mediamill_core::repo::{Repo, RepoError};
use mediamill_core::retry::{until_ok, Backoff};
use mediamill_core::shutdown::Shutdown;

use crate::progress::Progress;

/// Handles `media.events` for batches.
pub struct BatchTracker {
    /// Where items move and batches complete.
    pub repo: Arc<dyn Repo>,
    /// Wakes this process's outbox relay after a completion wrote its event.
    pub waker: Waker,
    /// Coalesces `batch.progress` events.
    pub progress: Arc<Progress>,
    /// Stops the retries of a failing write, handing the event back uncommitted.
    pub shutdown: Shutdown,
}

/// The `batch.completed` event of a batch that just completed.
pub fn completed_events(b: &Batch, c: &BatchCounts) -> Vec<mediamill_core::repo::OutboxEvent> {
    vec![batch_event(b, c, event::BATCH_COMPLETED)]
}

impl BatchTracker {
    async fn apply(&self, ev: &MediaEvent) -> Result<(), RepoError> {
        // Items start as uploaded: that event moves nothing, so it costs no statement.
        if ev.status == MediaStatus::Uploaded {
            return Ok(());
        }
        let changed =
            self.repo.advance_item(&ev.media_id, ev.status, ev.reason.as_deref(), ev.message.as_deref()).await?;
        if let Some(batch_id) = changed {
            self.progress.touch(&batch_id, &ev.tenant_id);
            // An item that moved to a state still in flight cannot be what completes its batch.
            if !ev.status.is_terminal() {
                return Ok(());
            }
            if let Some((b, _)) = self.repo.complete_batch_if_done(&batch_id, &completed_events).await? {
                metrics::counter!("mediamill_batches_completed_total").increment(1);
                let took_ms = b.completed_at.unwrap_or_else(mediamill_core::repo::now_ms) - b.created_at;
                metrics::histogram!("mediamill_batch_duration_seconds").record(took_ms.max(0) as f64 / 1000.0);
                self.waker.wake();
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Handler for BatchTracker {
    async fn handle(&self, msg: OwnedJob) -> Outcome {
        let Ok(env) = msg.envelope.as_ref() else { return Outcome::Done };
        if !env.ty.starts_with("mediamill.media.") {
            return Outcome::Done;
        }
        let ev: MediaEvent = match env.data_as() {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(offset = msg.offset, error = %e, "unreadable media event skipped");
                return Outcome::Done;
            }
        };
        if ev.batch_id.is_none() {
            return Outcome::Done;
        }
        let subject = ev.media_id.clone();
        match until_ok(&self.shutdown, Backoff::BACKENDS, &subject, "batch tracker", || self.apply(&ev)).await {
            Some(()) => Outcome::Done,
            None => Outcome::Abandoned,
        }
    }
}
