//! [`FeedRepo`] on SQL. An event's changes and the row that marks it applied commit together, so a
//! redelivered event finds its mark and changes nothing; notification ids are derived from what they are about,
//! so even an event applied by another consumer name lands on the same rows.

use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::outbox::write_events;
use super::rows::{convert_all, DeliveryRow, DELIVERY_COLS};
use super::SqlRepo;
use crate::app_model::{title, Actor, FeedItem, Kind, Preferences, PushSubscription};
use crate::contract::UserProfile;
use crate::model::TenantId;
use crate::notify_model::{app_target, Channel, Delivery};
use crate::repo::{now_ms, DueNotification, FeedOp, FeedRepo, OutboxEvent, Release, RepoError};

/// The per-user rate limits' window.
const MINUTE_MS: i64 = 60_000;

/// Actors listed per feed item.
const ACTORS_SHOWN: i64 = 10;

/// Shown in the feed now: visible, and not cancelled or (likes) someone still liking. A like window's state says
/// only whether it was sent: the releaser may find it empty and cancel it while a like that belongs to it is
/// still on its way (events are handled as they come, after their window may have closed), so its place in the
/// feed follows its actors alone.
const VISIBLE: &str = "n.visible_at IS NOT NULL AND n.visible_at <= $3 \
     AND (n.state <> 'cancelled' OR n.kind = 'like') AND (n.kind <> 'like' OR EXISTS (SELECT 1 \
     FROM app_notification_actors a WHERE a.notification_id = n.id AND a.present = 1))";

fn kind_of(s: &str) -> Result<Kind, RepoError> {
    s.parse().map_err(|_| RepoError::Corrupt(format!("notification kind {s:?}")))
}

/// The first actors of a notification and how many there are, in one query (the count is taken before the
/// limit).
async fn actors(conn: &mut sqlx::AnyConnection, id: &str) -> Result<(Vec<Actor>, u64), RepoError> {
    let rows = sqlx::query(
        "SELECT actor_id, actor_name, COUNT(*) OVER () FROM app_notification_actors WHERE notification_id = $1 \
         AND present = 1 ORDER BY changed_at DESC, actor_id LIMIT $2",
    )
    .bind(id)
    .bind(ACTORS_SHOWN)
    .fetch_all(&mut *conn)
    .await?;
    let n = rows.first().map_or(0, |r| r.get::<i64, _>(2));
    let list: Vec<Actor> =
        rows.iter().map(|r| Actor { id: r.get::<String, _>(0), name: r.get::<Option<String>, _>(1) }).collect();
    Ok((list, n as u64))
}

