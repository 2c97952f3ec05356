//! The job runner: one Kafka job in, one durable outcome (variants + `processed`, or `failed`) out, whatever
//! the [`Processor`] that does the kind's work.
//!
//! Every effect is idempotent: variant keys are deterministic and state changes are guarded transitions, so a
//! redelivered job overwrites the same objects and emits nothing twice. Transient errors (store or database
//! outages) are retried in place with backoff; permanent ones fail the item at once with their reason.

use std::time::Duration;

use async_trait::async_trait;
use mediamill_core::backends::Backends;
use mediamill_core::event::{self, Job, MediaEvent};
use mediamill_core::kafka::dlq::DeadLetters;
use mediamill_core::kafka::retry;
use mediamill_core::kafka::{Handler, Outcome, OwnedJob};
use mediamill_core::model::{Media, MediaId, MediaStatus};
use mediamill_core::outbox::media_event;
use mediamill_core::repo::{Completion, RepoError};
use mediamill_core::retry::Backoff;
use mediamill_core::shutdown::Shutdown;
use mediamill_core::store::{self, StoreError};
use tracing::Instrument;

use crate::failure::ProcessError;
use crate::sandbox::CallError;

/// What every processor may use: the backends and the worker's lifecycle.
pub struct Services {
    /// Configuration, repository, store and the relay's waker.
    pub backends: Backends,
    /// Set when the worker stops: long jobs hand their message back instead of finishing.
    pub shutdown: Shutdown,
    /// The API's public URL, for the variant links in `processed` events (from the configuration, once).
    pub public_url: String,
}

/// The kind-specific work of a job: the raw upload in, stored variants and metadata out.
#[async_trait]
pub trait Processor: Send + Sync + 'static {
    /// Processes `m` (already marked `processing`) and stores its variants.
    async fn process(&self, m: &Media, svc: &Services) -> Result<Completion, Step>;
}

/// Runs one job topic's jobs through a [`Processor`].
pub struct JobHandler<P> {
    /// `image` or `video`, for metrics and logs.
    pub kind: &'static str,
    /// The kind-specific work.
    pub processor: P,
    /// What the processor may use.
    pub svc: Services,
    /// Attempts before an item fails as `retries_exhausted` (`worker.max_attempts`).
    pub max_attempts: u32,
    /// Where jobs that can never succeed go.
    pub dlq: Option<DeadLetters>,
    /// The retry tiers: (physical topic, delay), in order. Empty: give up after the in-place attempts.
    pub retry_tiers: Vec<(String, Duration)>,
}

/// Why one attempt did not finish.
#[derive(Debug)]
pub enum Step {
    /// Trying again gives the same answer: the item fails with this reason.
    Permanent(ProcessError),
    /// An outage or similar: try again after a pause.
    Transient(String),
    /// The worker is stopping: hand the job back uncommitted so another worker takes it.
    HandBack,
}

impl From<StoreError> for Step {
    fn from(e: StoreError) -> Step {
        match e {
            StoreError::NotFound(_) => Step::Permanent(ProcessError::SourceMissing),
            // A refusal (bad credentials, a missing permission) is the deployment's to fix, not the file's fault:
            // the job waits through the retry tiers and then the dead-letter topic, to be requeued once fixed.
            other => Step::Transient(other.to_string()),
        }
    }
}

impl From<RepoError> for Step {
    fn from(e: RepoError) -> Step {
        Step::Transient(e.to_string())
    }
}

impl From<CallError> for Step {
    fn from(e: CallError) -> Step {
        match e {
            CallError::Process(e) => Step::Permanent(e),
            // No child to run it in is the machine's trouble: try again like any outage.
            CallError::Spawn(_) => Step::Transient(e.to_string()),
        }
    }
}

impl From<ProcessError> for Step {
    fn from(e: ProcessError) -> Step {
        Step::Permanent(e)
    }
}

/// 0.4 s, 0.8 s, … up to 30 s between the attempts in place (`worker.max_attempts`, default 3) and while the
/// database is away; longer outages of a job's own steps are ridden out on the retry tiers.
const PAUSE: Backoff = Backoff { first: Duration::from_millis(400), max: Duration::from_secs(30) };

