//! `mediamill tenants set|show`: per-tenant settings: keeping GPS coordinates, and the tenant's own limits and
//! quotas (each one it does not set takes the `[tenants]` default of the configuration).

use mediamill_core::config::Config;
use mediamill_core::model::TenantLimits;

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
        /// A limit of this tenant's own, `KEY=VALUE` (repeatable): requests_per_sec, upload_bytes_per_sec,
        /// concurrent_uploads, sse_streams, webhooks, email_recipients, stored_bytes, media_count. VALUE is a
        /// number (bytes may end in K, M, G, T), 0 for unlimited, or `default` for the [tenants] default.
        #[arg(long = "limit", value_parser = parse_limit)]
        limits: Vec<(String, Option<u64>)>,
    },
    /// Show a tenant's settings and the limits that apply to it.
    Show { name: String },
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let repo = super::data::open_existing(&cfg, data).await?;
    match args.action {
        Action::Set { name, keep_gps, limits } => {
            anyhow::ensure!(!name.trim().is_empty() && name.len() <= 200, "the tenant name must be 1 to 200 characters");
            anyhow::ensure!(keep_gps.is_some() || !limits.is_empty(), "nothing to set: give --keep-gps and/or --limit KEY=VALUE");
            let t = repo.ensure_tenant(&name).await?;
            if let Some(keep) = keep_gps {
                anyhow::ensure!(repo.set_tenant_keeps_gps(&name, keep).await?, "no tenant {name}");
                println!("tenant {name}: keep_gps = {keep}");
            }
            if !limits.is_empty() {
                let mut own = t.limits.clone();
                for (key, value) in &limits {
                    if let Some(field) = own.field_mut(key) {
                        *field = *value;
                    }
                }
                anyhow::ensure!(repo.set_tenant_limits(&name, &own).await?, "no tenant {name}");
                print_limits(&cfg, &name, &own);
            }
        }
        Action::Show { name } => {
            let t = repo.find_tenant(&name).await?.ok_or_else(|| anyhow::anyhow!("no tenant named {name:?}"))?;
            let keep = repo.tenant_keeps_gps(&t.id).await?.unwrap_or(false);
            println!("tenant {name} ({}): keep_gps = {keep}", t.id);
            print_limits(&cfg, &name, &t.limits);
        }
    }
    Ok(())
}

fn print_limits(cfg: &Config, name: &str, own: &TenantLimits) {
    let mut own = own.clone();
    for key in TenantLimits::KEYS {
        let mine = own.field_mut(key).and_then(|v| *v);
        let value = cfg.tenants.effective(&own, key);
        let shown = if value == 0 { "unlimited".to_string() } else { value.to_string() };
        let whose = if mine.is_some() { "own" } else { "default" };
        println!("tenant {name}: {key} = {shown} ({whose})");
    }
}

/// `KEY=VALUE` of `--limit`.
fn parse_limit(s: &str) -> Result<(String, Option<u64>), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    let key = key.trim();
    if !TenantLimits::KEYS.contains(&key) {
        return Err(format!("{key:?} is not a limit; limits: {}", TenantLimits::KEYS.join(", ")));
    }
    let value = value.trim();
    if value == "default" {
        return Ok((key.to_string(), None));
    }
    let (digits, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{value:?}: a number, optionally ending in K, M, G or T, or `default`")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{value:?} is not a number"))?;
    n.checked_mul(scale).map(|v| (key.to_string(), Some(v))).ok_or_else(|| format!("{value:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn limits_parse_with_units_and_defaults() {
        assert_eq!(parse_limit("stored_bytes=2G"), Ok(("stored_bytes".into(), Some(2 << 30))));
        assert_eq!(parse_limit("requests_per_sec=5"), Ok(("requests_per_sec".into(), Some(5))));
        assert_eq!(parse_limit("webhooks=default"), Ok(("webhooks".into(), None)));
        assert!(parse_limit("stored_byte=1").unwrap_err().contains("not a limit"));
        assert!(parse_limit("media_count=lots").is_err());
        assert!(parse_limit("stored_bytes=99999999999T").is_err());
        assert!(parse_limit("nokey").is_err());
    }
}
