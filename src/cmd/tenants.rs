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
        keep_gps: bool,
    },
    /// Show a tenant's settings.
    Show { name: String },
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let repo = super::data::open_existing(&cfg, data).await?;
    match args.action {
        Action::Set { name, keep_gps } => {
            anyhow::ensure!(!name.trim().is_empty() && name.len() <= 200, "the tenant name must be 1 to 200 characters");
            repo.ensure_tenant(&name).await?;
            anyhow::ensure!(repo.set_tenant_keeps_gps(&name, keep_gps).await?, "no tenant {name}");
            println!("tenant {name}: keep_gps = {keep_gps}");
        }
        Action::Show { name } => {
            let t = repo.find_tenant(&name).await?.ok_or_else(|| anyhow::anyhow!("no tenant named {name:?}"))?;
            let keep = repo.tenant_keeps_gps(&t.id).await?.unwrap_or(false);
            println!("tenant {name} ({}): keep_gps = {keep}", t.id);
        }
    }
    Ok(())
}
