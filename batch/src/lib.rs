//! Batch progress and notifications, driven by `media.events` and `batch.events`.
//!
//! [`tracker`] moves each batch item forward as its media's events arrive (idempotently: an event delivered
//! twice or out of order never moves a count twice or backwards) and completes sealed batches whose items are
//! all terminal. [`progress`] coalesces `batch.progress` events to a few per second per batch, and
//! [`autoseal`] seals batches left open too long. [`notify`] delivers events as signed webhooks and emails.

pub mod autoseal;
pub mod notify;
pub mod progress;
pub mod tracker;

pub use tracker::BatchTracker;
