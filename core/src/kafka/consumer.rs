//! The job consumer: polls a consumer group, runs each message through a [`Handler`] off the poll loop, and
//! stores an offset only when every earlier message of that partition is done.
//!
//! Backpressure: when `capacity` jobs are in flight the consumer stops taking messages (prefetched ones wait
//! in librdkafka's queue for the next free slot); if that lasts longer than a few seconds the whole assignment
//! is paused and polling goes on (so `max.poll.interval.ms` is never exceeded, however long a job takes), and
//! the partitions resume when a job finishes. After a rebalance the pause is re-applied to the new assignment
//! and jobs of revoked partitions are dropped from the tracker.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::offsets::{OffsetTracker, Ticket};
use super::{base_config, KafkaError, OwnedJob};
use crate::shutdown::Shutdown;

/// What became of a job. `Done` means the handler made its effect durable (a state change, an event in the
/// outbox) before returning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished: the offset may be committed once every earlier one is.
    Done,
    /// Given up before its effect was durable (at shutdown, or after a panic nothing could record): never
    /// committed, so it is redelivered; the partition's commits wait behind it.
    Abandoned,
}

/// Processes one message. Runs on the tokio runtime; CPU work belongs on the handler's own pool.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one job; the outcome decides whether its offset is stored.
    async fn handle(&self, job: OwnedJob) -> Outcome;

    /// `handle` panicked on `job` (a bug): record a durable outcome if the handler can, so the message is not
    /// committed as if it had been handled. By default it is left uncommitted (`Abandoned`): nothing is lost, a
    /// restart redelivers it, and the partition's growing lag shows that something is wrong.
    async fn panicked(&self, job: OwnedJob, panic: String) -> Outcome {
        tracing::error!(topic = %job.topic, partition = job.partition, offset = job.offset, panic,
            "handler panicked; the message stays uncommitted and is redelivered after a restart");
        Outcome::Abandoned
    }
}

/// A panic's message, when it carried one.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// How to consume.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// `host:port,…` of the brokers.
    pub brokers: String,
    /// The consumer group: every member shares the topics' partitions.
    pub group_id: String,
    /// Full topic names (prefix included).
    pub topics: Vec<String>,
    /// Most jobs in flight at once.
    pub capacity: usize,
    /// How long a member may go between polls before it is thrown out of the group.
    pub max_poll_interval_ms: u32,
    /// How long shutdown waits for in-flight jobs before leaving them to be redelivered.
    pub drain_timeout: Duration,
    /// Marked when the group first assigns this consumer (what `up` and `/readyz` wait for).
    pub joined: Option<super::membership::Joined>,
}

enum RebalanceEvent {
    Assigned(Vec<(String, i32)>),
    Revoked(Vec<(String, i32)>),
}

struct Ctx {
    events: Mutex<Vec<RebalanceEvent>>,
    group: String,
    joined: Option<super::membership::Joined>,
}

fn tpl_parts(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()
}

impl ClientContext for Ctx {
    /// librdkafka's periodic statistics: the lag of every partition this consumer owns, as a gauge (jobs
    /// not yet finished and committed; `-1` while unknown is skipped).
    fn stats(&self, s: rdkafka::Statistics) {
        for (topic, t) in &s.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || p.consumer_lag_stored < 0 {
                    continue;
                }
                metrics::gauge!("mediamill_consumer_lag", "group" => self.group.clone(), "topic" => topic.clone(),
                    "partition" => partition.to_string())
                .set(p.consumer_lag_stored as f64);
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            if let Ok(mut ev) = self.events.lock() {
                ev.push(RebalanceEvent::Revoked(tpl_parts(tpl)));
            }
        }
    }
    fn post_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = r {
            if let Some(j) = &self.joined {
                j.mark();
            }
            if let Ok(mut ev) = self.events.lock() {
                ev.push(RebalanceEvent::Assigned(tpl_parts(tpl)));
            }
        }
    }
}

/// The longest a full consumer stops polling before it pauses its partitions instead. Pausing is costly:
/// librdkafka drops the partitions' prefetched messages and, on resume, fetches again only at its broker
/// thread's next turn (up to a second: a batch of small photos went through in bursts, 8 items/s on 2 cores).
const HOLD_BEFORE_PAUSE: Duration = Duration::from_secs(3);

