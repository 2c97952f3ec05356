//! `mediamill`: one binary, one subcommand per role.

mod client;
mod cmd;
mod ops;
mod roles;
mod telemetry;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Self-hosted media ingestion and processing pipeline.
#[derive(Debug, Parser)]
#[command(name = "mediamill", version, about)]
struct Cli {
    /// Configuration file (default: ./mediamill.toml when present). MEDIAMILL_* variables override it.
    #[arg(long, global = true, env = "MEDIAMILL_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder of the embedded default (SQLite database, local objects, the running `up`'s broker
    /// address), shared by `up` and the operator commands. Settings given for database.url or
    /// store.local_dir win.
    #[arg(long, global = true, env = "MEDIAMILL_DATA", default_value = cmd::data::DEFAULT_DIR)]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every role in one process; with no broker configured, on the embedded default (SQLite, local disk,
    /// in-process broker).
    Up(cmd::up::Args),
    /// The HTTP upload API (and an outbox relay).
    Ingest,
    /// A processing worker (and an outbox relay).
    Worker(cmd::worker::Args),
    /// The batch tracker (a consumer of media.events), with auto-sealing and an outbox relay.
    Batch,
    /// The notifier: signed webhooks and emails for media and batch events, retried from a persisted schedule,
    /// and the app's notifications (feed, Web Push, email, SMS) from user, social and chat events.
    Notify,
    /// The app's analytics and chat archive (consumers of social, auth, user and chat events).
    Social,
    /// Analytics tools: rebuild the counts from the topics.
    Analytics(cmd::analytics::Args),
    /// Publish one app event (user, auth, social, chat), checked against its contract.
    Emit(cmd::emit::Args),
    /// Operator tools for processing jobs: list stuck items, requeue one.
    Jobs(cmd::jobs::Args),
    /// Process local files with the worker's code (no broker, store or database); one JSON line per file.
    Process(cmd::process::Args),
    /// Benchmarks that print each figure beside its anchors measured in the same run.
    Bench(cmd::bench::Args),
    /// The dead-letter topic: list, requeue.
    Dlq(cmd::dlq::Args),
    /// Apply database migrations and exit.
    Migrate,
    /// Create the Kafka topics with the configured partition counts.
    Topics,
    /// Manage API keys.
    Keys(cmd::keys::Args),
    /// Per-tenant settings (e.g. keeping GPS coordinates).
    Tenants(cmd::tenants::Args),
    /// Print the effective configuration (secrets masked).
    Config,
    /// Exit 0 when this role's own /healthz answers (the container image's HEALTHCHECK).
    Healthcheck(cmd::healthcheck::Args),
    /// Request figures from the gateway log (gateway.requests): per tenant and route, rates, errors,
    /// latency, bytes, and the rate limit each tenant's traffic suggests.
    Stats(cmd::stats::Args),
    /// One screen for an operator: consumer groups (members, lag), dead letters, items per state and stuck,
    /// open batches, outbox backlog. `--json` too.
    Status(cmd::status::Args),
    /// Start `up` on a fresh embedded data folder, run the QA check over the fixtures, report, exit.
    Demo(cmd::demo::Args),
    /// Upload the fixtures of a folder through a running pipeline and check every outcome.
    Qa(cmd::qa::Args),
    /// A sandbox child of a worker (started by workers, not by hand).
    #[command(hide = true)]
    Sandbox(cmd::sandbox::Args),
    /// Upload files and folders to a running mediamill: resumable (tus), with progress bars, in a batch when
    /// there are several, then with --watch follow processing to the end.
    Upload(cmd::upload::Args),
    /// Follow a batch or an item until it is done, then list how each item ended.
    Watch(cmd::watch::Args),
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, never anyhow's backtrace: these are the user's errors to act on
            // (a bug panics, and a panic still prints its backtrace when RUST_BACKTRACE asks).
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before anything else: the child limits itself first and needs no configuration or runtime.
    if let Command::Sandbox(a) = cli.command {
        telemetry::init_logs();
        return cmd::sandbox::run(a);
    }
    let mut cfg = mediamill_core::config::Config::load(cli.config.as_deref())?;
    let data = cli.data;
    cmd::data::apply(&mut cfg, &data);
    let telemetry = telemetry::init(&cfg.telemetry.otlp_endpoint, &service_name(&cli.command))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = rt.block_on(async move {
        match cli.command {
            Command::Up(a) => cmd::up::run(cfg, a, &data).await,
            Command::Ingest => cmd::ingest::run(cfg).await,
            Command::Worker(a) => cmd::worker::run(cfg, a).await,
            Command::Batch => cmd::batch::run(cfg).await,
            Command::Notify => cmd::notify::run(cfg).await,
            Command::Social => cmd::social::run(cfg).await,
            Command::Analytics(a) => cmd::analytics::run(cfg, a, &data).await,
            Command::Emit(a) => cmd::emit::run(cfg, a, &data).await,
            Command::Jobs(a) => cmd::jobs::run(cfg, a, &data).await,
            Command::Process(a) => cmd::process::run(cfg, a).await,
            Command::Bench(a) => cmd::bench::run_cmd(cfg, a, &data).await,
            Command::Dlq(a) => cmd::dlq::run(cfg, a, &data).await,
            Command::Status(a) => cmd::status::run(cfg, a, &data).await,
            Command::Healthcheck(a) => cmd::healthcheck::run(cfg, a).await,
            Command::Migrate => cmd::migrate::run(cfg).await,
            Command::Topics => cmd::topics::run(cfg).await,
            Command::Keys(a) => cmd::keys::run(cfg, a, &data).await,
            Command::Tenants(a) => cmd::tenants::run(cfg, a, &data).await,
            Command::Demo(a) => cmd::demo::run(cfg, a, &data).await,
            Command::Qa(a) => cmd::qa::run(a).await,
            Command::Upload(a) => cmd::upload::run(a).await,
            Command::Watch(a) => cmd::watch::run(a).await,
            Command::Stats(a) => cmd::stats::run(cfg, a, &data).await,
            Command::Sandbox(_) => unreachable!("handled before the runtime starts"),
            Command::Config => {
                print!("{}", cfg.to_toml_masked());
                Ok(())
            }
        }
    });
    drop(rt);
    telemetry.shutdown();
    result
}

/// The service name traces carry: the role, so a trace shows which process did what.
fn service_name(c: &Command) -> String {
    let role = match c {
        Command::Up(_) => "up",
        Command::Ingest => "ingest",
        Command::Worker(a) => a.kind_name(),
        Command::Batch => "batch",
        Command::Notify => "notify",
        Command::Social => "social",
        _ => "cli",
    };
    format!("mediamill-{role}")
}
