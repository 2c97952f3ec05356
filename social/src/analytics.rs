//! Analytics: events become idempotent facts (a like's latest state, a comment's existence, a user active on a
//! day), so counts do not depend on delivery order or repetition, and a replay of the log rebuilds them exactly.

use std::sync::Arc;

use async_trait::async_trait;
use mediamill_core::contract::{AppEvent, AppEventHandler};
use mediamill_core::event::Envelope;
use mediamill_core::repo::{Repo, RepoError, StatsFact};

/// The facts an event states; none for events analytics does not count.
pub fn facts(env: &Envelope, ev: &AppEvent) -> Vec<StatsFact> {
    let at = env.time.timestamp_millis();
    let day = env.time.format("%Y-%m-%d").to_string();
    let active = |tenant_id: &mediamill_core::model::TenantId, user_id: &str| StatsFact::Active {
        tenant_id: tenant_id.clone(),
        user_id: user_id.to_string(),
        day: day.clone(),
    };
    match ev {
        AppEvent::LikeAdded(l) | AppEvent::LikeRemoved(l) => vec![StatsFact::Like {
            tenant_id: l.tenant_id.clone(),
            media_id: l.media_id.clone(),
            owner_id: l.media_owner_id.clone(),
            actor_id: l.actor_id.clone(),
            liked: matches!(ev, AppEvent::LikeAdded(_)),
            at,
            event_id: env.id.clone(),
        }],
        AppEvent::CommentAdded(c) | AppEvent::CommentDeleted(c) => vec![StatsFact::Comment {
            tenant_id: c.tenant_id.clone(),
            comment_id: c.comment_id.clone(),
            media_id: c.media_id.clone(),
            owner_id: c.media_owner_id.clone(),
            actor_id: c.actor_id.clone(),
            deleted: matches!(ev, AppEvent::CommentDeleted(_)),
        }],
        AppEvent::Auth(_, u) | AppEvent::PasswordChanged(u) => vec![active(&u.tenant_id, &u.user_id)],
        AppEvent::UserRegistered(u) | AppEvent::ProfileChanged(u) => vec![active(&u.tenant_id, &u.user_id)],
        _ => vec![],
    }
}

/// The live analytics consumer: applies facts to the active generation and to one being rebuilt.
pub struct Analytics {
    /// Where facts are written.
    pub repo: Arc<dyn Repo>,
}

#[async_trait]
impl AppEventHandler for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    async fn apply(&self, env: &Envelope, ev: &AppEvent) -> Result<(), RepoError> {
        let f = facts(env, ev);
        if f.is_empty() {
            return Ok(());
        }
        self.repo.apply_stats(&f, None).await
    }
}
