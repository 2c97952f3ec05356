//! The dispatcher: sends due deliveries, records every attempt, schedules retries with exponential backoff
//! and jitter, gives up after `notify.max_attempts`, and disables an endpoint failing for too long.
//!
//! Each delivery is sent on a task of its own, with at most [`PER_TARGET`] in flight per target: a slow
//! endpoint (up to `notify.timeout_ms` a request) holds only its own deliveries back, never another
//! tenant's. A claimed delivery whose target is at its cap is left to its lease and claimed again later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediamill_core::config::NotifyConfig;
use mediamill_core::notify_model::{push_subscription_of, Attempt, Channel, Delivery};
use mediamill_core::repo::{now_ms, AfterAttempt, Repo};
use mediamill_core::shutdown::Shutdown;
use rand::Rng;
use tokio::sync::Notify;

use crate::channel::ChannelSender;
use crate::email::EmailSender;
use crate::push::PushSender;
use crate::sms::SmsSender;
use crate::webhook::WebhookSender;
use mediamill_core::config::AppConfig;
use tracing::Instrument;

/// Deliveries in flight at once, over all targets.
const CLAIM: u32 = 32;
/// Deliveries in flight at once to one target (endpoint, batch URL or email recipient).
pub const PER_TARGET: usize = 2;

/// Sends deliveries.
pub struct Dispatcher {
    /// Where deliveries are claimed, and their attempts recorded.
    pub repo: Arc<dyn Repo>,
    /// Retries, timeouts, disabling and the SSRF policy (`[notify]`).
    pub cfg: NotifyConfig,
    /// Signs and posts webhooks.
    pub webhooks: WebhookSender,
    /// Sends emails over SMTP.
    pub email: EmailSender,
    /// Sends Web Push messages.
    pub push: PushSender,
    /// Sends SMS through the provider's webhook.
    pub sms: SmsSender,
    /// Woken by the fan-out when new deliveries exist, so they go out before the next poll.
    pub wake: Arc<Notify>,
    /// In-flight deliveries per target id.
    busy: Mutex<HashMap<String, usize>>,
}

/// Delay before retry number `attempts` (1-based): base × 2^(n-1), capped, with up to half of it as jitter.
pub fn backoff(cfg: &NotifyConfig, attempts: u32) -> Duration {
    let exp = cfg.retry_base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30)).min(cfg.retry_max_ms);
    let jitter = rand::thread_rng().gen_range(0..=exp / 2);
    Duration::from_millis(exp - exp / 4 + jitter / 2)
}

impl Dispatcher {
    /// Fails when the webhook client cannot be built (it would lack its timeout, redirect and SSRF rules).
    pub fn new(
        repo: Arc<dyn Repo>,
        cfg: NotifyConfig,
        app: &AppConfig,
        wake: Arc<Notify>,
    ) -> Result<Dispatcher, reqwest::Error> {
        let webhooks = WebhookSender::new(Duration::from_millis(cfg.timeout_ms), cfg.target_policy())?;
        let email = EmailSender::new(&cfg.smtp_host, cfg.smtp_port, &cfg.smtp_from);
        let push = PushSender {
            http: webhooks.clone(),
            vapid_private_key: app.vapid_private_key.clone(),
            vapid_subject: app.vapid_subject.clone(),
        };
        let sms = SmsSender { http: webhooks.clone(), url: app.sms_url.clone(), secret: app.sms_secret.clone() };
        Ok(Dispatcher { repo, cfg, webhooks, email, push, sms, wake, busy: Mutex::default() })
    }

    fn sender(&self, channel: Channel) -> &dyn ChannelSender {
        match channel {
            Channel::Webhook => &self.webhooks,
            Channel::Email => &self.email,
            Channel::Push => &self.push,
            Channel::Sms => &self.sms,
        }
    }

    /// Runs until shutdown; deliveries in flight then finish (their sends are bounded by the timeout).
    pub async fn run(self, shutdown: Shutdown) {
        let this = Arc::new(self);
        let lease = (this.cfg.timeout_ms as i64) * 3 + 5_000;
        let slots = Arc::new(tokio::sync::Semaphore::new(CLAIM as usize));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            let free = slots.available_permits() as u32;
            let due = if free == 0 {
                Vec::new()
            } else {
                match this.repo.claim_due(now_ms(), lease, free).await {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(error = %e, "notifier: claiming deliveries");
                        Vec::new()
                    }
                }
            };
            let full = free > 0 && due.len() as u32 == free;
            for d in due {
                if !this.take_target(&d.target_id) {
                    metrics::counter!("mediamill_notifications_deferred_total", "channel" => d.channel.as_str())
                        .increment(1);
                    continue;
                }
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    this.release_target(&d.target_id);
                    continue;
                };
                let t = this.clone();
                tasks.spawn(async move {
                    let target = d.target_id.clone();
                    t.deliver(d).await;
                    t.release_target(&target);
                    drop(permit);
                    t.wake.notify_one();
                });
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Counts one more delivery in flight to `target`; false when it is at its cap.
    fn take_target(&self, target: &str) -> bool {
        let Ok(mut busy) = self.busy.lock() else { return false };
        let n = busy.entry(target.to_string()).or_insert(0);
        if *n >= PER_TARGET {
            return false;
        }
        *n += 1;
        true
    }

