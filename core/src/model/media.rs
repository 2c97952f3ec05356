//! Media items, their states and their variants.

use serde::{Deserialize, Serialize};

use super::{BatchId, MediaId, TenantId};

/// What kind of processing an upload gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MediaKind {
    /// A photograph or still picture.
    Image,
    /// Moving pictures, with or without sound.
    Video,
    /// Sound without pictures; processed by the video workers into AAC/M4A.
    Audio,
}

impl MediaKind {
    /// The stored and wire form (the same as serde's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a media item is in its life. `processed`, `failed` and `deleted` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MediaStatus {
    /// Stored, waiting for a worker.
    Uploaded,
    /// A worker has it.
    Processing,
    /// Variants and metadata are stored.
    Processed,
    /// Processing gave up; `failure_reason` says why.
    Failed,
    /// Removed by its tenant; its objects are gone.
    Deleted,
}

impl MediaStatus {
    /// The stored and wire form (the same as serde's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    /// No further transition happens from a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, MediaStatus::Processed | MediaStatus::Failed | MediaStatus::Deleted)
    }
}

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    /// Time-ordered id (UUIDv7).
    pub id: MediaId,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// Image, video or audio, from sniffing the bytes.
    pub kind: MediaKind,
    /// Where it is in its life.
    pub status: MediaStatus,
    /// The sniffed MIME type (never the client's claim).
    pub content_type: String,
    /// The client's filename, path components stripped.
    pub filename: Option<String>,
    /// Bytes of the original.
    pub size: u64,
    /// SHA-256 of the original, hex.
    pub sha256: String,
    /// Object key of the original in the store.
    pub raw_key: String,
    /// Width of the original once processed.
    pub width: Option<u32>,
    /// Height of the original once processed.
    pub height: Option<u32>,
    /// What processing learnt (EXIF facts, duration, hashes, colour…).
    pub metadata: Option<serde_json::Value>,
    /// Why processing failed: a stable code such as `unreadable`.
    pub failure_reason: Option<String>,
    /// The failure in words, for people.
    pub failure_message: Option<String>,
    /// The batch it was uploaded into, if any.
    pub batch_id: Option<BatchId>,
    /// The client's `Idempotency-Key`, unique per tenant.
    pub idempotency_key: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Last state change (ms).
    pub updated_at: i64,
}

/// One stored output of processing. API answers, events and webhooks show it in this one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// `thumb`, `medium`, …
    pub name: String,
    /// `jpeg`, `webp`, …
    pub format: String,
    /// Object key in the store.
    pub key: String,
    /// Its MIME type.
    pub content_type: String,
    /// Pixels; `null` for outputs without a picture (audio), never a made-up 0.
    #[serde(serialize_with = "zero_as_null", deserialize_with = "null_as_zero")]
    pub width: u32,
    #[serde(serialize_with = "zero_as_null", deserialize_with = "null_as_zero")]
    /// Height in pixels.
    pub height: u32,
    /// Bytes.
    pub size: u64,
    /// Where the API serves it; set by [`Variant::linked`] (the store does not know the public URL).
    #[serde(default)]
    pub url: Option<String>,
}

fn zero_as_null<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    if *v == 0 {
        s.serialize_none()
    } else {
        s.serialize_u32(*v)
    }
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(0))
}

impl Variant {
    /// The variant with its public URL under `base` (the API's public URL) filled in.
    pub fn linked(mut self, base: &str, media_id: &MediaId) -> Variant {
        let item = format!("{}/v1/media/{media_id}", base.trim_end_matches('/'));
        self.url = Some(if self.format == "m3u8" {
            // Served from the HLS folder, where the playlists' relative URIs resolve.
            format!("{item}/hls/master.m3u8")
        } else {
            format!("{item}/variants/{}.{}", self.name, ext_of(&self.format))
        });
        self
    }
}

/// The file extension used in variant URLs for a format name.
pub fn ext_of(format: &str) -> &str {
    match format {
        "jpeg" => "jpg",
        other => other,
    }
}

/// Puts variants in the one order every answer and event uses: smallest first, then by name and format.
pub fn sort_variants(vs: &mut [Variant]) {
    vs.sort_by(|a, b| (a.width, &a.name, &a.format).cmp(&(b.width, &b.name, &b.format)));
}

impl MediaStatus {
    /// Order of states for batch items: a state of lower rank never replaces one of higher rank.
    pub fn rank(self) -> i64 {
        match self {
            MediaStatus::Uploaded => 0,
            MediaStatus::Processing => 1,
            MediaStatus::Processed | MediaStatus::Failed | MediaStatus::Deleted => 2,
        }
    }
}
