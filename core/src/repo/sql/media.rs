//! [`MediaRepo`] on SQL. Every state change is a guarded `UPDATE … WHERE status IN (…)` in one transaction
//! with its events, so a redelivered job never emits them twice.

use async_trait::async_trait;
use sqlx::Connection;

use super::batches::{batch_in, counts};
use super::outbox::write_events;
use super::rows::{convert_all, convert_opt, AttemptedMediaRow, MediaRow, VariantRow, MEDIA_COLS};
use super::SqlRepo;
use crate::model::{Batch, Media, MediaId, MediaStatus, TenantId, Variant};
use crate::repo::{now_ms, Completion, Inserted, MediaQuery, MediaRepo, OutboxEvent, RepoError, RequeueEvents};

const NOT_TERMINAL: &[MediaStatus] = &[MediaStatus::Uploaded, MediaStatus::Processing];

/// More writes a transition makes inside its transaction once the guarded update succeeded.
enum Then<'a> {
    Nothing,
    /// Store the results of processing.
    InsertVariants(&'a [Variant]),
    /// Forget the results (a deleted item).
    DeleteVariants,
}

impl SqlRepo {
    /// Moves `media_id` from one of `from` with `SET {set_sql}` (binds `$1…`), then does `then` and writes
    /// `events`, all in one transaction; `false` (and nothing written) when the item was in no state of `from`.
    async fn transition(
        &self,
        media_id: &MediaId,
        from: &[MediaStatus],
        set_sql: &str,
        binds: Vec<Option<String>>,
        events: &[OutboxEvent],
        then: Then<'_>,
    ) -> Result<bool, RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let from_list = from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(",");
        let n = binds.len();
        let sql = format!(
            "UPDATE media SET {set_sql}, updated_at = ${} WHERE id = ${} AND status IN ({from_list})",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let res = q.bind(now_ms()).bind(media_id).execute(&mut *tx).await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        match then {
            Then::Nothing => {}
            Then::InsertVariants(variants) => insert_variants(&mut tx, media_id, variants).await?,
            Then::DeleteVariants => {
                sqlx::query("DELETE FROM variants WHERE media_id = $1").bind(media_id).execute(&mut *tx).await?;
            }
        }
        write_events(&mut tx, self.dialect, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The media row `WHERE {filter}` selects, with `binds` as `$1…`.
    async fn media_where(&self, filter: &str, binds: &[&str]) -> Result<Option<Media>, RepoError> {
        let sql = format!("SELECT {MEDIA_COLS} FROM media WHERE {filter}");
        let mut q = sqlx::query_as::<_, MediaRow>(&sql);
        for b in binds {
            q = q.bind(*b);
        }
        convert_opt(q.fetch_optional(&mut *self.db.acquire().await?).await?)
    }
}

async fn insert_variants(
    conn: &mut sqlx::AnyConnection,
    media_id: &MediaId,
    variants: &[Variant],
) -> Result<(), RepoError> {
    // One statement for all of them (six for a photo): each statement is a round trip to the database's
    // thread. A (name, format) twice would make PostgreSQL refuse the whole upsert, so the last one wins
    // here, as it did row by row.
    let mut unique: Vec<&Variant> = Vec::with_capacity(variants.len());
    for v in variants {
        match unique.iter_mut().find(|u| (&u.name, &u.format) == (&v.name, &v.format)) {
            Some(u) => *u = v,
            None => unique.push(v),
        }
    }
    if unique.is_empty() {
        return Ok(());
    }
    const COLS: usize = 8;
    let rows: Vec<String> = (0..unique.len())
        .map(|r| {
            let ps: Vec<String> = (1..=COLS).map(|c| format!("${}", r * COLS + c)).collect();
            format!("({})", ps.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO variants (media_id, name, format, object_key, content_type, width, height, size) \
         VALUES {} ON CONFLICT (media_id, name, format) DO UPDATE SET \
         object_key = excluded.object_key, content_type = excluded.content_type, \
         width = excluded.width, height = excluded.height, size = excluded.size",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for v in unique {
        q = q
            .bind(media_id)
            .bind(&v.name)
            .bind(&v.format)
            .bind(&v.key)
            .bind(&v.content_type)
            .bind(v.width as i64)
            .bind(v.height as i64)
            .bind(v.size as i64);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

#[async_trait]
impl MediaRepo for SqlRepo {
    async fn insert_media(&self, m: &Media, events: &[OutboxEvent]) -> Result<Inserted, RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let res = sqlx::query(
            "INSERT INTO media (id, tenant_id, kind, status, content_type, filename, size, sha256, raw_key, \
             batch_id, idempotency_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        )
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(m.kind.as_str())
        .bind(m.status.as_str())
        .bind(&m.content_type)
        .bind(m.filename.clone())
        .bind(m.size as i64)
        .bind(&m.sha256)
        .bind(&m.raw_key)
        .bind(m.batch_id.clone())
        .bind(m.idempotency_key.clone())
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            // The look-up below takes the connection again (SQLite has only the one).
            drop(conn);
            let key = m.idempotency_key.as_deref().unwrap_or_default();
            return match self.media_by_idempotency_key(&m.tenant_id, key).await? {
                Some(existing) => Ok(Inserted::Existing(existing)),
                None => Err(RepoError::Conflict { what: format!("media {}", m.id), source: None }),
            };
        }
        if let Some(batch_id) = &m.batch_id {
            sqlx::query(
                "INSERT INTO batch_items (batch_id, item_id, media_id, filename, state, rank, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'uploaded', 0, $5, $6)",
            )
            .bind(batch_id)
            .bind(&m.id)
            .bind(&m.id)
            .bind(m.filename.clone())
            .bind(m.created_at)
            .bind(m.created_at)
            .execute(&mut *tx)
            .await?;
        }
        write_events(&mut tx, self.dialect, events).await?;
        tx.commit().await?;
        Ok(Inserted::Created(m.clone()))
    }

    async fn get_media(&self, tenant_id: &TenantId, media_id: &MediaId) -> Result<Option<Media>, RepoError> {
        self.media_where("id = $1 AND tenant_id = $2", &[media_id.as_str(), tenant_id.as_str()]).await
    }

    async fn get_media_any(&self, media_id: &MediaId) -> Result<Option<Media>, RepoError> {
        self.media_where("id = $1", &[media_id.as_str()]).await
    }

    async fn media_by_idempotency_key(&self, tenant_id: &TenantId, key: &str) -> Result<Option<Media>, RepoError> {
        self.media_where("tenant_id = $1 AND idempotency_key = $2", &[tenant_id.as_str(), key]).await
    }

    async fn list_media(&self, tenant_id: &TenantId, q: &MediaQuery) -> Result<Vec<Media>, RepoError> {
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR id > $3) AND status <> 'deleted' ORDER BY id LIMIT $4"
        );
        let rows: Vec<MediaRow> = sqlx::query_as(&sql)
            .bind(tenant_id)
            .bind(q.status.map(|s| s.as_str().to_string()))
            .bind(q.after.clone())
            .bind(q.limit.clamp(1, 1000) as i64)
            .fetch_all(&mut *self.db.acquire().await?)
            .await?;
        convert_all(rows)
    }

    async fn unfinished_media(&self, after: Option<&MediaId>, limit: u32) -> Result<Vec<Media>, RepoError> {
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media WHERE status IN ('uploaded', 'processing') AND ($1 IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
        );
        let rows: Vec<MediaRow> = sqlx::query_as(&sql)
            .bind(after.cloned())
            .bind(limit as i64)
            .fetch_all(&mut *self.db.acquire().await?)
            .await?;
        convert_all(rows)
    }

    async fn variants(&self, media_id: &MediaId) -> Result<Vec<Variant>, RepoError> {
        let rows: Vec<VariantRow> = sqlx::query_as(
            "SELECT name, format, object_key, content_type, width, height, size FROM variants \
             WHERE media_id = $1 ORDER BY width, name, format",
        )
        .bind(media_id)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        convert_all(rows)
    }

    async fn start_processing(&self, media_id: &MediaId, events: &[OutboxEvent]) -> Result<bool, RepoError> {
        let from = &[MediaStatus::Uploaded];
        self.transition(media_id, from, "status = 'processing'", vec![], events, Then::Nothing).await
    }

    async fn complete(&self, media_id: &MediaId, done: &Completion, events: &[OutboxEvent]) -> Result<bool, RepoError> {
        let set = "status = 'processed', width = CAST($1 AS BIGINT), height = CAST($2 AS BIGINT), metadata = $3";
        let binds = vec![
            done.width.map(|w| w.to_string()),
            done.height.map(|h| h.to_string()),
            Some(done.metadata.to_string()),
        ];
        let then = Then::InsertVariants(&done.variants);
        self.transition(media_id, NOT_TERMINAL, set, binds, events, then).await
    }

    async fn fail(
        &self,
        media_id: &MediaId,
        reason: &str,
        message: &str,
        events: &[OutboxEvent],
    ) -> Result<bool, RepoError> {
        let set = "status = 'failed', failure_reason = $1, failure_message = $2";
        let binds = vec![Some(reason.to_string()), Some(message.to_string())];
        self.transition(media_id, NOT_TERMINAL, set, binds, events, Then::Nothing).await
    }

    async fn delete_media(
        &self,
        tenant_id: &TenantId,
        media_id: &MediaId,
        events: &[OutboxEvent],
    ) -> Result<Option<Media>, RepoError> {
        let Some(m) = self.get_media(tenant_id, media_id).await? else { return Ok(None) };
        if m.status == MediaStatus::Deleted {
            return Ok(Some(m));
        }
        let from = [MediaStatus::Uploaded, MediaStatus::Processing, MediaStatus::Processed, MediaStatus::Failed];
        self.transition(media_id, &from, "status = 'deleted'", vec![], events, Then::DeleteVariants).await?;
        self.get_media(tenant_id, media_id).await
    }

    async fn stuck_media(&self, before: i64, limit: u32) -> Result<Vec<Media>, RepoError> {
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media WHERE status IN ('uploaded', 'processing') AND updated_at < $1 \
             ORDER BY id LIMIT $2"
        );
        let rows: Vec<MediaRow> =
            sqlx::query_as(&sql).bind(before).bind(limit as i64).fetch_all(&mut *self.db.acquire().await?).await?;
        convert_all(rows)
    }

    async fn requeue_media(
        &self,
        media_id: &MediaId,
        make: &RequeueEvents<'_>,
    ) -> Result<Option<(Media, u32, Option<Batch>)>, RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let now = now_ms();
        let res = sqlx::query(
            "UPDATE media SET status = 'uploaded', attempt = attempt + 1, failure_reason = NULL, \
             failure_message = NULL, updated_at = $1 WHERE id = $2 AND status <> 'deleted'",
        )
        .bind(now)
        .bind(media_id)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let row: AttemptedMediaRow = sqlx::query_as(&format!("SELECT {MEDIA_COLS}, attempt FROM media WHERE id = $1"))
            .bind(media_id)
            .fetch_one(&mut *tx)
            .await?;
        let attempt = row.attempt.max(1) as u32;
        let m = Media::try_from(row.media)?;
        let mut reopened = None;
        if let Some(batch_id) = &m.batch_id {
            sqlx::query(
                "UPDATE batch_items SET state = 'uploaded', rank = 0, reason = NULL, message = NULL, updated_at = $1 \
                 WHERE media_id = $2",
            )
            .bind(now)
            .bind(media_id)
            .execute(&mut *tx)
            .await?;
            let r = sqlx::query(
                "UPDATE batches SET status = 'sealed', round = round + 1, outcome = NULL, completed_at = NULL, \
                 updated_at = $1 WHERE id = $2 AND status = 'completed'",
            )
            .bind(now)
            .bind(batch_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() > 0 {
                let b = batch_in(&mut tx, batch_id).await?;
                let c = counts(&mut tx, batch_id).await?;
                reopened = Some((b, c));
            }
        }
        write_events(&mut tx, self.dialect, &make(&m, attempt, reopened.as_ref().map(|(b, c)| (b, c)))).await?;
        tx.commit().await?;
        Ok(Some((m, attempt, reopened.map(|(b, _)| b))))
    }
}
