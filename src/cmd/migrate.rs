//! `mediamill migrate`: apply the database migrations (every role also does this at start). Waits up to
//! `server.startup_wait_secs` for the database, so it can run as a one-shot beside it (compose, a Kubernetes Job).

use std::time::Duration;

use mediamill_core::config::Config;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let url = crate::roles::mask(&cfg.database.url);
    let wait = Duration::from_secs(cfg.server.startup_wait_secs);
    crate::roles::wait_for(&format!("database {url}"), wait, || mediamill_core::repo::open(&cfg.database.url, 2))
        .await?;
    println!("migrations applied to {url}");
    Ok(())
}
