//! CPU-bound processing driven by Kafka jobs.
//!
//! [`image`] and [`video`] turn one upload into its variants and metadata (no network, no database); [`jobs`]
//! is the consumer side: the runner that retries, fails and dead-letters, and one processor per job topic that
//! fetches the raw upload, runs the processing off the async runtime's threads on its [`executor::Executor`] (a rayon pool,
//! or sandbox children), stores the variants and records the outcome with its events.
#![warn(missing_docs)]

pub mod executor;
pub mod failure;
pub mod image;
pub mod jobs;
pub mod pool;
pub mod sandbox;
pub mod video;

pub use failure::ProcessError;
pub use jobs::{ImageProcessor, JobHandler, VideoProcessor};
