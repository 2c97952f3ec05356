//! The chat archive: messages and receipts from `chat.events`, written idempotently, so a consumer killed at
//! any point re-reads from its last commit and ends with every message exactly once.

use std::sync::Arc;

use async_trait::async_trait;
use mediamill_core::app_model::ArchivedMessage;
use mediamill_core::contract::{AppEvent, AppEventHandler};
use mediamill_core::event::Envelope;
use mediamill_core::repo::{ChatFact, Repo, RepoError};

/// Archives chat messages with their delivery and seen states.
pub struct ChatArchive {
    /// Where the archive is.
    pub repo: Arc<dyn Repo>,
}

#[async_trait]
impl AppEventHandler for ChatArchive {
    fn name(&self) -> &'static str {
        "chat.archive"
    }

    async fn apply(&self, env: &Envelope, ev: &AppEvent) -> Result<(), RepoError> {
        let at = env.time.timestamp_millis();
        let fact = match ev {
            AppEvent::MessageSent(m) => ChatFact::Message {
                tenant_id: m.tenant_id.clone(),
                message: ArchivedMessage {
                    message_id: m.message_id.clone(),
                    conversation_id: m.conversation_id.clone(),
                    sender_id: m.sender_id.clone(),
                    text: m.text.clone(),
                    sent_at: at,
                    receipts: vec![],
                },
                recipients: m.recipient_ids.iter().filter(|r| **r != m.sender_id).cloned().collect(),
            },
            AppEvent::MessageDelivered(r) | AppEvent::MessageSeen(r) => ChatFact::Receipt {
                tenant_id: r.tenant_id.clone(),
                message_id: r.message_id.clone(),
                user_id: r.user_id.clone(),
                seen: matches!(ev, AppEvent::MessageSeen(_)),
                at,
            },
            _ => return Ok(()),
        };
        self.repo.apply_chat(&[fact]).await
    }
}
