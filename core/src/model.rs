//! The records the repository keeps and the API shows.

use serde::{Deserialize, Serialize};

/// What kind of processing an upload gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    /// Sound without pictures; processed by the video workers into AAC/M4A.
    Audio,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }
    pub fn parse(s: &str) -> Option<MediaKind> {
        match s {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            _ => None,
        }
    }
}

/// Where a media item is in its life. `processed`, `failed` and `deleted` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaStatus {
    Uploaded,
    Processing,
    Processed,
    Failed,
    Deleted,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Uploaded => "uploaded",
            MediaStatus::Processing => "processing",
            MediaStatus::Processed => "processed",
            MediaStatus::Failed => "failed",
            MediaStatus::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<MediaStatus> {
        Some(match s {
            "uploaded" => MediaStatus::Uploaded,
            "processing" => MediaStatus::Processing,
            "processed" => MediaStatus::Processed,
            "failed" => MediaStatus::Failed,
            "deleted" => MediaStatus::Deleted,
            _ => return None,
        })
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

/// One stored output of processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// `thumb`, `medium`, …
    pub name: String,
    /// `jpeg`, `webp`, …
    pub format: String,
    pub key: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
}

/// Where a batch is: `open` takes files, `sealed` takes none and completes when every item is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    Open,
    Sealed,
    Completed,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Open => "open",
            BatchStatus::Sealed => "sealed",
            BatchStatus::Completed => "completed",
        }
    }
    pub fn parse(s: &str) -> Option<BatchStatus> {
        Some(match s {
            "open" => BatchStatus::Open,
            "sealed" => BatchStatus::Sealed,
            "completed" => BatchStatus::Completed,
            _ => return None,
        })
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
