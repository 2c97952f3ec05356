//! The effective configuration: defaults, then `mediamill.toml` (or `--config FILE`), then `MEDIAMILL_*`
//! environment variables (`__` separates nesting, e.g. `MEDIAMILL_KAFKA__BROKERS`).
//!
//! Limits are validated here, at load, so a bad value fails at start with the key named, never at the first upload.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod app;
mod connections;
mod image;
mod isolation;
pub mod keys;
mod limits;
mod roles;
mod tenants;
mod uploads;
mod video;
pub use app::{AppConfig, AppRules, TenantRules};
pub use connections::{
    mask_url_password, DatabaseConfig, KafkaConfig, S3Config, ServerConfig, StoreBackend, StoreConfig, TelemetryConfig,
};
pub(crate) use image::{is_safe_name, validate_variants};
pub use image::{parse_hex_colour, ImageConfig, ImageFormat, VariantSpec};
pub use isolation::IsolationConfig;
pub use limits::Limits;
pub use roles::{BatchConfig, NotifyConfig, WorkerConfig};
pub use tenants::TenantDefaults;
pub use uploads::UploadsConfig;
pub use video::{Rendition, VideoConfig};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable could not be read or parsed.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value parsed but is not allowed.
    #[error("configuration: {key} {problem}")]
    Invalid {
        /// The key, as the source spells it.
        key: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// A key that no setting has: a typo would otherwise be ignored silently.
    #[error("configuration: unknown key {key} in {source_name}; did you mean {nearest}?")]
    UnknownKey {
        /// The key, as the source spells it.
        key: String,
        /// Where it was found (the file or the environment).
        source_name: String,
        /// The known key nearest to it, as a suggestion.
        nearest: String,
    },
}

/// Everything a mediamill process can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `[server]`: listening addresses, public URL, start-up wait.
    pub server: ServerConfig,
    /// `[database]`: PostgreSQL or SQLite.
    pub database: DatabaseConfig,
    /// `[store]`: local disk or S3.
    pub store: StoreConfig,
    /// `[kafka]`: brokers, topic prefix, partitions.
    pub kafka: KafkaConfig,
    /// `[limits]`: what one request, upload or job may cost.
    pub limits: Limits,
    /// `[image]`: image variants and their encoding.
    pub image: ImageConfig,
    /// `[video]`: the rendition ladder, posters, HLS.
    pub video: VideoConfig,
    /// `[worker]`: concurrency, attempts, retry tiers.
    pub worker: WorkerConfig,
    /// `[isolation]`: sandbox children and their limits.
    pub isolation: IsolationConfig,
    /// `[batch]`: progress events and auto-sealing.
    pub batch: BatchConfig,
    /// `[notify]`: webhook and email delivery.
    pub notify: NotifyConfig,
    /// `[uploads]`: resumable uploads (tus).
    pub uploads: UploadsConfig,
    /// `[app]`: the app's notification rules, Web Push and SMS.
    pub app: AppConfig,
    /// Every tenant's limits and quotas unless it has its own (`mediamill tenants set NAME --limit KEY=VALUE`);
    /// 0 means unlimited.
    pub tenants: TenantDefaults,
    /// `[telemetry]`: where traces go.
    pub telemetry: TelemetryConfig,
    /// Where this configuration came from (files read, environment), for `mediamill config`; not a setting.
    #[serde(skip)]
    pub sources: Vec<String>,
}

