//! `mediamill analytics rebuild`: a new generation filled from the earliest offset of every analytics topic up
//! to the ends they had when it began, then made the active one. The live consumer writes to the generation
//! being built too (it reads the generations inside each write), so an event published during the replay is
//! in the new generation either way, and facts are idempotent, so one applied by both changes nothing.

use std::sync::Arc;
use std::time::Duration;

use mediamill_core::contract::parse;
use mediamill_core::kafka::roster::analytics_topics;
use mediamill_core::kafka::{base_config, envelope_from_message};
use mediamill_core::repo::{Repo, RepoError, StatsFact};
use mediamill_core::topics::Topics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::analytics::facts;

/// Facts written per transaction during a replay.
const CHUNK: usize = 500;

/// Why a rebuild stopped; the active generation is untouched.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Reading the topics failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Writing the facts failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The replay did not reach the ends it started with.
    #[error("{0}")]
    Incomplete(String),
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// The generation now active.
    pub generation: i64,
    /// Events read.
    pub events: u64,
    /// Events skipped for failing their contract (the live consumer dead-lettered them).
    pub invalid: u64,
}

/// Rebuilds analytics from the log and swaps the result in.
pub async fn rebuild(repo: Arc<dyn Repo>, brokers: &str, topic_prefix: &str) -> Result<Rebuilt, RebuildError> {
    let gen = repo.begin_stats_generation().await?;
    let (tx, mut rx) = mpsc::channel::<Vec<StatsFact>>(8);
    let (brokers, prefix) = (brokers.to_string(), topic_prefix.to_string());
    let reader = tokio::task::spawn_blocking(move || read_all(&brokers, &prefix, tx));
    while let Some(chunk) = rx.recv().await {
        repo.apply_stats(&chunk, Some(gen)).await?;
    }
    let (events, invalid) = reader.await.map_err(|e| RebuildError::Incomplete(e.to_string()))??;
    repo.activate_stats_generation(gen).await?;
    Ok(Rebuilt { generation: gen, events, invalid })
}

fn read_all(brokers: &str, prefix: &str, tx: mpsc::Sender<Vec<StatsFact>>) -> Result<(u64, u64), RebuildError> {
    let c: BaseConsumer = base_config(brokers)
        .set("group.id", "mediamill-analytics-rebuild") // required by librdkafka; assign() joins no group
        .set("enable.auto.commit", "false")
        .create()?;
    let t = Topics::new(prefix);
    let mut tpl = TopicPartitionList::new();
    let mut ends = std::collections::HashMap::new();
    for logical in analytics_topics() {
        let name = t.name(logical);
        let md = c.fetch_metadata(Some(&name), Duration::from_secs(10))?;
        let parts = md.topics().first().map(|x| x.partitions().len()).unwrap_or(0) as i32;
        for p in 0..parts {
            let (low, high) = c.fetch_watermarks(&name, p, Duration::from_secs(10))?;
            if high > low {
                tpl.add_partition_offset(&name, p, Offset::Beginning)?;
                ends.insert((name.clone(), p), high);
            }
        }
    }
    if ends.is_empty() {
        return Ok((0, 0));
    }
    c.assign(&tpl)?;
    let (mut events, mut invalid) = (0u64, 0u64);
    let mut chunk = Vec::new();
    let mut idle_since = std::time::Instant::now();
    while !ends.is_empty() {
        let Some(m) = c.poll(Duration::from_millis(500)) else {
            if idle_since.elapsed() > Duration::from_secs(60) {
                return Err(RebuildError::Incomplete(format!("{} partitions stopped short of their end", ends.len())));
            }
            continue;
        };
        idle_since = std::time::Instant::now();
        let m = m?;
        let key = (m.topic().to_string(), m.partition());
        if ends.get(&key).is_some_and(|end| m.offset() + 1 >= *end) {
            ends.remove(&key);
        }
        events += 1;
        let Ok(env) = envelope_from_message(&m) else {
            invalid += 1;
            continue;
        };
        if env.ty.starts_with("mediamill.") {
            continue;
        }
        let logical = m.topic().strip_prefix(prefix).unwrap_or(m.topic());
        match parse(logical, &env) {
            Ok(ev) => chunk.extend(facts(&env, &ev)),
            Err(_) => invalid += 1,
        }
        if chunk.len() >= CHUNK && tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
            return Err(RebuildError::Incomplete("the writer stopped".into()));
        }
    }
    if !chunk.is_empty() && tx.blocking_send(chunk).is_err() {
        return Err(RebuildError::Incomplete("the writer stopped".into()));
    }
    Ok((events, invalid))
}
