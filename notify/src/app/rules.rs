//! From events to notifications. Every notification's id is derived from what it is about (a like window of
//! one item, a comment, one recipient of one message), so the same event always lands on the same rows.

use std::sync::Arc;

use async_trait::async_trait;
use mediamill_core::app_model::{Actor, Kind};
use mediamill_core::config::AppConfig;
use mediamill_core::contract::{AppEvent, AppEventHandler};
use mediamill_core::event::Envelope;
use mediamill_core::model::TenantId;
use mediamill_core::repo::{now_ms, FeedOp, NewNotification, OutboxEvent, Repo, RepoError};
use mediamill_core::topics;
use serde_json::json;
use tokio::sync::Notify;

/// Type of the event announcing that a user's feed changed (a new item, or a new actor in one).
pub const FEED_CHANGED: &str = "app.notification.feed_changed.v1";

/// Applies the rules of `[app]` to app events.
pub struct Rules {
    /// Where notifications are written.
    pub repo: Arc<dyn Repo>,
    /// Rules, per tenant.
    pub cfg: AppConfig,
    /// Wakes the releaser when something is due now.
    pub wake: Arc<Notify>,
}

/// What one event does, before it is written.
#[derive(Default)]
struct Plan {
    ops: Vec<FeedOp>,
    due_now: bool,
    feed_changed: Vec<(TenantId, String, String)>,
}

impl Plan {
    fn notify(&mut self, n: NewNotification, now: i64) {
        if n.visible_at.is_some() {
            self.feed_changed.push((n.tenant_id.clone(), n.user_id.clone(), n.id.clone()));
        }
        self.due_now |= n.send_at <= now;
        self.ops.push(FeedOp::Notify(n));
    }

    fn actor(&mut self, notification_id: &str, actor: Actor, present: bool, env: &Envelope) {
        self.ops.push(FeedOp::Actor {
            notification_id: notification_id.to_string(),
            actor,
            present,
            at: env.time.timestamp_millis(),
            event_id: env.id.clone(),
        });
    }
}

/// The id of the like notification for `media_id` in the window holding `at` (ms).
pub fn like_window_id(tenant: &str, owner: &str, media_id: &str, at: i64, window_secs: u64) -> (String, i64) {
    let w = (window_secs.max(1) * 1000) as i64;
    let bucket = at.div_euclid(w);
    (format!("like:{tenant}:{owner}:{media_id}:{bucket}"), (bucket + 1) * w)
}

impl Rules {
    async fn visible_now(&self, tenant: &TenantId, user: &str, kind: Kind, now: i64) -> Result<Option<i64>, RepoError> {
        Ok(self.repo.preferences(tenant, user).await?.switches(kind).feed.then_some(now))
    }

