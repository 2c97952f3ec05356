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
    /// The child process doing the work hit its memory limit (or a decoder reported running out of memory).
    #[error("processing ran out of memory: {0}")]
    OutOfMemory(String),
    /// A failure reported by a sandbox child, carried across the process boundary as its reason and message.
    #[error("{message}")]
    Reported { reason: &'static str, message: String },
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
            ProcessError::OutOfMemory(_) => "out_of_memory",
            ProcessError::Reported { reason, .. } => reason,
        }
    }

    /// Every reason [`ProcessError::reason`] can return, so a reason read back from a child maps onto the
    /// same static names (anything else is a child misbehaving, reported as `crashed`).
    pub const REASONS: [&'static str; 11] = [
        "unsupported_format",
        "corrupt",
        "too_many_pixels",
        "timeout",
        "crashed",
        "source_missing",
        "encode_failed",
        "too_long",
        "too_many_frames",
        "cancelled",
        "out_of_memory",
    ];

    /// A panic caught around processing, as the `crashed` failure it is.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> ProcessError {
        let msg =
            payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
        ProcessError::Crashed(msg.unwrap_or_else(|| "panic".into()))
    }

    /// Rebuilds a failure from the reason and message a child sent.
    pub fn reported(reason: &str, message: String) -> ProcessError {
        match ProcessError::REASONS.iter().find(|r| **r == reason) {
            Some(r) => ProcessError::Reported { reason: r, message },
            None => ProcessError::Crashed(format!("the child reported an unknown failure {reason:?}: {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `REASONS` is how a reason survives the trip from a child: a reason missing from it would turn a
    /// child's ordinary failure into `crashed`.
    #[test]
    fn every_reason_is_listed_and_comes_back_from_a_child_unchanged() {
        let all = [
            ProcessError::UnsupportedFormat(String::new()),
            ProcessError::Corrupt(String::new()),
            ProcessError::TooManyPixels { width: 1, height: 1, pixels: 1, limit: 1 },
            ProcessError::TooManyFrames { limit: 1 },
            ProcessError::Timeout(1),
            ProcessError::Crashed(String::new()),
            ProcessError::SourceMissing,
            ProcessError::TooLong { seconds: 1, limit: 1 },
            ProcessError::Cancelled,
            ProcessError::Encode("mp4", String::new()),
            ProcessError::OutOfMemory(String::new()),
        ];
        assert_eq!(all.len(), ProcessError::REASONS.len());
        for e in all {
            let back = ProcessError::reported(e.reason(), e.to_string());
            assert_eq!(back.reason(), e.reason());
            assert_eq!(back.to_string(), e.to_string());
        }
        assert_eq!(ProcessError::reported("no_such_reason", "x".into()).reason(), "crashed");
    }
}
