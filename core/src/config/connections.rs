//! Where mediamill listens and what it connects to: the HTTP server, the database, the object store, Kafka and
//! the trace collector.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Traces: each process exports its spans over OTLP when an endpoint is set; off (and free) by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP base URL of a collector (`http://collector:4318`); spans go to `{endpoint}/v1/traces`. Empty: off.
    pub otlp_endpoint: String,
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
    /// Serve the upload page at `/` (Uppy over tus; every request it makes still needs a key).
    pub web: bool,
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
    /// The S3 settings, when `kind = "s3"`.
    pub s3: S3Config,
}

/// The object store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Files under `store.path` (the embedded default).
    Local,
    /// An S3-compatible server.
    S3,
}

/// An S3-compatible endpoint (AWS, SeaweedFS, MinIO, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// Endpoint URL; empty means AWS's default for the region.
    pub endpoint: String,
    /// The region to sign for.
    pub region: String,
    /// The bucket every object goes in.
    pub bucket: String,
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            ops_listen: String::new(),
            max_connections: 4096,
            web: true,
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
