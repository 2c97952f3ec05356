//! `mediamill up`: every role in one process. With no `kafka.brokers` configured it runs on the embedded
//! default: SQLite, a local directory and librdkafka's in-process mock broker, which keeps nothing across a
//! restart, so `up` re-enqueues every unfinished item from the database at start.

use std::net::SocketAddr;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_core::shutdown;

use crate::roles::{join_all, Roles};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address of the HTTP API (overrides server.listen).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Kafka bootstrap servers (overrides kafka.brokers); without any, the in-process broker is used.
    #[arg(long)]
    kafka: Option<String>,
    /// S3 endpoint (switches the store to S3; credentials from store.s3.*).
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// Database URL (overrides database.url).
    #[arg(long)]
    database_url: Option<String>,
}

/// The in-process broker, kept alive as long as `up` runs.
pub struct EmbeddedBroker {
    _cluster: rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
}

/// Starts the in-process broker with every topic, and points `cfg` at it.
pub fn start_embedded_broker(cfg: &mut Config) -> anyhow::Result<EmbeddedBroker> {
    let cluster = rdkafka::mocking::MockCluster::new(1).context("starting the in-process broker")?;
    let topics = mediamill_core::topics::Topics::new(&cfg.kafka.topic_prefix);
    for (name, job) in topics.all(&cfg.worker.retry_tiers_secs) {
        let parts = if job { cfg.kafka.job_partitions } else { cfg.kafka.event_partitions };
        cluster.create_topic(&name, parts, 1).with_context(|| format!("creating topic {name}"))?;
    }
    cfg.kafka.brokers = cluster.bootstrap_servers();
    Ok(EmbeddedBroker { _cluster: cluster })
}

/// A running `up`: every role in this process.
pub struct Running {
    pub addr: SocketAddr,
    /// The key created for the `default` tenant, when this start created one.
    pub new_key: Option<String>,
    pub embedded: bool,
    /// Bootstrap address of the broker in use (the in-process one's, when embedded).
    pub brokers: String,
    trigger: shutdown::Trigger,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _broker: Option<EmbeddedBroker>,
}

impl Running {
    /// Stops every role gracefully and waits for them.
    pub async fn stop(self) {
        self.trigger.fire();
        join_all(self.tasks).await;
    }
}

/// Starts every role (with no broker configured, the in-process one) and returns once every consumer group
/// has assigned its member, or after `server.startup_wait_secs`.
pub async fn start(mut cfg: Config) -> anyhow::Result<Running> {
    cfg.validate()?;
    let broker = if cfg.kafka.brokers.is_empty() { Some(start_embedded_broker(&mut cfg)?) } else { None };
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("binding {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let brokers = cfg.kafka.brokers.clone();
    if cfg.server.public_url.is_empty() {
        cfg.server.public_url = format!("http://{addr}"); // the real port when 0 was asked for
    }
    let b = Roles::open(cfg).await?;
    let (trigger, sd) = shutdown::channel();
    let requeued = b.requeue_unfinished().await?;
    if requeued > 0 {
        tracing::info!(requeued, "re-enqueued unfinished media from the database");
    }
    let new_key = b.first_key().await?;
    let mut tasks = vec![
        b.spawn_relay(sd.clone())?,
        b.spawn_image_worker(sd.clone()).await?,
        b.spawn_video_worker(sd.clone()).await?,
    ];
    tasks.extend(b.spawn_retry_forwarder(sd.clone())?);
    tasks.extend(b.spawn_batch(sd.clone()));
    tasks.extend(b.spawn_notify(sd.clone())?);
    tasks.extend(b.spawn_social(sd.clone())?);
    tasks.push(b.spawn_ingest(listener, sd)?);
    // Uploads accepted before the consumer groups have formed would wait seconds for their first job; the
    // listener already answers (`/readyz` says `joining`), but `up` is not started until the groups are.
    let wait = std::time::Duration::from_secs(b.cfg.server.startup_wait_secs);
    if let Err(pending) = b.consumers.wait_all(wait).await {
        tracing::warn!(?pending, "consumer groups still joining after server.startup_wait_secs; going on");
    }
    Ok(Running { addr, new_key, embedded: broker.is_some(), brokers, trigger, tasks, _broker: broker })
}

pub async fn run(mut cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(k) = args.kafka {
        cfg.kafka.brokers = k;
    }
    if let Some(e) = args.s3_endpoint {
        cfg.store.backend = mediamill_core::config::StoreBackend::S3;
        cfg.store.s3.endpoint = e;
    }
    if let Some(d) = args.database_url {
        cfg.database.url = d;
    }
    let (db, objects) = (crate::roles::mask(&cfg.database.url), cfg.store.local_dir.clone());
    let local = cfg.store.backend == mediamill_core::config::StoreBackend::Local;
    let running = start(cfg).await?;
    // Operator commands (`dlq list`, …) reach the in-process broker through this file while `up` runs.
    let _broker_file =
        if running.embedded { Some(super::data::BrokerFile::write(data, &running.brokers)?) } else { None };
    let broker = if running.embedded { "embedded broker" } else { "external broker" };
    eprintln!("mediamill up: API on http://{} ({broker}). Ctrl-C stops it.", running.addr);
    eprintln!(
        "data: database {db}{}; operator commands (keys, jobs, dlq, tenants) find it when run here or with --data {}",
        if local { format!(", objects in {}", objects.display()) } else { String::new() },
        data.display()
    );
    match &running.new_key {
        Some(k) => eprintln!("API key for tenant 'default' (shown once, store it): {k}"),
        None => eprintln!("The default tenant already has a key; `mediamill keys create --tenant NAME` makes more."),
    }
    let (t, sd) = shutdown::channel();
    shutdown::on_signals(t);
    sd.wait().await;
    running.stop().await;
    Ok(())
}
