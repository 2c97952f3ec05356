//! Kafka plumbing on rdkafka: client settings, topic creation, the event producer, and the job consumer with
//! its per-partition offset tracker.

mod admin;
mod consumer;
pub mod dlq;
pub mod groups;
pub mod membership;
mod message;
mod offsets;
mod producer;
pub mod retry;
pub mod roster;

pub use admin::{create_topics, missing_topics};
pub use consumer::{run_consumer, ConsumerSettings, Handler, Outcome};
pub use message::{envelope_from_message, OwnedJob};
pub use offsets::OffsetTracker;
pub use producer::EventProducer;

use rdkafka::ClientConfig;

/// Why a Kafka call failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    /// What librdkafka said.
    Client(#[from] rdkafka::error::KafkaError),
    #[error("kafka: {0}")]
    /// Anything else, in words.
    Other(String),
}

/// Settings every client shares.
pub fn base_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("client.id", "mediamill")
        .set("socket.keepalive.enable", "true")
        .set("log_level", "3");
    c
}
