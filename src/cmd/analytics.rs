//! `mediamill analytics rebuild`: replays the analytics topics from their earliest offset into a fresh
//! generation of the counts and swaps it in, so the counts are a pure function of the log.

use mediamill_core::config::Config;

/// `mediamill analytics …`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Rebuild every count from the topics, then make the rebuilt counts the ones served.
    Rebuild,
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    match args.what {
        What::Rebuild => {
            let brokers = super::data::brokers(&cfg, data)?;
            let repo = super::data::open_existing(&cfg, data).await?;
            let r = mediamill_social::rebuild::rebuild(repo, &brokers, &cfg.kafka.topic_prefix).await?;
            println!(
                "analytics rebuilt: generation {} active, {} events read, {} invalid skipped",
                r.generation, r.events, r.invalid
            );
            Ok(())
        }
    }
}
