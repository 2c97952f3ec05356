//! `mediamill healthcheck`: the container image's `HEALTHCHECK`. Asks this role's own `/healthz` (ingest's API
//! address, or `server.ops_listen` for the other roles), so the image needs no HTTP client of its own.

use std::time::Duration;

use anyhow::Context;
use mediamill_core::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to ask instead of the one the configuration gives.
    #[arg(long)]
    url: Option<String>,
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let url = match args.url {
        Some(u) => u,
        None => format!("http://{}/healthz", local_addr(&cfg)?),
    };
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    anyhow::ensure!(resp.status().is_success(), "{url} answered {}", resp.status());
    Ok(())
}

/// Where this process answers: `server.ops_listen` when set, else the API's `server.listen`; an unspecified
/// address (`0.0.0.0`, `[::]`) is asked on loopback.
fn local_addr(cfg: &Config) -> anyhow::Result<String> {
    let ops = cfg.server.ops_listen.trim();
    let mut addr: std::net::SocketAddr = if ops.is_empty() {
        cfg.server.listen
    } else {
        ops.parse().with_context(|| format!("server.ops_listen {ops} is not an address:port"))?
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    Ok(addr.to_string())
}