impl<P: Processor> JobHandler<P> {
    async fn attempt(&self, m: &Media) -> Result<(), Step> {
        let svc = &self.svc;
        if m.status == MediaStatus::Uploaded {
            svc.backends
                .repo
                .start_processing(
                    &m.id,
                    &[media_event(m, event::MEDIA_PROCESSING, &MediaEvent::of(m, MediaStatus::Processing))],
                )
                .await?;
            svc.backends.waker.wake();
        }
        let done = self.processor.process(m, svc).await?;
        let mut ev = MediaEvent::of(m, MediaStatus::Processed);
        ev.metadata = Some(done.metadata.clone());
        // Events and webhooks show variants exactly as the API does: same order, same fields, with URLs.
        let mut linked: Vec<_> = done.variants.iter().map(|v| v.clone().linked(&svc.public_url, &m.id)).collect();
        mediamill_core::model::sort_variants(&mut linked);
        ev.variants = linked;
        let changed = svc.backends.repo.complete(&m.id, &done, &[media_event(m, event::MEDIA_PROCESSED, &ev)]).await?;
        if !changed {
            // Deleted while we worked: do not leave its variants behind.
            if let Some(now) = svc.backends.repo.get_media_any(&m.id).await? {
                if now.status == MediaStatus::Deleted {
                    svc.backends.store.delete_prefix(&store::derived_prefix(&m.tenant_id, &m.id)).await?;
                }
            }
        }
        svc.backends.waker.wake();
        Ok(())
    }

    /// Records a permanent failure, retrying the database until it answers or shutdown comes.
    async fn fail(&self, m: &Media, reason: &str, message: &str) -> Outcome {
        let mut ev = MediaEvent::of(m, MediaStatus::Failed);
        ev.reason = Some(reason.to_string());
        ev.message = Some(message.to_string());
        let events = [media_event(m, event::MEDIA_FAILED, &ev)];
        let recorded = self
            .until_ok(&m.id, "recording failure", || self.svc.backends.repo.fail(&m.id, reason, message, &events))
            .await;
        if recorded.is_none() {
            return Outcome::Abandoned;
        }
        metrics::counter!("mediamill_jobs_failed_total", "reason" => reason.to_string()).increment(1);
        self.svc.backends.waker.wake();
        Outcome::Done
    }

    /// Runs `op` until it succeeds, backing off between tries (0.4 s doubling to 30 s); `None` when shutdown
    /// comes first. For the steps that must not be skipped: recording an outcome, moving a message on.
    async fn until_ok<T, E, F, Fut, S>(&self, subject: &S, what: &str, op: F) -> Option<T>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        S: std::fmt::Display + ?Sized + Sync,
    {
        mediamill_core::retry::until_ok(&self.svc.shutdown, PAUSE, subject, what, op).await
    }

    /// The in-place attempts are used up: park the job on the next retry tier, or, after the last tier,
    /// dead-letter it and fail the item with `retries_exhausted`.
    async fn after_attempts(&self, msg: &OwnedJob, m: &Media, attempts: u32, error: &str) -> Outcome {
        let next = retry::tier_of(msg).map_or(0, |t| t + 1);
        let producer = self.dlq.as_ref().map(|d| &d.producer);
        if let (Some((topic, delay)), Some(producer)) = (self.retry_tiers.get(next), producer) {
            let headers = retry::park_headers(msg, next, *delay);
            let send = || producer.send_raw(topic, msg.key.as_deref(), &msg.payload, &headers);
            if self.until_ok(&m.id, "parking on a retry tier", send).await.is_none() {
                return Outcome::Abandoned;
            }
            metrics::counter!("mediamill_job_retry_tier_total", "kind" => self.kind, "tier" => next.to_string())
                .increment(1);
            tracing::info!(media_id = %m.id, tier = next, delay_secs = delay.as_secs(), error, "parked on a retry tier");
            return Outcome::Done;
        }
        let message = format!(
            "gave up after {attempts} attempts in place (worker.max_attempts) and {} retry tiers (worker.retry_tiers_secs): {error}",
            self.retry_tiers.len().min(next)
        );
        if self.dead_letter(msg, "retries_exhausted", &message).await == Outcome::Abandoned {
            return Outcome::Abandoned;
        }
        self.fail(m, "retries_exhausted", &message).await
    }

