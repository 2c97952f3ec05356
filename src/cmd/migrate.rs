//! `mediamill migrate`: apply the database migrations (every role also does this at start).

use mediamill_core::config::Config;

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    mediamill_core::repo::open(&cfg.database.url, 2).await?;
    println!("migrations applied to {}", crate::roles::mask(&cfg.database.url));
    Ok(())
}
