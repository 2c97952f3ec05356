//! The event producer: idempotent, `acks=all`, so a retried send never duplicates or reorders within a partition.
//!
//! It serves delivery reports on a thread of its own rather than rdkafka's `FutureProducer`: that one polls in
//! 100 ms slices, and each slice ends in a busy wait through its last millisecond (the remaining time rounds
//! down to a zero timeout), about 1 % of a core for a producer doing nothing. A report wakes the wait at once
//! whatever its length, so this thread waits in one-second slices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use tokio::sync::oneshot;

use super::{base_config, KafkaError};
use crate::event::Envelope;

/// A send's outcome: its partition and offset, or why it failed.
type Outcome = Result<(i32, i64), rdkafka::error::KafkaError>;

/// Where a send's outcome goes.
type Delivered = oneshot::Sender<Outcome>;

/// Hands each delivery report to the send waiting for it.
struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Delivered>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Box<Delivered>) {
        let outcome = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        // The sender may have stopped waiting (its task was dropped): nothing to tell then.
        let _ = waiting.send(outcome);
    }
}

/// How long the polling thread waits per call; also how late it notices that the producer was dropped.
const POLL_SLICE: Duration = Duration::from_secs(1);

/// The producer and its polling thread's stop flag, raised when the last clone goes.
struct Shared {
    producer: Arc<BaseProducer<Reports>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Publishes [`Envelope`]s in CloudEvents binary mode.
#[derive(Clone)]
pub struct EventProducer {
    inner: Arc<Shared>,
}

impl EventProducer {
    /// A producer for `brokers`. `message_timeout` bounds how long one send keeps retrying inside librdkafka.
    pub fn new(brokers: &str, message_timeout: Duration) -> Result<EventProducer, KafkaError> {
        let producer: Arc<BaseProducer<Reports>> = Arc::new(
            base_config(brokers)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "2")
                .set("compression.type", "lz4")
                .set("message.timeout.ms", message_timeout.as_millis().to_string())
                .create_with_context(Reports)?,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (polled, stopped) = (producer.clone(), stop.clone());
        // The thread keeps the producer alive until it sees the flag, then drops it (rdkafka then purges what
        // is still queued: callers flush first at shutdown).
        std::thread::Builder::new()
            .name("producer polling".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    polled.poll(POLL_SLICE);
                }
            })
            .map_err(|e| KafkaError::Other(format!("starting the producer's polling thread: {e}")))?;
        Ok(EventProducer { inner: Arc::new(Shared { producer, stop }) })
    }

    fn enqueue(&self, rec: BaseRecord<'_, str, [u8], Box<Delivered>>) -> Result<(), KafkaError> {
        // A full local queue is an error at once, as it was with a zero queue timeout: the outbox keeps the
        // event and the relay tries again.
        self.inner.producer.send(rec).map_err(|(e, _)| KafkaError::Client(e))
    }

    async fn delivered(rx: oneshot::Receiver<Outcome>) -> Result<(i32, i64), KafkaError> {
        match rx.await {
            Ok(r) => r.map_err(KafkaError::Client),
            Err(_) => Err(KafkaError::Other("the producer was closed before the broker answered".into())),
        }
    }

    /// Sends one event to `topic` under `key` and waits for the broker's acknowledgement.
    pub async fn send(&self, topic: &str, key: &str, env: &Envelope) -> Result<(i32, i64), KafkaError> {
        let hs = env.headers();
        let mut headers = OwnedHeaders::new_with_capacity(hs.len());
        for (k, v) in &hs {
            headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        let body = env.body();
        let (tx, rx) = oneshot::channel();
        self.enqueue(BaseRecord::with_opaque_to(topic, Box::new(tx)).key(key).payload(&body[..]).headers(headers))?;
        Self::delivered(rx).await
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
        let (tx, rx) = oneshot::channel();
        let mut rec = BaseRecord::<str, [u8], _>::with_opaque_to(topic, Box::new(tx)).payload(payload).headers(hs);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        self.enqueue(rec)?;
        Self::delivered(rx).await.map(|_| ())
    }

    /// Whether a broker answers metadata requests (for `/readyz`).
    pub fn check(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.producer.client().fetch_metadata(None, timeout).map(|_| ()).map_err(KafkaError::Client)
    }

    /// Waits for queued messages to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.inner.producer.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no broker to take it, a send ends in the delivery report's error once its timeout passes; it
    /// neither hangs nor claims success. (Port 9 on loopback: nothing listens there.)
    #[tokio::test]
    async fn an_undeliverable_send_reports_its_failure() {
        let p = EventProducer::new("127.0.0.1:9", Duration::from_millis(300)).unwrap();
        let env = Envelope::new("mediamill.test.v1", Some("k".into()), &serde_json::json!({"a": 1}));
        let sent = tokio::time::timeout(Duration::from_secs(10), p.send("t", "k", &env)).await;
        let err = sent.expect("the report came within its timeout").expect_err("nothing was delivered");
        assert!(err.to_string().contains("timed out"), "{err}");
        let raw = tokio::time::timeout(Duration::from_secs(10), p.send_raw("t", None, b"x", &[])).await;
        assert!(raw.expect("the report came").is_err());
    }
}
