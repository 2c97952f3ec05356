//! What a test observes behind the API: the pipeline's topics, its consumer groups' progress, its memory.

use std::time::{Duration, Instant};

use super::Pipeline;

impl Pipeline {
    /// Every message on one of this pipeline's topics, from the beginning: (key, headers, body).
    pub fn read_topic(
        &self,
        logical: &str,
        want: usize,
        wait: Duration,
    ) -> Vec<(String, std::collections::BTreeMap<String, String>, Vec<u8>)> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::message::{Headers, Message};
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.kafka)
            .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let topic = format!("{}{logical}", self.topic_prefix);
        let mut tpl = rdkafka::TopicPartitionList::new();
        for part in 0..3 {
            tpl.add_partition_offset(&topic, part, rdkafka::Offset::Beginning).expect("partition");
        }
        c.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + wait;
        while out.len() < want && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                let mut h = std::collections::BTreeMap::new();
                if let Some(hs) = m.headers() {
                    for x in hs.iter() {
                        h.insert(x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned());
                    }
                }
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                out.push((key, h, m.payload().unwrap_or_default().to_vec()));
            }
        }
        out
    }

    /// Waits (up to 60 s) until this pipeline's consumer group `role` (`workers.image`, `notify`, ...) has
    /// committed past every message now on its `topics` (logical names): it has handled them all. What a test
    /// waits for instead of sleeping and hoping.
    pub async fn wait_caught_up(&self, role: &str, topics: &[&str]) {
        let group = format!("g{}.{role}", self.id);
        let physical: Vec<String> = topics.iter().map(|t| format!("{}{t}", self.topic_prefix)).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s =
                mediamill_core::kafka::groups::group_status(&self.kafka, &group, &physical, Duration::from_secs(10))
                    .await
                    .expect("group status");
            if s.topics.iter().all(|t| t.lag == 0) {
                return;
            }
            assert!(Instant::now() < deadline, "{group} never caught up: {s:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Peak resident memory of the ingest process, in KiB (VmHWM).
    pub fn ingest_peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.ingest.id())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }
}
