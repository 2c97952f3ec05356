//! Wiring shared by the subcommands: opening the backends the config names and starting each role's loops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_core::kafka::{run_consumer, ConsumerSettings, EventProducer};
use mediamill_core::outbox::{Relay, Waker};
use mediamill_core::repo::{self, Repo};
use mediamill_core::shutdown::Shutdown;
use mediamill_core::store::{self, Store};
use mediamill_core::topics::{self, Topics};
use mediamill_ingest::AppState;
use mediamill_workers::image::ImageSettings;
use mediamill_workers::jobs::{ImageProcessor, JobHandler, Processor, Services, VideoProcessor};
use mediamill_workers::pool::CpuPool;
use mediamill_workers::sandbox::{ChildSpec, Supervisor};
use mediamill_workers::video::VideoSettings;
use tokio::task::JoinHandle;

/// The backends every role needs.
#[derive(Clone)]
pub struct Backends {
    pub cfg: Arc<Config>,
    pub repo: Arc<dyn Repo>,
    pub store: Arc<dyn Store>,
    pub waker: Waker,
}

impl Backends {
    /// Opens the database (running migrations) and the object store.
    pub async fn open(cfg: Config) -> anyhow::Result<Backends> {
        let repo = repo::open(&cfg.database.url, cfg.database.max_connections)
            .await
            .with_context(|| format!("opening database {}", mask(&cfg.database.url)))?;
        let store = store::open(&cfg.store).await.context("opening object store")?;
        Ok(Backends { cfg: Arc::new(cfg), repo, store, waker: Waker::new() })
    }

    /// Opens the backends for a long-running role (`ingest`, `worker`, `batch`, `notify`): like [`open`], but
    /// waits up to `server.startup_wait_secs` for the database, the object store and the Kafka topics (made by
    /// `mediamill topics`) to be there, since an orchestrator starts a role beside its backends, not after them.
    ///
    /// [`open`]: Backends::open
    pub async fn open_for_role(cfg: Config) -> anyhow::Result<Backends> {
        let wait = Duration::from_secs(cfg.server.startup_wait_secs);
        let url = mask(&cfg.database.url);
        let repo =
            wait_for(&format!("database {url}"), wait, || repo::open(&cfg.database.url, cfg.database.max_connections))
                .await?;
        let store = wait_for("object store", wait, || store::open(&cfg.store)).await?;
        anyhow::ensure!(!cfg.kafka.brokers.is_empty(), "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS)");
        let tiers = cfg.worker.retry_tiers_secs.clone();
        wait_for("kafka topics (run `mediamill topics`)", wait, || async {
            let missing = mediamill_core::kafka::missing_topics(&cfg.kafka, &tiers, Duration::from_secs(5)).await?;
            match missing.first() {
                None => Ok(()),
                Some(first) => Err(anyhow::anyhow!("{} missing, {first} among them", missing.len())),
            }
        })
        .await?;
        Ok(Backends { cfg: Arc::new(cfg), repo, store, waker: Waker::new() })
    }

    fn producer(&self) -> anyhow::Result<EventProducer> {
        anyhow::ensure!(!self.cfg.kafka.brokers.is_empty(), "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS)");
        // librdkafka keeps retrying a send for this long; the outbox keeps the event beyond that.
        Ok(EventProducer::new(&self.cfg.kafka.brokers, Duration::from_secs(30))?)
    }

    /// Starts the outbox relay.
    pub fn spawn_relay(&self, shutdown: Shutdown) -> anyhow::Result<JoinHandle<()>> {
        let relay = Relay {
            repo: self.repo.clone(),
            producer: self.producer()?,
            topics: Topics::new(&self.cfg.kafka.topic_prefix),
            waker: self.waker.clone(),
            interval: Duration::from_millis(250),
        };
        Ok(tokio::spawn(relay.run(shutdown)))
    }

    /// Starts the HTTP API on `listener`.
    pub fn spawn_ingest(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
    ) -> anyhow::Result<JoinHandle<()>> {
        let state = AppState {
            cfg: self.cfg.clone(),
            repo: self.repo.clone(),
            store: self.store.clone(),
            waker: self.waker.clone(),
            producer: Some(self.producer()?),
            gates: mediamill_ingest::Gates::new(&self.cfg.limits),
            ready: Default::default(),
            tenants: Default::default(),
            keys: Default::default(),
            cors: Default::default(),
            gateway: Some(mediamill_ingest::gateway_log::GatewayLog::start(
                self.producer()?,
                Topics::new(&self.cfg.kafka.topic_prefix).name(topics::GATEWAY_REQUESTS),
                shutdown.clone(),
            )),
            hub: Some(mediamill_ingest::live::EventHub::start(
                &self.cfg.kafka.brokers,
                &self.cfg.kafka.topic_prefix,
                shutdown.clone(),
            )?),
        };
        tokio::spawn(sweep_abandoned_writes(self.store.clone(), shutdown.clone()));
        Ok(tokio::spawn(async move {
            if let Err(e) = mediamill_ingest::serve(listener, state, shutdown).await {
                tracing::error!(error = %e, "ingest server stopped");
            }
        }))
    }

