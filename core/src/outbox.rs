//! The outbox relay: publishes events that were written to the database with the change they describe.
//!
//! Ingest and workers never publish directly; they write outbox rows in the same transaction as their state
//! change, so an accepted upload is never lost, even while Kafka is down. One relay at a time holds the lock
//! ([`Repo::try_relay_lock`]) and publishes in outbox order, so events of one media item keep their order.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::event::{self, BatchEvent, Envelope, Job, MediaEvent};
use crate::kafka::EventProducer;
use crate::model::{Batch, BatchCounts, Media, MediaKind, MediaStatus};
use crate::repo::{OutboxEvent, Repo};
use crate::shutdown::Shutdown;
use crate::topics::{self, Topics};

/// The processing job for `m` (attempt `attempt`), bound for its kind's job topic.
pub fn job_event(m: &Media, attempt: u32) -> OutboxEvent {
    let job = Job {
        media_id: m.id.clone(),
        tenant_id: m.tenant_id.clone(),
        kind: m.kind,
        raw_key: m.raw_key.clone(),
        content_type: m.content_type.clone(),
        size: m.size,
        attempt,
        batch_id: m.batch_id.clone(),
    };
    let ty = match m.kind {
        MediaKind::Image => event::JOB_IMAGE,
        MediaKind::Video | MediaKind::Audio => event::JOB_VIDEO,
    };
    OutboxEvent {
        topic: topics::jobs_for(m.kind).to_string(),
        key: m.id.to_string(),
        envelope: Envelope::new(ty, Some(m.id.to_string()), &job),
    }
}

/// A lifecycle event of `m` of type `ty` with body `body`, bound for `media.events`.
pub fn media_event(m: &Media, ty: &str, body: &MediaEvent) -> OutboxEvent {
    OutboxEvent {
        topic: topics::MEDIA_EVENTS.to_string(),
        key: m.id.to_string(),
        envelope: Envelope::new(ty, Some(m.id.to_string()), body),
    }
}

/// A batch event of type `ty`, bound for `batch.events` under the batch id.
pub fn batch_event(b: &Batch, c: &BatchCounts, ty: &str) -> OutboxEvent {
    let mut envelope = Envelope::new(ty, Some(b.id.to_string()), &BatchEvent::of(b, c));
    if ty == event::BATCH_COMPLETED {
        envelope.id = format!("{}:completed:{}", b.id, b.round);
    }
    OutboxEvent { topic: topics::BATCH_EVENTS.to_string(), key: b.id.to_string(), envelope }
}

/// A key event of type `ty` (`reason` for refusals), bound for `auth.events` under the key id.
pub fn key_event(k: &crate::model::ApiKey, ty: &str, reason: Option<&str>) -> OutboxEvent {
    let body = event::KeyEvent {
        key_id: k.id.clone(),
        tenant_id: k.tenant_id.clone(),
        prefix: k.prefix.clone(),
        scope: k.scope,
        expires_at: k.expires_at,
        reason: reason.map(str::to_string),
    };
    OutboxEvent {
        topic: topics::AUTH_EVENTS.to_string(),
        key: k.id.clone(),
        envelope: Envelope::new(ty, Some(k.id.clone()), &body),
    }
}

impl MediaEvent {
    /// The bare body for `m` entering `status`; callers add reason, metadata or variants.
    pub fn of(m: &Media, status: MediaStatus) -> MediaEvent {
        MediaEvent {
            media_id: m.id.clone(),
            tenant_id: m.tenant_id.clone(),
            batch_id: m.batch_id.clone(),
            kind: m.kind,
            status,
            reason: None,
            message: None,
            metadata: None,
            variants: vec![],
            progress: None,
        }
    }
}

/// Rows published per round.
const BATCH: u32 = 500;

/// Wakes the relay early after a commit, so events go out without waiting for the next poll.
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// A waker nobody waits on yet.
    pub fn new() -> Waker {
        Waker::default()
    }
    /// Wakes the relay now instead of at its next poll.
    pub fn wake(&self) {
        self.0.notify_one();
    }
    /// Drops a wake-up already given and not yet taken; answers whether there was one.
    fn take_pending(&self) -> bool {
        self.0.notified().now_or_never().is_some()
    }
}

