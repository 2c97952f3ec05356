//! The event producer: idempotent, `acks=all`, so a retried send never duplicates or reorders within a partition.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{base_config, KafkaError};
use crate::event::Envelope;

/// Publishes [`Envelope`]s in CloudEvents binary mode.
#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
}

impl EventProducer {
    /// A producer for `brokers`. `message_timeout` bounds how long one send keeps retrying inside librdkafka.
    pub fn new(brokers: &str, message_timeout: Duration) -> Result<EventProducer, KafkaError> {
        let inner = base_config(brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", message_timeout.as_millis().to_string())
            .create()?;
        Ok(EventProducer { inner })
    }

    /// Sends one event to `topic` under `key` and waits for the broker's acknowledgement.
    pub async fn send(&self, topic: &str, key: &str, env: &Envelope) -> Result<(i32, i64), KafkaError> {
        let hs = env.headers();
        let mut headers = OwnedHeaders::new_with_capacity(hs.len());
        for (k, v) in &hs {
            headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        let body = env.body();
        let rec = FutureRecord::to(topic).key(key).payload(&body).headers(headers);
        let delivered = self.inner.send(rec, Duration::from_secs(0)).await.map_err(|(e, _)| KafkaError::Client(e))?;
        Ok((delivered.partition, delivered.offset))
    }

    /// Sends raw bytes with raw headers (dead letters keep the message as it came).
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&str>,
        payload: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> Result<(), KafkaError> {
        let mut hs = OwnedHeaders::new_with_capacity(headers.len());
        for (k, v) in headers {
            hs = hs.insert(Header { key: k, value: Some(v.as_slice()) });
        }
        let mut rec = FutureRecord::<str, [u8]>::to(topic).payload(payload).headers(hs);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        self.inner.send(rec, Duration::from_secs(0)).await.map(|_| ()).map_err(|(e, _)| KafkaError::Client(e))
    }

    /// Whether a broker answers metadata requests (for `/readyz`).
    pub fn check(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.client().fetch_metadata(None, timeout).map(|_| ()).map_err(KafkaError::Client)
    }

    /// Waits for queued messages to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.inner.flush(timeout);
    }
}
