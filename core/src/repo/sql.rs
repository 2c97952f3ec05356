//! [`Repo`] on PostgreSQL or SQLite through sqlx's `Any` driver, with runtime-checked queries (building needs
//! no live database). Placeholders are `$N`, which both backends accept.

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::{
    now_ms, Completion, EventsFor, Inserted, MediaQuery, NewKey, OpsSummary, OutboxEvent, PendingEvent, RelayLock,
    Repo, RepoError,
};
use crate::event::Envelope;
use crate::model::{
    ApiKey, Batch, BatchCounts, BatchItem, BatchStatus, KeyScope, Media, MediaKind, MediaStatus, Tenant, TenantLimits,
    Variant,
};

/// Which SQL backend a [`SqlRepo`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// The repository on a SQL database.
#[derive(Clone)]
pub struct SqlRepo {
    pool: AnyPool,
    dialect: Dialect,
    /// Kept for the relay's notification listener, which needs a connection of its own.
    url: String,
}

/// The channel every outbox write notifies (PostgreSQL), so the one active relay, whichever process it
/// runs in, publishes at once instead of at its next poll.
const OUTBOX_CHANNEL: &str = "mediamill_outbox";

/// Arbitrary constant naming the relay's advisory lock in PostgreSQL.
const RELAY_LOCK_ID: i64 = 0x6d65_6469_616d;

const MEDIA_COLS: &str = "id, tenant_id, kind, status, content_type, filename, size, sha256, raw_key, width, height, \
    metadata, failure_reason, failure_message, batch_id, idempotency_key, created_at, updated_at";

pub(super) fn db_err(e: sqlx::Error) -> RepoError {
    match &e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            RepoError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            // 08*: connection exceptions, 57P*: operator intervention (shutdown, restart), 53*: resources.
            // SQLite 5/6: busy/locked.
            if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") || code == "5" || code == "6"
            {
                RepoError::Unavailable(e.to_string())
            } else if d.is_unique_violation() {
                RepoError::Conflict(d.message().to_string())
            } else {
                RepoError::Other(e.to_string())
            }
        }
        sqlx::Error::RowNotFound => RepoError::NotFound("row".into()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => RepoError::Corrupt(e.to_string()),
        _ => RepoError::Other(e.to_string()),
    }
}

/// A JSON column read back: damaged JSON is a `Corrupt` error naming the column, never a silent `None`.
fn json_column(what: &str, v: Option<String>) -> Result<Option<serde_json::Value>, RepoError> {
    v.map(|m| serde_json::from_str(&m).map_err(|e| RepoError::Corrupt(format!("{what}: {e}")))).transpose()
}

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|x| u32::try_from(x).ok())
}

fn media_from_row(r: &AnyRow) -> Result<Media, RepoError> {
    let kind: String = r.try_get("kind").map_err(db_err)?;
    let status: String = r.try_get("status").map_err(db_err)?;
    let metadata: Option<String> = r.try_get("metadata").map_err(db_err)?;
    Ok(Media {
        id: r.try_get("id").map_err(db_err)?,
        tenant_id: r.try_get("tenant_id").map_err(db_err)?,
        kind: MediaKind::parse(&kind).ok_or_else(|| RepoError::Corrupt(format!("media kind {kind:?}")))?,
        status: MediaStatus::parse(&status).ok_or_else(|| RepoError::Corrupt(format!("media status {status:?}")))?,
        content_type: r.try_get("content_type").map_err(db_err)?,
        filename: r.try_get("filename").map_err(db_err)?,
        size: r.try_get::<i64, _>("size").map_err(db_err)?.max(0) as u64,
        sha256: r.try_get("sha256").map_err(db_err)?,
        raw_key: r.try_get("raw_key").map_err(db_err)?,
        width: opt_u32(r.try_get("width").map_err(db_err)?),
        height: opt_u32(r.try_get("height").map_err(db_err)?),
        metadata: json_column("media metadata", metadata)?,
        failure_reason: r.try_get("failure_reason").map_err(db_err)?,
        failure_message: r.try_get("failure_message").map_err(db_err)?,
        batch_id: r.try_get("batch_id").map_err(db_err)?,
        idempotency_key: r.try_get("idempotency_key").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
        updated_at: r.try_get("updated_at").map_err(db_err)?,
    })
}

