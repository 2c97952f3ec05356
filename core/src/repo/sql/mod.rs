//! The repository on PostgreSQL or SQLite through sqlx's `Any` driver, with runtime-checked queries (building
//! needs no live database). Placeholders are `$N`, which both backends accept. One file per part of the
//! repository; rows and their conversion into the model live in [`rows`].

mod batches;
mod chat;
mod db;
mod feed;
mod media;
mod notify;
mod outbox;
mod rows;
mod stats;
mod tenants;
mod uploads;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, ConnectOptions, Executor};

use db::{Db, ACQUIRE_TIMEOUT};

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
    db: Db,
    dialect: Dialect,
    /// Kept for the relay's notification listener, which needs a connection of its own.
    url: String,
}

impl SqlRepo {
    /// Connects to `url`; the dialect follows from its scheme.
    pub async fn connect(url: &str, max_connections: u32) -> Result<SqlRepo, RepoError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        let db = match dialect {
            Dialect::Postgres => Db::Pool(
                AnyPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?,
            ),
            // One connection: SQLite has one writer anyway, and a single connection never meets SQLITE_BUSY
            // from a deferred transaction's upgrade.
            Dialect::Sqlite => Db::Single(std::sync::Arc::new(tokio::sync::Mutex::new(open_sqlite(url).await?))),
        };
        Ok(SqlRepo { db, dialect, url: url.to_string() })
    }

    /// The backend in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// Opens the SQLite file (made when missing) in write-ahead-log mode, syncing the log at checkpoints rather
/// than at every commit.
async fn open_sqlite(url: &str) -> Result<AnyConnection, RepoError> {
    let options: AnyConnectOptions = sqlite_url(url).parse()?;
    let mut conn = options.connect().await?;
    // The journal mode is kept in the file; the sync level is the connection's.
    conn.execute("PRAGMA journal_mode=WAL").await?;
    conn.execute("PRAGMA synchronous=NORMAL").await?;
    Ok(conn)
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
        let mut conn = self.db.acquire().await?;
        let conn: &mut AnyConnection = &mut conn;
        match self.dialect {
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run_direct(conn).await?,
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run_direct(conn).await?,
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), RepoError> {
        sqlx::query("SELECT 1").execute(&mut *self.db.acquire().await?).await?;
        Ok(())
    }

    async fn ops_summary(&self, stuck_before: i64) -> Result<OpsSummary, RepoError> {
        let mut out = OpsSummary::default();
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n, SUM(CASE WHEN status IN ('uploaded', 'processing') AND updated_at < $1 \
             THEN 1 ELSE 0 END) AS stuck FROM media GROUP BY status",
        )
        .bind(stuck_before)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        for (status, n, stuck) in rows {
            out.media.insert(status.clone(), n);
            if let Some(n) = stuck.filter(|n| *n > 0) {
                out.stuck.insert(status, n);
            }
        }
        out.open_batches = sqlx::query_scalar("SELECT COUNT(*) FROM batches WHERE completed_at IS NULL")
            .fetch_one(&mut *self.db.acquire().await?)
            .await?;
        let (backlog, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(&mut *self.db.acquire().await?)
                .await?;
        out.outbox_backlog = backlog;
        out.outbox_oldest_ms = oldest.map(|t| (now_ms() - t).max(0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    async fn sqlite_repo(dir: &tempfile::TempDir) -> SqlRepo {
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        SqlRepo::connect(&url, 1).await.expect("connect")
    }

    #[tokio::test]
    async fn the_sqlite_connection_logs_ahead_and_syncs_at_checkpoints() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = sqlite_repo(&dir).await;
        let mut conn = repo.db.acquire().await.expect("acquire");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.expect("pragma");
        assert_eq!(sync, 1, "NORMAL (FULL is 2)");
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.expect("pragma");
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_transaction_dropped_unfinished_leaves_the_single_connection_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = sqlite_repo(&dir).await;
        sqlx::query("CREATE TABLE t (v INTEGER)")
            .execute(&mut *repo.db.acquire().await.expect("acquire"))
            .await
            .expect("create");
        {
            // As when a request is cancelled half-way: no commit, no rollback, the connection simply goes back.
            let mut conn = repo.db.acquire().await.expect("acquire");
            let mut tx = conn.begin().await.expect("begin");
            sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *tx).await.expect("insert");
        }
        let mut conn = repo.db.acquire().await.expect("acquire");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await.expect("count");
        assert_eq!(n, 0, "the unfinished insert was rolled back");
        let mut tx = conn.begin().await.expect("a new transaction begins: none is left open");
        sqlx::query("INSERT INTO t VALUES (2)").execute(&mut *tx).await.expect("insert");
        tx.commit().await.expect("commit");
        drop(conn);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *repo.db.acquire().await.expect("acquire"))
            .await
            .expect("count");
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_call_waiting_too_long_for_the_connection_is_told_the_database_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = sqlite_repo(&dir).await;
        let _held = repo.db.acquire().await.expect("acquire");
        let waited = repo.db.acquire_within(std::time::Duration::from_millis(50)).await;
        let err = RepoError::from(waited.err().expect("times out while the connection is held"));
        assert!(err.is_transient(), "{err}");
    }
}
