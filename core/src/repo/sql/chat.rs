//! [`ChatRepo`] on SQL: a message's first record wins, and each receipt keeps the earliest time it was
//! reported, so a redelivered or replayed event changes nothing.

use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::SqlRepo;
use crate::app_model::{ArchivedMessage, ChatReceipt};
use crate::model::TenantId;
use crate::repo::{ChatFact, ChatRepo, RepoError};

#[async_trait]
impl ChatRepo for SqlRepo {
    async fn apply_chat(&self, facts: &[ChatFact]) -> Result<(), RepoError> {
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        for f in facts {
            match f {
                ChatFact::Message { tenant_id, message: m, recipients } => {
                    sqlx::query(
                        "INSERT INTO chat_messages (tenant_id, message_id, conversation_id, sender_id, text, sent_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant_id)
                    .bind(&m.message_id)
                    .bind(&m.conversation_id)
                    .bind(&m.sender_id)
                    .bind(&m.text)
                    .bind(m.sent_at)
                    .execute(&mut *tx)
                    .await?;
                    for r in recipients {
                        sqlx::query(
                            "INSERT INTO chat_receipts (tenant_id, message_id, user_id) VALUES ($1, $2, $3) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(tenant_id)
                        .bind(&m.message_id)
                        .bind(r)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                ChatFact::Receipt { tenant_id, message_id, user_id, seen, at } => {
                    // Seen implies delivered; each time keeps its earliest report.
                    let seen_at = seen.then_some(*at);
                    sqlx::query(
                        "INSERT INTO chat_receipts (tenant_id, message_id, user_id, delivered_at, seen_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, message_id, user_id) DO UPDATE SET \
                         delivered_at = CASE WHEN chat_receipts.delivered_at IS NULL \
                         OR excluded.delivered_at < chat_receipts.delivered_at THEN excluded.delivered_at \
                         ELSE chat_receipts.delivered_at END, \
                         seen_at = CASE WHEN chat_receipts.seen_at IS NULL THEN excluded.seen_at \
                         WHEN excluded.seen_at < chat_receipts.seen_at THEN excluded.seen_at \
                         ELSE chat_receipts.seen_at END",
                    )
                    .bind(tenant_id)
                    .bind(message_id)
                    .bind(user_id)
                    .bind(*at)
                    .bind(seen_at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        Ok(tx.commit().await?)
    }

    async fn conversation_messages(
        &self,
        tenant_id: &TenantId,
        conversation_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, RepoError> {
        let cursor = if after.is_some() {
            " AND (sent_at, message_id) > (SELECT sent_at, message_id FROM chat_messages WHERE tenant_id = $1 \
             AND message_id = $4)"
        } else {
            " AND CAST($4 AS TEXT) IS NULL"
        };
        let rows = sqlx::query(&format!(
            "SELECT message_id, sender_id, text, sent_at FROM chat_messages WHERE tenant_id = $1 \
             AND conversation_id = $2{cursor} ORDER BY sent_at, message_id LIMIT $3"
        ))
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(limit as i64)
        .bind(after.map(str::to_string))
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut conn = self.db.acquire().await?;
        for r in rows {
            let message_id: String = r.get(0);
            let receipts = sqlx::query(
                "SELECT user_id, delivered_at, seen_at FROM chat_receipts WHERE tenant_id = $1 AND message_id = $2 \
                 ORDER BY user_id",
            )
            .bind(tenant_id)
            .bind(&message_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|x| ChatReceipt { user_id: x.get(0), delivered_at: x.get(1), seen_at: x.get(2) })
            .collect();
            out.push(ArchivedMessage {
                message_id,
                conversation_id: conversation_id.to_string(),
                sender_id: r.get(1),
                text: r.get(2),
                sent_at: r.get(3),
                receipts,
            });
        }
        Ok(out)
    }
}
