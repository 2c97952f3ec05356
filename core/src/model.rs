//! The records the repository keeps and the API shows.

use serde::{Deserialize, Serialize};

/// What kind of processing an upload gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum MediaKind {
    Image,
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
    Uploaded,
    Processing,
    Processed,
    Failed,
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

/// A tenant: the unit of isolation. Keys belong to one tenant and see only its media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// The tenant's own limits and quotas; what it does not set takes the `[tenants]` defaults.
    #[serde(default)]
    pub limits: TenantLimits,
    /// Browser origins (`https://app.example.com`) allowed to call the API with this tenant's keys (CORS).
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

/// A tenant's own limits and quotas (`mediamill tenants set NAME --limit KEY=VALUE`). Each `None` takes the
/// configuration's `[tenants]` default; 0 means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Requests per second to one ingest instance (bursts of twice that).
    pub requests_per_sec: Option<u64>,
    /// Upload bytes per second to one ingest instance (uploads are paced to it).
    pub upload_bytes_per_sec: Option<u64>,
    /// Uploads received at once by one ingest instance.
    pub concurrent_uploads: Option<u64>,
    /// Live event streams open at once on one ingest instance.
    pub sse_streams: Option<u64>,
    /// Webhook endpoints.
    pub webhooks: Option<u64>,
    /// Email recipients.
    pub email_recipients: Option<u64>,
    /// Bytes of uploads kept (not deleted).
    pub stored_bytes: Option<u64>,
    /// Media items kept (not deleted).
    pub media_count: Option<u64>,
}

/// One of a tenant's limits, by name: a typed key, so a misspelt limit is a compile error, never "unlimited".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantLimit {
    RequestsPerSec,
    UploadBytesPerSec,
    ConcurrentUploads,
    SseStreams,
    Webhooks,
    EmailRecipients,
    StoredBytes,
    MediaCount,
}

impl TenantLimit {
    /// Every limit, in the order they are shown.
    pub const ALL: [TenantLimit; 8] = [
        TenantLimit::RequestsPerSec,
        TenantLimit::UploadBytesPerSec,
        TenantLimit::ConcurrentUploads,
        TenantLimit::SseStreams,
        TenantLimit::Webhooks,
        TenantLimit::EmailRecipients,
        TenantLimit::StoredBytes,
        TenantLimit::MediaCount,
    ];

    /// Its name in `--limit KEY=VALUE`, in the stored JSON and (as `tenants.KEY`) in the configuration.
    pub fn key(self) -> &'static str {
        match self {
            TenantLimit::RequestsPerSec => "requests_per_sec",
            TenantLimit::UploadBytesPerSec => "upload_bytes_per_sec",
            TenantLimit::ConcurrentUploads => "concurrent_uploads",
            TenantLimit::SseStreams => "sse_streams",
            TenantLimit::Webhooks => "webhooks",
            TenantLimit::EmailRecipients => "email_recipients",
            TenantLimit::StoredBytes => "stored_bytes",
            TenantLimit::MediaCount => "media_count",
        }
    }

    /// The limit named `key`.
    pub fn parse(key: &str) -> Option<TenantLimit> {
        TenantLimit::ALL.into_iter().find(|l| l.key() == key)
    }
}

impl TenantLimits {
    /// The tenant's own value of `limit`, if it set one.
    pub fn get(&self, limit: TenantLimit) -> Option<u64> {
        match limit {
            TenantLimit::RequestsPerSec => self.requests_per_sec,
            TenantLimit::UploadBytesPerSec => self.upload_bytes_per_sec,
            TenantLimit::ConcurrentUploads => self.concurrent_uploads,
            TenantLimit::SseStreams => self.sse_streams,
            TenantLimit::Webhooks => self.webhooks,
            TenantLimit::EmailRecipients => self.email_recipients,
            TenantLimit::StoredBytes => self.stored_bytes,
            TenantLimit::MediaCount => self.media_count,
        }
    }

    /// The field of `limit`.
    pub fn field_mut(&mut self, limit: TenantLimit) -> &mut Option<u64> {
        match limit {
            TenantLimit::RequestsPerSec => &mut self.requests_per_sec,
            TenantLimit::UploadBytesPerSec => &mut self.upload_bytes_per_sec,
            TenantLimit::ConcurrentUploads => &mut self.concurrent_uploads,
            TenantLimit::SseStreams => &mut self.sse_streams,
            TenantLimit::Webhooks => &mut self.webhooks,
            TenantLimit::EmailRecipients => &mut self.email_recipients,
            TenantLimit::StoredBytes => &mut self.stored_bytes,
            TenantLimit::MediaCount => &mut self.media_count,
        }
    }
}

/// An API key as stored: only a hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    /// The first characters of the key, to tell keys apart in listings.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// What the key may do.
    pub scope: KeyScope,
    /// After this (ms), the key is refused.
    pub expires_at: Option<i64>,
    /// When it last authenticated a request (to the minute).
    pub last_used_at: Option<i64>,
}

impl ApiKey {
    /// Whether the key has expired at `now` (ms).
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum KeyScope {
    /// For client apps: upload, read the tenant's media and batches, follow their events.
    Upload,
    /// Everything: also webhooks and email recipients.
    Admin,
}

impl KeyScope {
    /// The stored and wire form (the same as serde's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    /// Whether a key of this scope may do what `needed` allows.
    pub fn covers(self, needed: KeyScope) -> bool {
        self == KeyScope::Admin || needed == KeyScope::Upload
    }
}

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub id: String,
    pub tenant_id: String,
    pub kind: MediaKind,
    pub status: MediaStatus,
    pub content_type: String,
    pub filename: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub raw_key: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub metadata: Option<serde_json::Value>,
    pub failure_reason: Option<String>,
    pub failure_message: Option<String>,
    pub batch_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
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
    pub content_type: String,
    /// Pixels; `null` for outputs without a picture (audio), never a made-up 0.
    #[serde(serialize_with = "zero_as_null", deserialize_with = "null_as_zero")]
    pub width: u32,
    #[serde(serialize_with = "zero_as_null", deserialize_with = "null_as_zero")]
    pub height: u32,
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
    pub fn linked(mut self, base: &str, media_id: &str) -> Variant {
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

/// Where a batch is: `open` takes files, `sealed` takes none and completes when every item is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum BatchStatus {
    Open,
    Sealed,
    Completed,
}

impl BatchStatus {
    /// The stored and wire form (the same as serde's).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A group of uploads tracked together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: String,
    pub tenant_id: String,
    pub name: Option<String>,
    pub expected_count: Option<u64>,
    pub metadata: Option<serde_json::Value>,
    pub webhook_url: Option<String>,
    /// Signs deliveries to `webhook_url` (`whsec_…`); shown once, at creation.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<String>,
    pub status: BatchStatus,
    /// `completed` or `completed_with_failures`, once completed.
    pub outcome: Option<String>,
    /// Completion round: 1 at first, one more each time a requeued item reopens the batch.
    pub round: i64,
    pub created_at: i64,
    pub sealed_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// Items of a batch per state, derived from item rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    pub uploaded: u64,
    pub processing: u64,
    pub processed: u64,
    pub failed: u64,
}

impl BatchCounts {
    pub fn total(&self) -> u64 {
        self.uploaded + self.processing + self.processed + self.failed
    }
    pub fn terminal(&self) -> u64 {
        self.processed + self.failed
    }
}

/// One file of a batch: a media item, or a file refused at upload (no media id, state `failed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    pub item_id: String,
    pub media_id: Option<String>,
    pub filename: Option<String>,
    pub state: MediaStatus,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub updated_at: i64,
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