    /// Serves `/metrics` and `/healthz` on `server.ops_listen`, when set (workers, batch, notify).
    pub async fn spawn_ops(&self, shutdown: Shutdown) -> anyhow::Result<Option<JoinHandle<()>>> {
        let addr = self.cfg.server.ops_listen.trim();
        if addr.is_empty() {
            return Ok(None);
        }
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding server.ops_listen {addr}"))?;
        tracing::info!(addr, "serving /metrics and /healthz");
        Ok(Some(tokio::spawn(async move {
            if let Err(e) = crate::ops::serve(listener, shutdown).await {
                tracing::error!(error = %e, "ops endpoint stopped");
            }
        })))
    }

    /// Starts an image worker: a consumer of `media.jobs.image` in the image workers' group.
    pub async fn spawn_image_worker(&self, shutdown: Shutdown) -> anyhow::Result<JoinHandle<()>> {
        let cfg = &self.cfg;
        let concurrency = cfg.worker_concurrency();
        let work = work_root()?;
        let sandbox = self.sandbox(ChildSpec::image(&cfg.isolation, &work), concurrency).await?;
        let processor = ImageProcessor {
            tmp_dir: work,
            // Isolated, the pool only backs the in-process path, which then never runs.
            pool: CpuPool::new(if sandbox.is_some() { 1 } else { concurrency }),
            sandbox,
            settings: Arc::new(ImageSettings::from_config(cfg)),
            video: Arc::new(VideoSettings::from_config(cfg)),
            job_timeout: Duration::from_secs(cfg.limits.job_timeout_secs),
        };
        // More jobs in flight than CPU threads: the extra ones wait on the pool, so the consumer does not
        // pause and refetch (up to fetch.wait.max.ms) after every job; CPU use stays bounded by the pool.
        Ok(self.spawn_job_worker("image", topics::JOBS_IMAGE, processor, concurrency * 4, shutdown))
    }

    /// Starts a video worker: a consumer of `media.jobs.video` in its own group, so long transcodes never
    /// hold up images. Each job runs off the poll loop; at `video.concurrency` jobs the consumer pauses.
    pub async fn spawn_video_worker(&self, shutdown: Shutdown) -> anyhow::Result<JoinHandle<()>> {
        let cfg = &self.cfg;
        let tmp_dir = work_root()?;
        let sandbox = self.sandbox(ChildSpec::video(&cfg.isolation, &tmp_dir), cfg.video.concurrency).await?;
        let processor = VideoProcessor {
            sandbox,
            settings: Arc::new(VideoSettings::from_config(cfg)),
            timeout: Duration::from_secs(cfg.video.timeout_secs),
            progress_every: Duration::from_secs(cfg.video.progress_interval_secs),
            tmp_dir,
        };
        Ok(self.spawn_job_worker("video", topics::JOBS_VIDEO, processor, cfg.video.concurrency, shutdown))
    }

    /// The warm sandbox children of one job kind (`size` of them), or `None` when isolation is off.
    async fn sandbox(&self, spec: std::io::Result<ChildSpec>, size: usize) -> anyhow::Result<Option<Supervisor>> {
        if !self.cfg.isolation.enabled {
            return Ok(None);
        }
        let spec = spec.context("finding the mediamill executable for sandbox children")?;
        let kind = spec.kind;
        let sb =
            Supervisor::start(spec, size).await.with_context(|| format!("starting the {kind} sandbox children"))?;
        Ok(Some(sb))
    }

    /// Starts the retry forwarder: a consumer of every retry tier topic (group `<prefix>.retry`, shared by all
    /// workers) that returns parked jobs to their job topic when due. Every worker process runs one.
    pub fn spawn_retry_forwarder(&self, shutdown: Shutdown) -> anyhow::Result<Option<JoinHandle<()>>> {
        let cfg = &self.cfg;
        if cfg.worker.retry_tiers_secs.is_empty() {
            return Ok(None);
        }
        let t = Topics::new(&cfg.kafka.topic_prefix);
        let forwarder = Arc::new(mediamill_core::kafka::retry::RetryForwarder {
            producer: self.producer()?,
            shutdown: shutdown.clone(),
        });
        let settings = ConsumerSettings {
            brokers: cfg.kafka.brokers.clone(),
            group_id: format!("{}.retry", cfg.kafka.group_prefix),
            topics: cfg.worker.retry_tiers_secs.iter().map(|d| t.name(&topics::retry(*d))).collect(),
            // Waiting jobs cost a timer each; pausing at this many keeps memory bounded.
            capacity: 10_000,
            max_poll_interval_ms: cfg.kafka.max_poll_interval_ms,
            drain_timeout: Duration::from_secs(2),
        };
        Ok(Some(tokio::spawn(async move {
            if let Err(e) = run_consumer(settings, forwarder, shutdown).await {
                tracing::error!(error = %e, "retry forwarder stopped");
            }
        })))
    }