    /// Puts a message on the dead-letter topic, retrying until the broker takes it or shutdown comes.
    async fn dead_letter(&self, msg: &OwnedJob, reason: &str, error: &str) -> Outcome {
        let Some(dlq) = &self.dlq else { return Outcome::Done };
        metrics::counter!("mediamill_dead_letters_total", "kind" => self.kind, "reason" => reason.to_string())
            .increment(1);
        let source = format!("{}/{}/{}", msg.topic, msg.partition, msg.offset);
        match self.until_ok(&source, "dead-lettering", || dlq.send(msg, reason, error)).await {
            Some(()) => Outcome::Done,
            None => Outcome::Abandoned,
        }
    }

    async fn load(&self, media_id: &MediaId) -> Result<Option<Media>, Outcome> {
        self.until_ok(media_id, "loading media", || self.svc.backends.repo.get_media_any(media_id))
            .await
            .ok_or(Outcome::Abandoned)
    }
}

#[async_trait]
impl<P: Processor> Handler for JobHandler<P> {
    async fn handle(&self, msg: OwnedJob) -> Outcome {
        let job: Job = match msg
            .envelope
            .as_ref()
            .map_err(|e| e.clone())
            .and_then(|e| e.data_as().map_err(|e| e.to_string()))
        {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(topic = %msg.topic, offset = msg.offset, error = %e, "unreadable job dead-lettered");
                metrics::counter!("mediamill_jobs_poison_total").increment(1);
                return self.dead_letter(&msg, "unreadable", &e).await;
            }
        };
        let m = match self.load(&job.media_id).await {
            Ok(Some(m)) if !m.status.is_terminal() => m,
            Ok(_) => return Outcome::Done, // unknown, deleted or already finished: a duplicate delivery
            Err(o) => return o,
        };
        tracing::debug!(media_id = %m.id, partition = msg.partition, offset = msg.offset, "job started");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let span = tracing::info_span!("job", media_id = %m.id, kind = ?m.kind, attempt);
            match self.attempt(&m).instrument(span).await {
                Ok(()) => {
                    metrics::counter!("mediamill_jobs_processed_total").increment(1);
                    tracing::debug!(media_id = %m.id, "job done");
                    return Outcome::Done;
                }
                Err(Step::Permanent(e)) => {
                    if e == ProcessError::SourceMissing {
                        // The job names an object that is gone: keep it for an operator as well.
                        if self.dead_letter(&msg, e.reason(), &e.to_string()).await == Outcome::Abandoned {
                            return Outcome::Abandoned;
                        }
                    }
                    return self.fail(&m, e.reason(), &e.to_string()).await;
                }
                Err(Step::HandBack) => return Outcome::Abandoned,
                Err(Step::Transient(e)) if attempt < self.max_attempts => {
                    metrics::counter!("mediamill_job_retries_total", "kind" => self.kind).increment(1);
                    tracing::warn!(media_id = %m.id, attempt, error = %e, "transient failure; retrying");
                    tokio::select! {
                        _ = self.svc.shutdown.wait() => return Outcome::Abandoned,
                        _ = tokio::time::sleep(PAUSE.after(attempt)) => {}
                    }
                }
                Err(Step::Transient(e)) => return self.after_attempts(&msg, &m, attempt, &e).await,
            }
        }
    }

    /// A bug panicked the job: the item fails as `crashed` (it would otherwise stay `processing` forever) and
    /// the message goes to the dead-letter topic, so an operator sees it and can requeue it once fixed.
    async fn panicked(&self, msg: OwnedJob, panic: String) -> Outcome {
        tracing::error!(topic = %msg.topic, offset = msg.offset, panic, "job handler panicked");
        let error = format!("the job handler panicked: {panic}");
        if self.dead_letter(&msg, "handler_panicked", &error).await == Outcome::Abandoned {
            return Outcome::Abandoned;
        }
        let media = msg.envelope.as_ref().ok().and_then(|e| e.data_as::<Job>().ok()).map(|j| j.media_id);
        let Some(media_id) = media else { return Outcome::Done };
        match self.load(&media_id).await {
            Ok(Some(m)) if !m.status.is_terminal() => {
                self.fail(&m, crate::failure::FailureReason::Crashed.as_str(), &error).await
            }
            Ok(_) => Outcome::Done,
            Err(o) => o,
        }
    }
}
