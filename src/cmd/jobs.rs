//! `mediamill jobs stuck|requeue`: find work that stopped moving and send items through processing again.
//! A requeued item carries attempt + 1 and reopens its batch, which then completes again in a new round.

use std::time::Duration;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_core::event::{self, MediaEvent};
use mediamill_core::model::{Batch, BatchCounts, Media, MediaStatus};
use mediamill_core::outbox::{batch_event, job_event, media_event};
use mediamill_core::repo::{now_ms, OutboxEvent};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List items still uploaded or processing whose last change is older than a duration (30s, 10m, 2h, 1d).
    Stuck {
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        older_than: Duration,
    },
    /// Send one item through processing again.
    Requeue { id: String },
}

/// `90s`, `10m`, `2h`, `1d`, `1h 30m` (humantime's forms), or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(Duration::from_secs).map_err(|e| format!("{s:?}: {e}"));
    }
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 30s, 10m, 2h or 1d: {e}"))
}

/// The events of a requeue: a fresh job, the `uploaded` event, and `batch.reopened` when a batch reopened.
pub fn requeue_events(m: &Media, attempt: u32, reopened: Option<(&Batch, &BatchCounts)>) -> Vec<OutboxEvent> {
    let mut evs =
        vec![job_event(m, attempt), media_event(m, event::MEDIA_UPLOADED, &MediaEvent::of(m, MediaStatus::Uploaded))];
    if let Some((b, c)) = reopened {
        evs.push(batch_event(b, c, event::BATCH_REOPENED));
    }
    evs
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let repo = super::data::open_existing(&cfg, data).await?;
    match args.action {
        Action::Stuck { older_than } => {
            let cutoff = now_ms() - older_than.as_millis() as i64;
            let items = repo.stuck_media(cutoff, 1000).await?;
            println!("id\tstatus\tkind\tbatch\tidle_s");
            for m in &items {
                let idle = (now_ms() - m.updated_at) / 1000;
                println!(
                    "{}\t{}\t{}\t{}\t{idle}",
                    m.id,
                    m.status.as_str(),
                    m.kind.as_str(),
                    m.batch_id.as_ref().map_or("-", |b| b.as_str())
                );
            }
            eprintln!("{} stuck item(s) idle for more than {}s", items.len(), older_than.as_secs());
        }
        Action::Requeue { id } => {
            let (m, attempt, reopened) = repo
                .requeue_media(&id.as_str().into(), &requeue_events)
                .await?
                .with_context(|| format!("no media item {id} (or it was deleted)"))?;
            println!("requeued {} (attempt {attempt})", m.id);
            if let Some(b) = reopened {
                println!("reopened batch {} (round {})", b.id, b.round);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5_400)));
        for bad in ["", "m", "10x", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
