//! `mediamill keys create|list|revoke`: API keys per tenant. A key is shown once, at creation.

use mediamill_core::apikey;
use mediamill_core::config::Config;
use mediamill_core::model::{ApiKey, Tenant};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a key for a tenant (the tenant is created if new) and print it.
    Create {
        #[arg(long)]
        tenant: String,
    },
    /// List keys: one tenant's with --tenant, else every tenant's.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke { id: String },
}

/// Milliseconds since the epoch as RFC 3339, the way people read times.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

fn print_keys(t: &Tenant, keys: &[ApiKey]) {
    for k in keys {
        let revoked = k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into());
        println!("{}\t{}\t{}…\t{}\t{}", t.name, k.id, k.prefix, rfc3339(k.created_at), revoked);
    }
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    match args.action {
        Action::Create { tenant } => {
            anyhow::ensure!(!tenant.trim().is_empty() && tenant.len() <= 200, "--tenant must be 1 to 200 characters");
            // Creating a key is how a deployment starts: this one may create the database.
            let repo = super::data::open(&cfg).await?;
            let t = repo.ensure_tenant(&tenant).await?;
            let (secret, hash, prefix) = apikey::generate();
            let k = repo.create_key(&t.id, &hash, &prefix).await?;
            eprintln!("key {} for tenant {} (shown once; store it now):", k.id, t.name);
            println!("{secret}");
        }
        Action::List { tenant } => {
            let repo = super::data::open_existing(&cfg, data).await?;
            let tenants = match tenant {
                Some(name) => vec![repo.find_tenant(&name).await?.ok_or_else(|| {
                    anyhow::anyhow!("no tenant named {name:?}; `mediamill keys list` without --tenant lists every tenant's keys")
                })?],
                None => repo.list_tenants().await?,
            };
            println!("tenant\tid\tprefix\tcreated_at\trevoked_at");
            for t in &tenants {
                print_keys(t, &repo.list_keys(&t.id).await?);
            }
        }
        Action::Revoke { id } => {
            let repo = super::data::open_existing(&cfg, data).await?;
            anyhow::ensure!(repo.revoke_key(&id).await?, "no active key with id {id}");
            println!("revoked {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_764_460_800_000), "2025-11-30T00:00:00Z");
    }
}
