//! `mediamill demo`: starts `up` on a fresh embedded data folder, runs the QA check over the fixture corpus,
//! prints the result table and where the outputs are, and exits 0 when everything matched.

use std::path::PathBuf;

use anyhow::Context;
use mediamill_core::config::{Config, StoreBackend};

use super::{qa, up};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fixture folder with expected.toml.
    #[arg(long, default_value = "fixtures/media")]
    fixtures: PathBuf,
}

/// Runs in `DATA/demo` (emptied first), so it never touches the data of an `up` in the same folder.
pub async fn run(mut cfg: Config, args: Args, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let folder = data_dir.join("demo");
    if folder.exists() {
        std::fs::remove_dir_all(&folder).with_context(|| format!("emptying {}", folder.display()))?;
    }
    std::fs::create_dir_all(&folder)?;
    let data = std::fs::canonicalize(&folder)?;
    cfg.database.url = format!("sqlite://{}", data.join("mediamill.db").display());
    cfg.store.backend = StoreBackend::Local;
    cfg.store.local_dir = data.join("objects");
    cfg.kafka.brokers = String::new();
    cfg.server.listen = "127.0.0.1:0".parse()?;

    let running = up::start(cfg).await?;
    let key = running.new_key.clone().context("a fresh data folder always gets a new key")?;
    eprintln!("demo: pipeline up on http://{} (embedded: SQLite, local disk, in-process broker)", running.addr);
    let rows =
        qa::check(&qa::Args { dir: args.fixtures.clone(), url: format!("http://{}", running.addr), key, timeout: 120 })
            .await;
    running.stop().await;
    let rows = rows?;
    println!();
    println!("outputs: {}  (variants under derived/<tenant>/<media>/)", data.join("objects").display());
    println!("database: {}", data.join("mediamill.db").display());
    println!("keep it running: cargo run -- up   (API on http://127.0.0.1:8080, data in ./mediamill-data)");
    if rows.iter().any(|r| !r.problems.is_empty()) {
        anyhow::bail!("some fixtures did not match their expected outcome");
    }
    Ok(())
}
