//! [`TenantRepo`] on SQL.

use async_trait::async_trait;
use sqlx::Connection;

use super::outbox::write_events;
use super::rows::{convert_all, convert_opt, KeyRow, KeyWithTenantRow, TenantRow, KEY_COLS};
use super::SqlRepo;
use crate::model::{ApiKey, Tenant, TenantId, TenantLimits};
use crate::repo::{now_ms, EventsFor, NewKey, RepoError, TenantRepo};

const TENANT_COLS: &str = "id, name, limits, cors_origins";

impl SqlRepo {
    /// Runs a one-row `UPDATE tenants … WHERE name = $2` with `value` as `$1`; true when the tenant exists.
    async fn update_tenant<'q, T>(&self, sql: &'q str, value: T, name: &'q str) -> Result<bool, RepoError>
    where
        T: 'q + Send + sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let r = sqlx::query(sql).bind(value).bind(name).execute(&mut *self.db.acquire().await?).await?;
        Ok(r.rows_affected() > 0)
    }

    /// The key with id `key_id`, read inside the caller's transaction.
    async fn key_in(conn: &mut sqlx::AnyConnection, key_id: &str) -> Result<ApiKey, RepoError> {
        let row: KeyRow = sqlx::query_as(&format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1"))
            .bind(key_id)
            .fetch_one(&mut *conn)
            .await?;
        row.try_into()
    }
}

#[async_trait]
impl TenantRepo for SqlRepo {
    async fn ensure_tenant(&self, name: &str) -> Result<Tenant, RepoError> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(&id)
            .bind(name)
            .bind(now_ms())
            .execute(&mut *self.db.acquire().await?)
            .await?;
        let row: TenantRow = sqlx::query_as(&format!("SELECT {TENANT_COLS} FROM tenants WHERE name = $1"))
            .bind(name)
            .fetch_one(&mut *self.db.acquire().await?)
            .await?;
        row.try_into()
    }

    async fn find_tenant(&self, name: &str) -> Result<Option<Tenant>, RepoError> {
        let row: Option<TenantRow> = sqlx::query_as(&format!("SELECT {TENANT_COLS} FROM tenants WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut *self.db.acquire().await?)
            .await?;
        convert_opt(row)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, RepoError> {
        let rows: Vec<TenantRow> = sqlx::query_as(&format!("SELECT {TENANT_COLS} FROM tenants ORDER BY name"))
            .fetch_all(&mut *self.db.acquire().await?)
            .await?;
        convert_all(rows)
    }

    async fn tenant_keeps_gps(&self, tenant_id: &TenantId) -> Result<Option<bool>, RepoError> {
        let keep: Option<i64> = sqlx::query_scalar("SELECT keep_gps FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&mut *self.db.acquire().await?)
            .await?;
        Ok(keep.map(|v| v != 0))
    }

    async fn set_tenant_keeps_gps(&self, name: &str, keep: bool) -> Result<bool, RepoError> {
        self.update_tenant("UPDATE tenants SET keep_gps = $1 WHERE name = $2", keep as i64, name).await
    }

    async fn set_tenant_limits(&self, name: &str, limits: &TenantLimits) -> Result<bool, RepoError> {
        let json = serde_json::to_string(limits).map_err(|e| RepoError::Corrupt(format!("tenant limits: {e}")))?;
        self.update_tenant("UPDATE tenants SET limits = $1 WHERE name = $2", json, name).await
    }

    async fn set_tenant_cors(&self, name: &str, origins: &[String]) -> Result<bool, RepoError> {
        let value = (!origins.is_empty()).then(|| origins.join(","));
        self.update_tenant("UPDATE tenants SET cors_origins = $1 WHERE name = $2", value, name).await
    }

    async fn tenant_usage(&self, tenant_id: &TenantId) -> Result<(u64, u64), RepoError> {
        // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read: hence the cast.
        let (bytes, n): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes, COUNT(*) AS n FROM media \
             WHERE tenant_id = $1 AND status <> 'deleted'",
        )
        .bind(tenant_id)
        .fetch_one(&mut *self.db.acquire().await?)
        .await?;
        Ok((bytes.max(0) as u64, n.max(0) as u64))
    }

    async fn create_key(&self, new: &NewKey<'_>, make: &EventsFor<'_, ApiKey>) -> Result<ApiKey, RepoError> {
        let key = ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: new.tenant_id.clone(),
            prefix: new.prefix.to_string(),
            created_at: now_ms(),
            revoked_at: None,
            scope: new.scope,
            expires_at: new.expires_at,
            last_used_at: None,
        };
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at, scope, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(new.tenant_id)
        .bind(new.key_hash)
        .bind(new.prefix)
        .bind(key.created_at)
        .bind(key.scope.as_str())
        .bind(key.expires_at)
        .execute(&mut *tx)
        .await?;
        write_events(&mut tx, self.dialect, &make(&key)).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn list_keys(&self, tenant_id: &TenantId) -> Result<Vec<ApiKey>, RepoError> {
        let rows: Vec<KeyRow> =
            sqlx::query_as(&format!("SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC"))
                .bind(tenant_id)
                .fetch_all(&mut *self.db.acquire().await?)
                .await?;
        convert_all(rows)
    }

    async fn revoke_key(&self, key_id: &str, make: &EventsFor<'_, ApiKey>) -> Result<Option<ApiKey>, RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let key = Self::key_in(&mut tx, key_id).await?;
        write_events(&mut tx, self.dialect, &make(&key)).await?;
        tx.commit().await?;
        Ok(Some(key))
    }

    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<(Tenant, ApiKey)>, RepoError> {
        let sql = format!(
            "SELECT t.id AS t_id, t.name AS t_name, t.limits AS t_limits, t.cors_origins AS t_cors_origins, k.{} \
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1",
            KEY_COLS.replace(", ", ", k.")
        );
        let row: Option<KeyWithTenantRow> =
            sqlx::query_as(&sql).bind(key_hash).fetch_optional(&mut *self.db.acquire().await?).await?;
        convert_opt(row)
    }

    async fn touch_key(&self, key_id: &str, at: i64) -> Result<(), RepoError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(key_id)
            .execute(&mut *self.db.acquire().await?)
            .await?;
        Ok(())
    }

    async fn report_expiry(&self, key: &ApiKey, make: &EventsFor<'_, ApiKey>) -> Result<bool, RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let r = sqlx::query("UPDATE api_keys SET expiry_reported = 1 WHERE id = $1 AND expiry_reported = 0")
            .bind(&key.id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        write_events(&mut tx, self.dialect, &make(key)).await?;
        tx.commit().await?;
        Ok(true)
    }
}
