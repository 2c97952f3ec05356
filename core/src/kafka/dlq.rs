//! The dead-letter topic (`media.jobs.dlq`): jobs that can never succeed as they are (unreadable, or naming an
//! object that is gone), kept as they came with the reason in headers, for an operator to inspect and requeue.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::{base_config, envelope_from_message, EventProducer, KafkaError, OwnedJob};
use crate::event::Envelope;

/// Header naming why a message was dead-lettered.
pub const ERROR_HEADER: &str = "mm_dlq_error";
/// Header with the machine-readable reason.
pub const REASON_HEADER: &str = "mm_dlq_reason";
/// Headers naming where it came from.
pub const SOURCE_HEADER: &str = "mm_dlq_source";

/// Where dead letters go.
#[derive(Clone)]
pub struct DeadLetters {
    /// Where dead letters are written.
    pub producer: EventProducer,
    /// Physical topic name (with prefix).
    pub topic: String,
}

impl DeadLetters {
    /// Dead-letters a message with its reason.
    pub async fn send(&self, job: &OwnedJob, reason: &str, error: &str) -> Result<(), KafkaError> {
        let mut headers = job.headers.clone();
        headers.push((REASON_HEADER.into(), reason.as_bytes().to_vec()));
        headers.push((ERROR_HEADER.into(), error.as_bytes().to_vec()));
        headers.push((SOURCE_HEADER.into(), format!("{}/{}/{}", job.topic, job.partition, job.offset).into_bytes()));
        metrics::counter!("mediamill_dlq_messages_total", "reason" => reason.to_string()).increment(1);
        self.producer.send_raw(&self.topic, job.key.as_deref(), &job.payload, &headers).await
    }
}

/// One dead letter as read back.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Partition of the dead-letter topic.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// The original message's key.
    pub key: Option<String>,
    /// Why it was dead-lettered: a stable code.
    pub reason: String,
    /// The error in words.
    pub error: String,
    /// The topic it came from.
    pub source: String,
    /// The job, when the message is one.
    pub envelope: Option<Envelope>,
}

/// Messages on the dead-letter topic now (high minus low watermark over its partitions).
pub fn size(brokers: &str, topic: &str) -> Result<i64, KafkaError> {
    let c: BaseConsumer = base_config(brokers).set("group.id", "mediamill-dlq-reader").create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts = md.topics().first().map(|t| t.partitions().len()).unwrap_or(0) as i32;
    let mut total = 0;
    for p in 0..parts {
        let (low, high) = c.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += (high - low).max(0);
    }
    Ok(total)
}

/// Keeps the `mediamill_dlq_messages` gauge current until shutdown (every `every`).
pub async fn watch_size(brokers: String, topic: String, every: Duration, shutdown: crate::shutdown::Shutdown) {
    loop {
        let (b, t) = (brokers.clone(), topic.clone());
        match tokio::task::spawn_blocking(move || size(&b, &t)).await {
            Ok(Ok(n)) => metrics::gauge!("mediamill_dlq_messages").set(n as f64),
            Ok(Err(e)) => tracing::debug!(error = %e, "dead-letter topic size not read"),
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Every message on the dead-letter topic, oldest first per partition.
pub fn read_all(brokers: &str, topic: &str) -> Result<Vec<DeadLetter>, KafkaError> {
    let c: BaseConsumer = base_config(brokers)
        .set("group.id", "mediamill-dlq-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts = md.topics().first().map(|t| t.partitions().len()).unwrap_or(0) as i32;
    let mut tpl = TopicPartitionList::new();
    let mut live = 0;
    for p in 0..parts {
        let (low, high) = c.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            live += 1;
        }
    }
    if live == 0 {
        return Ok(vec![]);
    }
    c.assign(&tpl)?;
    let mut out = Vec::new();
    let mut ended = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ended < live && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let h = |name: &str| {
                    m.headers()
                        .and_then(|hs| hs.iter().find(|x| x.key == name).and_then(|x| x.value))
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                out.push(DeadLetter {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    reason: h(REASON_HEADER),
                    error: h(ERROR_HEADER),
                    source: h(SOURCE_HEADER),
                    envelope: envelope_from_message(&m).ok(),
                });
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(out)
}
