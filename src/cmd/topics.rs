//! `mediamill topics`: create every topic with the configured partition counts (existing ones are kept). Waits up
//! to `server.startup_wait_secs` for the brokers, so it can run as a one-shot beside them.

use std::time::Duration;

use mediamill_core::config::Config;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    anyhow::ensure!(!cfg.kafka.brokers.is_empty(), "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS)");
    let tiers = &cfg.worker.retry_tiers_secs;
    let wait = Duration::from_secs(cfg.server.startup_wait_secs);
    let brokers = &cfg.kafka.brokers;
    let created = crate::roles::wait_for(&format!("kafka at {brokers}"), wait, || {
        mediamill_core::kafka::create_topics(&cfg.kafka, tiers)
    })
    .await?;
    for t in mediamill_core::topics::Topics::new(&cfg.kafka.topic_prefix).all(tiers) {
        let state = if created.contains(&t.0) { "created" } else { "exists" };
        println!("{state}\t{}", t.0);
    }
    Ok(())
}
