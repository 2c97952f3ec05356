//! Process isolation of decoders: whether workers decode and encode in sandbox children, and their limits.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Sandbox children of the workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IsolationConfig {
    /// Decode and encode untrusted files in supervised child processes (a crash or a bomb then fails only
    /// its job). Off: in the worker's own threads, slightly faster, one bad file can take the worker down.
    pub enabled: bool,
    /// Address-space limit of an image child in MiB. Allow about 12 bytes per pixel of `limits.max_image_pixels`
    /// plus 300 MiB for the program itself.
    pub image_memory_mb: u64,
    /// Address-space limit of a video child in MiB (the encoders' threads and frame queues need room).
    pub video_memory_mb: u64,
    /// Jobs after which a child is replaced anyway (bounds slow leaks and heap fragmentation in C decoders).
    pub max_jobs_per_child: u32,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig { enabled: true, image_memory_mb: 2048, video_memory_mb: 4096, max_jobs_per_child: 1000 }
    }
}

/// Below this no child gets as far as loading its libraries.
const MIN_MEMORY_MB: u64 = 64;

impl IsolationConfig {
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, mb) in
            [("isolation.image_memory_mb", self.image_memory_mb), ("isolation.video_memory_mb", self.video_memory_mb)]
        {
            if mb < MIN_MEMORY_MB {
                return Err(ConfigError::Invalid { key, problem: format!("must be at least {MIN_MEMORY_MB} (MiB)") });
            }
        }
        if self.max_jobs_per_child == 0 {
            return Err(ConfigError::Invalid {
                key: "isolation.max_jobs_per_child",
                problem: "must be greater than 0".into(),
            });
        }
        Ok(())
    }
}
