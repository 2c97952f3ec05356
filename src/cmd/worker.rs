//! `mediamill worker --kind image|video`: a processing worker in its kind's consumer group, with an outbox relay.
//! Run more of them to scale out: the group shares the job topic's partitions.

use mediamill_core::config::Config;
use mediamill_core::shutdown;

use crate::roles::{join_all, Roles};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which jobs to take.
    #[arg(long, value_enum, default_value = "image")]
    kind: Kind,
}

impl Args {
    /// `worker-image` or `worker-video`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Image => "worker-image",
            Kind::Video => "worker-video",
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Image,
    Video,
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let b = Roles::open_for_role(cfg).await?;
    let (trigger, sd) = shutdown::channel();
    shutdown::on_signals(trigger);
    let worker = match args.kind {
        Kind::Image => b.spawn_image_worker(sd.clone()).await?,
        Kind::Video => b.spawn_video_worker(sd.clone()).await?,
    };
    tracing::info!(kind = ?args.kind, "worker started");
    let mut tasks = vec![worker, b.spawn_relay(sd.clone())?];
    tasks.extend(b.spawn_retry_forwarder(sd.clone())?);
    tasks.extend(b.spawn_ops(sd).await?);
    join_all(tasks).await;
    Ok(())
}
