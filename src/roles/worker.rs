//! The `worker` roles' loops: image and video job consumers, their sandbox children, the retry forwarder.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mediamill_core::kafka::roster::ConsumerGroup;
use mediamill_core::kafka::run_consumer;
use mediamill_core::shutdown::Shutdown;
use mediamill_core::topics::{self, Topics};
use tokio::task::JoinHandle;

use mediamill_workers::executor::Executor;
use mediamill_workers::image::ImageSettings;
use mediamill_workers::jobs::{ImageProcessor, JobHandler, Processor, Services, VideoProcessor};
use mediamill_workers::pool::CpuPool;
use mediamill_workers::sandbox::{ChildSpec, Supervisor};
use mediamill_workers::video::VideoSettings;

use super::Roles;

impl Roles {
    /// Starts an image worker: a consumer of `media.jobs.image` in the image workers' group.
    pub async fn spawn_image_worker(&self, shutdown: Shutdown) -> anyhow::Result<JoinHandle<()>> {
        let cfg = &self.cfg;
        let concurrency = cfg.worker_concurrency();
        let work = work_root()?;
        let executor = self.executor(ChildSpec::image(&cfg.isolation, &work), concurrency).await?;
        let processor = ImageProcessor {
            tmp_dir: work,
            executor,
            settings: Arc::new(ImageSettings::from_config(cfg)),
            video: Arc::new(VideoSettings::from_config(cfg)),
            job_timeout: Duration::from_secs(cfg.limits.job_timeout_secs),
        };
        // More jobs in flight than CPU threads: the extra ones wait on the pool, so the consumer does not
        // pause and refetch (up to fetch.wait.max.ms) after every job; CPU use stays bounded by the pool.
        Ok(self.spawn_job_worker("image", ConsumerGroup::ImageWorkers, processor, concurrency * 4, shutdown))
    }

    /// Starts a video worker: a consumer of `media.jobs.video` in its own group, so long transcodes never
    /// hold up images. Each job runs off the poll loop; at `video.concurrency` jobs the consumer pauses.
    pub async fn spawn_video_worker(&self, shutdown: Shutdown) -> anyhow::Result<JoinHandle<()>> {
        let cfg = &self.cfg;
        let tmp_dir = work_root()?;
        let executor = self.executor(ChildSpec::video(&cfg.isolation, &tmp_dir), cfg.video.concurrency).await?;
        let processor = VideoProcessor {
            executor,
            settings: Arc::new(VideoSettings::from_config(cfg)),
            timeout: Duration::from_secs(cfg.video.timeout_secs),
            progress_every: Duration::from_secs(cfg.video.progress_interval_secs),
            tmp_dir,
        };
        Ok(self.spawn_job_worker("video", ConsumerGroup::VideoWorkers, processor, cfg.video.concurrency, shutdown))
    }

    /// Where one job kind's work runs: `size` warm sandbox children, or `size` threads when isolation is off.
    async fn executor(&self, spec: std::io::Result<ChildSpec>, size: usize) -> anyhow::Result<Executor> {
        if !self.cfg.isolation.enabled {
            return Ok(Executor::InProcess(CpuPool::new(size)));
        }
        let spec = spec.context("finding the mediamill executable for sandbox children")?;
        let kind = spec.kind;
        let sb =
            Supervisor::start(spec, size).await.with_context(|| format!("starting the {kind} sandbox children"))?;
        Ok(Executor::Sandboxed(sb))
    }

    /// Starts the retry forwarder: a consumer of every retry tier topic (group `<prefix>.retry`, shared by all
    /// workers) that returns parked jobs to their job topic when due. Every worker process runs one.
    pub fn spawn_retry_forwarder(&self, shutdown: Shutdown) -> anyhow::Result<Option<JoinHandle<()>>> {
        let cfg = &self.cfg;
        if cfg.worker.retry_tiers_secs.is_empty() {
            return Ok(None);
        }
        let forwarder = Arc::new(mediamill_core::kafka::retry::RetryForwarder {
            producer: self.producer()?,
            shutdown: shutdown.clone(),
        });
        // Waiting jobs cost a timer each; pausing at this many keeps memory bounded.
        let settings = self.consumer_settings(ConsumerGroup::Retry, 10_000, Duration::from_secs(2));
        Ok(Some(tokio::spawn(async move {
            if let Err(e) = run_consumer(settings, forwarder, shutdown).await {
                tracing::error!(error = %e, "retry forwarder stopped");
            }
        })))
    }

    fn spawn_job_worker<P: Processor>(
        &self,
        kind: &'static str,
        group: ConsumerGroup,
        processor: P,
        capacity: usize,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let cfg = &self.cfg;
        let t = Topics::new(&cfg.kafka.topic_prefix);
        let handler = Arc::new(JobHandler {
            kind,
            processor,
            svc: Services { backends: self.0.clone(), shutdown: shutdown.clone(), public_url: self.cfg.public_url() },
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
        let settings = self.consumer_settings(group, capacity, Duration::from_secs(20));
        tokio::spawn(async move {
            if let Err(e) = run_consumer(settings, handler, shutdown).await {
                tracing::error!(error = %e, kind, "worker stopped");
            }
        })
    }
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
