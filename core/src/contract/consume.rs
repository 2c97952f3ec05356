//! Consuming app topics: every message is checked against its contract first; one that fails goes to the
//! dead-letter topic with the reason and is committed, so a bad publisher never stops a consumer.

use async_trait::async_trait;

use super::{parse, AppEvent};
use crate::event::Envelope;
use crate::kafka::dlq::DeadLetters;
use crate::kafka::{Handler, Outcome, OwnedJob};
use crate::repo::RepoError;
use crate::retry::{until_ok, Backoff};
use crate::shutdown::Shutdown;

/// What a consumer of app events does with a valid one. Must be idempotent: events are redelivered.
#[async_trait]
pub trait AppEventHandler: Send + Sync + 'static {
    /// Names the consumer in logs and in its applied-events marks.
    fn name(&self) -> &'static str;
    /// Applies a valid event; an error is retried (with backoff) until it succeeds or the process stops.
    async fn apply(&self, env: &Envelope, event: &AppEvent) -> Result<(), RepoError>;
}

/// A consumer's handler with the contract check in front.
pub struct Validated<H> {
    /// What valid events go to.
    pub inner: H,
    /// Where invalid ones go.
    pub dead_letters: DeadLetters,
    /// The configured topic prefix, taken off a message's topic to name its contract's topic.
    pub topic_prefix: String,
    /// Stops retries at shutdown, leaving the message uncommitted.
    pub shutdown: Shutdown,
}

impl<H: AppEventHandler> Validated<H> {
    async fn dead_letter(&self, job: &OwnedJob, reason: &str, error: &str) -> Outcome {
        tracing::warn!(consumer = self.inner.name(), topic = %job.topic, offset = job.offset, reason, error,
            "invalid app event dead-lettered");
        let send = || self.dead_letters.send(job, reason, error);
        match until_ok(&self.shutdown, Backoff::BACKENDS, &job.offset, "dead-lettering an app event", send).await {
            Some(()) => Outcome::Done,
            None => Outcome::Abandoned,
        }
    }
}

#[async_trait]
impl<H: AppEventHandler> Handler for Validated<H> {
    async fn handle(&self, job: OwnedJob) -> Outcome {
        let env = match &job.envelope {
            Ok(env) => env,
            Err(e) => return self.dead_letter(&job, "not_cloudevent", e).await,
        };
        // `auth.events` also carries mediamill's own API-key events, which are not app contracts.
        if env.ty.starts_with("mediamill.") {
            return Outcome::Done;
        }
        let topic = job.topic.strip_prefix(&self.topic_prefix).unwrap_or(&job.topic);
        let event = match parse(topic, env) {
            Ok(ev) => ev,
            Err(invalid) => return self.dead_letter(&job, invalid.reason, &invalid.message).await,
        };
        metrics::counter!("mediamill_app_events_total", "consumer" => self.inner.name()).increment(1);
        let apply = || self.inner.apply(env, &event);
        match until_ok(&self.shutdown, Backoff::BACKENDS, &env.id, self.inner.name(), apply).await {
            Some(()) => Outcome::Done,
            None => Outcome::Abandoned,
        }
    }
}
