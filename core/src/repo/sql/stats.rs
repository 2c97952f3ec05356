//! [`StatsRepo`] on SQL: facts per generation, counts computed from them on indexed columns. Every fact is
//! idempotent and order-independent (last writer by event time and id; a deletion is final; a day's activity
//! is a set), so the counts are a pure function of the events, whatever their order or repetition.

use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::SqlRepo;
use crate::app_model::{DailyActive, MediaStats};
use crate::model::TenantId;
use crate::repo::{now_ms, RepoError, StatsFact, StatsRepo};

const ACTIVE: &str = "(SELECT gen FROM stats_generations WHERE state = 'active')";

async fn apply_fact(conn: &mut sqlx::AnyConnection, gen: i64, f: &StatsFact) -> Result<(), RepoError> {
    match f {
        StatsFact::Like { tenant_id, media_id, owner_id, actor_id, liked, at, event_id } => {
            sqlx::query(
                "INSERT INTO stats_likes (gen, tenant_id, media_id, actor_id, owner_id, liked, event_time, event_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (gen, tenant_id, media_id, actor_id) DO UPDATE \
                 SET liked = excluded.liked, event_time = excluded.event_time, event_id = excluded.event_id \
                 WHERE (excluded.event_time, excluded.event_id) > (stats_likes.event_time, stats_likes.event_id)",
            )
            .bind(gen)
            .bind(tenant_id)
            .bind(media_id)
            .bind(actor_id)
            .bind(owner_id)
            .bind(*liked as i64)
            .bind(*at)
            .bind(event_id)
            .execute(conn)
            .await?;
        }
        StatsFact::Comment { tenant_id, comment_id, media_id, owner_id, actor_id, deleted } => {
            sqlx::query(
                "INSERT INTO stats_comments (gen, tenant_id, comment_id, media_id, owner_id, actor_id, deleted) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (gen, tenant_id, comment_id) DO UPDATE \
                 SET deleted = CASE WHEN excluded.deleted = 1 THEN 1 ELSE stats_comments.deleted END",
            )
            .bind(gen)
            .bind(tenant_id)
            .bind(comment_id)
            .bind(media_id)
            .bind(owner_id)
            .bind(actor_id)
            .bind(*deleted as i64)
            .execute(conn)
            .await?;
        }
        StatsFact::Active { tenant_id, user_id, day } => {
            sqlx::query(
                "INSERT INTO stats_active (gen, tenant_id, day, user_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(gen)
            .bind(tenant_id)
            .bind(day)
            .bind(user_id)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn delete_generations(conn: &mut sqlx::AnyConnection, which: &str, gen: i64) -> Result<(), RepoError> {
    for table in ["stats_likes", "stats_comments", "stats_active"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE gen IN (SELECT gen FROM stats_generations WHERE {which})"))
            .bind(gen)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(&format!("DELETE FROM stats_generations WHERE {which}")).bind(gen).execute(&mut *conn).await?;
    Ok(())
}

impl SqlRepo {
    /// Likes standing and comments not deleted in the active generation, of one media item (`column`:
    /// `media_id`) or of one owner's media (`owner_id`).
    async fn counts_by(&self, column: &str, tenant_id: &TenantId, value: &str) -> Result<MediaStats, RepoError> {
        let count = |table: &str, alive: &str| {
            format!(
                "SELECT COUNT(*) FROM {table} WHERE gen = {ACTIVE} AND tenant_id = $1 AND {column} = $2 AND {alive}"
            )
        };
        let likes: i64 = sqlx::query_scalar(&count("stats_likes", "liked = 1"))
            .bind(tenant_id)
            .bind(value)
            .fetch_one(&mut *self.db.acquire().await?)
            .await?;
        let comments: i64 = sqlx::query_scalar(&count("stats_comments", "deleted = 0"))
            .bind(tenant_id)
            .bind(value)
            .fetch_one(&mut *self.db.acquire().await?)
            .await?;
        Ok(MediaStats { likes: likes as u64, comments: comments as u64 })
    }
}

#[async_trait]
impl StatsRepo for SqlRepo {
    async fn apply_stats(&self, facts: &[StatsFact], only: Option<i64>) -> Result<(), RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        // Read inside the transaction: a rebuild that began before this commit sees these facts from the log
        // itself, one that begins after is among the generations written here.
        let gens: Vec<i64> = match only {
            Some(g) => vec![g],
            None => {
                sqlx::query_scalar("SELECT gen FROM stats_generations WHERE state IN ('active', 'building')")
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        for gen in gens {
            for f in facts {
                apply_fact(&mut tx, gen, f).await?;
            }
        }
        Ok(tx.commit().await?)
    }

    async fn begin_stats_generation(&self) -> Result<i64, RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        delete_generations(&mut tx, "state = 'building' AND gen <> $1", -1).await?;
        let max: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(gen), 0) FROM stats_generations").fetch_one(&mut *tx).await?;
        sqlx::query("INSERT INTO stats_generations (gen, state, created_at) VALUES ($1, 'building', $2)")
            .bind(max + 1)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(max + 1)
    }

    async fn activate_stats_generation(&self, gen: i64) -> Result<(), RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let r = sqlx::query("UPDATE stats_generations SET state = 'active' WHERE gen = $1 AND state = 'building'")
            .bind(gen)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            return Err(RepoError::Corrupt(format!("statistics generation {gen} is not being built")));
        }
        delete_generations(&mut tx, "gen <> $1", gen).await?;
        Ok(tx.commit().await?)
    }

    async fn media_stats(&self, tenant_id: &TenantId, media_id: &str) -> Result<MediaStats, RepoError> {
        self.counts_by("media_id", tenant_id, media_id).await
    }

    async fn user_stats(&self, tenant_id: &TenantId, user_id: &str) -> Result<MediaStats, RepoError> {
        self.counts_by("owner_id", tenant_id, user_id).await
    }

    async fn daily_active(&self, tenant_id: &TenantId, from: &str, to: &str) -> Result<Vec<DailyActive>, RepoError> {
        let rows = sqlx::query(&format!(
            "SELECT day, COUNT(*) FROM stats_active WHERE gen = {ACTIVE} AND tenant_id = $1 AND day >= $2 \
             AND day <= $3 GROUP BY day ORDER BY day"
        ))
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        Ok(rows.iter().map(|r| DailyActive { day: r.get(0), active_users: r.get::<i64, _>(1) as u64 }).collect())
    }
}
