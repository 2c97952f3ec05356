//! Settings of the worker, batch and notify roles' loops.

use serde::{Deserialize, Serialize};

/// Webhook and email notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// Allow webhook targets on loopback, private, link-local or other internal addresses, on any port
    /// (off: SSRF protection; for development).
    pub allow_private_targets: bool,
    /// Ports a webhook target on a public address may use.
    pub allowed_ports: Vec<u16>,
    /// First retry delay; each later one doubles, with jitter, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    /// The longest pause between two attempts of a delivery.
    pub retry_max_ms: u64,
    /// Attempts before a delivery is given up (`dead`).
    pub max_attempts: u32,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after_secs: u64,
    /// Timeout of one webhook request.
    pub timeout_ms: u64,
    /// SMTP server for email; empty disables email.
    pub smtp_host: String,
    /// The SMTP server's port.
    pub smtp_port: u16,
    /// The sender address of every email.
    pub smtp_from: String,
}

impl NotifyConfig {
    /// The SSRF rules webhook targets are held to.
    pub fn target_policy(&self) -> crate::webhook_target::Policy {
        crate::webhook_target::Policy { allow_private: self.allow_private_targets, ports: self.allowed_ports.clone() }
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            allow_private_targets: false,
            allowed_ports: vec![80, 443],
            retry_base_ms: 5_000,
            retry_max_ms: 3_600_000,
            max_attempts: 15,
            disable_after_secs: 3 * 24 * 3600,
            timeout_ms: 10_000,
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_from: "mediamill@localhost".into(),
        }
    }
}

/// Batch tracking.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchConfig {
    /// A batch not sealed this many seconds after creation is sealed automatically.
    pub auto_seal_secs: u64,
    /// At most one `batch.progress` event per batch per this many milliseconds.
    pub progress_interval_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { auto_seal_secs: 3600, progress_interval_ms: 500 }
    }
}

/// Worker processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Jobs in flight per worker; 0 means one per CPU.
    pub concurrency: usize,
    /// Attempts made in place, with a short backoff, at a job that fails for a transient reason before it
    /// moves to the first retry tier.
    pub max_attempts: u32,
    /// Delays of the retry tiers in seconds: a job still failing for a transient reason waits on
    /// `media.jobs.retry.{delay}s` for each in turn (without holding up other jobs); after the last tier it
    /// is dead-lettered and fails with `retries_exhausted`. Empty: no tiers.
    pub retry_tiers_secs: Vec<u64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig { concurrency: 0, max_attempts: 3, retry_tiers_secs: vec![30, 300, 1800] }
    }
}
