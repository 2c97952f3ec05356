//! Expired resumable and direct uploads: their parts, tail and unconfirmed object removed from the store,
//! their rows from the database.

use std::time::Duration;

use mediamill_core::backends::Backends;
use mediamill_core::model::ResumableUpload;
use mediamill_core::repo::now_ms;
use mediamill_core::shutdown::Shutdown;

/// Removes an unfinished upload's stored bytes (its parted write, its tail, a direct upload's object) and its
/// row. Failures are
/// logged: what is left of a parted write in S3 is aborted by the store's own sweep of abandoned writes.
pub async fn discard(b: &Backends, u: &ResumableUpload) {
    if u.completed_at.is_none() {
        if let Some(h) = &u.progress.store_handle {
            if let Err(e) = b.store.abort_parts(&u.raw_key, h).await {
                tracing::warn!(upload = %u.id, error = %e, "aborting an upload's parts");
            }
        }
        // A direct upload's single PUT may have landed without the upload being completed.
        for key in [u.tail_key(), u.raw_key.clone()] {
            if let Err(e) = b.store.delete(&key).await {
                tracing::warn!(upload = %u.id, error = %e, key, "deleting an unfinished upload's object");
            }
        }
    }
    if let Err(e) = b.repo.delete_upload(&u.id).await {
        tracing::warn!(upload = %u.id, error = %e, "forgetting an upload");
    }
}

/// Every `uploads.sweep_interval_secs`, removes uploads past their expiry: unfinished ones with their bytes,
/// finished ones (kept so far for clients asking after their last answer) by their row.
pub async fn run(b: Backends, shutdown: Shutdown) {
    let every = Duration::from_secs(b.cfg.uploads.sweep_interval_secs);
    loop {
        match b.repo.expired_uploads(now_ms(), 100).await {
            Ok(expired) => {
                for u in &expired {
                    discard(&b, u).await;
                }
                if !expired.is_empty() {
                    tracing::info!(n = expired.len(), "removed expired resumable uploads");
                    metrics::counter!("mediamill_tus_uploads_expired_total").increment(expired.len() as u64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweeping expired uploads"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
