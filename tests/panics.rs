//! A handler that panics is never recorded as done, on the real Kafka: by default the message stays
//! uncommitted (the partition's lag shows it and a restart redelivers it); a handler that can record a durable
//! outcome for it (the job runner fails the item as `crashed` and dead-letters the message) lets the offset move on.

mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use harness::Pipeline;
use mediamill_core::event::Envelope;
use mediamill_core::kafka::groups::group_status;
use mediamill_core::kafka::{run_consumer, ConsumerSettings, EventProducer, Handler, Outcome, OwnedJob};

/// Panics on the message whose body is 2 and records that panic as handled, as the job runner does.
struct Flaky {
    handled: AtomicUsize,
    panics: AtomicUsize,
}

#[async_trait]
impl Handler for Flaky {
    async fn handle(&self, job: OwnedJob) -> Outcome {
        if job.payload == b"2" {
            panic!("a bug in the handler");
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        Outcome::Done
    }

    async fn panicked(&self, job: OwnedJob, panic: String) -> Outcome {
        assert_eq!(job.payload, b"2");
        assert!(panic.contains("a bug in the handler"), "{panic}");
        self.panics.fetch_add(1, Ordering::SeqCst);
        Outcome::Done
    }
}

/// Uses the trait's own `panicked`.
struct FlakyDefault(AtomicUsize);

#[async_trait]
impl Handler for FlakyDefault {
    async fn handle(&self, job: OwnedJob) -> Outcome {
        if job.payload == b"2" {
            panic!("a bug in the handler");
        }
        self.0.fetch_add(1, Ordering::SeqCst);
        Outcome::Done
    }
}

/// Sends bodies 1, 2, 3 with one key (one partition, in order) to `topic`; returns the topic's lag for `group`
/// once the consumer has handled the other two.
async fn lag_after(p: &Pipeline, group: &str, handler: Arc<dyn Handler>, handled: impl Fn() -> usize) -> i64 {
    let topic = format!("{}media.jobs.image", p.topic_prefix);
    let producer = EventProducer::new(&p.kafka, Duration::from_secs(10)).expect("producer");
    for n in [1, 2, 3] {
        producer.send(&topic, "one-key", &Envelope::new("test.v1", None, &n)).await.expect("send");
    }
    let (trigger, shutdown) = mediamill_core::shutdown::channel();
    let settings = ConsumerSettings {
        brokers: p.kafka.clone(),
        group_id: group.to_string(),
        topics: vec![topic.clone()],
        capacity: 4,
        max_poll_interval_ms: 60_000,
        drain_timeout: Duration::from_secs(2),
        joined: None,
    };
    let consumer = tokio::spawn(run_consumer(settings, handler, shutdown));
    let deadline = Instant::now() + Duration::from_secs(60);
    while handled() < 2 {
        assert!(Instant::now() < deadline, "the consumer never handled the two good messages");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Offsets are committed every second: wait until the group's committed position stops moving.
    let mut last = -1;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let s = group_status(&p.kafka, group, std::slice::from_ref(&topic), Duration::from_secs(10))
            .await
            .expect("group status");
        let lag = s.topics[0].lag;
        if lag == last {
            trigger.fire();
            let _ = consumer.await;
            return lag;
        }
        last = lag;
    }
}

#[tokio::test]
async fn a_panic_nothing_recorded_is_never_committed() {
    let p = Pipeline::prepare(&[]).await;
    let h = Arc::new(FlakyDefault(AtomicUsize::new(0)));
    let lag = lag_after(&p, &format!("g{}.panics-default", p.id), h.clone(), || h.0.load(Ordering::SeqCst)).await;
    // The panicking message (and the one behind it, committed only in order) wait to be redelivered.
    assert_eq!(lag, 2, "the panicking message was committed as if handled");
}

#[tokio::test]
async fn a_panic_the_handler_records_lets_the_partition_move_on() {
    let p = Pipeline::prepare(&[]).await;
    let h = Arc::new(Flaky { handled: AtomicUsize::new(0), panics: AtomicUsize::new(0) });
    let lag =
        lag_after(&p, &format!("g{}.panics-recorded", p.id), h.clone(), || h.handled.load(Ordering::SeqCst)).await;
    assert_eq!(h.panics.load(Ordering::SeqCst), 1, "panicked() was not called exactly once");
    assert_eq!(lag, 0);
}
