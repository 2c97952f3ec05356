//! The `social` role's loops: analytics and the chat archive, each a consumer group of its own over the app's
//! topics, behind the contract check that dead-letters invalid events.

use std::time::Duration;

use mediamill_core::contract::{AppEventHandler, Validated};
use mediamill_core::kafka::dlq::DeadLetters;
use mediamill_core::kafka::roster::ConsumerGroup;
use mediamill_core::kafka::run_consumer;
use mediamill_core::shutdown::Shutdown;
use mediamill_core::topics::{self, Topics};
use tokio::task::JoinHandle;

use super::Roles;

/// App events in flight at once per consumer.
const APP_CAPACITY: usize = 64;

impl Roles {
    /// Starts analytics and the chat archive.
    pub fn spawn_social(&self, shutdown: Shutdown) -> anyhow::Result<Vec<JoinHandle<()>>> {
        use mediamill_social::{Analytics, ChatArchive};
        Ok(vec![
            self.spawn_app_consumer(ConsumerGroup::Analytics, Analytics { repo: self.repo.clone() }, shutdown.clone())?,
            self.spawn_app_consumer(ConsumerGroup::ChatArchive, ChatArchive { repo: self.repo.clone() }, shutdown)?,
        ])
    }

    /// Runs `handler` as consumer group `group` behind the contract check.
    pub fn spawn_app_consumer<H: AppEventHandler>(
        &self,
        group: ConsumerGroup,
        handler: H,
        shutdown: Shutdown,
    ) -> anyhow::Result<JoinHandle<()>> {
        let prefix = self.cfg.kafka.topic_prefix.clone();
        let dead_letters =
            DeadLetters { producer: self.producer()?, topic: Topics::new(&prefix).name(topics::APP_DLQ) };
        let name = handler.name();
        let validated = std::sync::Arc::new(Validated {
            inner: handler,
            dead_letters,
            topic_prefix: prefix,
            shutdown: shutdown.clone(),
        });
        let settings = self.consumer_settings(group, APP_CAPACITY, Duration::from_secs(10));
        Ok(tokio::spawn(async move {
            if let Err(e) = run_consumer(settings, validated, shutdown).await {
                tracing::error!(error = %e, consumer = name, "app consumer stopped");
            }
        }))
    }
}
