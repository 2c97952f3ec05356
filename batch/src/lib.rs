//! Batch progress, driven by `media.events` (the notifier that sends webhooks and emails is `mediamill-notify`).
//!
//! [`tracker`] moves each batch item forward as its media's events arrive (idempotently: an event delivered
//! twice or out of order never moves a count twice or backwards) and completes sealed batches whose items are
//! all terminal. [`progress`] coalesces `batch.progress` events to a few per second per batch, and
//! [`autoseal`] seals batches left open too long.

#![warn(missing_docs)]

pub mod autoseal;
pub mod progress;
pub mod tracker;

pub use tracker::BatchTracker;
