//! Topic names. Code uses the logical names below; [`Topics`] adds the configured prefix.

use crate::model::MediaKind;

/// Image processing jobs, keyed by media id.
pub const JOBS_IMAGE: &str = "media.jobs.image";
/// Video processing jobs, keyed by media id.
pub const JOBS_VIDEO: &str = "media.jobs.video";
/// Jobs that could not be processed or parsed, for an operator to inspect and requeue.
pub const JOBS_DLQ: &str = "media.jobs.dlq";
/// The retry tier that delays jobs by `delay_secs` before they go back to their job topic.
pub fn retry(delay_secs: u64) -> String {
    format!("media.jobs.retry.{delay_secs}s")
}

/// Media lifecycle events, keyed by media id.
pub const MEDIA_EVENTS: &str = "media.events";
/// Batch progress and completion, keyed by batch id.
pub const BATCH_EVENTS: &str = "batch.events";
/// API key events (created, revoked, expired, refused), keyed by key id: the Auth service's stream.
pub const AUTH_EVENTS: &str = "auth.events";
/// One record per HTTP request to ingest, keyed by tenant id: the API gateway's log.
pub const GATEWAY_REQUESTS: &str = "gateway.requests";

/// The User service's events (registered, profile and password changes), keyed by user id.
pub const USER_EVENTS: &str = "user.events";
/// Likes and comments, keyed by media id.
pub const SOCIAL_EVENTS: &str = "social.events";
/// Chat messages, receipts and presence, keyed by conversation id (presence online/offline by user id).
pub const CHAT_EVENTS: &str = "chat.events";
/// App events that failed their contract, kept as they came with the reason, for the publishing team to fix.
pub const APP_DLQ: &str = "app.events.dlq";
/// A notification entered a user's feed, keyed by `{tenant}/{user}`: what ingest's feed streams follow.
pub const NOTIFICATION_EVENTS: &str = "notification.events";

/// The job topic for a kind of media.
pub fn jobs_for(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => JOBS_IMAGE,
        MediaKind::Video | MediaKind::Audio => JOBS_VIDEO,
    }
}

/// Topic names with the configured prefix applied.
#[derive(Debug, Clone, Default)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics named with `prefix` (e.g. `mediamill`).
    pub fn new(prefix: &str) -> Topics {
        Topics { prefix: prefix.to_string() }
    }
    /// The physical name of a logical topic.
    pub fn name(&self, logical: &str) -> String {
        format!("{}{}", self.prefix, logical)
    }
    /// Every topic `mediamill topics` creates, with whether it is a job topic (job topics get more partitions):
    /// the fixed ones and one retry topic per tier delay.
    pub fn all(&self, retry_tiers_secs: &[u64]) -> Vec<(String, bool)> {
        let fixed = [
            (JOBS_IMAGE, true),
            (JOBS_VIDEO, true),
            (JOBS_DLQ, false),
            (MEDIA_EVENTS, false),
            (BATCH_EVENTS, false),
            (AUTH_EVENTS, false),
            (GATEWAY_REQUESTS, false),
            (USER_EVENTS, false),
            (SOCIAL_EVENTS, false),
            (CHAT_EVENTS, false),
            (APP_DLQ, false),
            (NOTIFICATION_EVENTS, false),
        ];
        fixed
            .into_iter()
            .map(|(t, job)| (self.name(t), job))
            .chain(retry_tiers_secs.iter().map(|d| (self.name(&retry(*d)), false)))
            .collect()
    }
}
