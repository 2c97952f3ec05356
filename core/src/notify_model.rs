//! Notification records: where events go (webhook endpoints, email recipients) and each delivery's state.

use serde::{Deserialize, Serialize};

use crate::model::TenantId;

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Opaque id.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// Where deliveries are POSTed (checked against private and link-local addresses).
    pub url: String,
    /// `whsec_…` (Standard Webhooks); shown once at creation.
    #[serde(skip_serializing)]
    pub secret: String,
    /// Event types it wants: exact types, prefixes ending in `*`, or `*` for all.
    pub event_types: Vec<String>,
    /// False once disabled (by its tenant or after failing too long).
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// When its current run of failures began (ms).
    pub failing_since: Option<i64>,
    /// When it was made (ms).
    pub created_at: i64,
    /// The secret before the last rotation, still signing beside `secret` until `previous_secret_until`.
    #[serde(skip_serializing)]
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing (ms).
    pub previous_secret_until: Option<i64>,
}

impl Endpoint {
    /// The secrets that sign a message sent at `now` (ms): the current one, and the previous one during the
    /// overlap after a rotation, space-separated as Standard Webhooks lists several signatures.
    pub fn signing_secrets(&self, now: i64) -> String {
        match (&self.previous_secret, self.previous_secret_until) {
            (Some(old), Some(until)) if until > now => format!("{} {old}", self.secret),
            _ => self.secret.clone(),
        }
    }
}

/// A tenant's email recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailRecipient {
    /// Opaque id.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The email address.
    pub address: String,
    /// Which event types it gets (empty: the default set).
    pub event_types: Vec<String>,
    /// When it was added (ms).
    pub created_at: i64,
    /// When the address's owner followed the confirmation link; until then it gets nothing else.
    #[serde(default)]
    pub confirmed_at: Option<i64>,
}

/// Where a tenant's notifications can go now: its enabled endpoints and confirmed recipients, each oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    /// Endpoints neither disabled nor deleted.
    pub endpoints: Vec<Endpoint>,
    /// Recipients who followed their confirmation link.
    pub recipients: Vec<EmailRecipient>,
}

/// Type of the one message an unconfirmed recipient gets: the link that confirms it.
pub const EMAIL_CONFIRM: &str = "mediamill.email.confirm.v1";

/// Checks a subscription filter: `*`, a type of [`crate::event::NOTIFIABLE`], or a prefix ending in `*` that
/// matches at least one of them. The error names the valid choices, so a typo never subscribes to nothing.
pub fn check_type_filter(f: &str) -> Result<(), String> {
    let known = crate::event::NOTIFIABLE;
    let ok =
        f == "*" || known.contains(&f) || f.strip_suffix('*').is_some_and(|p| known.iter().any(|t| t.starts_with(p)));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{f:?} is not an event type; valid: *, a prefix ending in * (e.g. mediamill.media.*), or one of {}",
            known.join(", ")
        ))
    }
}

/// Whether a filter list accepts an event type.
pub fn type_matches(filters: &[String], ty: &str) -> bool {
    filters.iter().any(|f| f == "*" || f == ty || f.strip_suffix('*').is_some_and(|p| ty.starts_with(p)))
}

/// How a delivery travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Channel {
    /// A signed HTTP POST.
    Webhook,
    /// An email.
    Email,
    /// A Web Push message (RFC 8030, encrypted per RFC 8291, signed per RFC 8292).
    Push,
    /// A text message through the SMS provider's webhook.
    Sms,
}

/// The target id of a user's delivery on an app channel: `{channel}:{user}:{detail}` (detail: the push
/// subscription; empty for email and SMS), so rate limits find a user's deliveries by prefix.
pub fn app_target(channel: Channel, user_id: &str, detail: &str) -> String {
    format!("{}:{user_id}:{detail}", channel.as_str())
}

/// The user and subscription id of a push delivery's target id (the inverse of [`app_target`] for push).
pub fn push_subscription_of(target_id: &str) -> Option<(&str, &str)> {
    // Subscription ids never hold a `:`; user ids may.
    target_id.strip_prefix("push:")?.rsplit_once(':')
}

impl Channel {
    /// The stored and wire form (the same as serde's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a delivery is: `pending` (first try or retry scheduled), `delivered`, `dead` (gave up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first try or a retry.
    Pending,
    /// The target took it.
    Delivered,
    /// Given up.
    Dead,
}

impl DeliveryStatus {
    /// The stored and wire form (the same as serde's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One event on its way to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Opaque, time-ordered id.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// Webhook or email.
    pub channel: Channel,
    /// Endpoint id, `batch:{id}` for a batch's own URL, or the email recipient id.
    pub target_id: String,
    /// URL or email address.
    pub target: String,
    #[serde(skip_serializing)]
    /// The signing secrets (webhooks), space-separated while a rotation overlaps.
    pub secret: Option<String>,
    /// The event's id: the `webhook-id`, the same on every retry and replay.
    pub event_id: String,
    /// The event's CloudEvents type.
    pub event_type: String,
    /// The body sent.
    pub payload: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (ms).
    pub next_attempt_at: i64,
    /// The HTTP status of the last attempt, if the target answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was made (ms).
    pub created_at: i64,
    /// When the target took it (ms).
    pub delivered_at: Option<i64>,
    /// W3C trace context of the event handling that made the delivery: its attempts join the upload's trace.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

/// Where a delivery goes: one endpoint, batch URL or email recipient of a tenant.
#[derive(Debug, Clone)]
pub struct DeliveryTarget<'a> {
    /// The owning tenant.
    pub tenant_id: &'a TenantId,
    /// Webhook or email.
    pub channel: Channel,
    /// Endpoint id, `batch:{id}` or recipient id.
    pub target_id: &'a str,
    /// URL or address.
    pub target: &'a str,
    /// Signing secrets (webhooks), space-separated.
    pub secret: Option<String>,
}

impl Delivery {
    /// A new delivery of one message to `to`, due now.
    pub fn pending(to: DeliveryTarget<'_>, event_id: String, event_type: String, payload: String) -> Delivery {
        let now = crate::repo::now_ms();
        Delivery {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: to.tenant_id.clone(),
            channel: to.channel,
            target_id: to.target_id.to_string(),
            target: to.target.to_string(),
            secret: to.secret,
            event_id,
            event_type,
            payload,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
            traceparent: crate::telemetry::current_traceparent(),
        }
    }
}

impl Delivery {
    /// The same delivery held back until `at` (ms). A rate-limited delivery is created for its slot, so the
    /// rate limit counts it where it will go out.
    pub fn not_before(mut self, at: i64) -> Delivery {
        self.created_at = self.created_at.max(at);
        self.next_attempt_at = self.created_at;
        self
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The HTTP status the target answered, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

impl Attempt {
    /// Whether the target took the delivery.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.status_code.is_none_or(|c| (200..300).contains(&c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_target_names_its_user_and_subscription() {
        let t = app_target(Channel::Push, "user:with@colons", "sub123");
        assert_eq!(push_subscription_of(&t), Some(("user:with@colons", "sub123")));
        assert_eq!(push_subscription_of(&app_target(Channel::Sms, "u", "")), None);
    }
}
