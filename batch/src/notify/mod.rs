//! The notifier: turns `media.events` and `batch.events` into deliveries (webhooks to the tenant's endpoints
//! and to a batch's own URL, emails to the tenant's recipients), then sends them with retries.
//!
//! Deliveries are rows: the consumer commits its offset once the rows exist, and the dispatcher's schedule
//! lives in the database, so a notifier restarted mid-retry picks up where it stopped.

pub mod dispatch;
pub mod email;
pub mod fanout;
pub mod signing;
pub mod webhook;

pub use dispatch::Dispatcher;
pub use fanout::Fanout;