    async fn plan(&self, env: &Envelope, ev: &AppEvent) -> Result<Plan, RepoError> {
        let tenant = ev.tenant_id();
        let r = self.cfg.rules_for(tenant.as_str());
        let now = now_ms();
        let at = env.time.timestamp_millis();
        let mut p = Plan::default();
        let note = |id: String, user: &str, kind: Kind, subject: &str, data, visible_at, send_at| NewNotification {
            id,
            tenant_id: tenant.clone(),
            user_id: user.to_string(),
            kind,
            subject: subject.to_string(),
            data,
            visible_at,
            send_at,
        };
        match ev {
            AppEvent::UserRegistered(u) => {
                p.ops.push(FeedOp::User(u.clone()));
                if r.welcome_email {
                    let id = format!("welcome:{tenant}:{}", u.user_id);
                    p.notify(note(id, &u.user_id, Kind::Welcome, &u.user_id, json!({}), None, now), now);
                }
            }
            AppEvent::ProfileChanged(u) => p.ops.push(FeedOp::User(u.clone())),
            AppEvent::PasswordChanged(u) if r.security_email => {
                let id = format!("security:{tenant}:{}", env.id);
                p.notify(note(id, &u.user_id, Kind::Security, &u.user_id, json!({}), None, now), now);
            }
            AppEvent::LikeAdded(l) | AppEvent::LikeRemoved(l) if r.likes && l.actor_id != l.media_owner_id => {
                let added = matches!(ev, AppEvent::LikeAdded(_));
                let (id, window_end) =
                    like_window_id(tenant.as_str(), &l.media_owner_id, &l.media_id, at, r.like_window_secs);
                if added {
                    let visible = self.visible_now(tenant, &l.media_owner_id, Kind::Like, now).await?;
                    let n =
                        note(id.clone(), &l.media_owner_id, Kind::Like, &l.media_id, json!({}), visible, window_end);
                    p.notify(n, now);
                }
                let actor = Actor { id: l.actor_id.clone(), name: l.actor_name.clone() };
                p.actor(&id, actor, added, env);
            }
            AppEvent::CommentAdded(c) if r.comments && c.actor_id != c.media_owner_id => {
                let id = format!("comment:{tenant}:{}", c.comment_id);
                let visible = self.visible_now(tenant, &c.media_owner_id, Kind::Comment, now).await?;
                let data = json!({"text": c.text, "comment_id": c.comment_id});
                p.notify(note(id.clone(), &c.media_owner_id, Kind::Comment, &c.media_id, data, visible, now), now);
                p.actor(&id, Actor { id: c.actor_id.clone(), name: c.actor_name.clone() }, true, env);
            }
            AppEvent::CommentDeleted(c) => {
                p.ops.push(FeedOp::Cancel { notification_id: format!("comment:{tenant}:{}", c.comment_id) });
            }
            AppEvent::MessageSent(m) if r.chat => {
                let send_at = at.max(now) + (r.chat_unseen_secs * 1000) as i64;
                for user in m.recipient_ids.iter().filter(|u| **u != m.sender_id) {
                    // Online recipients see the message in the chat itself; the releaser checks again when due.
                    if self.repo.presence(tenant, user).await? == Some(true) {
                        continue;
                    }
                    let id = format!("chat:{tenant}:{user}:{}", m.message_id);
                    let data = json!({"text": m.text, "message_id": m.message_id});
                    p.notify(note(id.clone(), user, Kind::Chat, &m.conversation_id, data, None, send_at), now);
                    p.actor(&id, Actor { id: m.sender_id.clone(), name: Some(m.sender_name.clone()) }, true, env);
                }
            }
            AppEvent::MessageSeen(s) => {
                p.ops.push(FeedOp::Cancel { notification_id: format!("chat:{tenant}:{}:{}", s.user_id, s.message_id) });
            }
            AppEvent::Presence(u, online) => p.ops.push(FeedOp::Presence {
                tenant_id: tenant.clone(),
                user_id: u.user_id.clone(),
                online: *online,
                at,
            }),
            _ => {}
        }
        Ok(p)
    }
}

#[async_trait]
impl AppEventHandler for Rules {
    fn name(&self) -> &'static str {
        super::CONSUMER
    }

    async fn apply(&self, env: &Envelope, ev: &AppEvent) -> Result<(), RepoError> {
        let p = self.plan(env, ev).await?;
        let events: Vec<OutboxEvent> = p.feed_changed.iter().map(|(t, user, id)| feed_changed(t, user, id)).collect();
        let applied = self.repo.apply_feed(super::CONSUMER, &env.id, &p.ops, &events).await?;
        if applied && p.due_now {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// The outbox event telling feed streams that `notification_id` in a user's feed changed.
pub fn feed_changed(tenant: &TenantId, user: &str, notification_id: &str) -> OutboxEvent {
    let key = format!("{tenant}/{user}");
    let body = json!({"tenant_id": tenant, "user_id": user, "notification_id": notification_id});
    OutboxEvent {
        topic: topics::NOTIFICATION_EVENTS.to_string(),
        key: key.clone(),
        envelope: Envelope::new(FEED_CHANGED, Some(key), &body),
    }
}
