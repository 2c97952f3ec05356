//! Batches: a group of uploads followed to completion, with per-item states that only move forward.

use async_trait::async_trait;

use super::{OutboxEvent, RepoError};
use crate::model::{Batch, BatchCounts, BatchId, BatchItem, MediaId, MediaStatus, TenantId};

/// Builds the event of a completed batch from the batch and its final counts.
pub type CompletionEvents<'a> = dyn for<'x> Fn(&'x Batch, &'x BatchCounts) -> Vec<OutboxEvent> + Sync + 'a;

/// Storage of batches and their items.
#[async_trait]
pub trait BatchRepo: Send + Sync {
    /// Records a new batch.
    async fn create_batch(&self, b: &Batch) -> Result<(), RepoError>;
    /// A page of a tenant's batches, oldest first, after the batch id `after`.
    async fn list_batches(
        &self,
        tenant_id: &TenantId,
        after: Option<&BatchId>,
        limit: u32,
    ) -> Result<Vec<Batch>, RepoError>;
    /// One batch of a tenant.
    async fn get_batch(&self, tenant_id: &TenantId, batch_id: &BatchId) -> Result<Option<Batch>, RepoError>;
    /// Records a file of a batch that was refused at upload, as a failed item with its reason.
    async fn add_refused_item(
        &self,
        batch_id: &BatchId,
        filename: Option<&str>,
        reason: &str,
        message: &str,
    ) -> Result<(), RepoError>;
    /// `open` → `sealed`; `false` when the batch was not open.
    async fn seal_batch(&self, batch_id: &BatchId) -> Result<bool, RepoError>;
    /// Open batches created before `created_before` (ms), for auto-sealing.
    async fn open_batches_before(&self, created_before: i64, limit: u32) -> Result<Vec<BatchId>, RepoError>;
    /// Item counts per state.
    async fn batch_counts(&self, batch_id: &BatchId) -> Result<BatchCounts, RepoError>;
    /// A page of a batch's items in upload order.
    async fn batch_items(
        &self,
        batch_id: &BatchId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<BatchItem>, RepoError>;
    /// Moves the batch item of `media_id` forward to `state` (never backwards or sideways between terminal
    /// states); returns its batch id when something changed.
    async fn advance_item(
        &self,
        media_id: &MediaId,
        state: MediaStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<Option<BatchId>, RepoError>;
    /// `sealed` → `completed` when no item is left unfinished, writing the event `make` builds in the same
    /// transaction; returns the completed batch and its counts, or `None` when it is not (yet) complete.
    async fn complete_batch_if_done(
        &self,
        batch_id: &BatchId,
        make: &CompletionEvents<'_>,
    ) -> Result<Option<(Batch, BatchCounts)>, RepoError>;
}
