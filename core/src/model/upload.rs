//! A resumable upload (tus) in progress: what any ingest instance needs to take the next request.

use crate::ids::{BatchId, MediaId, TenantId, UploadId};

/// One resumable upload. Its bytes so far are the parts of a parted write in the store
/// (`store_handle`, `parts`) followed by the tail object of `tail_size` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumableUpload {
    /// Its id, the last segment of its URL.
    pub id: UploadId,
    /// Whose it is; no other tenant sees it.
    pub tenant_id: TenantId,
    /// The size the client declared (`Upload-Length`).
    pub length: u64,
    /// The metadata the client sent (`Upload-Metadata`), decoded, for `HEAD` to echo.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The display name from the metadata's `filename`.
    pub filename: Option<String>,
    /// The batch it joins when complete.
    pub batch_id: Option<BatchId>,
    /// The metadata's `Idempotency-Key`, carried to the media item.
    pub idempotency_key: Option<String>,
    /// The id the media item gets when the upload completes.
    pub media_id: MediaId,
    /// Where the finished object goes.
    pub raw_key: String,
    /// When it expires unless a request comes (ms since the epoch).
    pub expires_at: i64,
    /// When the last byte arrived and the item was recorded (ms), if it has.
    pub completed_at: Option<i64>,
    /// When it was created (ms).
    pub created_at: i64,
    /// How far it has got.
    pub progress: UploadProgress,
}

/// What changes as bytes arrive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadProgress {
    /// Bytes received and kept (`Upload-Offset`).
    pub offset: u64,
    /// The type sniffed from the first bytes, once they have arrived.
    pub content_type: Option<String>,
    /// The store's handle of the parted write, once the first part was sent.
    pub store_handle: Option<String>,
    /// Parts sent: number and the store's tag.
    pub parts: Vec<(i32, String)>,
    /// Bytes after the last part, kept as an object of their own until the next request.
    pub tail_size: u64,
}

impl ResumableUpload {
    /// Key of the object holding the bytes after the last part.
    pub fn tail_key(&self) -> String {
        format!("{}{}/{}.tail", crate::store::RESUMABLE_PREFIX, self.tenant_id, self.id)
    }

    /// Whether every declared byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.progress.offset == self.length
    }
}
