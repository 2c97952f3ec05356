//! The transactional outbox: events written with the change they describe, published later by one relay.

use async_trait::async_trait;

use super::RepoError;
use crate::event::Envelope;

/// Builds the outbox events that go with a change, from the changed row.
pub type EventsFor<'a, T> = dyn for<'x> Fn(&'x T) -> Vec<OutboxEvent> + Sync + 'a;

/// An event waiting in the outbox, with the logical topic it goes to.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Logical topic (without the configured prefix), e.g. `media.events`.
    pub topic: String,
    /// Kafka message key: events of one key keep their order.
    pub key: String,
    /// The event itself.
    pub envelope: Envelope,
}

/// An outbox row read back for publishing.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    /// Position in the outbox: events are published in this order.
    pub seq: i64,
    /// The event and where it goes.
    pub event: OutboxEvent,
}

/// Storage of outbox events.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Adds events to the outbox on their own (re-enqueued jobs).
    async fn append_events(&self, events: &[OutboxEvent]) -> Result<(), RepoError>;
    /// Events not yet published, in outbox order.
    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, RepoError>;
    /// Marks events published.
    async fn mark_sent(&self, seqs: &[i64]) -> Result<(), RepoError>;
    /// Holds the single-relay lock for the life of the returned guard; `None` while another relay has it.
    async fn try_relay_lock(&self) -> Result<Option<RelayLock>, RepoError>;
}

/// Tells the relay that another process wrote outbox rows (PostgreSQL's LISTEN/NOTIFY, for one).
#[async_trait]
pub trait OutboxWakeups: Send {
    /// Returns at the next write elsewhere.
    async fn next(&mut self);
}

/// Held by the one active outbox relay; dropping it lets another relay take over. With wake-ups it also hears
/// every outbox write of every process, so the relay need not be in the process that wrote to publish at once.
pub struct RelayLock {
    _held: Option<Box<dyn std::any::Any + Send>>,
    wakeups: Option<Box<dyn OutboxWakeups>>,
}

impl RelayLock {
    /// A lock kept as long as `held` lives (e.g. the connection holding an advisory lock), with optional wake-ups.
    pub fn new(held: Option<Box<dyn std::any::Any + Send>>, wakeups: Option<Box<dyn OutboxWakeups>>) -> RelayLock {
        RelayLock { _held: held, wakeups }
    }

    /// Returns when another process wrote outbox rows; never, without wake-ups (SQLite: one process, whose own
    /// writes wake the relay directly).
    pub async fn written_elsewhere(&mut self) {
        match &mut self.wakeups {
            Some(w) => w.next().await,
            None => std::future::pending().await,
        }
    }
}
