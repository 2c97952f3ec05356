//! The typed bodies of the app's events, as [`super::parse`] returns them after validation.

use serde::{Deserialize, Serialize};

use crate::event::{Envelope, EnvelopeError};
use crate::ids::TenantId;

/// A user as the User service describes them (`registered`, `profile_changed`: absent fields unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: String,
    /// Where emails go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The name other users see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// E.164 number for SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// IANA time zone (quiet hours are in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// An event about one user (password changed, auth events, presence online/offline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRef {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: String,
}

/// A like added or removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Like {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The liked item.
    pub media_id: String,
    /// Who posted it: the one notified.
    pub media_owner_id: String,
    /// Who liked.
    pub actor_id: String,
    /// Their display name (added only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
}

/// A comment added or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The comment.
    pub comment_id: String,
    /// The item commented on.
    pub media_id: String,
    /// Who posted the item: the one notified.
    pub media_owner_id: String,
    /// Who commented.
    pub actor_id: String,
    /// Their display name (added only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The comment's text (added only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A chat message sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The conversation (the Kafka key: one conversation's events stay in order).
    pub conversation_id: String,
    /// The message.
    pub message_id: String,
    /// Who sent it.
    pub sender_id: String,
    /// Their display name.
    pub sender_name: String,
    /// The other members.
    pub recipient_ids: Vec<String>,
    /// What it says.
    pub text: String,
}

/// A message delivered to or seen by one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The conversation.
    pub conversation_id: String,
    /// The message.
    pub message_id: String,
    /// The recipient.
    pub user_id: String,
}

/// A user typing in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Typing {
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// The conversation.
    pub conversation_id: String,
    /// Who types.
    pub user_id: String,
}

/// What an auth event says about a user's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// `app.auth.login.v1`
    Login,
    /// `app.auth.logout.v1`
    Logout,
    /// `app.auth.token_expired.v1`
    TokenExpired,
    /// `app.auth.token_revoked.v1`
    TokenRevoked,
}

/// One validated app event.
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    /// `app.user.registered.v1`
    UserRegistered(UserProfile),
    /// `app.user.profile_changed.v1`
    ProfileChanged(UserProfile),
    /// `app.user.password_changed.v1`
    PasswordChanged(UserRef),
    /// `app.auth.*.v1`
    Auth(AuthKind, UserRef),
    /// `app.social.like_added.v1`
    LikeAdded(Like),
    /// `app.social.like_removed.v1`
    LikeRemoved(Like),
    /// `app.social.comment_added.v1`
    CommentAdded(Comment),
    /// `app.social.comment_deleted.v1`
    CommentDeleted(Comment),
    /// `app.chat.message_sent.v1`
    MessageSent(ChatMessage),
    /// `app.chat.message_delivered.v1`
    MessageDelivered(Receipt),
    /// `app.chat.message_seen.v1`
    MessageSeen(Receipt),
    /// `app.chat.presence_online.v1` (true) or `presence_offline` (false)
    Presence(UserRef, bool),
    /// `app.chat.presence_typing.v1`
    Typing(Typing),
}

impl AppEvent {
    /// The typed body of an event whose type is one of the contracts.
    pub fn from_envelope(env: &Envelope) -> Result<AppEvent, EnvelopeError> {
        let unknown = || EnvelopeError::MissingHeader("ce_type (an app event type)");
        Ok(match env.ty.as_str() {
            "app.user.registered.v1" => AppEvent::UserRegistered(env.data_as()?),
            "app.user.profile_changed.v1" => AppEvent::ProfileChanged(env.data_as()?),
            "app.user.password_changed.v1" => AppEvent::PasswordChanged(env.data_as()?),
            "app.auth.login.v1" => AppEvent::Auth(AuthKind::Login, env.data_as()?),
            "app.auth.logout.v1" => AppEvent::Auth(AuthKind::Logout, env.data_as()?),
            "app.auth.token_expired.v1" => AppEvent::Auth(AuthKind::TokenExpired, env.data_as()?),
            "app.auth.token_revoked.v1" => AppEvent::Auth(AuthKind::TokenRevoked, env.data_as()?),
            "app.social.like_added.v1" => AppEvent::LikeAdded(env.data_as()?),
            "app.social.like_removed.v1" => AppEvent::LikeRemoved(env.data_as()?),
            "app.social.comment_added.v1" => AppEvent::CommentAdded(env.data_as()?),
            "app.social.comment_deleted.v1" => AppEvent::CommentDeleted(env.data_as()?),
            "app.chat.message_sent.v1" => AppEvent::MessageSent(env.data_as()?),
            "app.chat.message_delivered.v1" => AppEvent::MessageDelivered(env.data_as()?),
            "app.chat.message_seen.v1" => AppEvent::MessageSeen(env.data_as()?),
            "app.chat.presence_online.v1" => AppEvent::Presence(env.data_as()?, true),
            "app.chat.presence_offline.v1" => AppEvent::Presence(env.data_as()?, false),
            "app.chat.presence_typing.v1" => AppEvent::Typing(env.data_as()?),
            _ => return Err(unknown()),
        })
    }

    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            AppEvent::UserRegistered(u) | AppEvent::ProfileChanged(u) => &u.tenant_id,
            AppEvent::PasswordChanged(u) | AppEvent::Auth(_, u) | AppEvent::Presence(u, _) => &u.tenant_id,
            AppEvent::LikeAdded(l) | AppEvent::LikeRemoved(l) => &l.tenant_id,
            AppEvent::CommentAdded(c) | AppEvent::CommentDeleted(c) => &c.tenant_id,
            AppEvent::MessageSent(m) => &m.tenant_id,
            AppEvent::MessageDelivered(r) | AppEvent::MessageSeen(r) => &r.tenant_id,
            AppEvent::Typing(t) => &t.tenant_id,
        }
    }
}
