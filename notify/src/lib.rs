//! The notifier: turns `media.events` and `batch.events` into deliveries (webhooks to the tenant's endpoints
//! and to a batch's own URL, emails to the tenant's recipients), then sends them with retries.
//!
//! Deliveries are rows: the consumer commits its offset once the rows exist, and the dispatcher's schedule
//! lives in the database, so a notifier restarted mid-retry picks up where it stopped.
//!
//! The role (`mediamill notify`) is this crate; what the API shares with it stays in `mediamill-core`: the
//! delivery model (`notify_model`), its repository (`repo::NotifyRepo`) and the webhook-target checks
//! (`webhook_target`), since ingest registers endpoints and serves the delivery log.

#![warn(missing_docs)]

pub mod app;
pub mod channel;
pub mod dispatch;
pub mod email;
pub mod fanout;
pub mod push;
pub mod signing;
pub mod sms;
pub mod webhook;

pub use dispatch::Dispatcher;
pub use fanout::Fanout;
