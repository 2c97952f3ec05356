//! `mediamill keys create|list|revoke`: API keys per tenant. A key is shown once, at creation.

use mediamill_core::apikey;
use mediamill_core::config::Config;

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
    /// List a tenant's keys.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke { id: String },
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let repo = mediamill_core::repo::open(&cfg.database.url, 2).await?;
    match args.action {
        Action::Create { tenant } => {
            anyhow::ensure!(!tenant.trim().is_empty() && tenant.len() <= 200, "--tenant must be 1 to 200 characters");
            let t = repo.ensure_tenant(&tenant).await?;
            let (secret, hash, prefix) = apikey::generate();
            let k = repo.create_key(&t.id, &hash, &prefix).await?;
            eprintln!("key {} for tenant {} (shown once; store it now):", k.id, t.name);
            println!("{secret}");
        }
        Action::List { tenant } => {
            let t = repo.ensure_tenant(&tenant).await?;
            println!("id\tprefix\tcreated_at\trevoked_at");
            for k in repo.list_keys(&t.id).await? {
                let revoked = k.revoked_at.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
                println!("{}\t{}…\t{}\t{}", k.id, k.prefix, k.created_at, revoked);
            }
        }
        Action::Revoke { id } => {
            anyhow::ensure!(repo.revoke_key(&id).await?, "no active key with id {id}");
            println!("revoked {id}");
        }
    }
    Ok(())
}
