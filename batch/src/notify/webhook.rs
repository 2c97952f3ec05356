//! Sending one webhook: a signed POST, redirects not followed (a redirect could point anywhere).

use std::time::{Duration, Instant};

use mediamill_core::notify_model::{Attempt, Delivery};

use super::signing::sign;
use mediamill_core::webhook_target as target;

/// An HTTP client for webhooks.
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    pub fn new(timeout: Duration, allow_private: bool) -> WebhookSender {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("mediamill-webhooks/1")
            .build()
            .unwrap_or_default();
        WebhookSender { http, allow_private }
    }

    /// One attempt at a delivery.
    pub async fn send(&self, d: &Delivery) -> Attempt {
        let started = Instant::now();
        if let Err(e) = target::check(&d.target, self.allow_private).await {
            return Attempt { status_code: None, error: Some(format!("target refused: {e}")), duration_ms: 0 };
        }
        let ts = chrono_now_secs();
        let mut req = self
            .http
            .post(&d.target)
            .header("content-type", "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", ts.to_string())
            .body(d.payload.clone());
        if let Some(secret) = &d.secret {
            req = req.header("webhook-signature", sign(secret, &d.event_id, ts, &d.payload));
        }
        let r = req.send().await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let error = (!resp.status().is_success()).then(|| format!("HTTP {code}"));
                Attempt { status_code: Some(code), error, duration_ms }
            }
            Err(e) => {
                let what = if e.is_timeout() { "timed out" } else { "request failed" };
                Attempt { status_code: None, error: Some(format!("{what}: {e}")), duration_ms }
            }
        }
    }
}

fn chrono_now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