fn tenant_from_row(r: &AnyRow) -> Result<Tenant, RepoError> {
    tenant_from_columns(r, "")
}

/// A tenant from columns `{prefix}id`, `{prefix}name`, `{prefix}limits`, `{prefix}cors_origins` (a join
/// names them with a prefix beside another table's `id`).
fn tenant_from_columns(r: &AnyRow, prefix: &str) -> Result<Tenant, RepoError> {
    let col = |c: &str| format!("{prefix}{c}");
    let limits: Option<String> = r.try_get(col("limits").as_str()).map_err(db_err)?;
    let limits = match limits {
        Some(j) => serde_json::from_str(&j).map_err(|e| RepoError::Corrupt(format!("tenant limits {j:?}: {e}")))?,
        None => TenantLimits::default(),
    };
    let cors: Option<String> = r.try_get(col("cors_origins").as_str()).map_err(db_err)?;
    Ok(Tenant {
        id: r.try_get(col("id").as_str()).map_err(db_err)?,
        name: r.try_get(col("name").as_str()).map_err(db_err)?,
        limits,
        cors_origins: split_list(cors),
    })
}

fn split_list(s: Option<String>) -> Vec<String> {
    s.map(|s| s.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect()).unwrap_or_default()
}

fn variant_from_row(r: &AnyRow) -> Result<Variant, RepoError> {
    let n = |c: &str| -> Result<i64, RepoError> { r.try_get::<i64, _>(c).map_err(db_err) };
    Ok(Variant {
        name: r.try_get("name").map_err(db_err)?,
        format: r.try_get("format").map_err(db_err)?,
        key: r.try_get("object_key").map_err(db_err)?,
        content_type: r.try_get("content_type").map_err(db_err)?,
        width: n("width")?.max(0) as u32,
        height: n("height")?.max(0) as u32,
        size: n("size")?.max(0) as u64,
        url: None,
    })
}

const BATCH_COLS: &str = "id, tenant_id, name, expected_count, metadata, webhook_url, webhook_secret, status, \
    outcome, round, created_at, sealed_at, completed_at";

fn batch_from_row(r: &AnyRow) -> Result<Batch, RepoError> {
    let status: String = r.try_get("status").map_err(db_err)?;
    let metadata: Option<String> = r.try_get("metadata").map_err(db_err)?;
    let expected: Option<i64> = r.try_get("expected_count").map_err(db_err)?;
    Ok(Batch {
        id: r.try_get("id").map_err(db_err)?,
        tenant_id: r.try_get("tenant_id").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        expected_count: expected.map(|e| e.max(0) as u64),
        metadata: json_column("batch metadata", metadata)?,
        webhook_url: r.try_get("webhook_url").map_err(db_err)?,
        webhook_secret: r.try_get("webhook_secret").map_err(db_err)?,
        status: BatchStatus::parse(&status).ok_or_else(|| RepoError::Corrupt(format!("batch status {status:?}")))?,
        outcome: r.try_get("outcome").map_err(db_err)?,
        round: r.try_get("round").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
        sealed_at: r.try_get("sealed_at").map_err(db_err)?,
        completed_at: r.try_get("completed_at").map_err(db_err)?,
    })
}

async fn counts(conn: &mut sqlx::AnyConnection, batch_id: &str) -> Result<BatchCounts, RepoError> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM batch_items WHERE batch_id = $1 GROUP BY state")
        .bind(batch_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let mut c = BatchCounts::default();
    for r in rows {
        let state: String = r.try_get("state").map_err(db_err)?;
        let n = r.try_get::<i64, _>("n").map_err(db_err)?.max(0) as u64;
        match state.as_str() {
            "uploaded" => c.uploaded += n,
            "processing" => c.processing += n,
            "processed" => c.processed += n,
            _ => c.failed += n,
        }
    }
    Ok(c)
}

