//! `mediamill ingest`: the HTTP upload API, with an outbox relay beside it.

use mediamill_core::config::Config;
use mediamill_core::shutdown;

use crate::roles::{join_all, Roles};

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let b = Roles::open_for_role(cfg).await?;
    let (trigger, sd) = shutdown::channel();
    shutdown::on_signals(trigger);
    let listener = tokio::net::TcpListener::bind(b.cfg.server.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "ingest listening");
    let tasks = vec![b.spawn_relay(sd.clone())?, b.spawn_ingest(listener, sd)?];
    join_all(tasks).await;
    Ok(())
}
