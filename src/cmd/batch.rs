//! `mediamill batch`: the batch tracker, with auto-sealing and an outbox relay. Several can run: the
//! consumer group shares `media.events`' partitions, and every update is an idempotent transition.

use mediamill_core::config::Config;
use mediamill_core::shutdown;

use crate::roles::{join_all, Roles};

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let b = Roles::open_for_role(cfg).await?;
    let (trigger, sd) = shutdown::channel();
    shutdown::on_signals(trigger);
    let mut tasks = b.spawn_batch(sd.clone());
    tasks.push(b.spawn_relay(sd.clone())?);
    tasks.extend(b.spawn_ops(sd).await?);
    tracing::info!("batch tracker started");
    join_all(tasks).await;
    Ok(())
}
