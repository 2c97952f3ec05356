//! `mediamill topics`: create every topic with the configured partition counts (existing ones are kept).

use mediamill_core::config::Config;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    anyhow::ensure!(!cfg.kafka.brokers.is_empty(), "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS)");
    let tiers = &cfg.worker.retry_tiers_secs;
    let created = mediamill_core::kafka::create_topics(&cfg.kafka, tiers).await?;
    for t in mediamill_core::topics::Topics::new(&cfg.kafka.topic_prefix).all(tiers) {
        let state = if created.contains(&t.0) { "created" } else { "exists" };
        println!("{state}\t{}", t.0);
    }
    Ok(())
}
