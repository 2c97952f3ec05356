//! The metadata repository: tenants and keys, media and variants, and the outbox, behind one trait.
//!
//! [`SqlRepo`] implements it for PostgreSQL (production) and SQLite (the embedded default) with one set of
//! queries: the schema uses portable types only, so the two backends differ in their migrations and in how
//! the outbox relay is elected, nothing else. Every state change of a media item is a guarded transition
//! (`WHERE status IN (…)`) written in the same transaction as its outbox events, so a redelivered job never
//! emits its events twice.

mod notify;
mod sql;
mod sql_notify;

use std::sync::Arc;

use async_trait::async_trait;

pub use notify::{AfterAttempt, NotifyRepo};
pub use sql::SqlRepo;

use crate::event::Envelope;
use crate::model::{ApiKey, Batch, BatchCounts, BatchItem, Media, MediaStatus, Tenant, TenantLimits, Variant};

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The database could not be reached, or the call timed out; it may work later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row needed by the call does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else the database said.
    #[error("database error: {0}")]
    Other(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(String),
}

impl RepoError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, RepoError::Unavailable(_))
    }
}

/// Builds the outbox events that go with a change, from the changed row.
pub type EventsFor<'a, T> = dyn for<'x> Fn(&'x T) -> Vec<OutboxEvent> + Sync + 'a;

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub tenant_id: &'a str,
    /// SHA-256 of the secret; the secret itself is never stored.
    pub key_hash: &'a str,
    pub prefix: &'a str,
    pub scope: crate::model::KeyScope,
    pub expires_at: Option<i64>,
}

/// An event waiting in the outbox, with the logical topic it goes to.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Logical topic (without the configured prefix), e.g. `media.events`.
    pub topic: String,
    /// Kafka message key: events of one key keep their order.
    pub key: String,
    pub envelope: Envelope,
}

/// An outbox row read back for publishing.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub event: OutboxEvent,
}

/// The database's side of `mediamill status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OpsSummary {
    /// Items per status (`uploaded`, `processing`, `processed`, `failed`, `deleted`).
    pub media: std::collections::BTreeMap<String, i64>,
    /// Items in `uploaded` or `processing` unchanged for longer than the stuck threshold, per status.
    pub stuck: std::collections::BTreeMap<String, i64>,
    /// Batches not completed yet (open or sealed).
    pub open_batches: i64,
    /// Outbox events written but not yet published to Kafka.
    pub outbox_backlog: i64,
    /// Age in milliseconds of the oldest unpublished outbox event.
    pub outbox_oldest_ms: Option<i64>,
}

/// What inserting an upload did.
#[derive(Debug, Clone)]
pub enum Inserted {
    /// A new row.
    Created(Media),
    /// The tenant already used this idempotency key: the first item, unchanged.
    Existing(Media),
}

/// Filter and page of a media listing.
#[derive(Debug, Clone, Default)]
pub struct MediaQuery {
    pub status: Option<MediaStatus>,
    /// Return items after this id (ids are time-ordered).
    pub after: Option<String>,
    pub limit: u32,
}

/// The result of a successful processing job.
#[derive(Debug, Clone)]
pub struct Completion {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub metadata: serde_json::Value,
    pub variants: Vec<Variant>,
}

