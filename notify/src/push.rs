//! Web Push: the notification encrypted for one browser (RFC 8291, `aes128gcm`), signed with our VAPID key
//! (RFC 8292) and POSTed to its push service (RFC 8030) with the webhook client's address rules.

use async_trait::async_trait;
use mediamill_core::notify_model::{Attempt, Delivery};
use web_push::{ContentEncoding, SubscriptionInfo, VapidSignatureBuilder, WebPushMessageBuilder};

use crate::channel::{refused, ChannelSender};
use crate::webhook::WebhookSender;

/// How long a push service keeps a message for a browser that is offline.
const TTL_SECS: u32 = 24 * 3600;

/// Sends push deliveries (target: the endpoint; secret: `"{p256dh} {auth}"`).
pub struct PushSender {
    /// Posts with the webhook rules.
    pub http: WebhookSender,
    /// `app.vapid_private_key`; empty: push not configured.
    pub vapid_private_key: String,
    /// `app.vapid_subject`.
    pub vapid_subject: String,
}

impl PushSender {
    fn message(&self, d: &Delivery, body: &[u8]) -> Result<web_push::WebPushMessage, String> {
        let secret = d.secret.as_deref().unwrap_or_default();
        let (p256dh, auth) = secret.split_once(' ').ok_or("subscription keys missing")?;
        let info = SubscriptionInfo::new(d.target.as_str(), p256dh, auth);
        let mut sig = VapidSignatureBuilder::from_base64(&self.vapid_private_key, &info)
            .map_err(|e| format!("app.vapid_private_key: {e}"))?;
        if !self.vapid_subject.is_empty() {
            sig.add_claim("sub", self.vapid_subject.as_str());
        }
        let mut b = WebPushMessageBuilder::new(&info);
        b.set_payload(ContentEncoding::Aes128Gcm, body);
        b.set_ttl(TTL_SECS);
        b.set_vapid_signature(sig.build().map_err(|e| format!("signing: {e}"))?);
        b.build().map_err(|e| format!("encrypting for the subscription: {e}"))
    }
}

#[async_trait]
impl ChannelSender for PushSender {
    async fn send(&self, d: &Delivery) -> Attempt {
        if self.vapid_private_key.is_empty() {
            return refused("Web Push is not configured (app.vapid_private_key)");
        }
        let payload: serde_json::Value = serde_json::from_str(&d.payload).unwrap_or_default();
        let body = payload["data"].to_string();
        let msg = match self.message(d, body.as_bytes()) {
            Ok(m) => m,
            Err(e) => return refused(e),
        };
        let Some(p) = msg.payload else { return refused("no payload") };
        let mut headers = vec![
            ("TTL".to_string(), msg.ttl.to_string()),
            ("Content-Encoding".to_string(), p.content_encoding.to_str().to_string()),
            ("Content-Type".to_string(), "application/octet-stream".to_string()),
        ];
        headers.extend(p.crypto_headers.into_iter().map(|(k, v)| (k.to_string(), v)));
        self.http.post(&msg.endpoint.to_string(), headers, p.content).await
    }
}
