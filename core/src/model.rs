//! The records the repository keeps and the API shows.

use serde::{Deserialize, Serialize};

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

/// A tenant: the unit of isolation. Keys belong to one tenant and see only its media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Opaque id, used on every tenant-owned row.
    pub id: String,
    /// Unique name operators use (`mediamill tenants`, `keys create --tenant`).
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
    /// `requests_per_sec`: API requests a second.
    RequestsPerSec,
    /// `upload_bytes_per_sec`: upload bytes a second.
    UploadBytesPerSec,
    /// `concurrent_uploads`: uploads in progress at once.
    ConcurrentUploads,
    /// `sse_streams`: live event streams open at once.
    SseStreams,
    /// `webhooks`: webhook endpoints.
    Webhooks,
    /// `email_recipients`: email recipients.
    EmailRecipients,
    /// `stored_bytes`: bytes of media not deleted.
    StoredBytes,
    /// `media_count`: media items not deleted.
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
    /// Opaque id (shown in listings and `auth.events`; not the secret).
    pub id: String,
    /// The tenant whose media the key reaches.
    pub tenant_id: String,
    /// The first characters of the key, to tell keys apart in listings.
    pub prefix: String,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
    /// When it was revoked (ms), if it was.
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
    /// Time-ordered id (UUIDv7).
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
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
    pub batch_id: Option<String>,
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
    /// Takes files.
    Open,
    /// Takes no more files; completes when every item is terminal.
    Sealed,
    /// Every item is terminal; `outcome` says how it went.
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
    /// Time-ordered id.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// A name the client gave it.
    pub name: Option<String>,
    /// How many files the client said it will send; the batch seals itself at that count.
    pub expected_count: Option<u64>,
    /// Client data kept with the batch and echoed in its events.
    pub metadata: Option<serde_json::Value>,
    /// Where its completion is posted, if anywhere.
    pub webhook_url: Option<String>,
    /// Signs deliveries to `webhook_url` (`whsec_…`); shown once, at creation.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<String>,
    /// Where it is.
    pub status: BatchStatus,
    /// `completed` or `completed_with_failures`, once completed.
    pub outcome: Option<String>,
    /// Completion round: 1 at first, one more each time a requeued item reopens the batch.
    pub round: i64,
    /// When it was made (ms).
    pub created_at: i64,
    /// When it was sealed (ms).
    pub sealed_at: Option<i64>,
    /// When it completed (ms).
    pub completed_at: Option<i64>,
}

/// Items of a batch per state, derived from item rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    /// Items stored, not yet taken by a worker.
    pub uploaded: u64,
    /// Items a worker has.
    pub processing: u64,
    /// Items done.
    pub processed: u64,
    /// Items failed, including files refused at upload.
    pub failed: u64,
}

impl BatchCounts {
    /// Every item.
    pub fn total(&self) -> u64 {
        self.uploaded + self.processing + self.processed + self.failed
    }
    /// Items that will not change any more.
    pub fn terminal(&self) -> u64 {
        self.processed + self.failed
    }
}

/// One file of a batch: a media item, or a file refused at upload (no media id, state `failed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    /// Its id within the batch (the media id, or a fresh id for a refused file).
    pub item_id: String,
    /// The media item, when the file was accepted.
    pub media_id: Option<String>,
    /// The client's filename.
    pub filename: Option<String>,
    /// Its state, which only moves forward.
    pub state: MediaStatus,
    /// Why it failed, as a stable code.
    pub reason: Option<String>,
    /// Why it failed, in words.
    pub message: Option<String>,
    /// Last change (ms).
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
