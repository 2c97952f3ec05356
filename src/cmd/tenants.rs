//! `mediamill tenants set NAME --keep-gps on|off`: per-tenant processing choices.

use mediamill_core::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Change a tenant's settings (the tenant is created if new).
    Set {
        name: String,
        /// Keep GPS coordinates found in photos on their media records and `processed` events (never in
        /// outputs). Off by default: records only say whether a photo had a position.
        #[arg(long, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        keep_gps: Option<bool>,
        /// Requests per second this tenant may send to one ingest instance (burst twice that); `default`
        /// goes back to limits.requests_per_sec.
        #[arg(long, value_parser = parse_rate)]
        requests_per_sec: Option<Rate>,
    },
    /// Show a tenant's settings.
    Show { name: String },
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let repo = super::data::open_existing(&cfg, data).await?;
    match args.action {
        Action::Set { name, keep_gps, requests_per_sec } => {
            anyhow::ensure!(!name.trim().is_empty() && name.len() <= 200, "the tenant name must be 1 to 200 characters");
            anyhow::ensure!(keep_gps.is_some() || requests_per_sec.is_some(), "nothing to set: give --keep-gps and/or --requests-per-sec");
            repo.ensure_tenant(&name).await?;
            if let Some(keep) = keep_gps {
                anyhow::ensure!(repo.set_tenant_keeps_gps(&name, keep).await?, "no tenant {name}");
                println!("tenant {name}: keep_gps = {keep}");
            }
            if let Some(Rate(rate)) = requests_per_sec {
                anyhow::ensure!(repo.set_tenant_rate(&name, rate).await?, "no tenant {name}");
                match rate {
                    Some(r) => println!("tenant {name}: requests_per_sec = {r} (burst {})", r * 2),
                    None => println!("tenant {name}: requests_per_sec = limits.requests_per_sec ({})", cfg.limits.requests_per_sec),
                }
            }
        }
        Action::Show { name } => {
            let t = repo.find_tenant(&name).await?.ok_or_else(|| anyhow::anyhow!("no tenant named {name:?}"))?;
            let keep = repo.tenant_keeps_gps(&t.id).await?.unwrap_or(false);
            let rate = t.requests_per_sec.map(|r| r.to_string()).unwrap_or_else(|| format!("{} (limits.requests_per_sec)", cfg.limits.requests_per_sec));
            println!("tenant {name} ({}): keep_gps = {keep}, requests_per_sec = {rate}", t.id);
        }
    }
    Ok(())
}

/// A rate given on the command line: a number, or `default` for none of the tenant's own.
#[derive(Debug, Clone, Copy)]
struct Rate(Option<u32>);

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s == "default" {
        return Ok(Rate(None));
    }
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Rate(Some(n))),
        _ => Err(format!("{s:?} is not a positive number of requests per second or `default`")),
    }
}

