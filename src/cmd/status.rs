//! `mediamill status`: one screen for an operator. Per consumer group its state, members and lag per topic; the
//! dead-letter topic's size; items per state and those stuck; open batches; the outbox backlog. `--json` prints
//! the same as one object for scripts and alerts.

use std::time::Duration;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_core::kafka::groups::{self, GroupStatus};
use mediamill_core::kafka::roster::ConsumerGroup;
use mediamill_core::repo::OpsSummary;
use mediamill_core::topics::{self, Topics};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
    /// Items unchanged for longer than this (and not finished) count as stuck.
    #[arg(long, default_value = "15m", value_parser = super::jobs::parse_duration)]
    stuck_after: Duration,
}

/// Everything the command prints.
#[derive(Debug, Serialize)]
struct Status {
    groups: Vec<GroupStatus>,
    dlq_messages: i64,
    #[serde(flatten)]
    database: OpsSummary,
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let repo = super::data::open_existing(&cfg, data).await?;
    let brokers = super::data::brokers(&cfg, data)?;
    let stuck_before = mediamill_core::repo::now_ms() - args.stuck_after.as_millis() as i64;
    let database = repo.ops_summary(stuck_before).await.context("reading the database")?;
    let timeout = Duration::from_secs(10);
    let t = Topics::new(&cfg.kafka.topic_prefix);
    let mut groups = Vec::new();
    for g in ConsumerGroup::all() {
        let (group, topics) = (g.id(&cfg), g.topics(&cfg));
        let g = groups::group_status(&brokers, &group, &topics, timeout)
            .await
            .with_context(|| format!("reading group {group}"))?;
        groups.push(g);
    }
    let (b, dlq) = (brokers.clone(), t.name(topics::JOBS_DLQ));
    let dlq_messages = tokio::task::spawn_blocking(move || mediamill_core::kafka::dlq::size(&b, &dlq))
        .await?
        .context("reading the dead-letter topic")?;
    let status = Status { groups, dlq_messages, database };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_tables(&status);
    }
    Ok(())
}

fn print_tables(s: &Status) {
    println!("{:<28} {:<31} {:>7}  {:<24} {:>10} {:>8}", "group", "state", "members", "topic", "partitions", "lag");
    for g in &s.groups {
        for (i, t) in g.topics.iter().enumerate() {
            let (name, state, members) = if i == 0 {
                (g.group.as_str(), g.state.as_str(), g.members.len().to_string())
            } else {
                ("", "", String::new())
            };
            println!("{name:<28} {state:<31} {members:>7}  {:<24} {:>10} {:>8}", t.topic, t.partitions, t.lag);
        }
    }
    println!();
    println!("dead letters        {}", s.dlq_messages);
    let d = &s.database;
    let per_state = |m: &std::collections::BTreeMap<String, i64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    println!("items               {}", per_state(&d.media));
    println!("stuck items         {}", per_state(&d.stuck));
    println!("open batches        {}", d.open_batches);
    match d.outbox_oldest_ms {
        Some(ms) => println!("outbox backlog      {} (oldest {:.1} s)", d.outbox_backlog, ms as f64 / 1000.0),
        None => println!("outbox backlog      0"),
    }
}
