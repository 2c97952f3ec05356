//! `mediamill emit TYPE DATA`: publishes one app event (checked against its contract first) for integrators
//! and tests. `--invalid` skips the check, to see a consumer dead-letter what a broken publisher sends.

use std::time::Duration;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_core::contract;
use mediamill_core::event::Envelope;
use mediamill_core::kafka::EventProducer;
use mediamill_core::topics::Topics;

/// `mediamill emit …`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The event type, e.g. `app.social.like_added.v1` (see contracts/ and docs/events.md).
    ty: String,
    /// The body as JSON, or `-` to read it from standard input.
    #[arg(value_name = "JSON")]
    body: String,
    /// The CloudEvents id (default: a fresh one); the same id again is a redelivery.
    #[arg(long)]
    id: Option<String>,
    /// The CloudEvents source.
    #[arg(long, default_value = "mediamill-emit")]
    source: String,
    /// The event's time, RFC 3339 (default: now).
    #[arg(long)]
    time: Option<String>,
    /// Publish even if the body breaks the contract (to the topic named by --topic, or the type's).
    #[arg(long)]
    invalid: bool,
    /// The logical topic, for --invalid with an unknown type.
    #[arg(long)]
    topic: Option<String>,
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let body = if args.body == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the body from standard input")?
    } else {
        args.body.clone()
    };
    let json: serde_json::Value = serde_json::from_str(&body).context("the body is not JSON")?;
    if !args.invalid {
        contract::validate(&args.ty, &json)?;
    }
    let topic = args
        .topic
        .clone()
        .or_else(|| contract::topic_of(&args.ty).map(str::to_string))
        .context("unknown type: give --topic")?;
    let key = contract::key_of(&args.ty, &json).unwrap_or_default();
    let mut env = Envelope::new(&args.ty, None, &json);
    env.source = args.source;
    if let Some(id) = args.id {
        env.id = id;
    }
    if let Some(t) = args.time {
        env.time =
            chrono::DateTime::parse_from_rfc3339(&t).context("--time is not RFC 3339")?.with_timezone(&chrono::Utc);
    }
    let brokers = super::data::brokers(&cfg, data)?;
    let producer = EventProducer::new(&brokers, Duration::from_secs(30))?;
    let name = Topics::new(&cfg.kafka.topic_prefix).name(&topic);
    let (partition, offset) = producer.send(&name, &key, &env).await?;
    println!("{} {} → {name} [{partition}] @{offset}", env.ty, env.id);
    Ok(())
}
