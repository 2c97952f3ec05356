//! The effective configuration: defaults, then `mediamill.toml` (or `--config FILE`), then `MEDIAMILL_*`
//! environment variables (`__` separates nesting, e.g. `MEDIAMILL_KAFKA__BROKERS`).
//!
//! Limits are validated here, at load, so a bad value fails at start with the key named, never at the first upload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod isolation;
pub mod keys;
mod video;
pub use isolation::IsolationConfig;
pub use video::{Rendition, VideoConfig};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable could not be read or parsed.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value parsed but is not allowed.
    #[error("configuration: {key} {problem}")]
    Invalid { key: &'static str, problem: String },
    /// A key that no setting has: a typo would otherwise be ignored silently.
    #[error("configuration: unknown key {key} in {source_name}; did you mean {nearest}?")]
    UnknownKey { key: String, source_name: String, nearest: String },
}

/// Everything a mediamill process can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub store: StoreConfig,
    pub kafka: KafkaConfig,
    pub limits: Limits,
    pub image: ImageConfig,
    pub video: VideoConfig,
    pub worker: WorkerConfig,
    pub isolation: IsolationConfig,
    pub batch: BatchConfig,
    pub notify: NotifyConfig,
    /// Every tenant's limits and quotas unless it has its own (`mediamill tenants set NAME --limit KEY=VALUE`);
    /// 0 means unlimited.
    pub tenants: TenantDefaults,
    pub telemetry: TelemetryConfig,
    /// Where this configuration came from (files read, environment), for `mediamill config`; not a setting.
    #[serde(skip)]
    pub sources: Vec<String>,
}

/// Traces: each process exports its spans over OTLP when an endpoint is set; off (and free) by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP base URL of a collector (`http://collector:4318`); spans go to `{endpoint}/v1/traces`. Empty: off.
    pub otlp_endpoint: String,
}

/// The `[tenants]` section: default limits and quotas of every tenant (0: unlimited). Rates and concurrent
/// counts hold per ingest instance; quotas over all of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantDefaults {
    pub requests_per_sec: u64,
    pub upload_bytes_per_sec: u64,
    pub concurrent_uploads: u64,
    pub sse_streams: u64,
    pub webhooks: u64,
    pub email_recipients: u64,
    pub stored_bytes: u64,
    pub media_count: u64,
}

impl Default for TenantDefaults {
    fn default() -> Self {
        TenantDefaults {
            requests_per_sec: 100,
            upload_bytes_per_sec: 256 * 1024 * 1024,
            concurrent_uploads: 32,
            sse_streams: 100,
            webhooks: 50,
            email_recipients: 50,
            stored_bytes: 0,
            media_count: 0,
        }
    }
}

impl TenantDefaults {
    /// The default of `limit`.
    pub fn default_of(&self, limit: crate::model::TenantLimit) -> u64 {
        use crate::model::TenantLimit as L;
        match limit {
            L::RequestsPerSec => self.requests_per_sec,
            L::UploadBytesPerSec => self.upload_bytes_per_sec,
            L::ConcurrentUploads => self.concurrent_uploads,
            L::SseStreams => self.sse_streams,
            L::Webhooks => self.webhooks,
            L::EmailRecipients => self.email_recipients,
            L::StoredBytes => self.stored_bytes,
            L::MediaCount => self.media_count,
        }
    }

    /// What applies to a tenant with limits `own` for `limit`: its own value, else the default (0: unlimited).
    pub fn effective(&self, own: &crate::model::TenantLimits, limit: crate::model::TenantLimit) -> u64 {
        own.get(limit).unwrap_or_else(|| self.default_of(limit))
    }
}

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
    pub retry_max_ms: u64,
    /// Attempts before a delivery is given up (`dead`).
    pub max_attempts: u32,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after_secs: u64,
    /// Timeout of one webhook request.
    pub timeout_ms: u64,
    /// SMTP server for email; empty disables email.
    pub smtp_host: String,
    pub smtp_port: u16,
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

/// The HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address the ingest API listens on.
    pub listen: SocketAddr,
    /// Base URL clients reach the API at, used in `links`; empty means `http://{listen}`.
    pub public_url: String,
    /// Where the worker, batch and notify roles serve `/metrics` and `/healthz` (ingest serves them on its
    /// API address); empty turns it off.
    pub ops_listen: String,
    /// Open connections the API keeps at once; more are closed as they arrive.
    pub max_connections: usize,
    /// A connection that has not sent a request's whole header section in this long is closed.
    pub header_read_timeout_secs: u64,
    /// Key of signed variant URLs (`…?exp=&sig=`, fetched without the bearer key); the same on every ingest
    /// instance. Empty: signed URLs are off.
    pub url_signing_key: String,
    /// Longest life a signed URL may be asked for.
    pub max_signed_url_secs: u64,
    /// How long a role waits at start for its database, object store and Kafka topics before it gives up:
    /// in compose or Kubernetes the roles start beside their backends, in no guaranteed order.
    pub startup_wait_secs: u64,
}

/// The metadata repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://…` for production, `sqlite://FILE` for the embedded default.
    pub url: String,
    /// Most connections the pool opens.
    pub max_connections: u32,
}

/// Which object store holds raw uploads and variants.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// `local` (a directory) or `s3`.
    pub backend: StoreBackend,
    /// Root folder of the local store.
    pub local_dir: PathBuf,
    pub s3: S3Config,
}

