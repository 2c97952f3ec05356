//! The limits every tenant gets unless an operator set its own.

use serde::{Deserialize, Serialize};

/// The `[tenants]` section: default limits and quotas of every tenant (0: unlimited). Rates and concurrent
/// counts hold per ingest instance; quotas over all of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantDefaults {
    /// API requests a second per tenant.
    pub requests_per_sec: u64,
    /// Upload bytes a second per tenant.
    pub upload_bytes_per_sec: u64,
    /// Uploads in progress at once per tenant.
    pub concurrent_uploads: u64,
    /// Live event streams open at once per tenant.
    pub sse_streams: u64,
    /// Webhook endpoints per tenant.
    pub webhooks: u64,
    /// Email recipients per tenant.
    pub email_recipients: u64,
    /// Bytes of media kept per tenant.
    pub stored_bytes: u64,
    /// Media items kept per tenant.
    pub media_count: u64,
}

impl Default for TenantDefaults {
    fn default() -> Self {
        TenantDefaults {
            requests_per_sec: 100,
            upload_bytes_per_sec: 256 * 1024 * 1024,
            concurrent_uploads: 32,
            sse_streams: 100,
            webhooks: 50,
            email_recipients: 50,
            stored_bytes: 0,
            media_count: 0,
        }
    }
}

impl TenantDefaults {
    /// The default of `limit`.
    pub fn default_of(&self, limit: crate::model::TenantLimit) -> u64 {
        use crate::model::TenantLimit as L;
        match limit {
            L::RequestsPerSec => self.requests_per_sec,
            L::UploadBytesPerSec => self.upload_bytes_per_sec,
            L::ConcurrentUploads => self.concurrent_uploads,
            L::SseStreams => self.sse_streams,
            L::Webhooks => self.webhooks,
            L::EmailRecipients => self.email_recipients,
            L::StoredBytes => self.stored_bytes,
            L::MediaCount => self.media_count,
        }
    }

    /// What applies to a tenant with limits `own` for `limit`: its own value, else the default (0: unlimited).
    pub fn effective(&self, own: &crate::model::TenantLimits, limit: crate::model::TenantLimit) -> u64 {
        own.get(limit).unwrap_or_else(|| self.default_of(limit))
    }
}
