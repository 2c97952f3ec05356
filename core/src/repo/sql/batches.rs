//! [`BatchRepo`] on SQL. Items carry a rank (uploaded 0, processing 1, terminal 2) and only move up it, so
//! events arriving out of order never undo progress.

use async_trait::async_trait;
use sqlx::Connection;

use super::outbox::write_events;
use super::rows::{convert_all, convert_opt, BatchItemRow, BatchRow, BATCH_COLS};
use super::SqlRepo;
use crate::model::{Batch, BatchCounts, BatchId, BatchItem, MediaId, MediaStatus, TenantId};
use crate::repo::{now_ms, BatchRepo, CompletionEvents, RepoError};

/// Item counts per state of one batch, inside the caller's transaction.
pub(super) async fn counts(conn: &mut sqlx::AnyConnection, batch_id: &BatchId) -> Result<BatchCounts, RepoError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) AS n FROM batch_items WHERE batch_id = $1 GROUP BY state")
            .bind(batch_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut c = BatchCounts::default();
    for (state, n) in rows {
        let n = n.max(0) as u64;
        match state.parse::<MediaStatus>() {
            Ok(MediaStatus::Uploaded) => c.uploaded += n,
            Ok(MediaStatus::Processing) => c.processing += n,
            Ok(MediaStatus::Processed) => c.processed += n,
            Ok(MediaStatus::Failed) => c.failed += n,
            _ => return Err(RepoError::Corrupt(format!("batch item state {state:?}"))),
        }
    }
    Ok(c)
}

/// One batch by id, inside the caller's transaction.
pub(super) async fn batch_in(conn: &mut sqlx::AnyConnection, batch_id: &BatchId) -> Result<Batch, RepoError> {
    let row: BatchRow = sqlx::query_as(&format!("SELECT {BATCH_COLS} FROM batches WHERE id = $1"))
        .bind(batch_id)
        .fetch_one(&mut *conn)
        .await?;
    row.try_into()
}

#[async_trait]
impl BatchRepo for SqlRepo {
    async fn create_batch(&self, b: &Batch) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO batches (id, tenant_id, name, expected_count, metadata, webhook_url, webhook_secret, status, \
             round, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&b.id)
        .bind(&b.tenant_id)
        .bind(b.name.clone())
        .bind(b.expected_count.map(|e| e as i64))
        .bind(b.metadata.as_ref().map(|m| m.to_string()))
        .bind(b.webhook_url.clone())
        .bind(b.webhook_secret.clone())
        .bind(b.status.as_str())
        .bind(b.round)
        .bind(b.created_at)
        .bind(b.created_at)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn list_batches(
        &self,
        tenant_id: &TenantId,
        after: Option<&BatchId>,
        limit: u32,
    ) -> Result<Vec<Batch>, RepoError> {
        let sql = format!(
            "SELECT {BATCH_COLS} FROM batches WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<BatchRow> = sqlx::query_as(&sql)
            .bind(tenant_id)
            .bind(after.cloned())
            .bind(limit.clamp(1, 1000) as i64)
            .fetch_all(&mut *self.db.acquire().await?)
            .await?;
        convert_all(rows)
    }

    async fn get_batch(&self, tenant_id: &TenantId, batch_id: &BatchId) -> Result<Option<Batch>, RepoError> {
        let sql = format!("SELECT {BATCH_COLS} FROM batches WHERE id = $1 AND tenant_id = $2");
        let row: Option<BatchRow> =
            sqlx::query_as(&sql).bind(batch_id).bind(tenant_id).fetch_optional(&mut *self.db.acquire().await?).await?;
        convert_opt(row)
    }

    async fn add_refused_item(
        &self,
        batch_id: &BatchId,
        filename: Option<&str>,
        reason: &str,
        message: &str,
    ) -> Result<(), RepoError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO batch_items (batch_id, item_id, filename, state, rank, reason, message, created_at, updated_at) \
             VALUES ($1, $2, $3, 'failed', 2, $4, $5, $6, $7)",
        )
        .bind(batch_id)
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(filename.map(str::to_string))
        .bind(reason)
        .bind(message)
        .bind(now)
        .bind(now)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn seal_batch(&self, batch_id: &BatchId) -> Result<bool, RepoError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE batches SET status = 'sealed', sealed_at = $1, updated_at = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(now)
        .bind(now)
        .bind(batch_id)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn open_batches_before(&self, created_before: i64, limit: u32) -> Result<Vec<BatchId>, RepoError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM batches WHERE status = 'open' AND created_at < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(created_before)
        .bind(limit as i64)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?)
    }

    async fn batch_counts(&self, batch_id: &BatchId) -> Result<BatchCounts, RepoError> {
        let mut conn = self.db.acquire().await?;
        counts(&mut conn, batch_id).await
    }

    async fn batch_items(
        &self,
        batch_id: &BatchId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<BatchItem>, RepoError> {
        let rows: Vec<BatchItemRow> = sqlx::query_as(
            "SELECT item_id, media_id, filename, state, reason, message, updated_at FROM batch_items \
             WHERE batch_id = $1 AND ($2 IS NULL OR item_id > $2) ORDER BY item_id LIMIT $3",
        )
        .bind(batch_id)
        .bind(after.map(str::to_string))
        .bind(limit.clamp(1, 1000) as i64)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        convert_all(rows)
    }

    async fn advance_item(
        &self,
        media_id: &MediaId,
        state: MediaStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<Option<BatchId>, RepoError> {
        // A deleted item counts as failed: it will never be processed.
        let (state_s, reason) = match state {
            MediaStatus::Deleted => ("failed", Some(reason.unwrap_or("deleted"))),
            s => (s.as_str(), reason),
        };
        // One statement: the batch of the item that moved, none when nothing moved.
        Ok(sqlx::query_scalar(
            "UPDATE batch_items SET state = $1, rank = $2, reason = $3, message = $4, updated_at = $5 \
             WHERE media_id = $6 AND rank < $2 RETURNING batch_id",
        )
        .bind(state_s)
        .bind(state.rank())
        .bind(reason.map(str::to_string))
        .bind(message.map(str::to_string))
        .bind(now_ms())
        .bind(media_id)
        .fetch_optional(&mut *self.db.acquire().await?)
        .await?)
    }

    async fn complete_batch_if_done(
        &self,
        batch_id: &BatchId,
        make: &CompletionEvents<'_>,
    ) -> Result<Option<(Batch, BatchCounts)>, RepoError> {
        // Most calls come while items are still in flight: one indexed look answers them without a
        // transaction or a count of every item.
        let open: Option<i64> =
            sqlx::query_scalar("SELECT rank FROM batch_items WHERE batch_id = $1 AND rank < $2 LIMIT 1")
                .bind(batch_id)
                .bind(MediaStatus::Processed.rank())
                .fetch_optional(&mut *self.db.acquire().await?)
                .await?;
        if open.is_some() {
            return Ok(None);
        }
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let c = counts(&mut tx, batch_id).await?;
        if c.uploaded + c.processing > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let outcome = if c.failed > 0 { "completed_with_failures" } else { "completed" };
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE batches SET status = 'completed', outcome = $1, completed_at = $2, updated_at = $3 \
             WHERE id = $4 AND status = 'sealed'",
        )
        .bind(outcome)
        .bind(now)
        .bind(now)
        .bind(batch_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let b = batch_in(&mut tx, batch_id).await?;
        write_events(&mut tx, self.dialect, &make(&b, &c)).await?;
        tx.commit().await?;
        Ok(Some((b, c)))
    }
}
