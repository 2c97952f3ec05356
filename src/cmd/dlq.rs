//! `mediamill dlq list|requeue`: the dead-letter topic for operators. A requeued dead letter sends its media
//! item through processing again (attempt + 1, batch reopened), like `jobs requeue`.

use mediamill_core::config::Config;
use mediamill_core::event::Job;
use mediamill_core::kafka::dlq::{read_all, DeadLetter};
use mediamill_core::model::MediaId;
use mediamill_core::topics::{self, Topics};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Every dead letter: where it was, why, and the media item it names.
    List,
    /// Requeue dead letters: one (--id PARTITION-OFFSET), those of a reason (--reason), or all (--all).
    Requeue {
        #[arg(long, conflicts_with_all = ["all", "reason"])]
        id: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

fn media_of(d: &DeadLetter) -> Option<MediaId> {
    d.envelope.as_ref().and_then(|e| e.data_as::<Job>().ok()).map(|j| j.media_id)
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let brokers = super::data::brokers(&cfg, data)?;
    let topic = Topics::new(&cfg.kafka.topic_prefix).name(topics::JOBS_DLQ);
    let t = topic.clone();
    let letters = tokio::task::spawn_blocking(move || read_all(&brokers, &t)).await??;
    match args.action {
        Action::List => {
            println!("id\treason\tmedia\tsource\terror");
            for d in &letters {
                let media = media_of(d).unwrap_or_else(|| "-".into());
                println!("{}-{}\t{}\t{media}\t{}\t{}", d.partition, d.offset, d.reason, d.source, d.error);
            }
            eprintln!("{} dead letter(s) on {topic}", letters.len());
        }
        Action::Requeue { id, reason, all } => {
            anyhow::ensure!(id.is_some() || reason.is_some() || all, "say which: --id P-O, --reason R or --all");
            let repo = super::data::open_existing(&cfg, data).await?;
            let chosen = letters.iter().filter(|d| {
                id.as_deref().is_none_or(|i| format!("{}-{}", d.partition, d.offset) == i)
                    && reason.as_deref().is_none_or(|r| d.reason == r)
            });
            let (mut requeued, mut skipped) = (0, 0);
            for d in chosen {
                let Some(media) = media_of(d) else {
                    eprintln!("{}-{}: not a job ({}); nothing to requeue", d.partition, d.offset, d.error);
                    skipped += 1;
                    continue;
                };
                match repo.requeue_media(&media, &super::jobs::requeue_events).await? {
                    Some((m, attempt, _)) => {
                        println!("requeued {} (attempt {attempt}) from dead letter {}-{}", m.id, d.partition, d.offset);
                        requeued += 1;
                    }
                    None => {
                        eprintln!("{}-{}: media {media} no longer exists", d.partition, d.offset);
                        skipped += 1;
                    }
                }
            }
            eprintln!("{requeued} requeued, {skipped} skipped");
        }
    }
    Ok(())
}