    fn spawn_job_worker<P: Processor>(
        &self,
        kind: &'static str,
        topic: &str,
        processor: P,
        capacity: usize,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let cfg = &self.cfg;
        let t = Topics::new(&cfg.kafka.topic_prefix);
        let handler = Arc::new(JobHandler {
            kind,
            processor,
            svc: Services {
                repo: self.repo.clone(),
                store: self.store.clone(),
                waker: self.waker.clone(),
                shutdown: shutdown.clone(),
                public_url: self.cfg.public_url(),
            },
            max_attempts: cfg.worker.max_attempts,
            dlq: self
                .producer()
                .ok()
                .map(|producer| mediamill_core::kafka::dlq::DeadLetters { producer, topic: t.name(topics::JOBS_DLQ) }),
            retry_tiers: cfg
                .worker
                .retry_tiers_secs
                .iter()
                .map(|d| (t.name(&topics::retry(*d)), Duration::from_secs(*d)))
                .collect(),
        });
        crate::ops::install_recorder();
        if kind == "image" {
            // One kind is enough to keep the gauge; the image workers are always there.
            tokio::spawn(mediamill_core::kafka::dlq::watch_size(
                cfg.kafka.brokers.clone(),
                t.name(topics::JOBS_DLQ),
                Duration::from_secs(15),
                shutdown.clone(),
            ));
        }
        let settings = ConsumerSettings {
            brokers: cfg.kafka.brokers.clone(),
            group_id: format!("{}.workers.{kind}", cfg.kafka.group_prefix),
            topics: vec![t.name(topic)],
            capacity,
            max_poll_interval_ms: cfg.kafka.max_poll_interval_ms,
            drain_timeout: Duration::from_secs(20),
        };
        tokio::spawn(async move {
            if let Err(e) = run_consumer(settings, handler, shutdown).await {
                tracing::error!(error = %e, kind, "worker stopped");
            }
        })
    }
}

impl Backends {
    /// Puts a fresh job in the outbox for every item not yet terminal (after the broker lost its topics, or
    /// to recover stuck work); duplicates are harmless because processing is idempotent.
    pub async fn requeue_unfinished(&self) -> anyhow::Result<usize> {
        let (mut n, mut after) = (0, None::<String>);
        loop {
            let page = self.repo.unfinished_media(after.as_deref(), 1000).await?;
            let events: Vec<_> = page.iter().map(|m| mediamill_core::outbox::job_event(m, 1)).collect();
            self.repo.append_events(&events).await?;
            n += page.len();
            match page.last() {
                Some(m) if page.len() == 1000 => after = Some(m.id.clone()),
                _ => break,
            }
        }
        self.waker.wake();
        Ok(n)
    }

    /// Makes sure the `default` tenant has a key; returns the secret when it had to create one.
    pub async fn first_key(&self) -> anyhow::Result<Option<String>> {
        let t = self.repo.ensure_tenant("default").await?;
        let keys = self.repo.list_keys(&t.id).await?;
        if keys.iter().any(|k| k.revoked_at.is_none()) {
            return Ok(None);
        }
        let (secret, hash, prefix) = mediamill_core::apikey::generate();
        let new = repo::NewKey {
            tenant_id: &t.id,
            key_hash: &hash,
            prefix: &prefix,
            scope: mediamill_core::model::KeyScope::Admin,
            expires_at: None,
        };
        let created = |k: &mediamill_core::model::ApiKey| {
            vec![mediamill_core::outbox::key_event(k, mediamill_core::event::KEY_CREATED, None)]
        };
        self.repo.create_key(&new, &created).await?;
        self.waker.wake();
        Ok(Some(secret))
    }
}

