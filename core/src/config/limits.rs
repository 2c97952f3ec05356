//! What one request, upload or job may cost: checked at the edge and by the workers, each naming its key.

use serde::{Deserialize, Serialize};

/// Upload and processing limits. Each is checked before work is spent on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest image upload in bytes.
    pub max_image_bytes: u64,
    /// Largest video upload in bytes.
    pub max_video_bytes: u64,
    /// Most pixels (width × height) an image may declare in its header.
    pub max_image_pixels: u64,
    /// Most frames an animated image (GIF, WebP) may have.
    pub max_image_frames: u32,
    /// Most seconds one processing job may run.
    pub job_timeout_secs: u64,
    /// Largest zip archive upload in bytes.
    pub max_archive_bytes: u64,
    /// Most entries in one archive.
    pub max_archive_entries: u64,
    /// Most bytes all entries of one archive may expand to.
    pub max_archive_expanded_bytes: u64,
    /// Highest expanded/compressed ratio of any entry (zip bombs have thousands).
    pub max_compression_ratio: u64,
    /// Largest JSON request body in bytes (batch descriptions, webhooks, email recipients); a larger one is
    /// refused as soon as it passes this, before it is buffered.
    pub max_json_bytes: usize,
    /// Most files one multipart request may carry (each becomes a database row).
    pub max_parts_per_request: usize,
    /// Longest text before a multipart body's first boundary, and longest header section of one part.
    pub max_part_header_bytes: usize,
    /// A request body that sends nothing for this long is cut (`408`); also the grace period before
    /// `min_body_bytes_per_sec` is judged.
    pub body_idle_secs: u64,
    /// Slowest average pace a request body may keep after `body_idle_secs` (`408` below it).
    pub min_body_bytes_per_sec: u64,
    /// Uploads (single files, batch files, archives) one ingest instance receives at once; more answer `429`.
    pub max_concurrent_uploads: usize,
    /// Zip archives one ingest instance spools to disk at once (each may be `max_archive_bytes`).
    pub max_concurrent_archives: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_image_bytes: 100 * 1024 * 1024,
            max_video_bytes: 4 * 1024 * 1024 * 1024,
            max_image_pixels: 100_000_000,
            max_image_frames: 1000,
            job_timeout_secs: 600,
            max_archive_bytes: 2 * 1024 * 1024 * 1024,
            max_archive_entries: 10_000,
            max_archive_expanded_bytes: 8 * 1024 * 1024 * 1024,
            max_compression_ratio: 200,
            max_json_bytes: 64 * 1024,
            max_parts_per_request: 1000,
            max_part_header_bytes: 8 * 1024,
            body_idle_secs: 30,
            min_body_bytes_per_sec: 1024,
            max_concurrent_uploads: 256,
            max_concurrent_archives: 4,
        }
    }
}
