//! Tenants, their limits and their API keys.

use serde::{Deserialize, Serialize};

use super::TenantId;

/// A tenant: the unit of isolation. Keys belong to one tenant and see only its media.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Opaque id, used on every tenant-owned row.
    pub id: TenantId,
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
    pub tenant_id: TenantId,
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
