//! The repository on PostgreSQL or SQLite through sqlx's `Any` driver, with runtime-checked queries (building
//! needs no live database). Placeholders are `$N`, which both backends accept. One file per part of the
//! repository; rows and their conversion into the model live in [`rows`].

mod batches;
mod chat;
mod feed;
mod media;
mod notify;
mod outbox;
mod rows;
mod stats;
mod tenants;
mod uploads;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use super::{now_ms, OpsSummary, Repo, RepoError};

/// Which SQL backend a [`SqlRepo`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Production: many processes, an advisory lock elects the relay, LISTEN/NOTIFY wakes it.
    Postgres,
    /// The embedded default: one process owns the file.
    Sqlite,
}

impl Dialect {
    /// The backend `url` names by its scheme.
    pub fn of_url(url: &str) -> Result<Dialect, RepoError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else {
            Err(RepoError::UnknownBackend(url.to_string()))
        }
    }
}

/// The repository on a SQL database.
#[derive(Clone)]
pub struct SqlRepo {
    pool: AnyPool,
    dialect: Dialect,
    /// Kept for the relay's notification listener, which needs a connection of its own.
    url: String,
}

impl SqlRepo {
    /// Connects to `url`; the dialect follows from its scheme.
    pub async fn connect(url: &str, max_connections: u32) -> Result<SqlRepo, RepoError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        let (conn_url, max) = match dialect {
            Dialect::Postgres => (url.to_string(), max_connections.max(2)),
            // One connection: SQLite has one writer anyway, and a single connection never meets SQLITE_BUSY
            // from a deferred transaction's upgrade.
            Dialect::Sqlite => (sqlite_url(url), 1),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            // A ping before every acquire is a round trip to SQLite's worker thread per statement, for a file
            // that cannot hang up; a network connection to PostgreSQL can, and keeps the check.
            .test_before_acquire(dialect == Dialect::Postgres)
            // Per connection, not per pool: the pool replaces an idle or old connection with a new one, which
            // would otherwise be back at `synchronous=FULL` (a sync of the log at every commit).
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        sqlx::query("PRAGMA synchronous=NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&conn_url)
            .await?;
        if dialect == Dialect::Sqlite {
            // Kept in the file: once is enough.
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await?;
        }
        Ok(SqlRepo { pool, dialect, url: url.to_string() })
    }

    /// The backend in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// A SQLite URL that creates its file (and the file's folder) when missing.
fn sqlite_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p)) {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                // A folder we cannot make shows up as the connect error that follows, which names the file.
                let _ = std::fs::create_dir_all(parent);
            }
        }
    }
    if url.contains('?') || url.contains(":memory:") {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    }
}

#[async_trait]
impl Repo for SqlRepo {
    async fn migrate(&self) -> Result<(), RepoError> {
        match self.dialect {
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await?,
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?,
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ops_summary(&self, stuck_before: i64) -> Result<OpsSummary, RepoError> {
        let mut out = OpsSummary::default();
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n, SUM(CASE WHEN status IN ('uploaded', 'processing') AND updated_at < $1 \
             THEN 1 ELSE 0 END) AS stuck FROM media GROUP BY status",
        )
        .bind(stuck_before)
        .fetch_all(&self.pool)
        .await?;
        for (status, n, stuck) in rows {
            out.media.insert(status.clone(), n);
            if let Some(n) = stuck.filter(|n| *n > 0) {
                out.stuck.insert(status, n);
            }
        }
        out.open_batches =
            sqlx::query_scalar("SELECT COUNT(*) FROM batches WHERE completed_at IS NULL").fetch_one(&self.pool).await?;
        let (backlog, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        out.outbox_backlog = backlog;
        out.outbox_oldest_ms = oldest.map(|t| (now_ms() - t).max(0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_replacement_sqlite_connection_keeps_the_sync_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let repo = SqlRepo::connect(&url, 1).await.expect("connect");
        // Taking the one connection out of the pool makes the pool open another, as it does for an idle one.
        let first = repo.pool.acquire().await.expect("acquire").detach();
        drop(first);
        let mut conn = repo.pool.acquire().await.expect("acquire");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.expect("pragma");
        assert_eq!(sync, 1, "NORMAL on every connection (FULL is 2)");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.expect("pragma");
        assert_eq!(mode, "wal");
    }
}