async fn apply_op(conn: &mut sqlx::AnyConnection, op: &FeedOp, now: i64) -> Result<(), RepoError> {
    match op {
        FeedOp::User(u) => {
            sqlx::query(
                "INSERT INTO app_users (tenant_id, user_id, email, phone, display_name, time_zone, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
                 email = COALESCE(excluded.email, app_users.email), phone = COALESCE(excluded.phone, app_users.phone), \
                 display_name = COALESCE(excluded.display_name, app_users.display_name), \
                 time_zone = COALESCE(excluded.time_zone, app_users.time_zone), updated_at = excluded.updated_at",
            )
            .bind(&u.tenant_id)
            .bind(&u.user_id)
            .bind(u.email.clone())
            .bind(u.phone.clone())
            .bind(u.display_name.clone())
            .bind(u.time_zone.clone())
            .bind(now)
            .execute(conn)
            .await?;
        }
        FeedOp::Presence { tenant_id, user_id, online, at } => {
            sqlx::query(
                "INSERT INTO app_presence (tenant_id, user_id, online, changed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET online = excluded.online, \
                 changed_at = excluded.changed_at WHERE excluded.changed_at >= app_presence.changed_at",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(*online as i64)
            .bind(*at)
            .execute(conn)
            .await?;
        }
        FeedOp::Notify(n) => {
            // Over a placeholder left by an earlier cancellation, the details are filled in and it stays
            // cancelled. Over a like window the releaser found empty, a late like reopens it, to be sent now.
            // Over any other real notification, nothing changes.
            sqlx::query(
                "INSERT INTO app_notifications (id, tenant_id, user_id, kind, subject, data, created_at, visible_at, \
                 send_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending') ON CONFLICT (id) DO UPDATE \
                 SET tenant_id = excluded.tenant_id, user_id = excluded.user_id, kind = excluded.kind, \
                 subject = excluded.subject, data = excluded.data, send_at = excluded.send_at, \
                 state = CASE WHEN app_notifications.kind = 'like' THEN 'pending' ELSE app_notifications.state END, \
                 visible_at = CASE WHEN app_notifications.kind = 'like' \
                 THEN COALESCE(app_notifications.visible_at, excluded.visible_at) ELSE app_notifications.visible_at END \
                 WHERE app_notifications.tenant_id = '' OR (app_notifications.kind = 'like' \
                 AND app_notifications.state = 'cancelled')",
            )
            .bind(&n.id)
            .bind(&n.tenant_id)
            .bind(&n.user_id)
            .bind(n.kind.as_str())
            .bind(&n.subject)
            .bind(n.data.to_string())
            .bind(now)
            .bind(n.visible_at)
            .bind(n.send_at)
            .execute(conn)
            .await?;
        }
        FeedOp::Actor { notification_id, actor, present, at, event_id } => {
            sqlx::query(
                "INSERT INTO app_notification_actors (notification_id, actor_id, actor_name, present, changed_at, \
                 event_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (notification_id, actor_id) DO UPDATE SET \
                 present = excluded.present, changed_at = excluded.changed_at, event_id = excluded.event_id, \
                 actor_name = COALESCE(excluded.actor_name, app_notification_actors.actor_name) \
                 WHERE (excluded.changed_at, excluded.event_id) > \
                 (app_notification_actors.changed_at, app_notification_actors.event_id)",
            )
            .bind(notification_id)
            .bind(&actor.id)
            .bind(actor.name.clone())
            .bind(*present as i64)
            .bind(*at)
            .bind(event_id)
            .execute(conn)
            .await?;
        }
        FeedOp::Cancel { notification_id } => {
            // Out of the feed in any case, and not sent if still pending. One not made yet (events are handled
            // concurrently and may come out of order) gets a cancelled placeholder. Both this and `Notify` are
            // inserts on the same key, so the database orders them: neither can miss the other.
            sqlx::query(
                "INSERT INTO app_notifications (id, tenant_id, user_id, kind, subject, data, created_at, visible_at, \
                 send_at, state) VALUES ($1, '', '', '', '', '{}', $2, NULL, $2, 'cancelled') ON CONFLICT (id) DO \
                 UPDATE SET visible_at = NULL, state = CASE WHEN app_notifications.state = 'pending' THEN 'cancelled' \
                 ELSE app_notifications.state END",
            )
            .bind(notification_id)
            .bind(now)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// `LIKE` pattern matching strings that start with `prefix` literally.
fn like_prefix(prefix: &str) -> String {
    let escaped = prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("{escaped}%")
}

/// `(LIKE, NOT LIKE)` patterns matching exactly one user's target ids on `channel`. User ids may hold `:`, so
/// `push:a:` also starts user `a:b`'s targets; those have one more `:` (push subscription ids have none, email
/// and SMS targets end in `:`), which the second pattern excludes.
pub(super) fn user_target_patterns(channel: Channel, user_id: &str) -> (String, String) {
    let p = like_prefix(&app_target(channel, user_id, ""));
    let q = format!("{p}:%");
    (p, q)
}

#[async_trait]
impl FeedRepo for SqlRepo {
    async fn apply_feed(
        &self,
        consumer: &str,
        event_id: &str,
        ops: &[FeedOp],
        events: &[OutboxEvent],
    ) -> Result<bool, RepoError> {
        let now = now_ms();
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO app_events_seen (consumer, event_id, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(consumer)
        .bind(event_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            return Ok(false);
        }
        for op in ops {
            apply_op(&mut tx, op, now).await?;
        }
        write_events(&mut tx, self.dialect, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn app_user(&self, tenant_id: &TenantId, user_id: &str) -> Result<Option<UserProfile>, RepoError> {
        let row = sqlx::query(
            "SELECT email, phone, display_name, time_zone FROM app_users WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(&mut *self.db.acquire().await?)
        .await?;
        Ok(row.map(|r| UserProfile {
            tenant_id: tenant_id.clone(),
            user_id: user_id.to_string(),
            email: r.get(0),
            phone: r.get(1),
            display_name: r.get(2),
            time_zone: r.get(3),
        }))
    }

    async fn presence(&self, tenant_id: &TenantId, user_id: &str) -> Result<Option<bool>, RepoError> {
        let online: Option<i64> =
            sqlx::query_scalar("SELECT online FROM app_presence WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(&mut *self.db.acquire().await?)
                .await?;
        Ok(online.map(|o| o == 1))
    }

    async fn preferences(&self, tenant_id: &TenantId, user_id: &str) -> Result<Preferences, RepoError> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT prefs FROM app_preferences WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(&mut *self.db.acquire().await?)
                .await?;
        match json {
            None => Ok(Preferences::default()),
            Some(j) => serde_json::from_str(&j).map_err(|e| RepoError::Corrupt(format!("preferences: {e}"))),
        }
    }

    async fn put_preferences(&self, tenant_id: &TenantId, user_id: &str, p: &Preferences) -> Result<(), RepoError> {
        let json = serde_json::to_string(p).map_err(|e| RepoError::Corrupt(format!("preferences: {e}")))?;
        sqlx::query(
            "INSERT INTO app_preferences (tenant_id, user_id, prefs, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET prefs = excluded.prefs, updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(json)
        .bind(now_ms())
        .execute(&mut *self.db.acquire().await?)
        .await?;
        Ok(())
    }

    async fn add_push_subscription(&self, s: &PushSubscription) -> Result<PushSubscription, RepoError> {
        sqlx::query(
            "INSERT INTO push_subscriptions (id, tenant_id, user_id, endpoint, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, user_id, endpoint) DO UPDATE SET \
             p256dh = excluded.p256dh, auth = excluded.auth",
        )
        .bind(&s.id)
        .bind(&s.tenant_id)
        .bind(&s.user_id)
        .bind(&s.endpoint)
        .bind(&s.p256dh)
        .bind(&s.auth)
        .bind(s.created_at)
        .execute(&mut *self.db.acquire().await?)
        .await?;
        let all = self.push_subscriptions(&s.tenant_id, &s.user_id).await?;
        all.into_iter()
            .find(|x| x.endpoint == s.endpoint)
            .ok_or_else(|| RepoError::Corrupt("push subscription not found after writing it".into()))
    }

    async fn push_subscriptions(
        &self,
        tenant_id: &TenantId,
        user_id: &str,
    ) -> Result<Vec<PushSubscription>, RepoError> {
        let rows = sqlx::query(
            "SELECT id, endpoint, p256dh, auth, created_at FROM push_subscriptions WHERE tenant_id = $1 \
             AND user_id = $2 ORDER BY created_at, id",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PushSubscription {
                id: r.get(0),
                tenant_id: tenant_id.clone(),
                user_id: user_id.to_string(),
                endpoint: r.get(1),
                p256dh: r.get(2),
                auth: r.get(3),
                created_at: r.get(4),
            })
            .collect())
    }

    async fn delete_push_subscription(&self, tenant_id: &TenantId, user_id: &str, id: &str) -> Result<bool, RepoError> {
        let r = sqlx::query("DELETE FROM push_subscriptions WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
            .bind(tenant_id)
            .bind(user_id)
            .bind(id)
            .execute(&mut *self.db.acquire().await?)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn feed(
        &self,
        tenant_id: &TenantId,
        user_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FeedItem>, RepoError> {
        let mut conn = self.db.acquire().await?;
        let cursor = if before.is_some() {
            " AND (n.created_at, n.id) < (SELECT created_at, id FROM app_notifications WHERE id = $5)"
        } else {
            " AND CAST($5 AS TEXT) IS NULL"
        };
        let sql = format!(
            "SELECT n.id, n.kind, n.subject, n.data, n.created_at, n.read_at FROM app_notifications n \
             WHERE n.tenant_id = $1 AND n.user_id = $2 AND {VISIBLE}{cursor} ORDER BY n.created_at DESC, n.id DESC \
             LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(user_id)
            .bind(now_ms())
            .bind(limit as i64)
            .bind(before.map(str::to_string))
            .fetch_all(&mut *conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.get(0);
            let kind = kind_of(&r.get::<String, _>(1))?;
            let data: serde_json::Value = serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default();
            let (actors, count) = actors(&mut conn, &id).await?;
            out.push(FeedItem {
                title: title(kind, &actors, count),
                body: data.get("text").and_then(|t| t.as_str()).map(str::to_string),
                id,
                kind,
                subject: r.get(2),
                actors,
                actor_count: count,
                created_at: r.get(4),
                read_at: r.get(5),
            });
        }
        Ok(out)
    }

    async fn unread_count(&self, tenant_id: &TenantId, user_id: &str) -> Result<u64, RepoError> {
        let sql = format!(
            "SELECT COUNT(*) FROM app_notifications n WHERE n.tenant_id = $1 AND n.user_id = $2 AND {VISIBLE} \
             AND n.read_at IS NULL"
        );
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(tenant_id)
            .bind(user_id)
            .bind(now_ms())
            .fetch_one(&mut *self.db.acquire().await?)
            .await?;
        Ok(n as u64)
    }

    async fn mark_read(&self, tenant_id: &TenantId, user_id: &str, ids: Option<&[String]>) -> Result<u64, RepoError> {
        let now = now_ms();
        let only = match ids {
            Some([]) => return Ok(0),
            Some(ids) => {
                format!(" AND id IN ({})", (0..ids.len()).map(|i| format!("${}", i + 4)).collect::<Vec<_>>().join(", "))
            }
            None => String::new(),
        };
        let sql = format!(
            "UPDATE app_notifications SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL \
             AND visible_at IS NOT NULL AND visible_at <= $3{only}"
        );
        let mut q = sqlx::query(&sql).bind(tenant_id).bind(user_id).bind(now);
        for id in ids.unwrap_or_default() {
            q = q.bind(id);
        }
        Ok(q.execute(&mut *self.db.acquire().await?).await?.rows_affected())
    }

    async fn claim_notifications(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<DueNotification>, RepoError> {
        // As with deliveries: the lease condition repeated outside the subquery makes PostgreSQL re-check it
        // after waiting on a row another notifier is claiming.
        let rows = sqlx::query(
            "UPDATE app_notifications SET lease_until = $1 WHERE id IN (SELECT id FROM app_notifications \
             WHERE state = 'pending' AND send_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
             ORDER BY send_at LIMIT $3) AND (lease_until IS NULL OR lease_until < $2) \
             RETURNING id, tenant_id, user_id, kind, subject, data, created_at, visible_at",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        let mut conn = self.db.acquire().await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.get(0);
            let (actors, actor_count) = actors(&mut conn, &id).await?;
            out.push(DueNotification {
                actor_count,
                tenant_id: TenantId::from(r.get::<String, _>(1)),
                user_id: r.get(2),
                kind: kind_of(&r.get::<String, _>(3))?,
                subject: r.get(4),
                data: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or_default(),
                created_at: r.get(6),
                visible: r.get::<Option<i64>, _>(7).is_some(),
                actors,
                id,
            });
        }
        Ok(out)
    }

    async fn release_notification(&self, id: &str, r: &Release, events: &[OutboxEvent]) -> Result<(), RepoError> {
        let now = now_ms();
        let mut conn = self.db.acquire().await?;
        let mut tx = conn.begin().await?;
        match r {
            Release::Sent(ds) => {
                // A chat notice enters the feed only once it is sent: the message was not seen in time. One
                // cancelled while it was being released stays cancelled and sends nothing.
                let still_pending = sqlx::query(
                    "UPDATE app_notifications SET state = 'sent', lease_until = NULL, \
                     visible_at = CASE WHEN kind = 'chat' THEN $2 ELSE visible_at END WHERE id = $1 \
                     AND state = 'pending'",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !still_pending {
                    return Ok(());
                }
                for d in ds {
                    super::notify::insert_delivery(&mut tx, d).await?;
                }
            }
            Release::Cancelled => {
                // A like window keeps its feed time: a late like may still reopen it (see `FeedOp::Notify`).
                sqlx::query(
                    "UPDATE app_notifications SET state = 'cancelled', lease_until = NULL, \
                     visible_at = CASE WHEN kind = 'like' THEN visible_at ELSE NULL END \
                     WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            Release::Later(at) => {
                sqlx::query(
                    "UPDATE app_notifications SET send_at = $2, lease_until = NULL WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(*at)
                .execute(&mut *tx)
                .await?;
            }
        }
        write_events(&mut tx, self.dialect, events).await?;
        Ok(tx.commit().await?)
    }

    async fn user_deliveries(
        &self,
        tenant_id: &TenantId,
        user_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepoError> {
        let channels = [Channel::Push, Channel::Email, Channel::Sms];
        let mine: Vec<String> = (0..channels.len())
            .map(|i| {
                let (p, q) = (i * 2 + 4, i * 2 + 5);
                format!("(target_id LIKE ${p} ESCAPE '\\' AND target_id NOT LIKE ${q} ESCAPE '\\')")
            })
            .collect();
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE tenant_id = $1 AND channel IN ('push', 'email', 'sms') \
             AND ({}) AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            mine.join(" OR ")
        );
        let mut q = sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(tenant_id)
            .bind(before.map(str::to_string))
            .bind(limit.clamp(1, 500) as i64);
        for c in channels {
            let (p, not) = user_target_patterns(c, user_id);
            q = q.bind(p).bind(not);
        }
        convert_all(q.fetch_all(&mut *self.db.acquire().await?).await?)
    }

    async fn next_send_slot(
        &self,
        tenant_id: &TenantId,
        channel: Channel,
        user_id: &str,
        now: i64,
        per_minute: u64,
    ) -> Result<i64, RepoError> {
        if per_minute == 0 {
            return Ok(now);
        }
        let (user, others) = user_target_patterns(channel, user_id);
        // A delayed delivery is created for its slot (`created_at` in the future), so it holds its place here.
        let recent: Vec<i64> = sqlx::query_scalar(
            "SELECT created_at FROM (SELECT DISTINCT event_id, created_at FROM deliveries WHERE channel = $4 \
             AND tenant_id = $1 AND target_id LIKE $2 ESCAPE '\\' AND target_id NOT LIKE $6 ESCAPE '\\' \
             AND created_at > $3) d ORDER BY created_at DESC LIMIT $5",
        )
        .bind(tenant_id)
        .bind(&user)
        .bind(now - MINUTE_MS)
        .bind(channel.as_str())
        .bind(per_minute as i64)
        .bind(&others)
        .fetch_all(&mut *self.db.acquire().await?)
        .await?;
        Ok(match recent.last() {
            Some(oldest) if recent.len() as u64 >= per_minute => now.max(oldest + MINUTE_MS),
            _ => now,
        })
    }
}