/// The relay's loop.
pub struct Relay {
    /// Where the events wait.
    pub repo: Arc<dyn Repo>,
    /// Where they go.
    pub producer: EventProducer,
    /// Maps logical topics to full names.
    pub topics: Topics,
    /// Pokes the relay after a write.
    pub waker: Waker,
    /// Poll interval when nothing wakes it.
    pub interval: Duration,
}

impl Relay {
    /// Runs until shutdown, then publishes what is pending one last time.
    pub async fn run(self, shutdown: Shutdown) {
        let mut lock = None;
        loop {
            if lock.is_none() {
                match self.repo.try_relay_lock().await {
                    Ok(l) => lock = l,
                    Err(e) => tracing::warn!(error = %e, "outbox relay: lock"),
                }
            }
            if lock.is_some() {
                // Wakes that came before this round's read are answered by it: dropping their permit now spares
                // a read that would find nothing (about half of all reads at a steady rate, each a round trip
                // to the database).
                self.waker.take_pending();
                match self.publish_pending().await {
                    Ok(n) if n as u32 == BATCH => continue, // more waiting: no pause
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox relay: will retry");
                        // The lock's connection may be what failed; take it again next round.
                        lock = None;
                    }
                }
            }
            let elsewhere = async {
                match lock.as_mut() {
                    Some(l) => l.written_elsewhere().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = self.waker.0.notified() => {}
                _ = elsewhere => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
        if lock.is_some() {
            let _ = self.publish_pending().await;
        }
        self.producer.flush(Duration::from_secs(5));
    }

    /// Publishes one round of pending events; returns how many were published.
    pub async fn publish_pending(&self) -> Result<usize, String> {
        let pending = self.repo.pending_events(BATCH).await.map_err(|e| e.to_string())?;
        if pending.is_empty() {
            return Ok(0);
        }
        // Send the whole round concurrently: the idempotent producer keeps per-partition order.
        let sends = pending.iter().map(|p| self.send(&p.event));
        let results = futures::future::join_all(sends).await;
        // Mark only the contiguous prefix that was acknowledged; the rest is sent again next round
        // (consumers dedupe on the event id).
        let ok: Vec<i64> = pending.iter().zip(&results).take_while(|(_, r)| r.is_ok()).map(|(p, _)| p.seq).collect();
        let n = ok.len();
        self.repo.mark_sent(&ok).await.map_err(|e| e.to_string())?;
        metrics::counter!("mediamill_outbox_published_total").increment(n as u64);
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            return Err(e);
        }
        Ok(n)
    }

    async fn send(&self, e: &OutboxEvent) -> Result<(), String> {
        let topic = self.topics.name(&e.topic);
        // The publish is a span of the trace that wrote the event, and the message carries the publish span's
        // context, so the consumer's span hangs under it. Without a stored context (tracing off) nothing changes.
        let Some(tp) = e.envelope.traceparent.as_deref() else {
            return self
                .producer
                .send(&topic, &e.key, &e.envelope)
                .await
                .map(|_| ())
                .map_err(|err| format!("{topic}: {err}"));
        };
        let span = tracing::info_span!("relay.publish", topic = %topic, event_type = %e.envelope.ty);
        crate::telemetry::set_remote_parent(&span, Some(tp));
        let mut env = e.envelope.clone();
        env.traceparent = crate::telemetry::traceparent_of(&span).or(env.traceparent);
        self.producer
            .send(&topic, &e.key, &env)
            .instrument(span)
            .await
            .map(|_| ())
            .map_err(|err| format!("{topic}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_taken_before_a_read_is_gone_and_a_later_one_still_arrives() {
        let w = Waker::new();
        assert!(!w.take_pending(), "nothing to take yet");
        w.wake();
        w.wake();
        assert!(w.take_pending(), "the wakes before the read are taken as one");
        assert!(!w.take_pending(), "and leave nothing behind");
        w.wake();
        // A write after the read still wakes the relay.
        tokio::time::timeout(Duration::from_secs(1), w.0.notified()).await.expect("the later wake is kept");
    }
}