impl Config {
    /// Loads defaults, then `file` (if given; else `mediamill.toml` when present), then the environment.
    /// Unknown keys in the file or in `MEDIAMILL_*__*` variables are refused, naming the nearest valid key.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let defaults = Serialized::defaults(Config::default());
        let known = provider_dict(&defaults)?;
        let mut fig = Figment::from(defaults);
        let mut sources = Vec::new();
        let path = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("mediamill.toml"));
        // An explicit file must exist; the default one is read only when present.
        if file.is_some() || path.exists() {
            let toml = Toml::file_exact(&path);
            let shown = std::fs::canonicalize(&path).unwrap_or(path.clone()).display().to_string();
            if let Some(u) = keys::first_unknown(&known, &provider_dict(&toml)?, keys::Spelling::File) {
                return Err(ConfigError::UnknownKey { key: u.key, source_name: shown, nearest: u.nearest });
            }
            fig = fig.merge(toml);
            sources.push(shown);
        }
        // Only nested names are settings (MEDIAMILL_KAFKA__BROKERS); MEDIAMILL_CONFIG, MEDIAMILL_DATA and
        // the like are the program's own variables.
        let env = Env::prefixed("MEDIAMILL_").filter(|k| k.as_str().contains("__")).split("__");
        let env_dict = provider_dict(&env)?;
        if let Some(u) = keys::first_unknown(&known, &env_dict, keys::Spelling::Env) {
            return Err(ConfigError::UnknownKey {
                key: u.key,
                source_name: "the environment".into(),
                nearest: u.nearest,
            });
        }
        if !env_dict.is_empty() {
            sources.push("MEDIAMILL_* environment variables".into());
        }
        fig = fig.merge(env);
        let mut cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.sources = sources;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every value that parsed but is not allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonzero = |key: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid { key, problem: "must be greater than 0".into() })
            } else {
                Ok(())
            }
        };
        nonzero("limits.max_image_bytes", self.limits.max_image_bytes)?;
        nonzero("limits.max_video_bytes", self.limits.max_video_bytes)?;
        nonzero("limits.max_image_pixels", self.limits.max_image_pixels)?;
        nonzero("limits.max_image_frames", self.limits.max_image_frames as u64)?;
        nonzero("limits.job_timeout_secs", self.limits.job_timeout_secs)?;
        nonzero("limits.max_archive_bytes", self.limits.max_archive_bytes)?;
        nonzero("limits.max_archive_entries", self.limits.max_archive_entries)?;
        nonzero("limits.max_archive_expanded_bytes", self.limits.max_archive_expanded_bytes)?;
        nonzero("limits.max_compression_ratio", self.limits.max_compression_ratio)?;
        nonzero("limits.max_json_bytes", self.limits.max_json_bytes as u64)?;
        nonzero("limits.max_parts_per_request", self.limits.max_parts_per_request as u64)?;
        nonzero("limits.max_part_header_bytes", self.limits.max_part_header_bytes as u64)?;
        nonzero("limits.body_idle_secs", self.limits.body_idle_secs)?;
        nonzero("limits.max_concurrent_uploads", self.limits.max_concurrent_uploads as u64)?;
        nonzero("limits.max_concurrent_archives", self.limits.max_concurrent_archives as u64)?;

        nonzero("server.max_connections", self.server.max_connections as u64)?;
        nonzero("server.header_read_timeout_secs", self.server.header_read_timeout_secs)?;
        nonzero("kafka.job_partitions", self.kafka.job_partitions.max(0) as u64)?;
        nonzero("kafka.event_partitions", self.kafka.event_partitions.max(0) as u64)?;
        nonzero("worker.max_attempts", self.worker.max_attempts as u64)?;
        let tiers = &self.worker.retry_tiers_secs;
        let rising = tiers.windows(2).all(|w| w[0] < w[1]);
        if tiers.iter().any(|d| *d == 0 || *d > 7 * 24 * 3600) || tiers.len() > 10 || !rising {
            return Err(ConfigError::Invalid {
                key: "worker.retry_tiers_secs",
                problem: "at most 10 rising delays of 1 s to 7 days".into(),
            });
        }
        nonzero("batch.auto_seal_secs", self.batch.auto_seal_secs)?;
        nonzero("batch.progress_interval_ms", self.batch.progress_interval_ms)?;
        nonzero("notify.retry_base_ms", self.notify.retry_base_ms)?;
        nonzero("notify.max_attempts", self.notify.max_attempts as u64)?;
        nonzero("notify.timeout_ms", self.notify.timeout_ms)?;
        validate_variants("image.variants", &self.image.variants)?;
        self.video.validate()?;
        self.isolation.validate()?;
        self.uploads.validate()?;
        parse_hex_colour(&self.image.background)
            .ok_or(ConfigError::Invalid { key: "image.background", problem: "must be #rrggbb".into() })?;
        if self.store.backend == StoreBackend::S3 && self.store.s3.bucket.is_empty() {
            return Err(ConfigError::Invalid {
                key: "store.s3.bucket",
                problem: "must be set for the s3 backend".into(),
            });
        }
        Ok(())
    }

    /// Base URL for links in API answers.
    pub fn public_url(&self) -> String {
        if self.server.public_url.is_empty() {
            format!("http://{}", self.server.listen)
        } else {
            self.server.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Worker concurrency with 0 resolved to the CPU count.
    pub fn worker_concurrency(&self) -> usize {
        if self.worker.concurrency == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            self.worker.concurrency
        }
    }

    /// The configuration as TOML, with secrets masked and derived defaults (`server.public_url`) filled in,
    /// for `mediamill config`; it opens with the sources it was loaded from.
    pub fn to_toml_masked(&self) -> String {
        let mut c = self.clone();
        c.server.public_url = self.public_url();
        if !c.store.s3.secret_key.is_empty() {
            c.store.s3.secret_key = "********".into();
        }
        if !c.server.url_signing_key.is_empty() {
            c.server.url_signing_key = "********".into();
        }
        c.database.url = mask_url_password(&c.database.url);
        let mut head = String::from("# loaded from: defaults");
        for s in &self.sources {
            head.push_str(", ");
            head.push_str(s);
        }
        if self.sources.is_empty() {
            head.push_str(" only (no mediamill.toml here, no MEDIAMILL_* settings)");
        }
        let body = toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# cannot render: {e}"));
        format!("{head}\n{body}")
    }
}