/// Sleeps until `at`; never returns for `None` (the branch is disabled then anyway).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Consumes until `shutdown` fires, then drains in-flight jobs (up to the drain timeout) and commits.
pub async fn run_consumer(
    settings: ConsumerSettings,
    handler: Arc<dyn Handler>,
    shutdown: Shutdown,
) -> Result<(), KafkaError> {
    let ctx = Ctx { events: Mutex::new(Vec::new()), group: settings.group_id.clone(), joined: settings.joined.clone() };
    let consumer: StreamConsumer<Ctx> = base_config(&settings.brokers)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("max.poll.interval.ms", settings.max_poll_interval_ms.to_string())
        // librdkafka refuses a poll interval below the session timeout.
        .set("session.timeout.ms", settings.max_poll_interval_ms.clamp(6000, 10000).to_string())
        .set("heartbeat.interval.ms", "1000")
        .set("partition.assignment.strategy", "cooperative-sticky")
        // Jobs should start as soon as they arrive: a broker holding an empty fetch for the default 500 ms
        // shows up directly in the upload-to-processed latency.
        .set("fetch.wait.max.ms", "50")
        // Feeds the consumer-lag gauge.
        .set("statistics.interval.ms", "5000")
        .create_with_context(ctx)?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let group = settings.group_id.clone();

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Ticket, Outcome)>();
    let mut tracker = OffsetTracker::new();
    let mut in_flight = 0usize;
    let mut paused = false;
    let capacity = settings.capacity.max(1);
    // When full, first just stop taking messages: what librdkafka has prefetched stays queued and the next
    // job starts the moment a slot frees. Only a stall longer than this pauses the partitions, so that polling
    // (and with it group membership) goes on however long the jobs take.
    let hold = Duration::from_millis(u64::from(settings.max_poll_interval_ms) / 4).min(HOLD_BEFORE_PAUSE);
    let mut full_since: Option<tokio::time::Instant> = None;

    loop {
        let mut rebalanced_before_start = false;
        let pause_at = full_since.filter(|_| !paused).map(|t| t + hold);
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            Some((t, outcome)) = done_rx.recv() => {
                in_flight -= 1;
                finished(&consumer, &mut tracker, &t, outcome);
            }
            _ = sleep_until_some(pause_at), if pause_at.is_some() => {
                if let Ok(a) = consumer.assignment() {
                    let _ = consumer.pause(&a);
                }
                paused = true;
            }
            msg = consumer.recv(), if in_flight < capacity || paused => match msg {
                Ok(m) => {
                    let job = OwnedJob::from_message(&m);
                    drop(m);
                    // The poll that returned this message may have run a rebalance callback first: apply it
                    // before starting the job, or a fresh assignment of this partition would wipe the job's
                    // entry and a later offset could be committed past it.
                    rebalanced_before_start |= apply_rebalances(&consumer, &mut tracker, in_flight);
                    let ticket = tracker.start(&job.topic, job.partition, job.offset);
                    in_flight += 1;
                    let h = handler.clone();
                    let tx = done_tx.clone();
                    // One span per message, a child of the span that published it (the trace of its upload).
                    let span = tracing::info_span!("consume", group = %group, topic = %job.topic, partition = job.partition, offset = job.offset);
                    crate::telemetry::set_remote_parent(&span, job.envelope.as_ref().ok().and_then(|e| e.traceparent.as_deref()));
                    tokio::spawn(async move {
                        // Kept for the panic path: the handler takes the message by value.
                        let copy = job.clone();
                        let outcome = match AssertUnwindSafe(h.handle(job).instrument(span.clone())).catch_unwind().await {
                            Ok(o) => o,
                            Err(p) => h.panicked(copy, panic_message(p.as_ref())).instrument(span).await,
                        };
                        let _ = tx.send((ticket, outcome));
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }

        let rebalanced = apply_rebalances(&consumer, &mut tracker, in_flight) || rebalanced_before_start;
        let full = in_flight >= capacity;
        full_since = if full { full_since.or_else(|| Some(tokio::time::Instant::now())) } else { None };
        if rebalanced && paused {
            // Newly assigned partitions start unpaused while kept ones stay paused: set the whole assignment to
            // one state again, or a kept partition could stay paused forever.
            if let Ok(a) = consumer.assignment() {
                let _ = if full { consumer.pause(&a) } else { consumer.resume(&a) };
            }
            paused = full;
        } else if !full && paused {
            if let Ok(a) = consumer.assignment() {
                let _ = consumer.resume(&a);
            }
            paused = false;
        }
    }

    // Drain: let running jobs finish so their offsets can be committed; the rest will be redelivered.
    let deadline = tokio::time::Instant::now() + settings.drain_timeout;
    while in_flight > 0 {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some((t, outcome))) => {
                in_flight -= 1;
                finished(&consumer, &mut tracker, &t, outcome);
            }
            _ => break,
        }
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit");
    }
    consumer.unsubscribe();
    Ok(())
}

/// Applies the rebalances librdkafka reported since the last call to the offset tracker; true if any.
fn apply_rebalances(consumer: &StreamConsumer<Ctx>, tracker: &mut OffsetTracker, in_flight: usize) -> bool {
    let events: Vec<RebalanceEvent> =
        consumer.context().events.lock().map(|mut e| e.drain(..).collect()).unwrap_or_default();
    let any = !events.is_empty();
    for ev in events {
        match ev {
            RebalanceEvent::Revoked(parts) => {
                tracing::info!(?parts, in_flight, "partitions revoked");
                parts.iter().for_each(|(t, p)| tracker.revoke(t, *p))
            }
            RebalanceEvent::Assigned(parts) => {
                tracing::info!(?parts, "partitions assigned");
                parts.iter().for_each(|(t, p)| tracker.assign(t, *p))
            }
        }
    }
    any
}

fn finished(consumer: &StreamConsumer<Ctx>, tracker: &mut OffsetTracker, t: &Ticket, outcome: Outcome) {
    if outcome == Outcome::Done {
        if let Some(next) = tracker.finish(t) {
            store(consumer, &t.topic, t.partition, next);
        }
    }
}

fn store(consumer: &StreamConsumer<Ctx>, topic: &str, partition: i32, next: i64) {
    let mut tpl = TopicPartitionList::new();
    if tpl.add_partition_offset(topic, partition, Offset::Offset(next)).is_ok() {
        if let Err(e) = consumer.store_offsets(&tpl) {
            // The partition was revoked in the meantime; its new owner redelivers.
            tracing::debug!(topic, partition, next, error = %e, "offset not stored");
        }
    }
}
