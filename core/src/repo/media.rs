//! Media items through their life: upload, processing, results, failure, deletion and requeue.

use async_trait::async_trait;

use super::{OutboxEvent, RepoError};
use crate::model::{Batch, BatchCounts, Media, MediaId, MediaStatus, TenantId, Variant};

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
    /// Only items in this state.
    pub status: Option<MediaStatus>,
    /// Return items after this id (ids are time-ordered).
    pub after: Option<MediaId>,
    /// Page size (clamped to 1..=1000).
    pub limit: u32,
}

/// The result of a successful processing job.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Width of the original, when it has pictures.
    pub width: Option<u32>,
    /// Height of the original, when it has pictures.
    pub height: Option<u32>,
    /// What the worker learnt of the original (EXIF, duration, hashes, colour…).
    pub metadata: serde_json::Value,
    /// The outputs made.
    pub variants: Vec<Variant>,
}

/// Builds the events of a requeue from the item, its new attempt number and the batch it reopened (if any).
pub type RequeueEvents<'a> =
    dyn for<'x> Fn(&'x Media, u32, Option<(&'x Batch, &'x BatchCounts)>) -> Vec<OutboxEvent> + Sync + 'a;

/// Storage of media items and their variants. Every state change is a guarded transition written in the same
/// transaction as its events.
#[async_trait]
pub trait MediaRepo: Send + Sync {
    /// Records an upload and its outbox events in one transaction; an idempotency key already used by the
    /// tenant returns the first item instead.
    async fn insert_media(&self, media: &Media, events: &[OutboxEvent]) -> Result<Inserted, RepoError>;
    /// One media item of a tenant.
    async fn get_media(&self, tenant_id: &TenantId, media_id: &MediaId) -> Result<Option<Media>, RepoError>;
    /// One media item by id alone (workers).
    async fn get_media_any(&self, media_id: &MediaId) -> Result<Option<Media>, RepoError>;
    /// The item a tenant uploaded under an idempotency key.
    async fn media_by_idempotency_key(&self, tenant_id: &TenantId, key: &str) -> Result<Option<Media>, RepoError>;
    /// A page of a tenant's media, oldest first.
    async fn list_media(&self, tenant_id: &TenantId, q: &MediaQuery) -> Result<Vec<Media>, RepoError>;
    /// Media not yet in a terminal state (to re-enqueue after a broker loss).
    async fn unfinished_media(&self, after: Option<&MediaId>, limit: u32) -> Result<Vec<Media>, RepoError>;
    /// Variants of one item.
    async fn variants(&self, media_id: &MediaId) -> Result<Vec<Variant>, RepoError>;

    /// `uploaded` → `processing`, with its events; `false` when the item was not `uploaded`.
    async fn start_processing(&self, media_id: &MediaId, events: &[OutboxEvent]) -> Result<bool, RepoError>;
    /// A non-terminal item → `processed`, storing its results and events; `false` if already terminal.
    async fn complete(&self, media_id: &MediaId, done: &Completion, events: &[OutboxEvent]) -> Result<bool, RepoError>;
    /// A non-terminal item → `failed`, with its reason and events; `false` if already terminal.
    async fn fail(
        &self,
        media_id: &MediaId,
        reason: &str,
        message: &str,
        events: &[OutboxEvent],
    ) -> Result<bool, RepoError>;
    /// Any state → `deleted` (variants removed), with its events; `None` if the tenant has no such item.
    async fn delete_media(
        &self,
        tenant_id: &TenantId,
        media_id: &MediaId,
        events: &[OutboxEvent],
    ) -> Result<Option<Media>, RepoError>;

    /// Items not terminal whose last change is older than `before` (ms): stuck work for an operator.
    async fn stuck_media(&self, before: i64, limit: u32) -> Result<Vec<Media>, RepoError>;
    /// Sends an item through processing again: back to `uploaded` with one more attempt, its batch item reset,
    /// and a completed batch reopened in its next round, with the events `make` builds. `None` when there is no
    /// such item or it was deleted.
    async fn requeue_media(
        &self,
        media_id: &MediaId,
        make: &RequeueEvents<'_>,
    ) -> Result<Option<(Media, u32, Option<Batch>)>, RepoError>;
}
