//! The event contract: CloudEvents 1.0 in Kafka binary mode.
//!
//! Attributes travel as `ce_*` headers, the data as a JSON body, so any CloudEvents SDK reads our topics.
//! Every event has a unique `id`; consumers dedupe on it. Types are versioned (`….v1`) so a new
//! shape can run beside the old one.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{BatchId, MediaId, TenantId};

/// `ce_source` of everything mediamill emits.
pub const SOURCE: &str = "mediamill";
/// The CloudEvents spec version we speak.
pub const SPEC_VERSION: &str = "1.0";

/// Type of an image processing job.
pub const JOB_IMAGE: &str = "mediamill.job.image.v1";
/// Type of a video processing job.
pub const JOB_VIDEO: &str = "mediamill.job.video.v1";
/// A raw upload was stored and recorded.
pub const MEDIA_UPLOADED: &str = "mediamill.media.uploaded.v1";
/// A worker started on a media item.
pub const MEDIA_PROCESSING: &str = "mediamill.media.processing.v1";
/// Every variant of a media item is stored.
pub const MEDIA_PROCESSED: &str = "mediamill.media.processed.v1";
/// A media item failed for good, with a machine-readable reason.
pub const MEDIA_FAILED: &str = "mediamill.media.failed.v1";
/// A media item and its objects were deleted.
pub const MEDIA_DELETED: &str = "mediamill.media.deleted.v1";

/// Counts of a batch changed (coalesced: at most a few per second per batch).
pub const BATCH_PROGRESS: &str = "mediamill.batch.progress.v1";
/// A sealed batch has every item terminal. Its id is derived from the batch and the completion round, so a
/// redelivery is recognisably the same event.
pub const BATCH_COMPLETED: &str = "mediamill.batch.completed.v1";

/// A completed batch had an item requeued: it is open for completion again, in the next round.
pub const BATCH_REOPENED: &str = "mediamill.batch.reopened.v1";

/// An API key was created.
pub const KEY_CREATED: &str = "mediamill.auth.key.created.v1";
/// An API key was revoked; every ingest instance closes the live streams it opened.
pub const KEY_REVOKED: &str = "mediamill.auth.key.revoked.v1";
/// An API key's expiry passed (announced when it is first presented after that).
pub const KEY_EXPIRED: &str = "mediamill.auth.key.expired.v1";
/// A request came with a revoked or expired key (at most one event per key a minute per instance).
pub const KEY_REFUSED: &str = "mediamill.auth.key.refused.v1";

/// Body of every `mediamill.auth.key.*.v1` event. Never the key itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyEvent {
    /// The key's id (not its secret).
    pub key_id: String,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The key's first characters, as `keys list` shows them.
    pub prefix: String,
    /// What it may do.
    pub scope: crate::model::KeyScope,
    /// When it stops working (ms), if ever.
    pub expires_at: Option<i64>,
    /// `revoked` or `expired` (`refused` events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every event type a webhook or email recipient can subscribe to.
pub const NOTIFIABLE: &[&str] = &[
    MEDIA_UPLOADED,
    MEDIA_PROCESSING,
    MEDIA_PROCESSED,
    MEDIA_FAILED,
    MEDIA_DELETED,
    BATCH_PROGRESS,
    BATCH_COMPLETED,
    BATCH_REOPENED,
];

/// One event: CloudEvents attributes plus a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Unique per event; consumers deduplicate by it.
    pub id: String,
    /// The CloudEvents `type`, e.g. `mediamill.media.processed.v1`.
    pub ty: String,
    /// The CloudEvents `source`.
    pub source: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The subject the event is about (a media id).
    pub subject: Option<String>,
    /// The event's payload (the JSON body).
    pub data: serde_json::Value,
    /// W3C trace context of the span that caused the event (CloudEvents distributed-tracing extension, sent as
    /// the `traceparent` header); `None` with tracing off.
    pub traceparent: Option<String>,
}

