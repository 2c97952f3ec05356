//! SMS through a provider's webhook: one signed JSON POST (`{"to", "text", "notification_id"}`, Standard
//! Webhooks headers) to `app.sms_url` per message; adapting to a provider's own API is the provider side's job.

use async_trait::async_trait;
use mediamill_core::notify_model::{Attempt, Delivery};

use crate::channel::{refused, ChannelSender};
use crate::webhook::WebhookSender;

/// Sends SMS deliveries (their target is the phone number).
pub struct SmsSender {
    /// Posts with the webhook rules (vetted address, timeout, no redirects).
    pub http: WebhookSender,
    /// `app.sms_url`; empty: SMS not configured.
    pub url: String,
    /// `app.sms_secret`.
    pub secret: String,
}

#[async_trait]
impl ChannelSender for SmsSender {
    async fn send(&self, d: &Delivery) -> Attempt {
        if self.url.is_empty() {
            return refused("SMS is not configured (app.sms_url)");
        }
        let data: serde_json::Value = serde_json::from_str(&d.payload).unwrap_or_default();
        let text = data["data"]["sms_text"].as_str().unwrap_or_default();
        let body = serde_json::json!({"to": d.target, "text": text, "notification_id": d.event_id}).to_string();
        let mut via = d.clone();
        via.target = self.url.clone();
        via.secret = (!self.secret.is_empty()).then(|| self.secret.clone());
        via.payload = body;
        self.http.send(&via).await
    }
}
