//! `mediamill tenants set|show`: per-tenant settings: keeping GPS coordinates, and the tenant's own limits and
//! quotas (each one it does not set takes the `[tenants]` default of the configuration).

use mediamill_core::config::Config;
use mediamill_core::model::{TenantLimit, TenantLimits};

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
        limits: Vec<(TenantLimit, Option<u64>)>,
        /// A browser origin allowed to call the API with this tenant's keys (repeatable; replaces the list;
        /// `none` clears it), e.g. https://app.example.com
        #[arg(long = "cors-origin", value_parser = parse_origin)]
        cors_origins: Vec<String>,
    },
    /// Show a tenant's settings and the limits that apply to it.
    Show { name: String },
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let repo = super::data::open_existing(&cfg, data).await?;
    match args.action {
        Action::Set { name, keep_gps, limits, cors_origins } => {
            anyhow::ensure!(
                !name.trim().is_empty() && name.len() <= 200,
                "the tenant name must be 1 to 200 characters"
            );
            anyhow::ensure!(
                keep_gps.is_some() || !limits.is_empty() || !cors_origins.is_empty(),
                "nothing to set: give --keep-gps, --limit KEY=VALUE and/or --cors-origin ORIGIN"
            );
            let t = repo.ensure_tenant(&name).await?;
            if let Some(keep) = keep_gps {
                anyhow::ensure!(repo.set_tenant_keeps_gps(&name, keep).await?, "no tenant {name}");
                println!("tenant {name}: keep_gps = {keep}");
            }
            if !limits.is_empty() {
                let mut own = t.limits.clone();
                for (limit, value) in &limits {
                    *own.field_mut(*limit) = *value;
                }
                anyhow::ensure!(repo.set_tenant_limits(&name, &own).await?, "no tenant {name}");
                print_limits(&cfg, &name, &own);
            }
            if !cors_origins.is_empty() {
                let origins: Vec<String> = cors_origins.into_iter().filter(|o| o != "none").collect();
                anyhow::ensure!(repo.set_tenant_cors(&name, &origins).await?, "no tenant {name}");
                println!(
                    "tenant {name}: cors_origins = {}",
                    if origins.is_empty() { "none".into() } else { origins.join(", ") }
                );
            }
        }
        Action::Show { name } => {
            let t = repo.find_tenant(&name).await?.ok_or_else(|| anyhow::anyhow!("no tenant named {name:?}"))?;
            let keep = repo.tenant_keeps_gps(&t.id).await?.unwrap_or(false);
            println!("tenant {name} ({}): keep_gps = {keep}", t.id);
            let cors = if t.cors_origins.is_empty() { "none".to_string() } else { t.cors_origins.join(", ") };
            println!("tenant {name}: cors_origins = {cors}");
            print_limits(&cfg, &name, &t.limits);
        }
    }
    Ok(())
}

fn print_limits(cfg: &Config, name: &str, own: &TenantLimits) {
    for limit in TenantLimit::ALL {
        let value = cfg.tenants.effective(own, limit);
        let shown = if value == 0 { "unlimited".to_string() } else { value.to_string() };
        let whose = if own.get(limit).is_some() { "own" } else { "default" };
        println!("tenant {name}: {} = {shown} ({whose})", limit.key());
    }
}

/// An origin of `--cors-origin`: `scheme://host[:port]`, nothing else (or `none`).
fn parse_origin(s: &str) -> Result<String, String> {
    if s == "none" {
        return Ok(s.into());
    }
    let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not an origin: {e}"))?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host_str().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && !s.ends_with('/');
    if !ok {
        return Err(format!("{s:?} is not an origin: scheme://host[:port], without a path"));
    }
    Ok(s.to_string())
}

/// `KEY=VALUE` of `--limit`.
fn parse_limit(s: &str) -> Result<(TenantLimit, Option<u64>), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    let key = key.trim();
    let limit = TenantLimit::parse(key).ok_or_else(|| {
        let all: Vec<&str> = TenantLimit::ALL.iter().map(|l| l.key()).collect();
        format!("{key:?} is not a limit; limits: {}", all.join(", "))
    })?;
    let value = value.trim();
    if value == "default" {
        return Ok((limit, None));
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
    n.checked_mul(scale).map(|v| (limit, Some(v))).ok_or_else(|| format!("{value:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(super::parse_origin("https://app.example.com"), Ok("https://app.example.com".into()));
        assert_eq!(super::parse_origin("http://localhost:5173"), Ok("http://localhost:5173".into()));
        for bad in ["https://app.example.com/", "https://a.example/path", "ftp://a.example", "app.example.com", "*"] {
            assert!(super::parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_parse_with_units_and_defaults() {
        use mediamill_core::model::TenantLimit as L;
        assert_eq!(parse_limit("stored_bytes=2G"), Ok((L::StoredBytes, Some(2 << 30))));
        assert_eq!(parse_limit("requests_per_sec=5"), Ok((L::RequestsPerSec, Some(5))));
        assert_eq!(parse_limit("webhooks=default"), Ok((L::Webhooks, None)));
        assert!(parse_limit("stored_byte=1").unwrap_err().contains("not a limit"));
        assert!(parse_limit("media_count=lots").is_err());
        assert!(parse_limit("stored_bytes=99999999999T").is_err());
        assert!(parse_limit("nokey").is_err());
    }
}