/// Why a message is not a valid event.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("missing CloudEvents header {0}")]
    /// A required `ce_*` header is absent.
    MissingHeader(&'static str),
    #[error("unsupported CloudEvents spec version {0:?}")]
    /// `ce_specversion` is not 1.0.
    SpecVersion(String),
    #[error("bad ce_time {0:?}")]
    /// `ce_time` is not RFC 3339.
    Time(String),
    #[error("body is not valid JSON for {ty}: {source}")]
    /// The body is not the JSON its type calls for.
    Body {
        /// The event type whose body it is.
        ty: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl Envelope {
    /// A new event with a fresh time-ordered id.
    ///
    /// # Panics
    /// When `data` cannot be turned into JSON. Event bodies are the contract's own structs (string keys, no
    /// custom serializers), so that is a bug in this crate, never bad input; it used to become `null` data
    /// silently, which consumers would have taken for a real event.
    pub fn new(ty: &str, subject: Option<String>, data: &impl Serialize) -> Envelope {
        Envelope {
            id: Uuid::now_v7().to_string(),
            ty: ty.to_string(),
            source: SOURCE.to_string(),
            time: Utc::now(),
            subject,
            data: serde_json::to_value(data).unwrap_or_else(|e| panic!("event {ty} cannot be serialized: {e}")),
            traceparent: crate::telemetry::current_traceparent(),
        }
    }

    /// The binary-mode headers, in the order they are written.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("ce_specversion", SPEC_VERSION.to_string()),
            ("ce_id", self.id.clone()),
            ("ce_type", self.ty.clone()),
            ("ce_source", self.source.clone()),
            ("ce_time", self.time.to_rfc3339_opts(SecondsFormat::Millis, true)),
            ("content-type", "application/json".to_string()),
        ];
        if let Some(s) = &self.subject {
            h.push(("ce_subject", s.clone()));
        }
        if let Some(t) = &self.traceparent {
            h.push((crate::telemetry::TRACEPARENT, t.clone()));
        }
        h
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.data).unwrap_or_default()
    }

    /// Rebuilds an event from headers (name, value) and a body.
    pub fn from_parts<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: &[u8],
    ) -> Result<Envelope, EnvelopeError> {
        let (mut id, mut ty, mut source, mut time, mut subject, mut spec) = (None, None, None, None, None, None);
        let mut traceparent = None;
        for (k, v) in headers {
            let v = String::from_utf8_lossy(v).into_owned();
            match k {
                "ce_id" => id = Some(v),
                "ce_type" => ty = Some(v),
                "ce_source" => source = Some(v),
                "ce_time" => time = Some(v),
                "ce_subject" => subject = Some(v),
                "ce_specversion" => spec = Some(v),
                crate::telemetry::TRACEPARENT => traceparent = Some(v),
                _ => {}
            }
        }
        let spec = spec.ok_or(EnvelopeError::MissingHeader("ce_specversion"))?;
        if spec != SPEC_VERSION {
            return Err(EnvelopeError::SpecVersion(spec));
        }
        let ty = ty.ok_or(EnvelopeError::MissingHeader("ce_type"))?;
        let time_s = time.ok_or(EnvelopeError::MissingHeader("ce_time"))?;
        let time = DateTime::parse_from_rfc3339(&time_s).map_err(|_| EnvelopeError::Time(time_s))?.with_timezone(&Utc);
        let data = serde_json::from_slice(body).map_err(|source| EnvelopeError::Body { ty: ty.clone(), source })?;
        Ok(Envelope {
            id: id.ok_or(EnvelopeError::MissingHeader("ce_id"))?,
            source: source.ok_or(EnvelopeError::MissingHeader("ce_source"))?,
            ty,
            time,
            subject,
            data,
            traceparent,
        })
    }

    /// The body as a typed value.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        serde_json::from_value(self.data.clone()).map_err(|source| EnvelopeError::Body { ty: self.ty.clone(), source })
    }
}