const KEY_COLS: &str = "id, tenant_id, prefix, created_at, revoked_at, scope, expires_at, last_used_at";

fn key_from_row(r: &AnyRow) -> Result<ApiKey, RepoError> {
    let scope: String = r.try_get("scope").map_err(db_err)?;
    Ok(ApiKey {
        id: r.try_get("id").map_err(db_err)?,
        tenant_id: r.try_get("tenant_id").map_err(db_err)?,
        prefix: r.try_get("prefix").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
        revoked_at: r.try_get("revoked_at").map_err(db_err)?,
        scope: KeyScope::parse(&scope).ok_or_else(|| RepoError::Corrupt(format!("key scope {scope:?}")))?,
        expires_at: r.try_get("expires_at").map_err(db_err)?,
        last_used_at: r.try_get("last_used_at").map_err(db_err)?,
    })
}

async fn write_events(conn: &mut sqlx::AnyConnection, events: &[OutboxEvent]) -> Result<(), RepoError> {
    let now = now_ms();
    for e in events {
        let env = &e.envelope;
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, msg_key, ce_type, ce_time, subject, data, created_at, traceparent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&env.id)
        .bind(&e.topic)
        .bind(&e.key)
        .bind(&env.ty)
        .bind(env.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .bind(env.subject.clone())
        .bind(env.data.to_string())
        .bind(now)
        .bind(env.traceparent.clone())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    // Delivered at commit, once per transaction however many rows it wrote.
    if !events.is_empty() && conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

impl SqlRepo {
    /// Connects to `url`; the dialect follows from its scheme.
    pub async fn connect(url: &str, max_connections: u32) -> Result<SqlRepo, RepoError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            return Err(RepoError::Other(format!("database.url {url:?}: expected postgres:// or sqlite://")));
        };
        let given = url.to_string();
        let (url, max) = match dialect {
            Dialect::Postgres => (url.to_string(), max_connections.max(2)),
            Dialect::Sqlite => {
                if let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p)) {
                    if let Some(parent) = std::path::Path::new(path).parent() {
                        if !parent.as_os_str().is_empty() {
                            let _ = std::fs::create_dir_all(parent);
                        }
                    }
                }
                let url = if url.contains('?') || url.contains(":memory:") {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                // One connection: SQLite has one writer anyway, and a single connection never meets
                // SQLITE_BUSY from a deferred transaction's upgrade.
                (url, 1)
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(db_err)?;
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await.map_err(db_err)?;
            sqlx::query("PRAGMA synchronous=NORMAL").execute(&pool).await.map_err(db_err)?;
        }
        Ok(SqlRepo { pool, dialect, url: given })
    }

    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn transition(
        &self,
        media_id: &str,
        from: &[MediaStatus],
        set_sql: &str,
        binds: Vec<Option<String>>,
        events: &[OutboxEvent],
        after: impl for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> futures::future::BoxFuture<'c, Result<(), RepoError>>
            + Send,
    ) -> Result<bool, RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
        let res = q.bind(now_ms()).bind(media_id).execute(&mut *tx).await.map_err(db_err)?;
        if res.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        after(&mut tx).await?;
        write_events(&mut tx, events).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}

const NOT_TERMINAL: &[MediaStatus] = &[MediaStatus::Uploaded, MediaStatus::Processing];

