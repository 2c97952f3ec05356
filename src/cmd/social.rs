//! `mediamill social`: analytics and the chat archive. Several can run: each is a consumer group sharing the
//! app topics' partitions, and every write is idempotent.

use mediamill_core::config::Config;
use mediamill_core::shutdown;

use crate::roles::{join_all, Roles};

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let b = Roles::open_for_role(cfg).await?;
    let (trigger, sd) = shutdown::channel();
    shutdown::on_signals(trigger);
    tracing::info!("analytics and chat archive started");
    let mut tasks = b.spawn_social(sd.clone())?;
    tasks.extend(b.spawn_ops(sd).await?);
    join_all(tasks).await;
    Ok(())
}
