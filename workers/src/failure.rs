//! Why processing failed, as a machine-readable reason and a message that names the limit or the cause.

/// The machine-readable reason of a failed item, as events and the API spell it (`too_many_pixels`, ...). The
/// string forms are derived, so parsing a reason a sandbox child sent and printing one cannot disagree.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumString, strum::IntoStaticStr, strum::EnumIter, strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum FailureReason {
    /// The bytes are no format mediamill decodes.
    UnsupportedFormat,
    /// Damaged or truncated.
    Corrupt,
    /// More pixels than `limits.max_image_pixels`.
    TooManyPixels,
    /// More frames than `limits.max_image_frames`.
    TooManyFrames,
    /// Took longer than the job's time limit.
    Timeout,
    /// The decoder or encoder crashed (a panic, or a sandbox child killed by a signal).
    Crashed,
    /// The raw upload is gone from the store.
    SourceMissing,
    /// Lasts longer than `video.max_seconds`.
    TooLong,
    /// Stopped from outside before it finished.
    Cancelled,
    /// An output could not be encoded.
    EncodeFailed,
    /// Hit the memory limit.
    OutOfMemory,
}

impl FailureReason {
    /// The reason as events and the API spell it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

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
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Their product.
        pixels: u64,
        /// `limits.max_image_pixels`.
        limit: u64,
    },
    /// An animation with more frames than allowed.
    #[error("the animation has more than {limit} frames (limits.max_image_frames)")]
    TooManyFrames {
        /// `limits.max_image_frames`.
        limit: u32,
    },
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
    TooLong {
        /// The media's duration.
        seconds: u64,
        /// `video.max_seconds`.
        limit: u64,
    },
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
    Reported {
        /// The child's reason.
        reason: FailureReason,
        /// The child's message.
        message: String,
    },
}

impl ProcessError {
    /// The reason carried by `failed` events and shown by the API.
    pub fn kind(&self) -> FailureReason {
        match self {
            ProcessError::UnsupportedFormat(_) => FailureReason::UnsupportedFormat,
            ProcessError::Corrupt(_) => FailureReason::Corrupt,
            ProcessError::TooManyPixels { .. } => FailureReason::TooManyPixels,
            ProcessError::Timeout(_) => FailureReason::Timeout,
            ProcessError::Crashed(_) => FailureReason::Crashed,
            ProcessError::SourceMissing => FailureReason::SourceMissing,
            ProcessError::Encode(..) => FailureReason::EncodeFailed,
            ProcessError::TooLong { .. } => FailureReason::TooLong,
            ProcessError::TooManyFrames { .. } => FailureReason::TooManyFrames,
            ProcessError::Cancelled => FailureReason::Cancelled,
            ProcessError::OutOfMemory(_) => FailureReason::OutOfMemory,
            ProcessError::Reported { reason, .. } => *reason,
        }
    }

    /// [`ProcessError::kind`] as events and the API spell it.
    pub fn reason(&self) -> &'static str {
        self.kind().as_str()
    }

    /// A panic caught around processing, as the `crashed` failure it is.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> ProcessError {
        let msg =
            payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
        ProcessError::Crashed(msg.unwrap_or_else(|| "panic".into()))
    }

    /// Rebuilds a failure from the reason and message a child sent (an unknown reason is the child misbehaving,
    /// reported as `crashed`).
    pub fn reported(reason: &str, message: String) -> ProcessError {
        match reason.parse::<FailureReason>() {
            Ok(reason) => ProcessError::Reported { reason, message },
            Err(_) => ProcessError::Crashed(format!("the child reported an unknown failure {reason:?}: {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reason must survive the trip from a child: one that did not parse back would turn a child's ordinary
    /// failure into `crashed`.
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
        let kinds: std::collections::HashSet<FailureReason> = all.iter().map(ProcessError::kind).collect();
        let every: std::collections::HashSet<FailureReason> =
            <FailureReason as strum::IntoEnumIterator>::iter().collect();
        assert_eq!(kinds, every, "every reason has an error, and every error its own reason");
        for e in all {
            let back = ProcessError::reported(e.reason(), e.to_string());
            assert_eq!(back.reason(), e.reason());
            assert_eq!(back.to_string(), e.to_string());
        }
        assert_eq!(ProcessError::reported("no_such_reason", "x".into()).reason(), "crashed");
    }
}
