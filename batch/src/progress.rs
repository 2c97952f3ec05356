//! Coalesced `batch.progress` events: a batch whose items moved is marked; a flush loop emits at most one
//! progress event per batch per interval, with the counts as they are then (derived from item rows).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mediamill_core::event;
use mediamill_core::model::{BatchId, TenantId};
use mediamill_core::outbox::{batch_event, Waker};
use mediamill_core::repo::Repo;
use mediamill_core::shutdown::Shutdown;

#[derive(Debug)]
struct Entry {
    tenant_id: TenantId,
    dirty: bool,
    last: Option<Instant>,
}

/// Batches whose counts changed since their last progress event.
#[derive(Debug, Default)]
pub struct Progress {
    batches: Mutex<HashMap<BatchId, Entry>>,
}

impl Progress {
    /// Marks a batch as changed.
    pub fn touch(&self, batch_id: &BatchId, tenant_id: &TenantId) {
        if let Ok(mut m) = self.batches.lock() {
            let e =
                m.entry(batch_id.clone()).or_insert(Entry { tenant_id: tenant_id.clone(), dirty: false, last: None });
            e.dirty = true;
        }
    }

    /// Batches due for an event now; they are marked clean and stamped.
    fn due(&self, interval: Duration) -> Vec<(BatchId, TenantId)> {
        let now = Instant::now();
        let Ok(mut m) = self.batches.lock() else { return vec![] };
        let mut out = Vec::new();
        for (id, e) in m.iter_mut() {
            if e.dirty && e.last.is_none_or(|l| now.duration_since(l) >= interval) {
                e.dirty = false;
                e.last = Some(now);
                out.push((id.clone(), e.tenant_id.clone()));
            }
        }
        // Forget batches that have been quiet for a while, so the map does not grow forever.
        m.retain(|_, e| e.dirty || e.last.is_some_and(|l| now.duration_since(l) < interval * 20));
        out
    }

    /// Emits due progress events every `interval / 2` until shutdown.
    pub async fn run(self: Arc<Self>, repo: Arc<dyn Repo>, waker: Waker, interval: Duration, shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(interval / 2) => {}
            }
            for (batch_id, tenant_id) in self.due(interval) {
                let r = async {
                    let Some(b) = repo.get_batch(&tenant_id, &batch_id).await? else { return Ok(()) };
                    let c = repo.batch_counts(&batch_id).await?;
                    repo.append_events(&[batch_event(&b, &c, event::BATCH_PROGRESS)]).await
                }
                .await;
                match r {
                    Ok(()) => waker.wake(),
                    Err(e) => {
                        tracing::warn!(%batch_id, error = %e, "progress event not written; will retry");
                        self.touch(&batch_id, &tenant_id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_to_one_event_per_interval() {
        let p = Progress::default();
        p.touch(&"b".into(), &"t".into());
        p.touch(&"b".into(), &"t".into());
        assert_eq!(p.due(Duration::from_secs(60)).len(), 1);
        p.touch(&"b".into(), &"t".into());
        assert!(p.due(Duration::from_secs(60)).is_empty(), "within the interval");
        assert_eq!(p.due(Duration::ZERO).len(), 1, "still dirty, due once the interval passed");
        assert!(p.due(Duration::ZERO).is_empty(), "nothing changed since");
    }
}
