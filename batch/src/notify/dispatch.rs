//! The dispatcher: sends due deliveries, records every attempt, schedules retries with exponential backoff
//! and jitter, gives up after `notify.max_attempts`, and disables an endpoint failing for too long.

use std::sync::Arc;
use std::time::Duration;

use mediamill_core::config::NotifyConfig;
use mediamill_core::notify_model::{Attempt, Channel, Delivery};
use mediamill_core::repo::{now_ms, AfterAttempt, Repo};
use mediamill_core::shutdown::Shutdown;
use rand::Rng;
use tokio::sync::Notify;

use super::email::EmailSender;
use super::webhook::WebhookSender;

/// Deliveries sent at once.
const CLAIM: u32 = 32;

/// Sends deliveries.
pub struct Dispatcher {
    pub repo: Arc<dyn Repo>,
    pub cfg: NotifyConfig,
    pub webhooks: WebhookSender,
    pub email: EmailSender,
    pub wake: Arc<Notify>,
}

/// Delay before retry number `attempts` (1-based): base × 2^(n-1), capped, with up to half of it as jitter.
pub fn backoff(cfg: &NotifyConfig, attempts: u32) -> Duration {
    let exp = cfg.retry_base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30)).min(cfg.retry_max_ms);
    let jitter = rand::thread_rng().gen_range(0..=exp / 2);
    Duration::from_millis(exp - exp / 4 + jitter / 2)
}

impl Dispatcher {
    pub fn new(repo: Arc<dyn Repo>, cfg: NotifyConfig, wake: Arc<Notify>) -> Dispatcher {
        let webhooks = WebhookSender::new(Duration::from_millis(cfg.timeout_ms), cfg.allow_private_targets);
        let email = EmailSender::new(&cfg.smtp_host, cfg.smtp_port, &cfg.smtp_from);
        Dispatcher { repo, cfg, webhooks, email, wake }
    }

    /// Runs until shutdown.
    pub async fn run(self, shutdown: Shutdown) {
        let lease = (self.cfg.timeout_ms as i64) * 3 + 5_000;
        loop {
            let due = match self.repo.claim_due(now_ms(), lease, CLAIM).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "notifier: claiming deliveries");
                    Vec::new()
                }
            };
            let n = due.len();
            futures::future::join_all(due.into_iter().map(|d| self.deliver(d))).await;
            if n as u32 == CLAIM {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    async fn deliver(&self, d: Delivery) {
        let a: Attempt = match d.channel {
            Channel::Webhook => self.webhooks.send(&d).await,
            Channel::Email => self.email.send(&d).await,
        };
        let attempts = d.attempts + 1;
        let next = if a.ok() {
            AfterAttempt::Delivered
        } else if attempts >= self.cfg.max_attempts {
            AfterAttempt::Dead
        } else {
            AfterAttempt::RetryAt(now_ms() + backoff(&self.cfg, attempts).as_millis() as i64)
        };
        metrics::counter!("mediamill_notifications_total", "channel" => d.channel.as_str(), "ok" => a.ok().to_string()).increment(1);
        if let Err(e) = self.repo.record_attempt(&d, &a, next).await {
            tracing::warn!(delivery = %d.id, error = %e, "notifier: recording attempt (the lease expires and it is sent again)");
            return;
        }
        if !a.ok() && d.channel == Channel::Webhook && !d.target_id.starts_with("batch:") {
            self.maybe_disable(&d, &a).await;
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
