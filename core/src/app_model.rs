//! The app's notification records: per-user preferences, Web Push subscriptions, feed items, and what the
//! analytics and chat archive serve.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::TenantId;

/// What a notification is about; preferences and rules are per kind.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    /// Likes on the user's media (aggregated per window).
    Like,
    /// A comment on the user's media.
    Comment,
    /// A chat message the user did not see in time while offline.
    Chat,
    /// The welcome email after sign-up.
    Welcome,
    /// The security email after a password change (always sent).
    Security,
    /// One email a day listing the user's notifications of the kinds they chose to get that way.
    Digest,
}

impl Kind {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Channels a user can switch per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSwitches {
    /// In the in-app feed.
    pub feed: bool,
    /// Web Push to every registered browser.
    pub push: bool,
    /// Email to the address from the User service.
    pub email: bool,
    /// SMS to the phone number from the User service.
    pub sms: bool,
}

/// Hours in the user's time zone when push and SMS wait (feed and email are not interruptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, local.
    pub start: String,
    /// `HH:MM`, local; before `start` means the quiet hours span midnight.
    pub end: String,
}

/// A user's notification preferences, as `PUT /v1/users/{id}/preferences` takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Preferences {
    /// Channel switches per kind; a kind absent keeps its defaults.
    pub channels: BTreeMap<Kind, ChannelSwitches>,
    /// When push and SMS wait.
    pub quiet_hours: Option<QuietHours>,
    /// IANA time zone for quiet hours and the digest; absent: the profile's, else UTC.
    pub time_zone: Option<String>,
    /// Kinds whose email goes in one daily digest instead of one email each.
    pub digest: Vec<Kind>,
    /// Local hour (0–23) the digest goes out.
    pub digest_hour: u8,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences { channels: BTreeMap::new(), quiet_hours: None, time_zone: None, digest: vec![], digest_hour: 8 }
    }
}

impl Preferences {
    /// The switches in force for `kind`: the user's, else the defaults (feed and push for social and chat,
    /// email for welcome and security).
    pub fn switches(&self, kind: Kind) -> ChannelSwitches {
        if let Some(s) = self.channels.get(&kind) {
            return *s;
        }
        let social = matches!(kind, Kind::Like | Kind::Comment | Kind::Chat);
        ChannelSwitches { feed: social, push: social, email: !social, sms: false }
    }
}

impl Preferences {
    /// Checks what the API is given: a known time zone, `HH:MM` quiet hours, a digest hour 0–23.
    pub fn check(&self) -> Result<(), String> {
        if let Some(tz) = &self.time_zone {
            tz.parse::<chrono_tz::Tz>().map_err(|_| format!("time_zone {tz:?} is not an IANA time zone"))?;
        }
        if let Some(q) = &self.quiet_hours {
            parse_hhmm(&q.start).ok_or_else(|| format!("quiet_hours.start {:?} is not HH:MM", q.start))?;
            parse_hhmm(&q.end).ok_or_else(|| format!("quiet_hours.end {:?} is not HH:MM", q.end))?;
        }
        if self.digest_hour > 23 {
            return Err(format!("digest_hour {} is not 0–23", self.digest_hour));
        }
        if self.digest.iter().any(|k| matches!(k, Kind::Digest | Kind::Security)) {
            return Err("digest may hold like, comment, chat or welcome".into());
        }
        Ok(())
    }

    /// The zone quiet hours and the digest are in: the user's choice, else the profile's, else UTC.
    pub fn zone(&self, profile_zone: Option<&str>) -> chrono_tz::Tz {
        self.time_zone.as_deref().or(profile_zone).and_then(|z| z.parse().ok()).unwrap_or(chrono_tz::UTC)
    }

    /// When the quiet hours holding `now` (ms) end, or `None` outside them.
    pub fn quiet_until(&self, now: i64, tz: chrono_tz::Tz) -> Option<i64> {
        use chrono::{TimeZone, Timelike};
        let q = self.quiet_hours.as_ref()?;
        let (start, end) = (parse_hhmm(&q.start)?, parse_hhmm(&q.end)?);
        let local = tz.timestamp_millis_opt(now).single()?;
        let minute = local.hour() * 60 + local.minute();
        let inside = if start <= end { minute >= start && minute < end } else { minute >= start || minute < end };
        if !inside || start == end {
            return None;
        }
        let wait_min = (end + 24 * 60 - minute) % (24 * 60);
        let base = now - (local.second() as i64) * 1000 - (now.rem_euclid(1000));
        Some(base + wait_min as i64 * 60_000)
    }

    /// The next time (ms, after `now`) the user's local clock shows `digest_hour`:00.
    pub fn next_digest(&self, now: i64, tz: chrono_tz::Tz) -> i64 {
        use chrono::{TimeZone, Timelike};
        let Some(local) = tz.timestamp_millis_opt(now).single() else { return now + 24 * 3_600_000 };
        let minute = (local.hour() * 60 + local.minute()) as i64;
        let target = self.digest_hour as i64 * 60;
        let wait = (target - minute).rem_euclid(24 * 60);
        let wait = if wait == 0 { 24 * 60 } else { wait };
        now - (local.second() as i64) * 1000 - now.rem_euclid(1000) + wait * 60_000
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

/// A browser's Web Push subscription (the `PushSubscription.toJSON()` a page gets from its push service).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushSubscription {
    /// Opaque id.
    pub id: String,
    /// The app's tenant.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: String,
    /// The push service URL (RFC 8030).
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    #[serde(skip_serializing)]
    pub auth: String,
    /// When it was registered (ms).
    pub created_at: i64,
}

/// One actor of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting user.
    pub id: String,
    /// Their display name.
    pub name: Option<String>,
}

