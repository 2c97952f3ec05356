//! Every consumer group mediamill runs and the topics each reads: the one table the roles subscribe from and
//! `mediamill status` reports on, so a group added to a role cannot be missing from the operator's screen.

use crate::config::Config;
use crate::topics::{self, Topics};

/// A consumer group of mediamill's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum ConsumerGroup {
    /// Image workers: `media.jobs.image`.
    ImageWorkers,
    /// Video workers: `media.jobs.video`, apart so long transcodes never hold up images.
    VideoWorkers,
    /// The retry forwarder in every worker process: the retry tier topics.
    Retry,
    /// The batch tracker: `media.events`.
    Batch,
    /// The notifier: `media.events` and `batch.events`.
    Notify,
    /// The app's notification rules: `user.events`, `social.events`, `chat.events`.
    AppNotify,
    /// Analytics: `social.events`, `auth.events`, `user.events`.
    Analytics,
    /// The chat archive: `chat.events`.
    ChatArchive,
}

impl ConsumerGroup {
    /// Every group.
    pub fn all() -> impl Iterator<Item = ConsumerGroup> {
        <ConsumerGroup as strum::IntoEnumIterator>::iter()
    }

    /// The group id, under `kafka.group_prefix`.
    pub fn id(self, cfg: &Config) -> String {
        let suffix = match self {
            ConsumerGroup::ImageWorkers => "workers.image",
            ConsumerGroup::VideoWorkers => "workers.video",
            ConsumerGroup::Retry => "retry",
            ConsumerGroup::Batch => "batch",
            ConsumerGroup::Notify => "notify",
            ConsumerGroup::AppNotify => "notify.app",
            ConsumerGroup::Analytics => "analytics",
            ConsumerGroup::ChatArchive => "chat.archive",
        };
        format!("{}.{suffix}", cfg.kafka.group_prefix)
    }

    /// The full names of the topics the group reads.
    pub fn topics(self, cfg: &Config) -> Vec<String> {
        let t = Topics::new(&cfg.kafka.topic_prefix);
        match self {
            ConsumerGroup::ImageWorkers => vec![t.name(topics::JOBS_IMAGE)],
            ConsumerGroup::VideoWorkers => vec![t.name(topics::JOBS_VIDEO)],
            ConsumerGroup::Retry => cfg.worker.retry_tiers_secs.iter().map(|d| t.name(&topics::retry(*d))).collect(),
            ConsumerGroup::Batch => vec![t.name(topics::MEDIA_EVENTS)],
            ConsumerGroup::Notify => vec![t.name(topics::MEDIA_EVENTS), t.name(topics::BATCH_EVENTS)],
            ConsumerGroup::AppNotify => {
                vec![t.name(topics::USER_EVENTS), t.name(topics::SOCIAL_EVENTS), t.name(topics::CHAT_EVENTS)]
            }
            ConsumerGroup::Analytics => analytics_topics().iter().map(|l| t.name(l)).collect(),
            ConsumerGroup::ChatArchive => vec![t.name(topics::CHAT_EVENTS)],
        }
    }
}

/// The logical topics analytics reads (and `mediamill analytics rebuild` replays).
pub fn analytics_topics() -> [&'static str; 3] {
    [topics::SOCIAL_EVENTS, topics::AUTH_EVENTS, topics::USER_EVENTS]
}
