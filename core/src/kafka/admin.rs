//! Topic creation (`mediamill topics`, and tests with their own prefix).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::{base_config, KafkaError};
use crate::config::KafkaConfig;
use crate::topics::Topics;

/// Creates every mediamill topic that does not exist yet; returns the names created.
pub async fn create_topics(cfg: &KafkaConfig, retry_tiers_secs: &[u64]) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base_config(&cfg.brokers).create()?;
    let topics = Topics::new(&cfg.topic_prefix).all(retry_tiers_secs);
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, job)| {
            let parts = if *job { cfg.job_partitions } else { cfg.event_partitions };
            NewTopic::new(name, parts, TopicReplication::Fixed(cfg.replication))
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new, &opts).await?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(KafkaError::Other(format!("creating topic {name}: {code}"))),
        }
    }
    Ok(created)
}