/// A notification as the feed shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedItem {
    /// Opaque, stable id (derived from what it is about).
    pub id: String,
    /// What it is about.
    pub kind: Kind,
    /// The media id or conversation id.
    pub subject: String,
    /// One line for the user: "Alice and 9 others liked your photo".
    pub title: String,
    /// The comment's or message's text, if any.
    pub body: Option<String>,
    /// Who acted, most recent first (at most 10 listed).
    pub actors: Vec<Actor>,
    /// How many acted.
    pub actor_count: u64,
    /// When it was made (ms).
    pub created_at: i64,
    /// When the user marked it read (ms).
    pub read_at: Option<i64>,
}

/// The wording of a notification from its kind, actors and count.
pub fn title(kind: Kind, actors: &[Actor], count: u64) -> String {
    let first = actors.first().and_then(|a| a.name.clone().or_else(|| Some(a.id.clone()))).unwrap_or_default();
    let who = match count {
        0 | 1 => first,
        2 => format!("{first} and 1 other"),
        n => format!("{first} and {} others", n - 1),
    };
    match kind {
        Kind::Like => format!("{who} liked your photo"),
        Kind::Comment => format!("{who} commented on your photo"),
        Kind::Chat => format!("New message from {who}"),
        Kind::Welcome => "Welcome!".into(),
        Kind::Security => "Your password was changed".into(),
        Kind::Digest => format!("Your daily summary: {count} notification{}", if count == 1 { "" } else { "s" }),
    }
}

/// Like and comment counts of one media item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaStats {
    /// Likes standing now.
    pub likes: u64,
    /// Comments not deleted.
    pub comments: u64,
}

/// Daily active users of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyActive {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Distinct users with an auth or user event that day.
    pub active_users: u64,
}

/// An archived chat message with each recipient's receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedMessage {
    /// The message.
    pub message_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// Who sent it.
    pub sender_id: String,
    /// What it says.
    pub text: String,
    /// When it was sent (ms, the event's time).
    pub sent_at: i64,
    /// Per recipient: when delivered and seen (ms).
    pub receipts: Vec<ChatReceipt>,
}

/// One recipient's state of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatReceipt {
    /// The recipient.
    pub user_id: String,
    /// When it reached their device (ms).
    pub delivered_at: Option<i64>,
    /// When they saw it (ms).
    pub seen_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn quiet_hours_span_midnight_in_the_users_zone() {
        let p = Preferences {
            quiet_hours: Some(QuietHours { start: "22:00".into(), end: "07:00".into() }),
            time_zone: Some("Europe/Paris".into()),
            ..Default::default()
        };
        let tz = p.zone(None);
        // 21:30 UTC is 22:30 in Paris (winter): quiet until 07:00 Paris = 06:00 UTC.
        assert_eq!(p.quiet_until(at("2026-11-30T21:30:00Z"), tz), Some(at("2026-12-01T06:00:00Z")));
        assert_eq!(p.quiet_until(at("2026-11-30T12:00:00Z"), tz), None);
        assert_eq!(p.quiet_until(at("2026-11-30T05:59:00Z"), tz), Some(at("2026-11-30T06:00:00Z")));
    }

    #[test]
    fn the_digest_goes_at_the_next_local_hour() {
        let p = Preferences { digest_hour: 8, time_zone: Some("America/New_York".into()), ..Default::default() };
        // 07:00 in New York (winter) is 12:00 UTC: the digest goes at 08:00 there, 13:00 UTC.
        assert_eq!(p.next_digest(at("2026-11-30T12:00:00Z"), p.zone(None)), at("2026-11-30T13:00:00Z"));
        assert_eq!(p.next_digest(at("2026-11-30T12:30:00Z"), p.zone(None)), at("2026-11-30T13:00:00Z"));
        assert_eq!(p.next_digest(at("2026-11-30T13:00:00Z"), p.zone(None)), at("2026-12-01T13:00:00Z"));
    }

    #[test]
    fn bad_preferences_are_named() {
        let bad_tz = Preferences { time_zone: Some("Mars/Olympus".into()), ..Default::default() };
        assert!(bad_tz.check().unwrap_err().contains("Mars/Olympus"));
        let bad_q = Preferences {
            quiet_hours: Some(QuietHours { start: "25:00".into(), end: "07:00".into() }),
            ..Default::default()
        };
        assert!(bad_q.check().unwrap_err().contains("quiet_hours.start"));
        assert!(Preferences { digest_hour: 24, ..Default::default() }.check().is_err());
        assert!(Preferences::default().check().is_ok());
    }
}
