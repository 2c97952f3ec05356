//! `mediamill keys create|list|revoke`: API keys per tenant. A key is shown once, at creation.

use mediamill_core::apikey;
use mediamill_core::config::Config;
use mediamill_core::event;
use mediamill_core::model::{ApiKey, KeyScope, Tenant};
use mediamill_core::outbox::key_event;
use mediamill_core::repo::NewKey;

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
        /// `upload` for client apps (upload, read the tenant's media and batches, follow events) or `admin`
        /// (also webhooks and email recipients).
        #[arg(long, default_value = "admin", value_parser = ["upload", "admin"])]
        scope: String,
        /// Refused after this long (e.g. 90d, 12h); never, without it.
        #[arg(long, value_parser = super::jobs::parse_duration)]
        expires: Option<std::time::Duration>,
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
    let when = |t: Option<i64>| t.map(rfc3339).unwrap_or_else(|| "-".into());
    for k in keys {
        println!(
            "{}\t{}\t{}…\t{}\t{}\t{}\t{}\t{}",
            t.name,
            k.id,
            k.prefix,
            rfc3339(k.created_at),
            when(k.revoked_at),
            k.scope.as_str(),
            when(k.expires_at),
            when(k.last_used_at)
        );
    }
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    match args.action {
        Action::Create { tenant, scope, expires } => {
            anyhow::ensure!(!tenant.trim().is_empty() && tenant.len() <= 200, "--tenant must be 1 to 200 characters");
            // Creating a key is how a deployment starts: this one may create the database.
            let repo = super::data::open(&cfg).await?;
            let t = repo.ensure_tenant(&tenant).await?;
            let (secret, hash, prefix) = apikey::generate();
            let scope = scope.parse().unwrap_or(KeyScope::Admin);
            let expires_at = expires.map(|d| mediamill_core::repo::now_ms() + d.as_millis() as i64);
            let new = NewKey { tenant_id: &t.id, key_hash: &hash, prefix: &prefix, scope, expires_at };
            let k = repo.create_key(&new, &|k| vec![key_event(k, event::KEY_CREATED, None)]).await?;
            eprintln!("key {} ({}) for tenant {} (shown once; store it now):", k.id, scope.as_str(), t.name);
            println!("{secret}");
        }
        Action::List { tenant } => {
            let repo = super::data::open_existing(&cfg, data).await?;
            let tenants = match tenant {
                Some(name) => vec![repo.find_tenant(&name).await?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "no tenant named {name:?}; `mediamill keys list` without --tenant lists every tenant's keys"
                    )
                })?],
                None => repo.list_tenants().await?,
            };
            println!("tenant\tid\tprefix\tcreated_at\trevoked_at\tscope\texpires_at\tlast_used_at");
            for t in &tenants {
                print_keys(t, &repo.list_keys(&t.id).await?);
            }
        }
        Action::Revoke { id } => {
            let repo = super::data::open_existing(&cfg, data).await?;
            let revoked = repo.revoke_key(&id, &|k| vec![key_event(k, event::KEY_REVOKED, None)]).await?;
            anyhow::ensure!(revoked.is_some(), "no active key with id {id}");
            println!("revoked {id} (its live streams close on every ingest instance once auth.events carries it)");
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