impl Backends {
    /// Starts the batch tracker (a consumer of `media.events`), its progress flusher and the auto-sealer.
    pub fn spawn_batch(&self, shutdown: Shutdown) -> Vec<JoinHandle<()>> {
        let cfg = &self.cfg;
        let progress = Arc::new(mediamill_batch::progress::Progress::default());
        let tracker = Arc::new(mediamill_batch::BatchTracker {
            repo: self.repo.clone(),
            waker: self.waker.clone(),
            progress: progress.clone(),
            shutdown: shutdown.clone(),
        });
        let settings = ConsumerSettings {
            brokers: cfg.kafka.brokers.clone(),
            group_id: format!("{}.batch", cfg.kafka.group_prefix),
            topics: vec![Topics::new(&cfg.kafka.topic_prefix).name(topics::MEDIA_EVENTS)],
            capacity: 32,
            max_poll_interval_ms: cfg.kafka.max_poll_interval_ms,
            drain_timeout: Duration::from_secs(10),
        };
        let interval = Duration::from_millis(cfg.batch.progress_interval_ms);
        let sd = shutdown.clone();
        vec![
            tokio::spawn(async move {
                if let Err(e) = run_consumer(settings, tracker, sd).await {
                    tracing::error!(error = %e, "batch tracker stopped");
                }
            }),
            tokio::spawn(progress.run(self.repo.clone(), self.waker.clone(), interval, shutdown.clone())),
            tokio::spawn(mediamill_batch::autoseal::run(
                self.repo.clone(),
                self.waker.clone(),
                Duration::from_secs(cfg.batch.auto_seal_secs),
                Duration::from_secs(5),
                shutdown,
            )),
        ]
    }
}

impl Backends {
    /// Starts the notifier: a consumer of `media.events` and `batch.events` that records deliveries, and the
    /// dispatcher that sends them.
    pub fn spawn_notify(&self, shutdown: Shutdown) -> anyhow::Result<Vec<JoinHandle<()>>> {
        use mediamill_notify::{Dispatcher, Fanout};
        let cfg = &self.cfg;
        let wake = Arc::new(tokio::sync::Notify::new());
        let fanout = Arc::new(Fanout { repo: self.repo.clone(), shutdown: shutdown.clone(), wake: wake.clone() });
        let t = Topics::new(&cfg.kafka.topic_prefix);
        let settings = ConsumerSettings {
            brokers: cfg.kafka.brokers.clone(),
            group_id: format!("{}.notify", cfg.kafka.group_prefix),
            topics: vec![t.name(topics::MEDIA_EVENTS), t.name(topics::BATCH_EVENTS)],
            capacity: 32,
            max_poll_interval_ms: cfg.kafka.max_poll_interval_ms,
            drain_timeout: Duration::from_secs(10),
        };
        let dispatcher =
            Dispatcher::new(self.repo.clone(), cfg.notify.clone(), wake).context("building the webhook client")?;
        let sd = shutdown.clone();
        Ok(vec![
            tokio::spawn(async move {
                if let Err(e) = run_consumer(settings, fanout, sd).await {
                    tracing::error!(error = %e, "notifier stopped");
                }
            }),
            tokio::spawn(dispatcher.run(shutdown)),
        ])
    }
}

/// A database URL with its password hidden, for messages.
pub fn mask(url: &str) -> String {
    mediamill_core::config::mask_url_password(url)
}

/// This process's folder for job folders (the sandbox children's work folder), after removing those of
/// worker processes that were killed.
fn work_root() -> anyhow::Result<std::path::PathBuf> {
    let tmp = std::env::temp_dir();
    let orphans = mediamill_workers::jobs::video::remove_orphans(&tmp);
    if orphans > 0 {
        tracing::info!(orphans, dir = %tmp.display(), "removed job folders of killed workers");
    }
    mediamill_workers::jobs::video::work_root(&tmp)
        .with_context(|| format!("creating a work folder in {}", tmp.display()))
}

/// Hourly, removes what writers of killed processes left in the store (temporary files, unfinished
/// multipart uploads) once it is a day old: no upload takes that long, and a live one is never touched.
async fn sweep_abandoned_writes(store: Arc<dyn Store>, shutdown: Shutdown) {
    const AGE: Duration = Duration::from_secs(24 * 3600);
    loop {
        match store.sweep_incomplete(AGE).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "removed abandoned partial uploads from the store"),
            Err(e) => tracing::warn!(error = %e, "sweeping abandoned partial uploads"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

/// Waits for every task, logging the ones that panicked.
pub async fn join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "task failed");
        }
    }
}

/// Calls `attempt` until it succeeds or `wait` has passed, pausing 0.5 s doubling up to 5 s between tries and
/// logging each failure, then returns the last error with what was awaited.
pub async fn wait_for<T, E, F, Fut>(what: &str, wait: Duration, mut attempt: F) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(500);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(error = %e, "waiting for {what}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                anyhow::bail!("gave up waiting for {what} after {}s (server.startup_wait_secs): {e}", wait.as_secs())
            }
        }
    }
}
