//! What every mediamill role shares: the configuration, the event contract (CloudEvents envelope, jobs and
//! lifecycle events), Kafka plumbing (topics, producer, offset tracking), the object store and the metadata
//! repository behind their traits, the outbox relay and upload sniffing.
//!
//! Callers never name a backend: [`store::open`] and [`repo::open`] pick one from [`config::Config`].
#![warn(missing_docs)]

pub mod apikey;
pub mod app_model;
pub mod backends;
pub mod config;
pub mod contract;
pub mod event;
pub mod ids;
pub mod kafka;
pub mod metrics_handle;
pub mod model;
pub mod notify_model;
pub mod outbox;
pub mod repo;
pub mod retry;
pub mod shutdown;
pub mod sniff;
pub mod store;
pub mod telemetry;
pub mod topics;
pub mod webhook_target;
