//! [`OutboxRepo`] on SQL: events written inside the caller's transaction, read back in order by the relay,
//! which PostgreSQL elects with an advisory lock and wakes with LISTEN/NOTIFY.

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::Connection;

use super::db::Db;
use super::{Dialect, SqlRepo};
use crate::event::Envelope;
use crate::repo::{now_ms, OutboxEvent, OutboxRepo, OutboxWakeups, PendingEvent, RelayLock, RepoError};

/// The channel every outbox write notifies (PostgreSQL), so the one active relay, whichever process it
/// runs in, publishes at once instead of at its next poll.
const OUTBOX_CHANNEL: &str = "mediamill_outbox";

/// Arbitrary constant naming the relay's advisory lock in PostgreSQL.
const RELAY_LOCK_ID: i64 = 0x6d65_6469_616d;

/// Writes `events` on `conn`, inside whatever transaction the caller holds.
pub(super) async fn write_events(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    events: &[OutboxEvent],
) -> Result<(), RepoError> {
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
        .await?;
    }
    // Delivered at commit, once per transaction however many rows it wrote.
    if !events.is_empty() && dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    event_id: String,
    topic: String,
    msg_key: String,
    ce_type: String,
    ce_time: String,
    subject: Option<String>,
    data: String,
    traceparent: Option<String>,
}

impl TryFrom<OutboxRow> for PendingEvent {
    type Error = RepoError;
    fn try_from(r: OutboxRow) -> Result<PendingEvent, RepoError> {
        let time = chrono::DateTime::parse_from_rfc3339(&r.ce_time)
            .map_err(|e| RepoError::Corrupt(format!("outbox ce_time {:?}: {e}", r.ce_time)))?
            .with_timezone(&chrono::Utc);
        let data = serde_json::from_str(&r.data).map_err(|e| RepoError::Corrupt(format!("outbox data: {e}")))?;
        Ok(PendingEvent {
            seq: r.seq,
            event: OutboxEvent {
                topic: r.topic,
                key: r.msg_key,
                envelope: Envelope {
                    id: r.event_id,
                    ty: r.ce_type,
                    source: crate::event::SOURCE.to_string(),
                    time,
                    subject: r.subject,
                    traceparent: r.traceparent,
                    data,
                },
            },
        })
    }
}

/// PostgreSQL's notifications of outbox writes.
struct PgWakeups(PgListener);

#[async_trait]
impl OutboxWakeups for PgWakeups {
    async fn next(&mut self) {
        if let Err(e) = self.0.recv().await {
            // The listener reconnects on the next call; the pause keeps a dead server from spinning us.
            tracing::debug!(error = %e, "outbox relay: listener");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

impl SqlRepo {
    /// A listener on the outbox channel, or `None` (the relay then polls only) when it cannot have one.
    async fn wakeups(&self) -> Option<Box<dyn OutboxWakeups>> {
        let mut listener = match PgListener::connect(&self.url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: no listener connection; polling only");
                return None;
            }
        };
        match listener.listen(OUTBOX_CHANNEL).await {
            Ok(()) => Some(Box::new(PgWakeups(listener))),
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: LISTEN failed; polling only");
                None
            }
        }
    }
}

#[async_trait]
impl OutboxRepo for SqlRepo {
    async fn append_events(&self, events: &[OutboxEvent]) -> Result<(), RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        write_events(&mut tx, self.dialect, events).await?;
        Ok(tx.commit().await?)
    }

    async fn pending_events(&self, limit: u32) -> Result<Vec<PendingEvent>, RepoError> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT seq, event_id, topic, msg_key, ce_type, ce_time, subject, data, traceparent FROM outbox \
             WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        rows.into_iter().map(PendingEvent::try_from).collect()
    }

    async fn mark_sent(&self, seqs: &[i64]) -> Result<(), RepoError> {
        if seqs.is_empty() {
            return Ok(());
        }
        // Ids come from our own rows (integers), so inlining them is safe and keeps one statement per batch.
        let list = seqs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        sqlx::query(&format!("UPDATE outbox SET sent_at = $1 WHERE seq IN ({list})"))
            .bind(now_ms())
            .execute(&mut *self.db.acquire().await?)
            .await?;
        Ok(())
    }

    async fn try_relay_lock(&self) -> Result<Option<RelayLock>, RepoError> {
        match &self.db {
            // One process owns a SQLite file; nothing to elect.
            Db::Single(_) => Ok(Some(RelayLock::new(None, None))),
            Db::Pool(pool) => {
                // A session-level advisory lock lives as long as this connection: if the relay's process dies,
                // PostgreSQL drops the connection and the lock with it, and another relay takes over.
                let mut conn = pool.acquire().await?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(RELAY_LOCK_ID)
                    .fetch_one(&mut *conn)
                    .await?;
                if !got {
                    return Ok(None);
                }
                // Without wake-ups the relay still polls; with them it also wakes on every commit.
                Ok(Some(RelayLock::new(Some(Box::new(conn.detach())), self.wakeups().await)))
            }
        }
    }
}
