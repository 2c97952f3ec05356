//! Turning borrowed Kafka messages into owned values that outlive the poll loop.

use rdkafka::message::{BorrowedMessage, Headers, Message};

use crate::event::{Envelope, EnvelopeError};

/// A message copied out of the consumer, with where it came from.
#[derive(Debug, Clone)]
pub struct OwnedJob {
    /// The topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<String>,
    /// The event, or why the message is not one (a poison message).
    pub envelope: Result<Envelope, String>,
    /// The raw body and headers, kept so a poison message can be dead-lettered as it came.
    pub payload: Vec<u8>,
    /// Its headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads a message's CloudEvents headers and JSON body.
pub fn envelope_from_message(m: &BorrowedMessage<'_>) -> Result<Envelope, EnvelopeError> {
    let headers: Vec<(&str, &[u8])> = match m.headers() {
        Some(h) => h.iter().filter_map(|h| h.value.map(|v| (h.key, v))).collect(),
        None => Vec::new(),
    };
    Envelope::from_parts(headers, m.payload().unwrap_or_default())
}

impl OwnedJob {
    /// Copies what the handler needs out of a borrowed message.
    pub fn from_message(m: &BorrowedMessage<'_>) -> OwnedJob {
        OwnedJob {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            envelope: envelope_from_message(m).map_err(|e| e.to_string()),
            payload: m.payload().unwrap_or_default().to_vec(),
            headers: m
                .headers()
                .map(|h| h.iter().map(|x| (x.key.to_string(), x.value.unwrap_or_default().to_vec())).collect())
                .unwrap_or_default(),
        }
    }
}