/// The object store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    Local,
    S3,
}

/// An S3-compatible endpoint (AWS, SeaweedFS, MinIO, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// Endpoint URL; empty means AWS's default for the region.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
    /// Create the bucket at start when it does not exist.
    pub create_bucket: bool,
}

/// The broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaConfig {
    /// Bootstrap servers; empty means the in-process broker (only `mediamill up`).
    pub brokers: String,
    /// Prefix put before every topic name, e.g. `staging.`.
    pub topic_prefix: String,
    /// Partitions of each job topic, created by `mediamill topics`.
    pub job_partitions: i32,
    /// Partitions of the event topics.
    pub event_partitions: i32,
    /// Replication factor of created topics.
    pub replication: i32,
    /// Prefix of consumer group ids.
    pub group_prefix: String,
    /// librdkafka's `max.poll.interval.ms` for consumers.
    pub max_poll_interval_ms: u32,
}

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

/// One output of image processing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VariantSpec {
    /// Name used in URLs and object keys, e.g. `thumb`.
    pub name: String,
    /// Longest edge in pixels; images are never upscaled.
    pub long_edge: u32,
    /// Encodings to produce: `jpeg`, `webp`, `avif` (slow; off in the defaults), or `auto` (WebP unless the
    /// output is too large for WebP).
    pub formats: Vec<ImageFormat>,
    /// Encoder quality, 1–100.
    pub quality: u8,
}

/// An output encoding.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Webp,
    /// WebP, unless the output is larger than WebP allows (16383 px a side): then JPEG.
    Auto,
    /// AV1 in HEIF (libheif with aom): the smallest files, and by far the slowest to make.
    Avif,
}

impl ImageFormat {
    /// File extension used in object keys.
    pub fn ext(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp | ImageFormat::Auto => "webp",
            ImageFormat::Avif => "avif",
        }
    }
    /// The Content-Type of the encoded bytes.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp | ImageFormat::Auto => "image/webp",
            ImageFormat::Avif => "image/avif",
        }
    }
}

/// Image processing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    pub variants: Vec<VariantSpec>,
    /// Colour put behind transparent pixels for formats without alpha, as `#rrggbb`.
    pub background: String,
    /// Write the source's `Artist` and `Copyright` (and nothing else) into JPEG and WebP outputs.
    pub keep_rights: bool,
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            ops_listen: String::new(),
            max_connections: 4096,
            header_read_timeout_secs: 10,
            url_signing_key: String::new(),
            max_signed_url_secs: 7 * 24 * 3600,
            startup_wait_secs: 120,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: "sqlite://mediamill-data/mediamill.db".into(), max_connections: 16 }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Local,
            local_dir: "mediamill-data/objects".into(),
            s3: S3Config::default(),
        }
    }
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: "mediamill".into(),
            access_key: String::new(),
            secret_key: String::new(),
            path_style: true,
            create_bucket: true,
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: String::new(),
            topic_prefix: String::new(),
            job_partitions: 12,
            event_partitions: 12,
            replication: 1,
            group_prefix: "mediamill".into(),
            max_poll_interval_ms: 300_000,
        }
    }
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

impl Default for ImageConfig {
    fn default() -> Self {
        let v = |name: &str, long_edge| VariantSpec {
            name: name.into(),
            long_edge,
            formats: vec![ImageFormat::Jpeg, ImageFormat::Webp],
            quality: 80,
        };
        ImageConfig {
            variants: vec![v("thumb", 256), v("medium", 1024), v("large", 2048)],
            background: "#ffffff".into(),
            keep_rights: false,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig { concurrency: 0, max_attempts: 3, retry_tiers_secs: vec![30, 300, 1800] }
    }
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

/// Whether `name` can be part of an object key and a URL: non-empty letters, digits, `-` or `_`.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a list of image variants (`image.variants`, `video.poster`).
pub(crate) fn validate_variants(key: &'static str, variants: &[VariantSpec]) -> Result<(), ConfigError> {
    if variants.is_empty() {
        return Err(ConfigError::Invalid { key, problem: "must name at least one variant".into() });
    }
    for v in variants {
        if !is_safe_name(&v.name) {
            return Err(ConfigError::Invalid {
                key,
                problem: format!("{:?} must be non-empty letters, digits, '-' or '_'", v.name),
            });
        }
        if v.long_edge == 0 || v.formats.is_empty() || !(1..=100).contains(&v.quality) {
            return Err(ConfigError::Invalid {
                key,
                problem: format!("{:?} needs long_edge > 0, at least one format and quality 1–100", v.name),
            });
        }
    }
    Ok(())
}

/// `#rrggbb` → RGB.
pub fn parse_hex_colour(s: &str) -> Option<[u8; 3]> {
    let h = s.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let b = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some([b(0)?, b(2)?, b(4)?])
}

/// A database URL with its password (in the credentials or a `password=` parameter) masked.
pub fn mask_url_password(url: &str) -> String {
    // scheme://user:password@host → scheme://user:****@host
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = base.to_string();
    if let Some((scheme, rest)) = base.split_once("://") {
        if let Some((cred, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = cred.split_once(':') {
                out = format!("{scheme}://{user}:****@{host}");
            }
        }
    }
    // …?password=secret (libpq and sqlx accept it there too) → ?password=****
    if let Some(q) = query {
        let masked: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword") => {
                    format!("{k}=****")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
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
