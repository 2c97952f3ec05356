//! The app's part of the repository: users, presence, preferences and push subscriptions; the notification
//! feed and its release to channels; analytics facts; the chat archive.

use async_trait::async_trait;

use super::{OutboxEvent, RepoError};
use crate::app_model::{
    Actor, ArchivedMessage, DailyActive, FeedItem, Kind, MediaStats, Preferences, PushSubscription,
};
use crate::contract::UserProfile;
use crate::model::TenantId;
use crate::notify_model::{Channel, Delivery};

/// One change an app event makes to the notification state; an event's changes are applied together.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedOp {
    /// Records or updates a user's profile (fields absent stay as they were).
    User(UserProfile),
    /// A user came online or went offline at `at` (ms); an older change never overwrites a newer one.
    Presence {
        /// The app's tenant.
        tenant_id: TenantId,
        /// The user.
        user_id: String,
        /// Online now.
        online: bool,
        /// The event's time (ms).
        at: i64,
    },
    /// Makes a notification unless one with its id exists; a like window the releaser cancelled for being
    /// empty is reopened (pending again), since a like in it arrived after it closed.
    Notify(NewNotification),
    /// Adds (or, `present: false`, withdraws) an actor of a notification; the newer change by event time wins.
    Actor {
        /// The notification.
        notification_id: String,
        /// Who.
        actor: Actor,
        /// Acting (like added) or not (undone).
        present: bool,
        /// The event's time (ms).
        at: i64,
        /// The event's id (breaks ties of equal times).
        event_id: String,
    },
    /// Takes a notification out of the feed and cancels its channels if they have not gone out yet; a
    /// notification made after its cancellation (events out of order) starts cancelled.
    Cancel {
        /// The notification.
        notification_id: String,
    },
}

/// A notification to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Derived from what it is about, so the same event always makes the same one.
    pub id: String,
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// Who is notified.
    pub user_id: String,
    /// What about.
    pub kind: Kind,
    /// The media or conversation id.
    pub subject: String,
    /// What the channels show: `{"text": …, "message_id": …}`.
    pub data: serde_json::Value,
    /// When it appears in the feed (ms); `None`: never (email only), or not until it is sent (chat).
    pub visible_at: Option<i64>,
    /// When its push, email and SMS go out (ms): the end of an aggregation window, or a chat's grace period.
    pub send_at: i64,
}

/// A notification whose channels are due, claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct DueNotification {
    /// Its id.
    pub id: String,
    /// The app's tenant.
    pub tenant_id: TenantId,
    /// Who is notified.
    pub user_id: String,
    /// What about.
    pub kind: Kind,
    /// The media or conversation id.
    pub subject: String,
    /// What the channels show.
    pub data: serde_json::Value,
    /// Present actors, newest first (the first few).
    pub actors: Vec<Actor>,
    /// How many actors are present.
    pub actor_count: u64,
    /// When it was made (ms).
    pub created_at: i64,
    /// Whether it is shown in the feed already.
    pub visible: bool,
}

/// What becomes of a claimed notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// Its deliveries are made (possibly none); shown in the feed from now if it was waiting to be.
    Sent(Vec<Delivery>),
    /// Not sent: nobody is left in it, or the chat message was seen or its recipient came online.
    Cancelled,
    /// Tried again at this time (ms): quiet hours, the digest hour, or the user's push rate limit.
    Later(i64),
}