/// The metadata repository.
#[async_trait]
pub trait Repo: NotifyRepo + Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), RepoError>;
    /// Fails when the database cannot serve requests (for `/readyz`).
    async fn ping(&self) -> Result<(), RepoError>;

    /// The tenant named `name`, created if missing.
    async fn ensure_tenant(&self, name: &str) -> Result<Tenant, RepoError>;
    /// The tenant named `name`, if there is one (read-only tools must not create tenants by asking).
    async fn find_tenant(&self, name: &str) -> Result<Option<Tenant>, RepoError>;
    /// Every tenant, by name.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, RepoError>;
    /// Whether GPS coordinates of the tenant's photos are kept on their records (`None`: no such tenant).
    async fn tenant_keeps_gps(&self, tenant_id: &str) -> Result<Option<bool>, RepoError>;
    /// Turns keeping GPS coordinates on or off for the tenant named `name`; false if there is none.
    async fn set_tenant_keeps_gps(&self, name: &str, keep: bool) -> Result<bool, RepoError>;
    /// Replaces the limits of the tenant named `name`; false if there is none.
    async fn set_tenant_limits(&self, name: &str, limits: &TenantLimits) -> Result<bool, RepoError>;
    /// Replaces the browser origins allowed for the tenant named `name` (empty: none); false if there is none.
    async fn set_tenant_cors(&self, name: &str, origins: &[String]) -> Result<bool, RepoError>;
    /// Bytes and number of a tenant's media that are not deleted (for the `stored_bytes` and `media_count` quotas).
    async fn tenant_usage(&self, tenant_id: &str) -> Result<(u64, u64), RepoError>;
    /// Stores a new key (only its hash) with the events `make` builds for it, in one transaction.
    async fn create_key(&self, new: &NewKey<'_>, make: &EventsFor<'_, ApiKey>) -> Result<ApiKey, RepoError>;
    /// Keys of one tenant, newest first.
    async fn list_keys(&self, tenant_id: &str) -> Result<Vec<ApiKey>, RepoError>;
    /// Revokes a key with the events `make` builds for it, in one transaction; `None` if there is no active
    /// key with that id.
    async fn revoke_key(&self, key_id: &str, make: &EventsFor<'_, ApiKey>) -> Result<Option<ApiKey>, RepoError>;
    /// The key with this hash and its tenant, revoked and expired ones too (the caller refuses those).
    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<(Tenant, ApiKey)>, RepoError>;
    /// Records when a key was last used.
    async fn touch_key(&self, key_id: &str, at: i64) -> Result<(), RepoError>;
    /// Marks a key's expiry as announced, writing `make`'s events the first time only; true that time.
    async fn report_expiry(&self, key: &ApiKey, make: &EventsFor<'_, ApiKey>) -> Result<bool, RepoError>;

    /// Records an upload and its outbox events in one transaction; an idempotency key already used by the
    /// tenant returns the first item instead.
    async fn insert_media(&self, media: &Media, events: &[OutboxEvent]) -> Result<Inserted, RepoError>;
    /// One media item of a tenant.
    async fn get_media(&self, tenant_id: &str, media_id: &str) -> Result<Option<Media>, RepoError>;
    /// One media item by id alone (workers).
    async fn get_media_any(&self, media_id: &str) -> Result<Option<Media>, RepoError>;
    /// The item a tenant uploaded under an idempotency key.
    async fn media_by_idempotency_key(&self, tenant_id: &str, key: &str) -> Result<Option<Media>, RepoError>;
    /// A page of a tenant's media, oldest first.
    async fn list_media(&self, tenant_id: &str, q: &MediaQuery) -> Result<Vec<Media>, RepoError>;
    /// Media not yet in a terminal state (to re-enqueue after a broker loss).
    async fn unfinished_media(&self, after: Option<&str>, limit: u32) -> Result<Vec<Media>, RepoError>;
    /// Variants of one item.
    async fn variants(&self, media_id: &str) -> Result<Vec<Variant>, RepoError>;

    /// `uploaded` → `processing`, with its events; `false` when the item was not `uploaded`.
    async fn start_processing(&self, media_id: &str, events: &[OutboxEvent]) -> Result<bool, RepoError>;
    /// A non-terminal item → `processed`, storing its results and events; `false` if already terminal.
    async fn complete(&self, media_id: &str, done: &Completion, events: &[OutboxEvent]) -> Result<bool, RepoError>;
    /// A non-terminal item → `failed`, with its reason and events; `false` if already terminal.
    async fn fail(
        &self,
        media_id: &str,
        reason: &str,
        message: &str,
        events: &[OutboxEvent],
    ) -> Result<bool, RepoError>;
    /// Any state → `deleted` (variants removed), with its events; `None` if the tenant has no such item.
    async fn delete_media(
        &self,
        tenant_id: &str,
        media_id: &str,
        events: &[OutboxEvent],
    ) -> Result<Option<Media>, RepoError>;

    /// Adds events to the outbox on their own (re-enqueued jobs).
    async fn append_events(&self, events: &[OutboxEvent]) -> Result<(), RepoError>;
    /// Records a new batch.
    async fn create_batch(&self, b: &Batch) -> Result<(), RepoError>;
    /// A page of a tenant's batches, oldest first, after the batch id `after`.
    async fn list_batches(&self, tenant_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Batch>, RepoError>;
    /// One batch of a tenant.
    async fn get_batch(&self, tenant_id: &str, batch_id: &str) -> Result<Option<Batch>, RepoError>;
    /// Records a file of a batch that was refused at upload, as a failed item with its reason.
    async fn add_refused_item(
        &self,
        batch_id: &str,
        filename: Option<&str>,
        reason: &str,
        message: &str,
    ) -> Result<(), RepoError>;
    /// `open` → `sealed`; `false` when the batch was not open.
    async fn seal_batch(&self, batch_id: &str) -> Result<bool, RepoError>;
    /// Open batches created before `created_before` (ms), for auto-sealing.
    async fn open_batches_before(&self, created_before: i64, limit: u32) -> Result<Vec<String>, RepoError>;
    /// Item counts per state.
    async fn batch_counts(&self, batch_id: &str) -> Result<BatchCounts, RepoError>;
    /// A page of a batch's items in upload order.
    async fn batch_items(&self, batch_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<BatchItem>, RepoError>;
    /// Moves the batch item of `media_id` forward to `state` (never backwards or sideways between terminal
    /// states); returns its batch id when something changed.
    async fn advance_item(
        &self,
        media_id: &str,
        state: MediaStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<Option<String>, RepoError>;
    /// `sealed` → `completed` when no item is left unfinished, writing the event `make` builds in the same
    /// transaction; returns the completed batch and its counts, or `None` when it is not (yet) complete.
    async fn complete_batch_if_done(
        &self,
        batch_id: &str,
        make: &(dyn for<'x> Fn(&'x Batch, &'x BatchCounts) -> Vec<OutboxEvent> + Sync),
    ) -> Result<Option<(Batch, BatchCounts)>, RepoError>;

    /// Items not terminal whose last change is older than `before` (ms): stuck work for an operator.
    async fn stuck_media(&self, before: i64, limit: u32) -> Result<Vec<Media>, RepoError>;
    /// Sends an item through processing again: back to `uploaded` with one more attempt, its batch item reset,
    /// and a completed batch reopened in its next round; `make` builds the events from the item, the new
    /// attempt number and the reopened batch with its counts (if any). `None` when there is no such item or it was deleted.
    async fn requeue_media(
        &self,
        media_id: &str,
        make: &(dyn for<'x> Fn(&'x Media, u32, Option<(&'x Batch, &'x BatchCounts)>) -> Vec<OutboxEvent> + Sync),
    ) -> Result<Option<(Media, u32, Option<Batch>)>, RepoError>;

    /// What an operator's `mediamill status` shows from the database; items unchanged since before `stuck_before`
    /// (ms) and not terminal count as stuck.
    async fn ops_summary(&self, stuck_before: i64) -> Result<OpsSummary, RepoError>;

    /// Events not yet published, in outbox order.
    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, RepoError>;
    /// Marks events published.
    async fn mark_sent(&self, seqs: &[i64]) -> Result<(), RepoError>;
    /// Holds the single-relay lock for the life of the returned guard; `None` while another relay has it.
    async fn try_relay_lock(&self) -> Result<Option<RelayLock>, RepoError>;
}

/// Held by the one active outbox relay; dropping it lets another relay take over. With PostgreSQL it also
/// hears every outbox write of every process (LISTEN/NOTIFY), so the relay need not be in the process that
/// wrote to publish at once.
pub struct RelayLock {
    _inner: Option<Box<dyn std::any::Any + Send>>,
    listener: Option<sqlx::postgres::PgListener>,
}

impl RelayLock {
    pub(crate) fn new(
        inner: Option<Box<dyn std::any::Any + Send>>,
        listener: Option<sqlx::postgres::PgListener>,
    ) -> RelayLock {
        RelayLock { _inner: inner, listener }
    }

    /// Returns when another process wrote outbox rows; never, without a listener (SQLite: one process,
    /// whose own writes wake the relay directly).
    pub async fn written_elsewhere(&mut self) {
        match &mut self.listener {
            Some(l) => {
                if let Err(e) = l.recv().await {
                    // The listener reconnects on the next call; the pause keeps a dead server from spinning us.
                    tracing::debug!(error = %e, "outbox relay: listener");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
            None => std::future::pending().await,
        }
    }
}

/// Opens the repository at `url` (`postgres://…` or `sqlite://…`) and applies migrations.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Repo>, RepoError> {
    let repo = SqlRepo::connect(url, max_connections).await?;
    repo.migrate().await?;
    Ok(Arc::new(repo))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
