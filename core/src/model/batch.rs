//! Batches and their items.

use serde::{Deserialize, Serialize};

use super::{BatchId, MediaId, MediaStatus, TenantId};

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
    pub id: BatchId,
    /// The owning tenant.
    pub tenant_id: TenantId,
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
    pub media_id: Option<MediaId>,
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