/// Storage of the app's notification state.
#[async_trait]
pub trait FeedRepo: Send + Sync {
    /// Applies an event's changes and `events` (outbox) in one transaction, unless `consumer` applied
    /// `event_id` before: then nothing happens and the answer is `false`.
    async fn apply_feed(
        &self,
        consumer: &str,
        event_id: &str,
        ops: &[FeedOp],
        events: &[OutboxEvent],
    ) -> Result<bool, RepoError>;
    /// A user's profile as last announced.
    async fn app_user(&self, tenant_id: &TenantId, user_id: &str) -> Result<Option<UserProfile>, RepoError>;
    /// Whether a user is online in the chat (`None`: never seen).
    async fn presence(&self, tenant_id: &TenantId, user_id: &str) -> Result<Option<bool>, RepoError>;
    /// A user's preferences (the defaults if they never set any).
    async fn preferences(&self, tenant_id: &TenantId, user_id: &str) -> Result<Preferences, RepoError>;
    /// Replaces a user's preferences.
    async fn put_preferences(&self, tenant_id: &TenantId, user_id: &str, p: &Preferences) -> Result<(), RepoError>;
    /// Registers a push subscription; the same endpoint again replaces its keys and keeps its id.
    async fn add_push_subscription(&self, s: &PushSubscription) -> Result<PushSubscription, RepoError>;
    /// A user's push subscriptions.
    async fn push_subscriptions(&self, tenant_id: &TenantId, user_id: &str)
        -> Result<Vec<PushSubscription>, RepoError>;
    /// Removes one; `false` if the user has no such subscription.
    async fn delete_push_subscription(&self, tenant_id: &TenantId, user_id: &str, id: &str) -> Result<bool, RepoError>;
    /// A page of a user's feed, newest first, before the item `before`.
    async fn feed(
        &self,
        tenant_id: &TenantId,
        user_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FeedItem>, RepoError>;
    /// Feed items not read yet.
    async fn unread_count(&self, tenant_id: &TenantId, user_id: &str) -> Result<u64, RepoError>;
    /// Marks items read (all of the user's when `ids` is `None`); the number newly marked.
    async fn mark_read(&self, tenant_id: &TenantId, user_id: &str, ids: Option<&[String]>) -> Result<u64, RepoError>;
    /// Leases up to `limit` notifications due by `now` for `lease_ms`.
    async fn claim_notifications(&self, now: i64, lease_ms: i64, limit: u32)
        -> Result<Vec<DueNotification>, RepoError>;
    /// Records what became of a claimed notification (its deliveries and outbox events in the same transaction).
    async fn release_notification(&self, id: &str, r: &Release, events: &[OutboxEvent]) -> Result<(), RepoError>;
    /// The user's deliveries on the app channels (push, email, SMS), newest first, from before the delivery
    /// `before` when given: the user's delivery log.
    async fn user_deliveries(
        &self,
        tenant_id: &TenantId,
        user_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepoError>;
    /// When a user's next notification on `channel` may go out so that no minute holds more than
    /// `per_minute` of them (0: no limit): `now`, or the moment the earliest of the last `per_minute` ones
    /// (sent or already scheduled) leaves the minute. Counted per notification, not per device.
    async fn next_send_slot(
        &self,
        tenant_id: &TenantId,
        channel: Channel,
        user_id: &str,
        now: i64,
        per_minute: u64,
    ) -> Result<i64, RepoError>;
}

/// An analytics fact, applied to every generation being kept.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsFact {
    /// A like's state at `at` (ms): the newest by (time, event id) wins.
    Like {
        /// The app's tenant.
        tenant_id: TenantId,
        /// The liked item.
        media_id: String,
        /// Its owner.
        owner_id: String,
        /// Who liked.
        actor_id: String,
        /// Liked (true) or undone.
        liked: bool,
        /// The event's time (ms).
        at: i64,
        /// The event's id.
        event_id: String,
    },
    /// A comment exists (or, `deleted`, was deleted for good).
    Comment {
        /// The app's tenant.
        tenant_id: TenantId,
        /// The comment.
        comment_id: String,
        /// The item.
        media_id: String,
        /// Its owner.
        owner_id: String,
        /// Who commented.
        actor_id: String,
        /// Deleted.
        deleted: bool,
    },
    /// A user was active on a UTC day (`YYYY-MM-DD`).
    Active {
        /// The app's tenant.
        tenant_id: TenantId,
        /// The user.
        user_id: String,
        /// The day.
        day: String,
    },
}

/// Like and comment counts per media and per user, and daily active users, as facts in generations.
#[async_trait]
pub trait StatsRepo: Send + Sync {
    /// Applies facts to the active generation and to one being built (`only`: to that generation alone).
    async fn apply_stats(&self, facts: &[StatsFact], only: Option<i64>) -> Result<(), RepoError>;
    /// Starts building a new generation (dropping any unfinished one); its number.
    async fn begin_stats_generation(&self) -> Result<i64, RepoError>;
    /// Makes `gen` the active generation and drops the others.
    async fn activate_stats_generation(&self, gen: i64) -> Result<(), RepoError>;
    /// Counts of one media item.
    async fn media_stats(&self, tenant_id: &TenantId, media_id: &str) -> Result<MediaStats, RepoError>;
    /// Likes and comments a user's media received.
    async fn user_stats(&self, tenant_id: &TenantId, user_id: &str) -> Result<MediaStats, RepoError>;
    /// Active users per day, for days in `[from, to]`, oldest first.
    async fn daily_active(&self, tenant_id: &TenantId, from: &str, to: &str) -> Result<Vec<DailyActive>, RepoError>;
}

/// What the chat archive records.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatFact {
    /// A message (its first record wins: a redelivery changes nothing).
    Message {
        /// The app's tenant.
        tenant_id: TenantId,
        /// The message, its conversation, sender, text and time.
        message: ArchivedMessage,
        /// Its recipients.
        recipients: Vec<String>,
    },
    /// Delivered to (`seen: false`) or seen by a recipient at `at` (ms); the earliest time is kept.
    Receipt {
        /// The app's tenant.
        tenant_id: TenantId,
        /// The message.
        message_id: String,
        /// The recipient.
        user_id: String,
        /// Seen (else delivered).
        seen: bool,
        /// When (ms).
        at: i64,
    },
}

/// The chat archive.
#[async_trait]
pub trait ChatRepo: Send + Sync {
    /// Records facts in one transaction.
    async fn apply_chat(&self, facts: &[ChatFact]) -> Result<(), RepoError>;
    /// Messages of a conversation after the message `after` (oldest first), with their receipts.
    async fn conversation_messages(
        &self,
        tenant_id: &TenantId,
        conversation_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, RepoError>;
}
