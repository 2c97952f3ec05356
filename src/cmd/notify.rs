//! `mediamill notify`: the notifier role. Several can run: the consumer group shares the event topics, and
//! deliveries are leased row by row, so no two notifiers send the same one.

use mediamill_core::config::Config;
use mediamill_core::shutdown;

use crate::roles::{join_all, Roles};

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let b = Roles::open_for_role(cfg).await?;
    let (trigger, sd) = shutdown::channel();
    shutdown::on_signals(trigger);
    tracing::info!("notifier started");
    let mut tasks = b.spawn_notify(sd.clone())?;
    tasks.extend(b.spawn_ops(sd).await?);
    join_all(tasks).await;
    Ok(())
}
