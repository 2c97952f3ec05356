//! The `[app]` section: how the app's events become notifications, and the push and SMS channels.

use serde::{Deserialize, Serialize};

/// Which rules run and their timings. `[app.rules]` holds every tenant's; `[[app.tenant_rules]]` overrides
/// them for one tenant (by tenant id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppRules {
    /// User registered → welcome email.
    pub welcome_email: bool,
    /// Password changed → security email.
    pub security_email: bool,
    /// Likes on a user's media → one notification per window.
    pub likes: bool,
    /// Comments on a user's media → a notification each.
    pub comments: bool,
    /// Chat messages → a notification to recipients offline that have not seen it in `chat_unseen_secs`.
    pub chat: bool,
    /// Likes within this window (of event time) become one notification; undone ones in it cancel.
    pub like_window_secs: u64,
    /// How long a chat message may stay unseen before an offline recipient is notified.
    pub chat_unseen_secs: u64,
    /// Pushes (and SMS) a user gets a minute at most (0: no limit); more wait for a free slot.
    pub push_per_minute: u64,
    /// The longest a push or SMS waits for a slot under `push_per_minute`; one that would wait longer is not
    /// sent (the feed and email still carry it).
    pub rate_limit_max_delay_secs: u64,
}

impl Default for AppRules {
    fn default() -> Self {
        AppRules {
            welcome_email: true,
            security_email: true,
            likes: true,
            comments: true,
            chat: true,
            like_window_secs: 60,
            chat_unseen_secs: 30,
            push_per_minute: 10,
            rate_limit_max_delay_secs: 600,
        }
    }
}

/// One tenant's overrides of [`AppRules`]; fields left out keep `[app.rules]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantRules {
    /// The tenant's id (`mediamill tenants list`).
    pub tenant: String,
    /// See [`AppRules::welcome_email`].
    pub welcome_email: Option<bool>,
    /// See [`AppRules::security_email`].
    pub security_email: Option<bool>,
    /// See [`AppRules::likes`].
    pub likes: Option<bool>,
    /// See [`AppRules::comments`].
    pub comments: Option<bool>,
    /// See [`AppRules::chat`].
    pub chat: Option<bool>,
    /// See [`AppRules::like_window_secs`].
    pub like_window_secs: Option<u64>,
    /// See [`AppRules::chat_unseen_secs`].
    pub chat_unseen_secs: Option<u64>,
    /// See [`AppRules::push_per_minute`].
    pub push_per_minute: Option<u64>,
    /// See [`AppRules::rate_limit_max_delay_secs`].
    pub rate_limit_max_delay_secs: Option<u64>,
}

/// `[app]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppConfig {
    /// Every tenant's rules.
    pub rules: AppRules,
    /// Per-tenant overrides.
    pub tenant_rules: Vec<TenantRules>,
    /// VAPID private key (RFC 8292): the raw P-256 scalar, base64url without padding; empty disables Web Push.
    pub vapid_private_key: String,
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact for push services.
    pub vapid_subject: String,
    /// The SMS provider's webhook URL (a signed JSON POST per message); empty disables SMS.
    pub sms_url: String,
    /// The secret SMS requests are signed with (Standard Webhooks, `whsec_…`).
    pub sms_secret: String,
}

impl AppConfig {
    /// The rules in force for `tenant_id`.
    pub fn rules_for(&self, tenant_id: &str) -> AppRules {
        let mut r = self.rules.clone();
        if let Some(t) = self.tenant_rules.iter().find(|t| t.tenant == tenant_id) {
            macro_rules! over {
                ($($f:ident),*) => { $( if let Some(v) = t.$f { r.$f = v; } )* };
            }
            over!(
                welcome_email,
                security_email,
                likes,
                comments,
                chat,
                like_window_secs,
                chat_unseen_secs,
                push_per_minute,
                rate_limit_max_delay_secs
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_overrides_only_what_it_names() {
        let cfg = AppConfig {
            tenant_rules: vec![TenantRules { tenant: "t1".into(), likes: Some(false), ..Default::default() }],
            ..Default::default()
        };
        assert!(!cfg.rules_for("t1").likes);
        assert!(cfg.rules_for("t1").comments);
        assert!(cfg.rules_for("t2").likes);
    }
}
