//! Where processing runs: on this process's CPU pool, or in warm sandbox children (process isolation on),
//! which the supervisor replaces when a file kills one. Processors ask the executor and never match on the
//! choice themselves, except video, whose in-process run needs its own cancellation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::failure::ProcessError;
use crate::image::{self, ImageSettings, Processed};
use crate::pool::CpuPool;
use crate::sandbox::{CallError, Supervisor};
use crate::video::{self, Encoded, VideoSettings};

/// Where a worker's processing runs.
pub enum Executor {
    /// Isolation off: on this process's rayon threads.
    InProcess(CpuPool),
    /// Isolation on: in sandbox children with their own memory, CPU and system-call limits.
    Sandboxed(Supervisor),
}

impl Executor {
    /// Whether the work runs in sandbox children (for spans and logs).
    pub fn is_sandboxed(&self) -> bool {
        matches!(self, Executor::Sandboxed(_))
    }

    /// [`image::process`] on `raw`.
    pub async fn image(
        &self,
        raw: &bytes::Bytes,
        settings: &Arc<ImageSettings>,
        timeout: Duration,
    ) -> Result<Processed, CallError> {
        match self {
            Executor::Sandboxed(sb) => sb.image(raw, settings, timeout).await,
            Executor::InProcess(pool) => {
                let (raw, settings) = (raw.clone(), settings.clone());
                Ok(pool.run(timeout, move || image::process(&raw, &settings)).await?)
            }
        }
    }

    /// [`video::animation_to_mp4`] of the animation at `input`, written into `out_dir`.
    pub async fn animation(
        &self,
        input: &Path,
        out_dir: &Path,
        settings: &Arc<VideoSettings>,
        timeout: Duration,
    ) -> Result<Encoded, CallError> {
        match self {
            Executor::Sandboxed(sb) => sb.animation(input, out_dir, settings, timeout).await,
            Executor::InProcess(pool) => {
                let (input, out_dir, settings) = (input.to_path_buf(), out_dir.to_path_buf(), settings.clone());
                let encoded: Result<Encoded, ProcessError> =
                    pool.run(timeout, move || video::animation_to_mp4(&input, &out_dir, &settings)).await;
                Ok(encoded?)
            }
        }
    }
}
