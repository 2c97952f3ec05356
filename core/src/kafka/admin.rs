//! Topic creation (`mediamill topics`, and tests with their own prefix) and the start-up check that they exist.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
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

/// The configured topics the cluster does not have yet (all of them when no broker answers within `timeout`).
/// Roles call this at start to wait for `mediamill topics`, which an orchestrator may run beside them.
pub async fn missing_topics(
    cfg: &KafkaConfig,
    retry_tiers_secs: &[u64],
    timeout: Duration,
) -> Result<Vec<String>, KafkaError> {
    let client: BaseConsumer = base_config(&cfg.brokers).create()?;
    let wanted: Vec<String> =
        Topics::new(&cfg.topic_prefix).all(retry_tiers_secs).into_iter().map(|(t, _)| t).collect();
    // fetch_metadata blocks on the network: keep it off the async threads.
    let meta = tokio::task::spawn_blocking(move || {
        client
            .fetch_metadata(None, timeout)
            .map(|m| m.topics().iter().map(|t| t.name().to_string()).collect::<Vec<_>>())
    })
    .await
    .map_err(|e| KafkaError::Other(format!("metadata task: {e}")))??;
    Ok(wanted.into_iter().filter(|t| !meta.contains(t)).collect())
}
