//! Why processing failed, as a machine-readable reason and a message that names the limit or the cause.

/// A permanent processing failure: trying again gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// Not a format mediamill decodes.
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    /// The bytes are damaged or truncated.
    #[error("the file is corrupt or truncated: {0}")]
    Corrupt(String),
    /// The header declares more pixels than allowed (a decompression bomb, or just too big).
    #[error("image is {width}×{height} = {pixels} pixels; the limit is {limit} pixels (limits.max_image_pixels)")]
    TooManyPixels { width: u32, height: u32, pixels: u64, limit: u64 },
    /// An animation with more frames than allowed.
    #[error("the animation has more than {limit} frames (limits.max_image_frames)")]
    TooManyFrames { limit: u32 },
    /// Processing took longer than the per-job limit.
    #[error("processing took longer than {0} s (limits.job_timeout_secs)")]
    Timeout(u64),
    /// The decoder or encoder panicked on this file.
    #[error("the decoder crashed on this file: {0}")]
    Crashed(String),
    /// The raw upload is gone from the object store.
    #[error("the uploaded object is missing from the store")]
    SourceMissing,
    /// The media runs longer than allowed.
    #[error("the media lasts {seconds} s; the limit is {limit} s (video.max_seconds)")]
    TooLong { seconds: u64, limit: u64 },
    /// The work was stopped from outside (timeout or shutdown) before it finished.
    #[error("processing was cancelled")]
    Cancelled,
    /// Encoding an output failed.
    #[error("encoding {0} failed: {1}")]
    Encode(&'static str, String),
}

impl ProcessError {
    /// The `reason` carried by `failed` events and shown by the API.
    pub fn reason(&self) -> &'static str {
        match self {
            ProcessError::UnsupportedFormat(_) => "unsupported_format",
            ProcessError::Corrupt(_) => "corrupt",
            ProcessError::TooManyPixels { .. } => "too_many_pixels",
            ProcessError::Timeout(_) => "timeout",
            ProcessError::Crashed(_) => "crashed",
            ProcessError::SourceMissing => "source_missing",
            ProcessError::Encode(..) => "encode_failed",
            ProcessError::TooLong { .. } => "too_long",
            ProcessError::TooManyFrames { .. } => "too_many_frames",
            ProcessError::Cancelled => "cancelled",
        }
    }
}
