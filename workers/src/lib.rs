//! CPU-bound processing driven by Kafka jobs.
//!
//! [`image`] turns one image's bytes into its variants and metadata (pure, no I/O); [`job`] is the
//! consumer-side handler that downloads the raw upload, runs the processing on a rayon pool (never on the
//! async runtime's threads), stores the variants and records the outcome with its events.

pub mod failure;
pub mod image;
pub mod job;
pub mod pool;

pub use failure::ProcessError;
pub use job::ImageJobHandler;
