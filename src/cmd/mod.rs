//! One file per subcommand.

pub mod analytics;
pub mod batch;
pub mod bench;
pub mod data;
pub mod demo;
pub mod dlq;
pub mod emit;
pub mod healthcheck;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod migrate;
pub mod notify;
pub mod process;
pub mod qa;
pub mod sandbox;
pub mod social;
pub mod stats;
pub mod status;
pub mod tenants;
pub mod topics;
pub mod up;
pub mod upload;
pub mod watch;
pub mod worker;