    fn release_target(&self, target: &str) {
        if let Ok(mut busy) = self.busy.lock() {
            if let Some(n) = busy.get_mut(target) {
                *n -= 1;
                if *n == 0 {
                    busy.remove(target);
                }
            }
        }
    }

    async fn deliver(&self, d: Delivery) {
        let span = tracing::info_span!("notify.deliver", channel = d.channel.as_str(), event_type = %d.event_type, attempt = d.attempts + 1);
        mediamill_core::telemetry::set_remote_parent(&span, d.traceparent.as_deref());
        let a: Attempt = self.sender(d.channel).send(&d).instrument(span).await;
        let attempts = d.attempts + 1;
        // RFC 8030 §7.3: 404 or 410 from a push service means the subscription is gone for good.
        let gone = d.channel == Channel::Push && matches!(a.status_code, Some(404 | 410));
        let next = if a.ok() {
            AfterAttempt::Delivered
        } else if gone || attempts >= self.cfg.max_attempts {
            AfterAttempt::Dead
        } else {
            AfterAttempt::RetryAt(now_ms() + backoff(&self.cfg, attempts).as_millis() as i64)
        };
        metrics::counter!("mediamill_notifications_total", "channel" => d.channel.as_str(), "ok" => a.ok().to_string())
            .increment(1);
        if let Err(e) = self.repo.record_attempt(&d, &a, next).await {
            tracing::warn!(delivery = %d.id, error = %e, "notifier: recording attempt (the lease expires and it is sent again)");
            return;
        }
        if !a.ok() && d.channel == Channel::Webhook && !d.target_id.starts_with("batch:") {
            self.maybe_disable(&d, &a).await;
        }
        if gone {
            self.forget_subscription(&d).await;
        }
    }

    /// Removes a push subscription its push service says is gone, so nothing more is sent to it.
    async fn forget_subscription(&self, d: &Delivery) {
        let Some((user, sub)) = push_subscription_of(&d.target_id) else { return };
        match self.repo.delete_push_subscription(&d.tenant_id, user, sub).await {
            Ok(true) => {
                metrics::counter!("mediamill_push_subscriptions_removed_total").increment(1);
                tracing::info!(user, subscription = sub, "the push service says the subscription is gone; removed");
            }
            Ok(false) => {}
            // Its next delivery gets the same answer and tries again.
            Err(e) => tracing::warn!(subscription = sub, error = %e, "removing a gone push subscription"),
        }
    }

    async fn maybe_disable(&self, d: &Delivery, a: &Attempt) {
        let Ok(Some(e)) = self.repo.get_endpoint(&d.tenant_id, &d.target_id).await else { return };
        let Some(since) = e.failing_since else { return };
        let limit_ms = self.cfg.disable_after_secs as i64 * 1000;
        if e.enabled && now_ms() - since >= limit_ms {
            let reason = format!(
                "every delivery failed for {} s (notify.disable_after_secs); last error: {}",
                (now_ms() - since) / 1000,
                a.error.clone().unwrap_or_else(|| "see the delivery log".into())
            );
            if let Err(err) = self.repo.disable_endpoint(&e.id, &reason).await {
                tracing::warn!(endpoint = %e.id, error = %err, "disabling endpoint");
            } else {
                metrics::counter!("mediamill_webhook_endpoints_disabled_total").increment(1);
                tracing::warn!(endpoint = %e.id, reason, "endpoint disabled");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = NotifyConfig { retry_base_ms: 1000, retry_max_ms: 10_000, ..Default::default() };
        let first = backoff(&cfg, 1).as_millis();
        assert!((750..=1000).contains(&first), "{first}");
        let third = backoff(&cfg, 3).as_millis();
        assert!((3000..=4000).contains(&third), "{third}");
        assert!(backoff(&cfg, 40).as_millis() <= 10_000);
    }
}