#[async_trait]
impl Repo for SqlRepo {
    async fn migrate(&self) -> Result<(), RepoError> {
        let res = match self.dialect {
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await,
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
        };
        res.map_err(|e| RepoError::Migrate(e.to_string()))
    }

    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err).map(|_| ())
    }

    async fn ensure_tenant(&self, name: &str) -> Result<Tenant, RepoError> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(&id)
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let r = sqlx::query("SELECT id, name, limits, cors_origins FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        tenant_from_row(&r)
    }

    async fn tenant_usage(&self, tenant_id: &str) -> Result<(u64, u64), RepoError> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes, COUNT(*) AS n FROM media \
             WHERE tenant_id = $1 AND status <> 'deleted'",
        )
        .bind(tenant_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read: hence the cast above.
        let bytes: i64 = r.try_get("bytes").map_err(db_err)?;
        let n: i64 = r.try_get("n").map_err(db_err)?;
        Ok((bytes.max(0) as u64, n.max(0) as u64))
    }

    async fn find_tenant(&self, name: &str) -> Result<Option<Tenant>, RepoError> {
        let r = sqlx::query("SELECT id, name, limits, cors_origins FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.map(|r| tenant_from_row(&r)).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, RepoError> {
        let rows = sqlx::query("SELECT id, name, limits, cors_origins FROM tenants ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn create_key(&self, new: &NewKey<'_>, make: &EventsFor<'_, ApiKey>) -> Result<ApiKey, RepoError> {
        let key = ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: new.tenant_id.to_string(),
            prefix: new.prefix.to_string(),
            created_at: now_ms(),
            revoked_at: None,
            scope: new.scope,
            expires_at: new.expires_at,
            last_used_at: None,
        };
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at, scope, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(new.tenant_id)
        .bind(new.key_hash)
        .bind(new.prefix)
        .bind(key.created_at)
        .bind(key.scope.as_str())
        .bind(key.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_events(&mut tx, &make(&key)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(key)
    }

    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<(Tenant, ApiKey)>, RepoError> {
        let sql = format!(
            "SELECT t.id AS t_id, t.name AS t_name, t.limits AS t_limits, t.cors_origins AS t_cors_origins, k.{} FROM api_keys k \
             JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1",
            KEY_COLS.replace(", ", ", k.")
        );
        let r = sqlx::query(&sql).bind(key_hash).fetch_optional(&self.pool).await.map_err(db_err)?;
        let Some(r) = r else { return Ok(None) };
        Ok(Some((tenant_from_columns(&r, "t_")?, key_from_row(&r)?)))
    }

    async fn touch_key(&self, key_id: &str, at: i64) -> Result<(), RepoError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(key_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn report_expiry(&self, key: &ApiKey, make: &EventsFor<'_, ApiKey>) -> Result<bool, RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let r = sqlx::query("UPDATE api_keys SET expiry_reported = 1 WHERE id = $1 AND expiry_reported = 0")
            .bind(&key.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        write_events(&mut tx, &make(key)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn tenant_keeps_gps(&self, tenant_id: &str) -> Result<Option<bool>, RepoError> {
        let r = sqlx::query("SELECT keep_gps FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.map(|r| r.try_get::<i64, _>("keep_gps").map(|v| v != 0).map_err(db_err)).transpose()
    }

    async fn set_tenant_limits(&self, name: &str, limits: &TenantLimits) -> Result<bool, RepoError> {
        let json = serde_json::to_string(limits).map_err(|e| RepoError::Other(e.to_string()))?;
        let r = sqlx::query("UPDATE tenants SET limits = $1 WHERE name = $2")
            .bind(json)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_tenant_cors(&self, name: &str, origins: &[String]) -> Result<bool, RepoError> {
        let value = (!origins.is_empty()).then(|| origins.join(","));
        let r = sqlx::query("UPDATE tenants SET cors_origins = $1 WHERE name = $2")
            .bind(value)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_tenant_keeps_gps(&self, name: &str, keep: bool) -> Result<bool, RepoError> {
        let r = sqlx::query("UPDATE tenants SET keep_gps = $1 WHERE name = $2")
            .bind(keep as i64)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn list_keys(&self, tenant_id: &str) -> Result<Vec<ApiKey>, RepoError> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC"))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, key_id: &str, make: &EventsFor<'_, ApiKey>) -> Result<Option<ApiKey>, RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let now = now_ms();
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1"))
            .bind(key_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let key = key_from_row(&row)?;
        write_events(&mut tx, &make(&key)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(key))
    }

    async fn insert_media(&self, m: &Media, events: &[OutboxEvent]) -> Result<Inserted, RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            let key = m.idempotency_key.as_deref().unwrap_or_default();
            return match self.media_by_idempotency_key(&m.tenant_id, key).await? {
                Some(existing) => Ok(Inserted::Existing(existing)),
                None => Err(RepoError::Conflict(format!("media {}", m.id))),
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
            .await
            .map_err(db_err)?;
        }
        write_events(&mut tx, events).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Inserted::Created(m.clone()))
    }

    async fn get_media(&self, tenant_id: &str, media_id: &str) -> Result<Option<Media>, RepoError> {
        let sql = format!("SELECT {MEDIA_COLS} FROM media WHERE id = $1 AND tenant_id = $2");
        let r = sqlx::query(&sql).bind(media_id).bind(tenant_id).fetch_optional(&self.pool).await.map_err(db_err)?;
        r.as_ref().map(media_from_row).transpose()
    }

    async fn get_media_any(&self, media_id: &str) -> Result<Option<Media>, RepoError> {
        let sql = format!("SELECT {MEDIA_COLS} FROM media WHERE id = $1");
        let r = sqlx::query(&sql).bind(media_id).fetch_optional(&self.pool).await.map_err(db_err)?;
        r.as_ref().map(media_from_row).transpose()
    }

    async fn media_by_idempotency_key(&self, tenant_id: &str, key: &str) -> Result<Option<Media>, RepoError> {
        let sql = format!("SELECT {MEDIA_COLS} FROM media WHERE tenant_id = $1 AND idempotency_key = $2");
        let r = sqlx::query(&sql).bind(tenant_id).bind(key).fetch_optional(&self.pool).await.map_err(db_err)?;
        r.as_ref().map(media_from_row).transpose()
    }

    async fn list_media(&self, tenant_id: &str, q: &MediaQuery) -> Result<Vec<Media>, RepoError> {
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR id > $3) AND status <> 'deleted' ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(q.status.map(|s| s.as_str().to_string()))
            .bind(q.after.clone())
            .bind(q.limit.clamp(1, 1000) as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(media_from_row).collect()
    }

    async fn unfinished_media(&self, after: Option<&str>, limit: u32) -> Result<Vec<Media>, RepoError> {
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media WHERE status IN ('uploaded', 'processing') AND ($1 IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(after.map(str::to_string))
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(media_from_row).collect()
    }

    async fn variants(&self, media_id: &str) -> Result<Vec<Variant>, RepoError> {
        let rows = sqlx::query(
            "SELECT name, format, object_key, content_type, width, height, size FROM variants \
             WHERE media_id = $1 ORDER BY width, name, format",
        )
        .bind(media_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(variant_from_row).collect()
    }

    async fn start_processing(&self, media_id: &str, events: &[OutboxEvent]) -> Result<bool, RepoError> {
        self.transition(media_id, &[MediaStatus::Uploaded], "status = 'processing'", vec![], events, |_| {
            Box::pin(async { Ok(()) })
        })
        .await
    }

    async fn complete(&self, media_id: &str, done: &Completion, events: &[OutboxEvent]) -> Result<bool, RepoError> {
        let variants = done.variants.clone();
        let id = media_id.to_string();
        self.transition(
            media_id,
            NOT_TERMINAL,
            "status = 'processed', width = CAST($1 AS BIGINT), height = CAST($2 AS BIGINT), metadata = $3",
            vec![done.width.map(|w| w.to_string()), done.height.map(|h| h.to_string()), Some(done.metadata.to_string())],
            events,
            move |conn| {
                Box::pin(async move {
                    for v in &variants {
                        sqlx::query(
                            "INSERT INTO variants (media_id, name, format, object_key, content_type, width, height, size) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (media_id, name, format) DO UPDATE SET \
                             object_key = excluded.object_key, content_type = excluded.content_type, \
                             width = excluded.width, height = excluded.height, size = excluded.size",
                        )
                        .bind(&id)
                        .bind(&v.name)
                        .bind(&v.format)
                        .bind(&v.key)
                        .bind(&v.content_type)
                        .bind(v.width as i64)
                        .bind(v.height as i64)
                        .bind(v.size as i64)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    }
                    Ok(())
                })
            },
        )
        .await
    }

    async fn fail(
        &self,
        media_id: &str,
        reason: &str,
        message: &str,
        events: &[OutboxEvent],
    ) -> Result<bool, RepoError> {
        self.transition(
            media_id,
            NOT_TERMINAL,
            "status = 'failed', failure_reason = $1, failure_message = $2",
            vec![Some(reason.to_string()), Some(message.to_string())],
            events,
            |_| Box::pin(async { Ok(()) }),
        )
        .await
    }

    async fn delete_media(
        &self,
        tenant_id: &str,
        media_id: &str,
        events: &[OutboxEvent],
    ) -> Result<Option<Media>, RepoError> {
        let Some(m) = self.get_media(tenant_id, media_id).await? else { return Ok(None) };
        if m.status == MediaStatus::Deleted {
            return Ok(Some(m));
        }
        let id = media_id.to_string();
        let from = [MediaStatus::Uploaded, MediaStatus::Processing, MediaStatus::Processed, MediaStatus::Failed];
        self.transition(media_id, &from, "status = 'deleted'", vec![], events, move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM variants WHERE media_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await?;
        self.get_media(tenant_id, media_id).await
    }

    async fn append_events(&self, events: &[OutboxEvent]) -> Result<(), RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        write_events(&mut tx, events).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn create_batch(&self, b: &Batch) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO batches (id, tenant_id, name, expected_count, metadata, webhook_url, webhook_secret, status, \
             round, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $11, $7, $8, $9, $10)",
        )
        .bind(&b.id)
        .bind(&b.tenant_id)
        .bind(b.name.clone())
        .bind(b.expected_count.map(|e| e as i64))
        .bind(b.metadata.as_ref().map(|m| m.to_string()))
        .bind(b.webhook_url.clone())
        .bind(b.status.as_str())
        .bind(b.round)
        .bind(b.created_at)
        .bind(b.created_at)
        .bind(b.webhook_secret.clone())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_batches(&self, tenant_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Batch>, RepoError> {
        let sql = format!(
            "SELECT {BATCH_COLS} FROM batches WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(after.map(str::to_string))
            .bind(limit.clamp(1, 1000) as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(batch_from_row).collect()
    }

    async fn get_batch(&self, tenant_id: &str, batch_id: &str) -> Result<Option<Batch>, RepoError> {
        let sql = format!("SELECT {BATCH_COLS} FROM batches WHERE id = $1 AND tenant_id = $2");
        let r = sqlx::query(&sql).bind(batch_id).bind(tenant_id).fetch_optional(&self.pool).await.map_err(db_err)?;
        r.as_ref().map(batch_from_row).transpose()
    }

    async fn add_refused_item(
        &self,
        batch_id: &str,
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
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn seal_batch(&self, batch_id: &str) -> Result<bool, RepoError> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE batches SET status = 'sealed', sealed_at = $1, updated_at = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(now)
        .bind(now)
        .bind(batch_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn open_batches_before(&self, created_before: i64, limit: u32) -> Result<Vec<String>, RepoError> {
        let rows = sqlx::query(
            "SELECT id FROM batches WHERE status = 'open' AND created_at < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(created_before)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| r.try_get("id").map_err(db_err)).collect()
    }

    async fn batch_counts(&self, batch_id: &str) -> Result<BatchCounts, RepoError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        counts(&mut conn, batch_id).await
    }

    async fn batch_items(&self, batch_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<BatchItem>, RepoError> {
        let rows = sqlx::query(
            "SELECT item_id, media_id, filename, state, reason, message, updated_at FROM batch_items \
             WHERE batch_id = $1 AND ($2 IS NULL OR item_id > $2) ORDER BY item_id LIMIT $3",
        )
        .bind(batch_id)
        .bind(after.map(str::to_string))
        .bind(limit.clamp(1, 1000) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state").map_err(db_err)?;
                Ok(BatchItem {
                    item_id: r.try_get("item_id").map_err(db_err)?,
                    media_id: r.try_get("media_id").map_err(db_err)?,
                    filename: r.try_get("filename").map_err(db_err)?,
                    state: MediaStatus::parse(&state)
                        .ok_or_else(|| RepoError::Corrupt(format!("item state {state:?}")))?,
                    reason: r.try_get("reason").map_err(db_err)?,
                    message: r.try_get("message").map_err(db_err)?,
                    updated_at: r.try_get("updated_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn advance_item(
        &self,
        media_id: &str,
        state: MediaStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<Option<String>, RepoError> {
        // A deleted item counts as failed: it will never be processed.
        let (state_s, reason) = match state {
            MediaStatus::Deleted => ("failed", Some(reason.unwrap_or("deleted"))),
            s => (s.as_str(), reason),
        };
        let r = sqlx::query(
            "UPDATE batch_items SET state = $1, rank = $2, reason = $3, message = $4, updated_at = $5 \
             WHERE media_id = $6 AND rank < $2",
        )
        .bind(state_s)
        .bind(state.rank())
        .bind(reason.map(str::to_string))
        .bind(message.map(str::to_string))
        .bind(now_ms())
        .bind(media_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT batch_id FROM batch_items WHERE media_id = $1")
            .bind(media_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|r| r.try_get("batch_id").map_err(db_err)).transpose()
    }

    async fn complete_batch_if_done(
        &self,
        batch_id: &str,
        make: &(dyn for<'x> Fn(&'x Batch, &'x BatchCounts) -> Vec<OutboxEvent> + Sync),
    ) -> Result<Option<(Batch, BatchCounts)>, RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let c = counts(&mut tx, batch_id).await?;
        if c.uploaded + c.processing > 0 {
            tx.rollback().await.map_err(db_err)?;
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
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(None);
        }
        let sql = format!("SELECT {BATCH_COLS} FROM batches WHERE id = $1");
        let b = batch_from_row(&sqlx::query(&sql).bind(batch_id).fetch_one(&mut *tx).await.map_err(db_err)?)?;
        write_events(&mut tx, &make(&b, &c)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some((b, c)))
    }

    async fn stuck_media(&self, before: i64, limit: u32) -> Result<Vec<Media>, RepoError> {
        let sql = format!(
            "SELECT {MEDIA_COLS} FROM media WHERE status IN ('uploaded', 'processing') AND updated_at < $1 ORDER BY id LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(before).bind(limit as i64).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(media_from_row).collect()
    }

    async fn requeue_media(
        &self,
        media_id: &str,
        make: &(dyn for<'x> Fn(&'x Media, u32, Option<(&'x Batch, &'x BatchCounts)>) -> Vec<OutboxEvent> + Sync),
    ) -> Result<Option<(Media, u32, Option<Batch>)>, RepoError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let now = now_ms();
        let res = sqlx::query(
            "UPDATE media SET status = 'uploaded', attempt = attempt + 1, failure_reason = NULL, failure_message = NULL, \
             updated_at = $1 WHERE id = $2 AND status <> 'deleted'",
        )
        .bind(now)
        .bind(media_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(None);
        }
        let sql = format!("SELECT {MEDIA_COLS}, attempt FROM media WHERE id = $1");
        let row = sqlx::query(&sql).bind(media_id).fetch_one(&mut *tx).await.map_err(db_err)?;
        let m = media_from_row(&row)?;
        let attempt = row.try_get::<i64, _>("attempt").map_err(db_err)?.max(1) as u32;
        let mut reopened = None;
        if let Some(batch_id) = &m.batch_id {
            sqlx::query("UPDATE batch_items SET state = 'uploaded', rank = 0, reason = NULL, message = NULL, updated_at = $1 WHERE media_id = $2")
                .bind(now)
                .bind(media_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let r = sqlx::query(
                "UPDATE batches SET status = 'sealed', round = round + 1, outcome = NULL, completed_at = NULL, updated_at = $1 \
                 WHERE id = $2 AND status = 'completed'",
            )
            .bind(now)
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if r.rows_affected() > 0 {
                let sql = format!("SELECT {BATCH_COLS} FROM batches WHERE id = $1");
                reopened =
                    Some(batch_from_row(&sqlx::query(&sql).bind(batch_id).fetch_one(&mut *tx).await.map_err(db_err)?)?);
            }
        }
        let reopened_counts = match &reopened {
            Some(b) => Some(counts(&mut tx, &b.id).await?),
            None => None,
        };
        write_events(&mut tx, &make(&m, attempt, reopened.as_ref().zip(reopened_counts.as_ref()))).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some((m, attempt, reopened)))
    }

    async fn ops_summary(&self, stuck_before: i64) -> Result<OpsSummary, RepoError> {
        let mut out = OpsSummary::default();
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, SUM(CASE WHEN status IN ('uploaded', 'processing') AND updated_at < $1 \
             THEN 1 ELSE 0 END) AS stuck FROM media GROUP BY status",
        )
        .bind(stuck_before)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let status: String = r.try_get("status").map_err(db_err)?;
            let stuck: Option<i64> = r.try_get("stuck").map_err(db_err)?;
            out.media.insert(status.clone(), r.try_get("n").map_err(db_err)?);
            if let Some(n) = stuck.filter(|n| *n > 0) {
                out.stuck.insert(status, n);
            }
        }
        out.open_batches = sqlx::query_scalar("SELECT COUNT(*) FROM batches WHERE completed_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let (backlog, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        out.outbox_backlog = backlog;
        out.outbox_oldest_ms = oldest.map(|t| (now_ms() - t).max(0));
        Ok(out)
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, RepoError> {
        let rows = sqlx::query(
            "SELECT seq, event_id, topic, msg_key, ce_type, ce_time, subject, data, traceparent FROM outbox \
             WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let time: String = r.try_get("ce_time").map_err(db_err)?;
                let data: String = r.try_get("data").map_err(db_err)?;
                Ok(PendingEvent {
                    seq: r.try_get("seq").map_err(db_err)?,
                    event: OutboxEvent {
                        topic: r.try_get("topic").map_err(db_err)?,
                        key: r.try_get("msg_key").map_err(db_err)?,
                        envelope: Envelope {
                            id: r.try_get("event_id").map_err(db_err)?,
                            ty: r.try_get("ce_type").map_err(db_err)?,
                            source: crate::event::SOURCE.to_string(),
                            time: chrono::DateTime::parse_from_rfc3339(&time)
                                .map_err(|e| RepoError::Corrupt(format!("outbox ce_time {time:?}: {e}")))?
                                .with_timezone(&chrono::Utc),
                            subject: r.try_get("subject").map_err(db_err)?,
                            traceparent: r.try_get("traceparent").map_err(db_err)?,
                            data: serde_json::from_str(&data)
                                .map_err(|e| RepoError::Corrupt(format!("outbox data: {e}")))?,
                        },
                    },
                })
            })
            .collect()
    }

    async fn mark_sent(&self, seqs: &[i64]) -> Result<(), RepoError> {
        if seqs.is_empty() {
            return Ok(());
        }
        // Ids come from our own rows (integers), so inlining them is safe and keeps one statement per batch.
        let list = seqs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        sqlx::query(&format!("UPDATE outbox SET sent_at = $1 WHERE seq IN ({list})"))
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn try_relay_lock(&self) -> Result<Option<RelayLock>, RepoError> {
        match self.dialect {
            // One process owns a SQLite file; nothing to elect.
            Dialect::Sqlite => Ok(Some(RelayLock::new(None, None))),
            Dialect::Postgres => {
                // A session-level advisory lock lives as long as this connection: if the relay's process dies,
                // PostgreSQL drops the connection and the lock with it, and another relay takes over.
                let mut conn = self.pool.acquire().await.map_err(db_err)?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(RELAY_LOCK_ID)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                if got {
                    // Without a listener the relay still polls; with one it also wakes on every commit.
                    let listener = match sqlx::postgres::PgListener::connect(&self.url).await {
                        Ok(mut l) => match l.listen(OUTBOX_CHANNEL).await {
                            Ok(()) => Some(l),
                            Err(e) => {
                                tracing::warn!(error = %e, "outbox relay: LISTEN failed; polling only");
                                None
                            }
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox relay: no listener connection; polling only");
                            None
                        }
                    };
                    Ok(Some(RelayLock::new(Some(Box::new(conn.detach())), listener)))
                } else {
                    Ok(None)
                }
            }
        }
    }
}