/// Everything a worker needs to process one upload; the body of `mediamill.job.*.v1`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    /// The item to process.
    pub media_id: MediaId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Which worker group takes it.
    pub kind: crate::model::MediaKind,
    /// Object key of the raw upload.
    pub raw_key: String,
    /// Content type sniffed from the bytes at upload.
    pub content_type: String,
    /// Bytes of the original.
    pub size: u64,
    /// 1 for the first try; a requeue adds one.
    pub attempt: u32,
    /// Its batch, if any.
    pub batch_id: Option<BatchId>,
}

/// Body of every `mediamill.media.*.v1` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaEvent {
    /// The item.
    pub media_id: MediaId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its batch, if any.
    pub batch_id: Option<BatchId>,
    /// Image, video or audio.
    pub kind: crate::model::MediaKind,
    /// Its state after this event.
    pub status: crate::model::MediaStatus,
    /// Machine-readable failure reason (`failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human explanation of a failure (`failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extracted metadata (`processed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Stored variants (`processed` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<crate::model::Variant>,
    /// Percent done, 0–100 (`processing` events of long jobs, e.g. video transcodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
}

/// Body of every `mediamill.batch.*.v1` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchEvent {
    /// The batch.
    pub batch_id: BatchId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its state after this event.
    pub status: crate::model::BatchStatus,
    /// `completed` or `completed_with_failures` (`completed` events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Which completion this is: a requeued item reopens a completed batch in its next round.
    pub round: i64,
    /// Items per state.
    pub counts: crate::model::BatchCounts,
    /// Every item.
    pub total: u64,
    /// How many files the client said it will send.
    pub expected_count: Option<u64>,
    /// Terminal items over the larger of total and expected count, 0–100.
    pub percent_done: f64,
}

impl BatchEvent {
    /// The body for a batch and its counts.
    pub fn of(b: &crate::model::Batch, c: &crate::model::BatchCounts) -> BatchEvent {
        let denom = c.total().max(b.expected_count.unwrap_or(0));
        let percent_done = if denom == 0 { 0.0 } else { (c.terminal() as f64 * 1000.0 / denom as f64).round() / 10.0 };
        BatchEvent {
            batch_id: b.id.clone(),
            tenant_id: b.tenant_id.clone(),
            status: b.status,
            outcome: b.outcome.clone(),
            round: b.round,
            counts: *c,
            total: c.total(),
            expected_count: b.expected_count,
            percent_done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_headers() {
        let e = Envelope::new(MEDIA_UPLOADED, Some("m1".into()), &serde_json::json!({"a": 1}));
        let hs = e.headers();
        let body = e.body();
        let back = Envelope::from_parts(hs.iter().map(|(k, v)| (*k, v.as_bytes())), &body).unwrap();
        assert_eq!(back.id, e.id);
        assert_eq!(back.ty, MEDIA_UPLOADED);
        assert_eq!(back.subject.as_deref(), Some("m1"));
        assert_eq!(back.data, e.data);
        assert_eq!(back.time.timestamp_millis(), e.time.timestamp_millis());
    }

    #[test]
    fn missing_or_broken_parts_are_errors() {
        let e = Envelope::new(MEDIA_UPLOADED, None, &1);
        let hs = e.headers();
        let without_id = hs.iter().filter(|(k, _)| *k != "ce_id").map(|(k, v)| (*k, v.as_bytes()));
        assert!(matches!(Envelope::from_parts(without_id, b"1"), Err(EnvelopeError::MissingHeader("ce_id"))));
        let all = hs.iter().map(|(k, v)| (*k, v.as_bytes()));
        assert!(matches!(Envelope::from_parts(all, b"{trunc"), Err(EnvelopeError::Body { .. })));
        assert!(matches!(Envelope::from_parts(std::iter::empty(), b"1"), Err(EnvelopeError::MissingHeader(_))));
        let bad_spec = [("ce_specversion", &b"0.3"[..])];
        assert!(matches!(Envelope::from_parts(bad_spec, b"1"), Err(EnvelopeError::SpecVersion(_))));
    }

    #[test]
    fn ids_are_unique() {
        let a = Envelope::new(MEDIA_UPLOADED, None, &1);
        let b = Envelope::new(MEDIA_UPLOADED, None, &1);
        assert_ne!(a.id, b.id);
    }
}
