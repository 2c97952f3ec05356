//! Retry tiers: a job that keeps failing for a transient reason is parked on `media.jobs.retry.{delay}s`
//! with the time it is due, and a forwarder puts it back on its job topic when that time comes. Each tier
//! topic holds jobs of one delay, so its messages come due in the order they arrive: waiting for the head of
//! a partition never holds up a job that is due sooner, and nothing else waits while a job sits there.

use std::time::Duration;

use async_trait::async_trait;

use super::consumer::{Handler, Outcome};
use super::message::OwnedJob;
use super::producer::EventProducer;
use crate::shutdown::Shutdown;

/// Header: which tier (0-based) the job is on.
pub const TIER_HEADER: &str = "mm_retry_tier";
/// Header: when the job is due back, in milliseconds since the epoch.
pub const DUE_HEADER: &str = "mm_retry_due_ms";
/// Header: the job topic it goes back to.
pub const ORIGIN_HEADER: &str = "mm_retry_origin";

/// The tier a job came from (`None` when it never went through one).
pub fn tier_of(job: &OwnedJob) -> Option<usize> {
    header(job, TIER_HEADER).and_then(|v| v.parse().ok())
}

fn header<'a>(job: &'a OwnedJob, name: &str) -> Option<&'a str> {
    job.headers.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The headers for parking `job` on `tier`, due `delay` from now: the job's own (minus any earlier retry
/// headers) and the three retry headers.
pub fn park_headers(job: &OwnedJob, tier: usize, delay: Duration) -> Vec<(String, Vec<u8>)> {
    let due = crate::repo::now_ms() + delay.as_millis() as i64;
    let mut h: Vec<(String, Vec<u8>)> = job
        .headers
        .iter()
        .filter(|(k, _)| ![TIER_HEADER, DUE_HEADER, ORIGIN_HEADER].contains(&k.as_str()))
        .cloned()
        .collect();
    let origin = header(job, ORIGIN_HEADER).map(str::to_string).unwrap_or_else(|| job.topic.clone());
    h.push((TIER_HEADER.into(), tier.to_string().into_bytes()));
    h.push((DUE_HEADER.into(), due.to_string().into_bytes()));
    h.push((ORIGIN_HEADER.into(), origin.into_bytes()));
    h
}

/// Consumes the retry topics and returns each job to its job topic when due.
pub struct RetryForwarder {
    /// Where due jobs are written back.
    pub producer: EventProducer,
    /// Stops the forwarder.
    pub shutdown: Shutdown,
}

#[async_trait]
impl Handler for RetryForwarder {
    async fn handle(&self, job: OwnedJob) -> Outcome {
        let Some(origin) = header(&job, ORIGIN_HEADER).map(str::to_string) else {
            tracing::error!(topic = %job.topic, offset = job.offset, "a retry message without its origin topic; dropped");
            return Outcome::Done;
        };
        let due = header(&job, DUE_HEADER).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let wait = (due - crate::repo::now_ms()).max(0) as u64;
        tokio::select! {
            _ = self.shutdown.wait() => return Outcome::Abandoned,
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
        }
        let send = || self.producer.send_raw(&origin, job.key.as_deref(), &job.payload, &job.headers);
        let pause = crate::retry::Backoff { first: Duration::from_millis(400), max: Duration::from_secs(30) };
        match crate::retry::until_ok(&self.shutdown, pause, &origin, "returning a retried job", send).await {
            Some(()) => {
                metrics::counter!("mediamill_retries_forwarded_total", "topic" => job.topic.clone()).increment(1);
                Outcome::Done
            }
            None => Outcome::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(headers: Vec<(&str, &str)>) -> OwnedJob {
        OwnedJob {
            topic: "p.media.jobs.image".into(),
            partition: 0,
            offset: 7,
            key: Some("m1".into()),
            envelope: Err("not needed".into()),
            payload: b"{}".to_vec(),
            headers: headers.into_iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect(),
        }
    }

    #[test]
    fn parking_keeps_the_job_and_its_origin_and_moves_the_tier() {
        let first = job(vec![("ce_id", "e1")]);
        assert_eq!(tier_of(&first), None);
        let h = park_headers(&first, 0, Duration::from_secs(30));
        let mut again = job(h.iter().map(|(k, v)| (k.as_str(), std::str::from_utf8(v).unwrap())).collect());
        again.topic = "p.media.jobs.retry.30s".into();
        assert_eq!(tier_of(&again), Some(0));
        assert_eq!(header(&again, ORIGIN_HEADER), Some("p.media.jobs.image"), "the origin survives the tier topic");
        assert_eq!(header(&again, "ce_id"), Some("e1"));
        let h2 = park_headers(&again, 1, Duration::from_secs(300));
        assert_eq!(h2.iter().filter(|(k, _)| k == TIER_HEADER).count(), 1, "no duplicate retry headers");
        let due: i64 =
            std::str::from_utf8(&h2.iter().find(|(k, _)| k == DUE_HEADER).unwrap().1).unwrap().parse().unwrap();
        assert!(due > crate::repo::now_ms() + 290_000);
    }
}
