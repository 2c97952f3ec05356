//! [`UploadRepo`] on SQL. The lease is a time in `lease_until`, taken and kept only with the offset the
//! request started from in the `WHERE` clause, so two requests racing on one upload cannot both move it.

use async_trait::async_trait;

use super::rows::{convert_all, convert_opt, UploadRow, UPLOAD_COLS};
use super::SqlRepo;
use crate::model::{ResumableUpload, TenantId, UploadId, UploadProgress};
use crate::repo::{now_ms, RepoError, UploadRepo};

fn parts_json(p: &UploadProgress) -> String {
    serde_json::Value::from(p.parts.iter().map(|(n, tag)| serde_json::json!([n, tag])).collect::<Vec<_>>()).to_string()
}

#[async_trait]
impl UploadRepo for SqlRepo {
    async fn create_upload(&self, u: &ResumableUpload) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO uploads (id, tenant_id, length, upload_offset, metadata, filename, batch_id, idempotency_key, \
             media_id, raw_key, content_type, store_handle, parts, tail_size, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&u.id)
        .bind(&u.tenant_id)
        .bind(u.length as i64)
        .bind(u.progress.offset as i64)
        .bind(serde_json::Value::Object(u.metadata.clone()).to_string())
        .bind(u.filename.clone())
        .bind(u.batch_id.clone())
        .bind(u.idempotency_key.clone())
        .bind(&u.media_id)
        .bind(u.raw_key.clone())
        .bind(u.progress.content_type.clone())
        .bind(u.progress.store_handle.clone())
        .bind(parts_json(&u.progress))
        .bind(u.progress.tail_size as i64)
        .bind(u.expires_at)
        .bind(u.created_at)
        .bind(u.created_at)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, tenant_id: &TenantId, id: &UploadId) -> Result<Option<ResumableUpload>, RepoError> {
        let row: Option<UploadRow> =
            sqlx::query_as(&format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND tenant_id = $2"))
                .bind(id)
                .bind(tenant_id)
                .fetch_optional(&mut *self.db.acquire().await?)
                .await?;
        convert_opt(row)
    }

    async fn lease_upload(&self, id: &UploadId, offset: u64, until: i64) -> Result<bool, RepoError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE uploads SET lease_until = $1 WHERE id = $2 AND upload_offset = $3 AND completed_at IS NULL \
             AND expires_at > $4 AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(until)
        .bind(id)
        .bind(offset as i64)
        .bind(now)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn save_upload_progress(
        &self,
        id: &UploadId,
        from_offset: u64,
        p: &UploadProgress,
        expires_at: i64,
        lease_until: Option<i64>,
    ) -> Result<bool, RepoError> {
        let r = sqlx::query(
            "UPDATE uploads SET upload_offset = $1, content_type = $2, store_handle = $3, parts = $4, tail_size = $5, \
             expires_at = $6, lease_until = $7, updated_at = $8 WHERE id = $9 AND upload_offset = $10 \
             AND lease_until IS NOT NULL AND completed_at IS NULL",
        )
        .bind(p.offset as i64)
        .bind(p.content_type.clone())
        .bind(p.store_handle.clone())
        .bind(parts_json(p))
        .bind(p.tail_size as i64)
        .bind(expires_at)
        .bind(lease_until)
        .bind(now_ms())
        .bind(id)
        .bind(from_offset as i64)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn complete_upload(&self, id: &UploadId, at: i64) -> Result<(), RepoError> {
        sqlx::query(
            "UPDATE uploads SET completed_at = $1, lease_until = NULL, tail_size = 0, updated_at = $1 WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<(), RepoError> {
        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut *self.db.acquire().await?).await?;
        Ok(())
    }

    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<ResumableUpload>, RepoError> {
        let rows: Vec<UploadRow> = sqlx::query_as(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE expires_at < $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        convert_all(rows)
    }
}
