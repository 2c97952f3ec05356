//! Consumer groups as an operator sees them: members, and lag per topic (what `mediamill status` prints).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::{base_config, KafkaError};

/// One consumer group and the topics it reads.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    /// The group id.
    pub group: String,
    /// The coordinator's state: `Stable`, `PreparingRebalance`, `Empty`, `Dead`, ...
    pub state: String,
    /// Members as `client_id@host`.
    pub members: Vec<String>,
    /// Lag per topic the group reads.
    pub topics: Vec<TopicLag>,
}

/// How far a group is behind on one topic.
#[derive(Debug, Clone, Serialize)]
pub struct TopicLag {
    /// Full topic name.
    pub topic: String,
    /// How many partitions it has.
    pub partitions: usize,
    /// Messages on the topic the group has not committed past (from the log start where it never committed).
    pub lag: i64,
}

/// The state, members and lag of `group` on each of `topics`.
pub async fn group_status(
    brokers: &str,
    group: &str,
    topics: &[String],
    timeout: Duration,
) -> Result<GroupStatus, KafkaError> {
    let mut cfg = base_config(brokers);
    // Reading a group's committed offsets needs its id; the client never subscribes, so it never joins.
    cfg.set("group.id", group).set("enable.auto.commit", "false");
    let client: BaseConsumer = cfg.create()?;
    let (group, topics) = (group.to_string(), topics.to_vec());
    blocking(move || {
        // The embedded default's in-process broker cannot describe groups: say so, and still show the lag.
        let (state, members) = match client.fetch_group_list(Some(&group), timeout) {
            Ok(list) => match list.groups().first() {
                Some(g) => (
                    g.state().to_string(),
                    g.members()
                        .iter()
                        .map(|m| format!("{}@{}", m.client_id(), m.client_host().trim_start_matches('/')))
                        .collect(),
                ),
                None => ("Unknown".to_string(), Vec::new()),
            },
            Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::UnsupportedFeature) => {
                ("(broker cannot describe groups)".to_string(), Vec::new())
            }
            Err(e) => return Err(e.into()),
        };
        let mut lags = Vec::new();
        for topic in topics {
            let parts = partitions(&client, &topic, timeout)?;
            let mut tpl = TopicPartitionList::new();
            for p in &parts {
                tpl.add_partition(&topic, *p);
            }
            let committed = client.committed_offsets(tpl, timeout)?;
            let mut lag = 0;
            for p in &parts {
                let (lo, hi) = client.fetch_watermarks(&topic, *p, timeout)?;
                let at = match committed.find_partition(&topic, *p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => lo,
                };
                lag += (hi - at).max(0);
            }
            lags.push(TopicLag { topic, partitions: parts.len(), lag });
        }
        Ok(GroupStatus { group, state, members, topics: lags })
    })
    .await
}

fn partitions(client: &BaseConsumer, topic: &str, timeout: Duration) -> Result<Vec<i32>, KafkaError> {
    let meta = client.fetch_metadata(Some(topic), timeout)?;
    Ok(meta.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect())
}

/// librdkafka's admin calls block on the network: keep them off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KafkaError::Other(format!("kafka task: {e}")))?
}
