//! Resumable uploads (tus): how long an abandoned one is kept and how its bytes are cut into parts.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[uploads]`: resumable uploads at `/v1/uploads`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadsConfig {
    /// An upload with no request for this long expires; its stored parts are removed by the sweeper.
    pub expire_secs: u64,
    /// Size of the parts sent to the store, in MiB (at least 5, S3's minimum). A request's bytes beyond the
    /// last whole part wait on this instance's disk, then in the store, for the next request.
    pub part_mib: u64,
    /// How often the sweeper looks for expired uploads.
    pub sweep_interval_secs: u64,
    /// How long the presigned URLs of a direct upload (`POST /v1/uploads/direct`) stay valid.
    pub direct_url_secs: u64,
    /// Direct uploads up to this size (MiB) get one presigned PUT; larger ones a plan of presigned parts.
    pub direct_single_put_mib: u64,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            expire_secs: 24 * 3600,
            part_mib: 8,
            sweep_interval_secs: 60,
            direct_url_secs: 3600,
            direct_single_put_mib: 64,
        }
    }
}

impl UploadsConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let smallest = crate::store::MIN_PART_BYTES >> 20;
        if !(smallest..=512).contains(&self.part_mib) {
            return Err(ConfigError::Invalid {
                key: "uploads.part_mib",
                problem: format!("must be {smallest} to 512"),
            });
        }
        if self.expire_secs == 0 || self.sweep_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "uploads.expire_secs",
                problem: "uploads.expire_secs and uploads.sweep_interval_secs must be greater than 0".into(),
            });
        }
        if !(60..=7 * 24 * 3600).contains(&self.direct_url_secs) {
            return Err(ConfigError::Invalid {
                key: "uploads.direct_url_secs",
                problem: "must be 60 s to 7 days".into(),
            });
        }
        if !(1..=5 * 1024).contains(&self.direct_single_put_mib) {
            return Err(ConfigError::Invalid {
                key: "uploads.direct_single_put_mib",
                problem: "must be 1 to 5120 (S3's largest PUT)".into(),
            });
        }
        Ok(())
    }

    /// The part size in bytes.
    pub fn part_bytes(&self) -> u64 {
        self.part_mib * 1024 * 1024
    }
}
