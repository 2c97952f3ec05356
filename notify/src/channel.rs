//! Every channel behind one trait: the dispatcher persists, retries and logs deliveries the same way whatever
//! carries them.

use async_trait::async_trait;
use mediamill_core::notify_model::{Attempt, Delivery};

/// Sends one delivery once; the dispatcher decides about retries from the [`Attempt`].
#[async_trait]
pub trait ChannelSender: Send + Sync {
    /// One attempt.
    async fn send(&self, d: &Delivery) -> Attempt;
}

#[async_trait]
impl ChannelSender for crate::webhook::WebhookSender {
    async fn send(&self, d: &Delivery) -> Attempt {
        crate::webhook::WebhookSender::send(self, d).await
    }
}

#[async_trait]
impl ChannelSender for crate::email::EmailSender {
    async fn send(&self, d: &Delivery) -> Attempt {
        crate::email::EmailSender::send(self, d).await
    }
}

/// An attempt that failed before anything was sent.
pub fn refused(error: impl Into<String>) -> Attempt {
    Attempt { status_code: None, error: Some(error.into()), duration_ms: 0 }
}
