//! The metadata repository: tenants and keys, media and variants, and the outbox, behind one trait.
//!
//! [`SqlRepo`] implements it for PostgreSQL (production) and SQLite (the embedded default) with one set of
//! queries: the schema uses portable types only, so the two backends differ in their migrations and in how
//! the outbox relay is elected, nothing else. Every state change of a media item is a guarded transition
//! (`WHERE status IN (…)`) written in the same transaction as its outbox events, so a redelivered job never
//! emits its events twice.

mod app;
mod batches;
mod error;
mod media;
mod notify;
mod outbox;
mod sql;
mod tenants;
mod uploads;

use std::sync::Arc;

use async_trait::async_trait;

pub use app::{ChatFact, ChatRepo, DueNotification, FeedOp, FeedRepo, NewNotification, Release, StatsFact, StatsRepo};
pub use batches::{BatchRepo, CompletionEvents};
pub use error::RepoError;
pub use media::{Completion, Inserted, MediaQuery, MediaRepo, RequeueEvents};
pub use notify::{AfterAttempt, LoggedAttempt, NotifyRepo};
pub use outbox::{EventsFor, OutboxEvent, OutboxRepo, OutboxWakeups, PendingEvent, RelayLock};
pub use sql::{Dialect, SqlRepo};
pub use tenants::{NewKey, TenantRepo};
pub use uploads::UploadRepo;

/// The database's side of `mediamill status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OpsSummary {
    /// Items per status (`uploaded`, `processing`, `processed`, `failed`, `deleted`).
    pub media: std::collections::BTreeMap<String, i64>,
    /// Items in `uploaded` or `processing` unchanged for longer than the stuck threshold, per status.
    pub stuck: std::collections::BTreeMap<String, i64>,
    /// Batches not completed yet (open or sealed).
    pub open_batches: i64,
    /// Outbox events written but not yet published to Kafka.
    pub outbox_backlog: i64,
    /// Age in milliseconds of the oldest unpublished outbox event.
    pub outbox_oldest_ms: Option<i64>,
}

/// The metadata repository: every part of it, plus what spans them.
#[async_trait]
pub trait Repo:
    TenantRepo
    + MediaRepo
    + BatchRepo
    + OutboxRepo
    + NotifyRepo
    + UploadRepo
    + FeedRepo
    + StatsRepo
    + ChatRepo
    + Send
    + Sync
    + 'static
{
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), RepoError>;
    /// Fails when the database cannot serve requests (for `/readyz`).
    async fn ping(&self) -> Result<(), RepoError>;
    /// What an operator's `mediamill status` shows from the database; items unchanged since before `stuck_before`
    /// (ms) and not terminal count as stuck.
    async fn ops_summary(&self, stuck_before: i64) -> Result<OpsSummary, RepoError>;
}

/// Opens the repository at `url` (`postgres://…` or `sqlite://…`) and applies migrations.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Repo>, RepoError> {
    let repo = SqlRepo::connect(url, max_connections).await?;
    repo.migrate().await?;
    Ok(Arc::new(repo))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
