//! Live events for Server-Sent Events streams.
//!
//! Every ingest instance reads all of `media.events` and `batch.events` itself (assigned partitions, no
//! consumer group), so an SSE client can connect to any instance. Recent events stay in a ring buffer, so a
//! client that reconnects with `Last-Event-ID` gets what it missed; one that was away too long gets a fresh
//! snapshot first (the stream always opens with one), so it converges either way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediamill_core::kafka::{base_config, envelope_from_message};
use mediamill_core::shutdown::Shutdown;
use mediamill_core::topics::{self, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::broadcast;

/// How many recent events each instance keeps for resuming clients.
const RING: usize = 20_000;

/// One event as SSE clients see it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// `media`, `batch` or `auth` (key events: a revocation closes the key's streams).
    pub stream: &'static str,
    /// The media or batch id (the Kafka key).
    pub key: String,
    /// Partition of the event topic.
    pub partition: i32,
    /// Offset in that partition (the SSE event id's second half).
    pub offset: i64,
    /// CloudEvents id: unique for ever, unlike a partition offset (the embedded broker starts again at 0
    /// after every restart of `up`).
    pub id: String,
    /// CloudEvents type.
    pub ty: String,
    /// `{"type", "id", "time", "data"}`.
    pub json: String,
}

impl LiveEvent {
    /// The SSE id: the event's CloudEvents id, so `Last-Event-ID` names one event for ever and a resume
    /// never lands at a position that meant another event before a restart.
    pub fn sse_id(&self) -> &str {
        &self.id
    }
}

/// Fans Kafka events out to SSE subscribers.
pub struct EventHub {
    tx: broadcast::Sender<LiveEvent>,
    recent: Mutex<VecDeque<LiveEvent>>,
}

impl EventHub {
    /// Starts reading both topics from their ends.
    pub fn start(brokers: &str, prefix: &str, shutdown: Shutdown) -> Result<Arc<EventHub>, rdkafka::error::KafkaError> {
        let (tx, _) = broadcast::channel(4096);
        let hub = Arc::new(EventHub { tx, recent: Mutex::new(VecDeque::new()) });
        let consumer: StreamConsumer = base_config(brokers)
            .set("group.id", "mediamill-sse-unused") // required by librdkafka; no group is joined with assign()
            .set("enable.auto.commit", "false")
            .create()?;
        let t = Topics::new(prefix);
        let names = [
            (t.name(topics::MEDIA_EVENTS), "media"),
            (t.name(topics::BATCH_EVENTS), "batch"),
            (t.name(topics::AUTH_EVENTS), "auth"),
            (t.name(topics::NOTIFICATION_EVENTS), "notifications"),
        ];
        let h = hub.clone();
        tokio::spawn(async move {
            // Partition counts come from metadata, which may not be there at once after `topics` ran.
            let tpl = loop {
                match assignment(&consumer, &names) {
                    Ok(tpl) => break tpl,
                    Err(e) => tracing::warn!(error = %e, "live events: waiting for topics"),
                }
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            };
            if let Err(e) = consumer.assign(&tpl) {
                tracing::error!(error = %e, "live events: assign");
                return;
            }
            loop {
                let m = tokio::select! {
                    _ = shutdown.wait() => return,
                    m = consumer.recv() => m,
                };
                let Ok(m) = m else { continue };
                let stream = names.iter().find(|(n, _)| n == m.topic()).map(|(_, s)| *s).unwrap_or("media");
                let Ok(env) = envelope_from_message(&m) else { continue };
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                let json =
                    serde_json::json!({"type": env.ty, "id": env.id, "time": env.time, "data": env.data}).to_string();
                h.publish(LiveEvent {
                    stream,
                    key,
                    partition: m.partition(),
                    offset: m.offset(),
                    id: env.id,
                    ty: env.ty,
                    json,
                });
            }
        });
        Ok(hub)
    }

    fn publish(&self, e: LiveEvent) {
        if let Ok(mut r) = self.recent.lock() {
            if r.len() == RING {
                r.pop_front();
            }
            r.push_back(e.clone());
        }
        let _ = self.tx.send(e);
    }

    /// Resolves when `key_id` is revoked (a `key.revoked` event on `auth.events` reaches this instance).
    pub fn revoked(&self, key_id: String) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.stream == "auth" && e.ty == mediamill_core::event::KEY_REVOKED && e.key == key_id => {
                        return
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        }
    }

    /// Subscribes to new events (call before reading [`EventHub::since`], so nothing falls in between).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }

    /// Buffered events of one stream after the event whose id is `after`; `None` when that event is not in
    /// the buffer (trimmed, from before a restart, or never ours): the caller then relies on its snapshot.
    pub fn since(&self, stream: &str, key: &str, after: Option<&str>) -> Option<Vec<LiveEvent>> {
        let r = self.recent.lock().ok()?;
        let Some(after) = after else { return Some(vec![]) };
        // One key lives on one partition, so buffer order is the stream's order.
        let at = r.iter().rposition(|e| e.id == after && e.stream == stream && e.key == key)?;
        Some(r.iter().skip(at + 1).filter(|e| e.stream == stream && e.key == key).cloned().collect())
    }
}

fn assignment(consumer: &StreamConsumer, names: &[(String, &str)]) -> Result<TopicPartitionList, String> {
    let mut tpl = TopicPartitionList::new();
    for (name, _) in names {
        let md = consumer.fetch_metadata(Some(name), Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let parts = md.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
        if parts == 0 {
            return Err(format!("topic {name} has no partitions yet"));
        }
        for p in 0..parts as i32 {
            tpl.add_partition_offset(name, p, Offset::End).map_err(|e| e.to_string())?;
        }
    }
    Ok(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_filters_by_stream_key_and_position() {
        let (tx, _) = broadcast::channel(8);
        let hub = EventHub { tx, recent: Mutex::new(VecDeque::new()) };
        for (i, key) in ["b1", "b2", "b1", "b1"].iter().enumerate() {
            let id = format!("ev{i}");
            hub.publish(LiveEvent {
                stream: "batch",
                key: key.to_string(),
                partition: 0,
                offset: i as i64,
                id,
                ty: "t".into(),
                json: "{}".into(),
            });
        }
        let after: Vec<i64> = hub.since("batch", "b1", Some("ev0")).unwrap().iter().map(|e| e.offset).collect();
        assert_eq!(after, vec![2, 3]);
        assert!(hub.since("media", "b1", Some("ev0")).is_none(), "another stream's event is no position in this one");
        assert!(hub.since("batch", "b1", Some("ev3")).unwrap().is_empty());
        assert!(hub.since("batch", "b1", None).unwrap().is_empty());
    }

    #[test]
    fn an_id_from_before_a_restart_is_not_a_position() {
        // The embedded broker restarts its offsets at 0: the old id "0-1" style positions would now point
        // at other events. Ids are event ids, so an unknown one resumes nowhere (the snapshot covers it).
        let (tx, _) = broadcast::channel(8);
        let hub = EventHub { tx, recent: Mutex::new(VecDeque::new()) };
        hub.publish(LiveEvent {
            stream: "media",
            key: "m".into(),
            partition: 0,
            offset: 0,
            id: "new".into(),
            ty: "t".into(),
            json: "{}".into(),
        });
        assert!(hub.since("media", "m", Some("old-event-id")).is_none());
    }
}