/// A provider's values (of its default profile).
fn provider_dict(p: &impl figment::Provider) -> Result<figment::value::Dict, ConfigError> {
    let data = p.data().map_err(|e| ConfigError::Load(Box::new(e)))?;
    Ok(data.into_values().next().unwrap_or_default())
}

#[cfg(test)]
// figment's Jail closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().expect("defaults validate");
    }

    #[test]
    fn a_tenants_own_limit_wins_over_the_default() {
        use crate::model::{TenantLimit, TenantLimits};
        let d = TenantDefaults::default();
        let mut own = TenantLimits::default();
        for limit in TenantLimit::ALL {
            assert_eq!(TenantLimit::parse(limit.key()), Some(limit));
            *own.field_mut(limit) = Some(7);
            assert_eq!(own.get(limit), Some(7));
            assert_eq!(d.effective(&own, limit), 7, "{}: the tenant's own value wins", limit.key());
        }
        assert_eq!(d.effective(&TenantLimits::default(), TenantLimit::RequestsPerSec), 100);
        // The stored JSON uses the same names as the keys.
        let json = serde_json::to_value(&own).unwrap();
        assert!(TenantLimit::ALL.iter().all(|l| json[l.key()] == 7), "{json}");
    }

    #[test]
    fn zero_limit_is_refused_with_its_key() {
        let mut c = Config::default();
        c.limits.max_image_pixels = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("limits.max_image_pixels"), "{e}");
    }

    #[test]
    fn sandbox_limits_too_small_to_start_are_refused_with_their_key() {
        let mut c = Config::default();
        c.isolation.video_memory_mb = 8;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("isolation.video_memory_mb"), "{e}");
        let mut c = Config::default();
        c.isolation.max_jobs_per_child = 0;
        assert!(c.validate().unwrap_err().to_string().contains("isolation.max_jobs_per_child"));
    }

    #[test]
    fn hostile_variant_name_is_refused() {
        let mut c = Config::default();
        c.image.variants[0].name = "../../etc".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn env_overrides_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("mediamill.toml", "[limits]\nmax_image_pixels = 5\n[kafka]\nbrokers = \"a:1\"")?;
            jail.set_env("MEDIAMILL_KAFKA__BROKERS", "b:2");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.limits.max_image_pixels, 5);
            assert_eq!(c.kafka.brokers, "b:2");
            Ok(())
        });
    }

    #[test]
    fn password_is_masked() {
        let mut c = Config::default();
        c.database.url = "postgres://u:secret@h/db".into();
        c.store.s3.secret_key = "s3-hidden".into();
        let t = c.to_toml_masked();
        assert!(!t.contains(":secret@") && !t.contains("s3-hidden"), "{t}");
        assert!(t.contains("postgres://u:****@h/db"));
        c.database.url = "postgres://u@h/db?sslmode=disable&password=hunter2".into();
        let t = c.to_toml_masked();
        assert!(!t.contains("hunter2"), "{t}");
        assert!(t.contains("postgres://u@h/db?sslmode=disable&password=****"), "{t}");
    }

    #[test]
    fn unknown_keys_are_refused_naming_the_nearest() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("mediamill.toml", "[notify]\nallow_private_target = true\n")?;
            let e = Config::load(None).unwrap_err().to_string();
            assert!(
                e.contains("notify.allow_private_target ") && e.contains("did you mean notify.allow_private_targets?"),
                "{e}"
            );
            assert!(e.contains("mediamill.toml"), "names the file: {e}");
            jail.create_file("mediamill.toml", "")?;
            jail.set_env("MEDIAMILL_KAFKA__BROKER", "x:1");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("MEDIAMILL_KAFKA__BROKER ") && e.contains("MEDIAMILL_KAFKA__BROKERS"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn program_variables_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MEDIAMILL_DATA", "/somewhere");
            jail.set_env("MEDIAMILL_TEST_KAFKA", "x");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert!(c.sources.is_empty(), "{:?}", c.sources);
            Ok(())
        });
    }

    #[test]
    fn config_output_names_sources_and_the_public_url() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("mediamill.toml", "[server]\nlisten = \"127.0.0.1:9999\"\n")?;
            let t = Config::load(None).map_err(|e| e.to_string())?.to_toml_masked();
            let first = t.lines().next().unwrap_or_default();
            assert!(first.starts_with("# loaded from: defaults, /") && first.ends_with("mediamill.toml"), "{first}");
            assert!(t.contains("public_url = \"http://127.0.0.1:9999\""), "{t}");
            Ok(())
        });
    }
}
