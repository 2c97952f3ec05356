//! `mediamill bench limits`: what one request-rate check costs the way ingest does it (a token bucket in
//! this instance's memory) against the alternative that would hold a limit over all instances (a token bucket
//! shared through the database: one atomic UPDATE per request), on the configured database. Prints both per
//! check, the ratio, and the request rate one database connection could carry for rate checks alone.

use std::time::Instant;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_ingest::TenantGuards;

/// Runs `checks` in-memory checks and `checks / 10` shared ones over `tenants` tenants.
pub async fn run(cfg: &Config, checks: usize, tenants: usize) -> anyhow::Result<()> {
    let tenants = tenants.max(1);
    let names: Vec<String> = (0..tenants).map(|i| format!("bench-tenant-{i}")).collect();

    // This instance's buckets: what ingest does on every request.
    let guards = TenantGuards::default();
    let started = Instant::now();
    let mut refused = 0usize;
    for i in 0..checks {
        if guards.requests.check(&names[i % tenants], 1_000_000_000).is_err() {
            refused += 1;
        }
    }
    let local = started.elapsed().as_secs_f64() / checks as f64;
    anyhow::ensure!(refused == 0, "the in-memory check refused {refused} requests at an unlimited rate");

    // A bucket shared by every instance: one atomic refill-and-take per request.
    sqlx::any::install_default_drivers();
    let url = &cfg.database.url;
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .with_context(|| format!("connecting to {}", crate::roles::mask(url)))?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_rate_buckets (tenant TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, at_ms BIGINT NOT NULL)")
        .execute(&pool)
        .await?;
    for n in &names {
        sqlx::query(
            "INSERT INTO bench_rate_buckets (tenant, tokens, at_ms) VALUES ($1, 0, 0) ON CONFLICT (tenant) DO NOTHING",
        )
        .bind(n)
        .execute(&pool)
        .await?;
    }
    let shared_checks = (checks / 10).max(100);
    let (rate, burst) = (1_000_000_000.0f64, 2_000_000_000.0f64);
    let started = Instant::now();
    for i in 0..shared_checks {
        let now = mediamill_core::repo::now_ms();
        let row: (f64,) = sqlx::query_as(
            "UPDATE bench_rate_buckets SET \
             tokens = CASE WHEN tokens + ($2 - at_ms) * $3 / 1000.0 > $4 THEN $4 ELSE tokens + ($2 - at_ms) * $3 / 1000.0 END - 1, \
             at_ms = $2 WHERE tenant = $1 RETURNING tokens",
        )
        .bind(&names[i % tenants])
        .bind(now)
        .bind(rate)
        .bind(burst)
        .fetch_one(&pool)
        .await?;
        anyhow::ensure!(row.0 >= 0.0, "the shared bucket ran dry at an unlimited rate");
    }
    let shared = started.elapsed().as_secs_f64() / shared_checks as f64;
    sqlx::query("DROP TABLE bench_rate_buckets").execute(&pool).await?;

    let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    println!("request-rate check, {tenants} tenants");
    println!("  this instance's token bucket (ingest):   {:>9.3} µs/check   ({checks} checks)", local * 1e6);
    println!(
        "  bucket shared through {backend:<10}:  {:>12.3} µs/check   ({shared_checks} checks, one connection)",
        shared * 1e6
    );
    println!("  shared / in-memory:                      {:>9.0}×", shared / local);
    println!("  requests/s one connection carries for the shared check alone: {:.0}", 1.0 / shared);
    Ok(())
}
