//! The releaser: notifications whose channels are due are claimed, checked once more (a like window with
//! nobody left, a chat recipient now online), held through quiet hours, and turned into deliveries on the
//! channels the user's preferences switch on, within the per-user rate limits.

use std::sync::Arc;
use std::time::Duration;

use mediamill_core::app_model::{title, Actor, Kind, Preferences};
use mediamill_core::config::{AppConfig, AppRules};
use mediamill_core::contract::UserProfile;
use mediamill_core::notify_model::{app_target, Channel, Delivery, DeliveryTarget};
use mediamill_core::repo::{now_ms, DueNotification, FeedOp, NewNotification, Release, Repo, RepoError};
use mediamill_core::shutdown::Shutdown;
use serde_json::json;
use tokio::sync::Notify;

use super::rules::feed_changed;

/// Notifications claimed per round.
const CLAIM: u32 = 64;
/// How long a claimed notification is ours before another releaser may take it.
const LEASE_MS: i64 = 30_000;

/// Sends due notifications to their channels.
pub struct Releaser {
    /// Where notifications are claimed and deliveries written.
    pub repo: Arc<dyn Repo>,
    /// Rules (rate limits) per tenant.
    pub cfg: AppConfig,
    /// Woken by the rules when something is due now.
    pub wake: Arc<Notify>,
    /// Woken when deliveries were written, so the dispatcher sends them at once.
    pub dispatch: Arc<Notify>,
}

