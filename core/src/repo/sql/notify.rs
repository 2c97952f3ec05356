//! [`NotifyRepo`] on SQL.

use async_trait::async_trait;
use sqlx::Connection;

use super::rows::{
    convert_all, targets, AttemptRow, DeliveryRow, EndpointRow, RecipientRow, TargetRow, DELIVERY_COLS, TARGETS,
};
use super::SqlRepo;
use crate::model::TenantId;
use crate::notify_model::{Attempt, Channel, Delivery, EmailRecipient, Endpoint, Targets};
use crate::repo::{now_ms, AfterAttempt, LoggedAttempt, NotifyRepo, RepoError};

const RECIPIENT_COLS: &str = "id, tenant_id, address, event_types, created_at, confirmed_at";

#[async_trait]
impl NotifyRepo for SqlRepo {
    async fn create_endpoint(&self, e: &Endpoint) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6)",
        )
        .bind(&e.id)
        .bind(&e.tenant_id)
        .bind(&e.url)
        .bind(&e.secret)
        .bind(e.event_types.join(","))
        .bind(e.created_at)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn list_endpoints(&self, tenant_id: &TenantId) -> Result<Vec<Endpoint>, RepoError> {
        let rows: Vec<EndpointRow> =
            sqlx::query_as("SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND deleted = 0 ORDER BY id")
                .bind(tenant_id)
                .fetch_all(&mut *self.db.acquire().await?)
                .await?;
        Ok(rows.into_iter().map(Endpoint::from).collect())
    }

    async fn get_endpoint(&self, tenant_id: &TenantId, id: &str) -> Result<Option<Endpoint>, RepoError> {
        let r: Option<EndpointRow> =
            sqlx::query_as("SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 AND deleted = 0")
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&mut *self.db.acquire().await?)
                .await?;
        Ok(r.map(Endpoint::from))
    }

    async fn rotate_endpoint_secret(
        &self,
        tenant_id: &TenantId,
        id: &str,
        new_secret: &str,
        overlap_until: i64,
    ) -> Result<Option<Endpoint>, RepoError> {
        let r = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, secret = $2 \
             WHERE tenant_id = $3 AND id = $4 AND deleted = 0",
        )
        .bind(overlap_until)
        .bind(new_secret)
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_endpoint(tenant_id, id).await
    }

    async fn delete_endpoint(&self, tenant_id: &TenantId, id: &str) -> Result<bool, RepoError> {
        let r = sqlx::query(
            "UPDATE webhook_endpoints SET deleted = 1, enabled = 0 WHERE tenant_id = $1 AND id = $2 AND deleted = 0",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        if r.rows_affected() > 0 {
            sqlx::query("UPDATE deliveries SET status = 'dead', last_error = 'endpoint deleted' WHERE target_id = $1 AND status = 'pending'")
                .bind(id)
                .execute(&mut *self.db.acquire().await?)
                .await
                ?;
        }
        Ok(r.rows_affected() > 0)
    }

    async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<(), RepoError> {
        sqlx::query("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(&mut *self.db.acquire().await?)
            .await?;
        sqlx::query(
            "UPDATE deliveries SET status = 'dead', last_error = $1 WHERE target_id = $2 AND status = 'pending'",
        )
        .bind(format!("endpoint disabled: {reason}"))
        .bind(id)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn create_recipient(
        &self,
        r: &EmailRecipient,
        confirm_token_hash: &str,
        confirmation: &Delivery,
    ) -> Result<(), RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO email_recipients (id, tenant_id, address, event_types, created_at, confirmed_at, confirm_token_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.address)
        .bind(r.event_types.join(","))
        .bind(r.created_at)
        .bind(r.confirmed_at)
        .bind(confirm_token_hash)
        .execute(&mut *tx)
        .await
        ?;
        tx.commit().await?;
        // insert_deliveries takes the connection again (SQLite has only the one).
        drop(conn);
        self.insert_deliveries(std::slice::from_ref(confirmation)).await
    }

    async fn confirm_recipient(&self, id: &str, token_hash: &str) -> Result<Option<EmailRecipient>, RepoError> {
        let r = sqlx::query(
            "UPDATE email_recipients SET confirmed_at = $1, confirm_token_hash = NULL \
             WHERE id = $2 AND confirm_token_hash = $3 AND confirmed_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .bind(token_hash)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let row: RecipientRow = sqlx::query_as(&format!("SELECT {RECIPIENT_COLS} FROM email_recipients WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *self.db.acquire().await?)
            .await?;
        Ok(Some(row.into()))
    }

    async fn list_recipients(&self, tenant_id: &TenantId) -> Result<Vec<EmailRecipient>, RepoError> {
        let rows: Vec<RecipientRow> =
            sqlx::query_as(&format!("SELECT {RECIPIENT_COLS} FROM email_recipients WHERE tenant_id = $1 ORDER BY id"))
                .bind(tenant_id)
                .fetch_all(&mut *self.db.acquire().await?)
                .await?;
        Ok(rows.into_iter().map(EmailRecipient::from).collect())
    }

    async fn delete_recipient(&self, tenant_id: &TenantId, id: &str) -> Result<bool, RepoError> {
        // One transaction: a recipient removed gets nothing more, not even what was already queued for it.
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let r = sqlx::query("DELETE FROM email_recipients WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() > 0 {
            sqlx::query("UPDATE deliveries SET status = 'dead', last_error = 'recipient deleted' WHERE target_id = $1 AND status = 'pending'")
                .bind(id)
                .execute(&mut *tx)
                .await
                ?;
        }
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    async fn live_targets(&self, tenant_id: &TenantId) -> Result<Targets, RepoError> {
        let rows: Vec<TargetRow> =
            sqlx::query_as(TARGETS).bind(tenant_id).fetch_all(&mut *self.db.acquire().await?).await?;
        Ok(targets(rows))
    }

    async fn insert_deliveries(&self, ds: &[Delivery]) -> Result<(), RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        for d in ds {
            insert_delivery(&mut tx, d).await?;
        }
        Ok(tx.commit().await?)
    }

    async fn claim_due(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<Delivery>, RepoError> {
        // The lease condition is repeated outside the subquery: PostgreSQL re-checks it after waiting for a
        // row another notifier is claiming, so only one of them gets it.
        let sql = format!(
            "UPDATE deliveries SET lease_until = $1 WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_attempt_at LIMIT $3) \
             AND (lease_until IS NULL OR lease_until < $2) RETURNING {DELIVERY_COLS}"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit as i64)
            .fetch_all(&mut *self.db.acquire().await?)
            .await?;
        convert_all(rows)
    }

    async fn record_attempt(&self, d: &Delivery, a: &Attempt, next: AfterAttempt) -> Result<(), RepoError> {
        let now = now_ms();
        let attempt = d.attempts as i64 + 1;
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(&d.id)
        .bind(attempt)
        .bind(now)
        .bind(a.status_code.map(|c| c as i64))
        .bind(a.error.clone())
        .bind(a.duration_ms as i64)
        .execute(&mut *tx)
        .await?;
        let (status, next_at, delivered_at) = match next {
            AfterAttempt::Delivered => ("delivered", d.next_attempt_at, Some(now)),
            AfterAttempt::RetryAt(t) => ("pending", t, None),
            AfterAttempt::Dead => ("dead", d.next_attempt_at, None),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, attempts = $2, next_attempt_at = $3, lease_until = NULL, \
             last_status = $4, last_error = $5, delivered_at = $6 WHERE id = $7",
        )
        .bind(status)
        .bind(attempt)
        .bind(next_at)
        .bind(a.status_code.map(|c| c as i64))
        .bind(a.error.clone())
        .bind(delivered_at)
        .bind(&d.id)
        .execute(&mut *tx)
        .await?;
        if d.channel == Channel::Webhook {
            let sql = if a.ok() {
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND $2 >= 0"
            } else {
                "UPDATE webhook_endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL"
            };
            sqlx::query(sql).bind(&d.target_id).bind(now).execute(&mut *tx).await?;
        }
        Ok(tx.commit().await?)
    }

    async fn list_deliveries(
        &self,
        target_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepoError> {
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE target_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(target_id)
            .bind(before.map(str::to_string))
            .bind(limit.clamp(1, 500) as i64)
            .fetch_all(&mut *self.db.acquire().await?)
            .await?;
        convert_all(rows)
    }

    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<LoggedAttempt>, RepoError> {
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT attempt, at, status_code, error, duration_ms FROM delivery_attempts WHERE delivery_id = $1 \
             ORDER BY attempt",
        )
        .bind(delivery_id)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        convert_all(rows)
    }

    async fn replay_delivery(&self, target_id: &str, delivery_id: &str) -> Result<bool, RepoError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL WHERE id = $2 AND target_id = $3",
        )
        .bind(now_ms())
        .bind(delivery_id)
        .bind(target_id)
        .execute(&mut *self.db.acquire().await?)
        .await
        ?;
        Ok(r.rows_affected() > 0)
    }
}

/// Adds one delivery on `conn` (inside the caller's transaction); one already recorded for the same target and
/// event is left as it is.
pub(super) async fn insert_delivery(conn: &mut sqlx::AnyConnection, d: &Delivery) -> Result<(), RepoError> {
    sqlx::query(
        "INSERT INTO deliveries (id, tenant_id, channel, target_id, target, secret, event_id, event_type, payload, \
         status, attempts, next_attempt_at, created_at, traceparent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11, $12) \
         ON CONFLICT (target_id, event_id) DO NOTHING",
    )
    .bind(&d.id)
    .bind(&d.tenant_id)
    .bind(d.channel.as_str())
    .bind(&d.target_id)
    .bind(&d.target)
    .bind(d.secret.clone())
    .bind(&d.event_id)
    .bind(&d.event_type)
    .bind(&d.payload)
    .bind(d.next_attempt_at)
    .bind(d.created_at)
    .bind(d.traceparent.clone())
    .execute(conn)
    .await?;
    Ok(())
}
