//! How the repository reaches its database: PostgreSQL through a pool, SQLite through one connection kept open.
//!
//! sqlx's pool pings a connection each time it goes back (a tokio task and a round trip to SQLite's worker
//! thread per statement). For a network connection that catches a broken link; a SQLite file cannot hang up,
//! and the embedded pipeline runs about thirty statements an item, so there the ping cost as much as the
//! statements' own work. SQLite has one writer anyway, so one connection behind a fair lock loses nothing.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Where connections come from.
#[derive(Clone)]
pub(super) enum Db {
    /// PostgreSQL: many connections, each checked when it goes back.
    Pool(AnyPool),
    /// SQLite: the one connection, taken in turn.
    Single(Arc<Mutex<AnyConnection>>),
}

/// A connection for one call; dropping it gives it back.
pub(super) enum Conn {
    /// From the pool.
    Pooled(PoolConnection<Any>),
    /// The single connection, held until dropped.
    Single(OwnedMutexGuard<AnyConnection>),
}

/// How long a call waits for a connection before it reports the database unavailable, as the pool does.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Db {
    /// A connection, or `PoolTimedOut` when none came within [`ACQUIRE_TIMEOUT`].
    pub(super) async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        self.acquire_within(ACQUIRE_TIMEOUT).await
    }

    /// A connection, or `PoolTimedOut` when the single connection stayed taken for `wait` (the pool keeps
    /// the timeout it was built with).
    pub(super) async fn acquire_within(&self, wait: Duration) -> Result<Conn, sqlx::Error> {
        match self {
            Db::Pool(pool) => Ok(Conn::Pooled(pool.acquire().await?)),
            Db::Single(conn) => tokio::time::timeout(wait, conn.clone().lock_owned())
                .await
                .map(Conn::Single)
                .map_err(|_| sqlx::Error::PoolTimedOut),
        }
    }
}

impl Deref for Conn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Single(c) => c,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Single(c) => c,
        }
    }
}