impl Releaser {
    /// Runs until shutdown.
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            let due = match self.repo.claim_notifications(now_ms(), LEASE_MS, CLAIM).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "releaser: claiming notifications");
                    Vec::new()
                }
            };
            let full = due.len() as u32 == CLAIM;
            for n in due {
                if let Err(e) = self.release(&n).await {
                    // The lease lapses and the notification is claimed again.
                    tracing::warn!(notification = %n.id, error = %e, "releaser: releasing");
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    async fn release(&self, n: &DueNotification) -> Result<(), RepoError> {
        let r = self.decide(n).await?;
        let events = match (&r, n.kind) {
            (Release::Sent(_), Kind::Chat) => vec![feed_changed(&n.tenant_id, &n.user_id, &n.id)],
            _ => vec![],
        };
        let wrote = matches!(&r, Release::Sent(ds) if !ds.is_empty());
        metrics::counter!("mediamill_app_notifications_released_total", "kind" => n.kind.as_str(), "outcome" => match &r {
            Release::Sent(_) => "sent",
            Release::Cancelled => "cancelled",
            Release::Later(_) => "later",
        })
        .increment(1);
        self.repo.release_notification(&n.id, &r, &events).await?;
        if wrote {
            self.dispatch.notify_one();
        }
        Ok(())
    }

    async fn decide(&self, n: &DueNotification) -> Result<Release, RepoError> {
        let (t, user) = (&n.tenant_id, n.user_id.as_str());
        let now = now_ms();
        if matches!(n.kind, Kind::Like | Kind::Digest) && n.actors.is_empty() {
            return Ok(Release::Cancelled);
        }
        if n.kind == Kind::Chat && self.repo.presence(t, user).await? == Some(true) {
            return Ok(Release::Cancelled);
        }
        let prefs = self.repo.preferences(t, user).await?;
        let profile = self.repo.app_user(t, user).await?;
        let tz = prefs.zone(profile.as_ref().and_then(|p| p.time_zone.as_deref()));
        let mut sw = prefs.switches(n.kind);
        if matches!(n.kind, Kind::Security | Kind::Digest) {
            // The security email is not optional, and a digest is the email the user asked for.
            sw.email = true;
        }
        if (sw.push || sw.sms) && !matches!(n.kind, Kind::Security | Kind::Digest) {
            if let Some(until) = prefs.quiet_until(now, tz) {
                return Ok(Release::Later(until));
            }
        }
        let text = self.text(n);
        let mut ds = Vec::new();
        let rules = self.cfg.rules_for(t.as_str());
        let subscriptions = if sw.push { self.repo.push_subscriptions(t, user).await? } else { Vec::new() };
        if !subscriptions.is_empty() {
            if let Some(at) = self.slot(n, Channel::Push, &rules, now).await? {
                for s in subscriptions {
                    let secret = Some(format!("{} {}", s.p256dh, s.auth));
                    let target = app_target(Channel::Push, user, &s.id);
                    ds.push(self.delivery(n, Channel::Push, &target, &s.endpoint, secret, &text).not_before(at));
                }
            }
        }
        let email = profile.as_ref().and_then(|p: &UserProfile| p.email.clone());
        if let (true, Some(addr)) = (sw.email, email) {
            if prefs.digest.contains(&n.kind) {
                self.add_to_digest(n, &prefs, tz, &text.0).await?;
            } else {
                ds.push(self.delivery(n, Channel::Email, &app_target(Channel::Email, user, ""), &addr, None, &text));
            }
        }
        let phone = profile.as_ref().and_then(|p| p.phone.clone());
        if let (true, Some(phone)) = (sw.sms, phone) {
            if let Some(at) = self.slot(n, Channel::Sms, &rules, now).await? {
                let target = app_target(Channel::Sms, user, "");
                ds.push(self.delivery(n, Channel::Sms, &target, &phone, None, &text).not_before(at));
            }
        }
        Ok(Release::Sent(ds))
    }

    /// When the notification may go out on `channel` under the user's rate limit; `None` when that is further
    /// off than `rate_limit_max_delay_secs` (it is then not sent on that channel).
    async fn slot(
        &self,
        n: &DueNotification,
        channel: Channel,
        rules: &AppRules,
        now: i64,
    ) -> Result<Option<i64>, RepoError> {
        let at = self.repo.next_send_slot(&n.tenant_id, channel, &n.user_id, now, rules.push_per_minute).await?;
        if at == now {
            return Ok(Some(at));
        }
        let delayed = at - now <= (rules.rate_limit_max_delay_secs * 1000) as i64;
        let outcome = if delayed { "delayed" } else { "dropped" };
        metrics::counter!("mediamill_app_rate_limited_total", "channel" => channel.as_str(), "outcome" => outcome)
            .increment(1);
        Ok(delayed.then_some(at))
    }

    /// Title and body of a notification.
    fn text(&self, n: &DueNotification) -> (String, Option<String>) {
        let t = title(n.kind, &n.actors, n.actor_count);
        let body = match n.kind {
            Kind::Digest => Some(n.actors.iter().filter_map(|a| a.name.clone()).collect::<Vec<_>>().join("\n")),
            _ => n.data.get("text").and_then(|t| t.as_str()).map(str::to_string),
        };
        (t, body)
    }

    fn delivery(
        &self,
        n: &DueNotification,
        channel: Channel,
        target_id: &str,
        target: &str,
        secret: Option<String>,
        (title, body): &(String, Option<String>),
    ) -> Delivery {
        let ty = format!("app.notification.{}.v1", n.kind.as_str());
        let sms_text = match body {
            Some(b) if n.kind != Kind::Digest => format!("{title}: {}", b.chars().take(120).collect::<String>()),
            _ => title.clone(),
        };
        let payload = json!({
            "type": ty,
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": {
                "notification_id": n.id, "kind": n.kind, "user_id": n.user_id, "subject": n.subject,
                "title": title, "body": body, "sms_text": sms_text,
            },
        });
        let to = DeliveryTarget { tenant_id: &n.tenant_id, channel, target_id, target, secret };
        Delivery::pending(to, n.id.clone(), ty, payload.to_string())
    }

    /// Puts a notification into the user's next digest email instead of an email of its own.
    async fn add_to_digest(
        &self,
        n: &DueNotification,
        prefs: &Preferences,
        tz: chrono_tz::Tz,
        title: &str,
    ) -> Result<(), RepoError> {
        let at = prefs.next_digest(now_ms(), tz);
        let id = format!("digest:{}:{}:{at}", n.tenant_id, n.user_id);
        let ops = [
            FeedOp::Notify(NewNotification {
                id: id.clone(),
                tenant_id: n.tenant_id.clone(),
                user_id: n.user_id.clone(),
                kind: Kind::Digest,
                subject: n.user_id.clone(),
                data: json!({}),
                visible_at: None,
                send_at: at,
            }),
            FeedOp::Actor {
                notification_id: id,
                actor: Actor { id: n.id.clone(), name: Some(title.to_string()) },
                present: true,
                at: now_ms(),
                event_id: n.id.clone(),
            },
        ];
        self.repo.apply_feed("notify.digest", &n.id, &ops, &[]).await?;
        Ok(())
    }
}
