//! Process isolation: decoding and encoding of untrusted files in supervised child processes.
//!
//! A worker keeps a pool of warm children (`mediamill sandbox`, the same binary) per job kind, each limited
//! in address space and without core dumps. A job leases one child, sends the work over a pipe
//! ([`protocol`]), and gets back the variants (image bytes over the pipe, video files in the job's folder).
//! A segfault, an abort, an allocation failure or an overrun ends only that child: the job fails with
//! `crashed`, `out_of_memory` or `timeout` ([`ending`]), and a fresh child replaces it ([`supervisor`]). The
//! child's side is [`child`].

pub mod child;
pub mod ending;
pub mod lockdown;
pub mod protocol;
pub mod supervisor;

use std::path::Path;
use std::time::Duration;

use mediamill_core::config::IsolationConfig;
pub use supervisor::{CallError, ChildSpec, Supervisor};

use crate::failure::ProcessError;
use crate::image::{ImageSettings, Output, Processed};
use crate::video::{Encoded, VideoProcessed, VideoSettings};
use protocol::{ImageHeader, Reply, Request};

/// A child answered with a reply of the wrong kind: it is not trusted with the next job either.
fn unexpected(reply: &Reply) -> CallError {
    let kind = match reply {
        Reply::Ready => "Ready",
        Reply::Progress(_) => "Progress",
        Reply::Image { .. } => "Image",
        Reply::Animation(_) => "Animation",
        Reply::Video { .. } => "Video",
        Reply::Failed { .. } => "Failed",
    };
    CallError::Process(ProcessError::Crashed(format!("the decoder process answered with an unexpected {kind} reply")))
}

fn join(headers: Vec<ImageHeader>, blobs: Vec<Vec<u8>>) -> Result<Vec<Output>, CallError> {
    if headers.len() != blobs.len() {
        let msg = format!("the decoder process sent {} images for {} headers", blobs.len(), headers.len());
        return Err(CallError::Process(ProcessError::Crashed(msg)));
    }
    Ok(headers
        .into_iter()
        .zip(blobs)
        .map(|(h, bytes)| Output { name: h.name, format: h.format, width: h.width, height: h.height, bytes })
        .collect())
}

/// A file the child wrote must lie in the job's folder: a child that names anything else is not believed.
fn inside(dir: &Path, path: &Path) -> Result<(), CallError> {
    let escapes = path.components().any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes || !path.starts_with(dir) {
        let msg = format!("the decoder process named a file outside the job's folder: {}", path.display());
        return Err(CallError::Process(ProcessError::Crashed(msg)));
    }
    Ok(())
}

impl Supervisor {
    /// [`image::process`] in a child.
    pub async fn image(
        &self,
        bytes: &[u8],
        settings: &ImageSettings,
        timeout: Duration,
    ) -> Result<Processed, CallError> {
        let req = Request::Image { settings: settings.clone() };
        match self.call(&req, &[bytes], timeout, |_| {}).await? {
            (Reply::Image { mut metadata, gps, outputs }, blobs) => {
                metadata.exif.gps = gps;
                Ok(Processed { metadata, outputs: join(outputs, blobs)? })
            }
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// [`crate::video::animation_to_mp4`] in a child.
    pub async fn animation(
        &self,
        input: &Path,
        out_dir: &Path,
        settings: &VideoSettings,
        timeout: Duration,
    ) -> Result<Encoded, CallError> {
        let req = Request::Animation { input: input.into(), out_dir: out_dir.into(), settings: settings.clone() };
        match self.call(&req, &[], timeout, |_| {}).await? {
            (Reply::Animation(e), _) => inside(out_dir, &e.path).map(|()| e),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// [`crate::video::process`] in a child; `on_progress` gets the fraction done as the child reports it.
    pub async fn video(
        &self,
        input: &Path,
        out_dir: &Path,
        settings: &VideoSettings,
        timeout: Duration,
        on_progress: impl FnMut(f64) + Send,
    ) -> Result<VideoProcessed, CallError> {
        let req = Request::Video { input: input.into(), out_dir: out_dir.into(), settings: settings.clone() };
        match self.call(&req, &[], timeout, on_progress).await? {
            (Reply::Video { metadata, renditions, images, hls }, blobs) => {
                for p in renditions.iter().map(|r| &r.path).chain(hls.iter()) {
                    inside(out_dir, p)?;
                }
                Ok(VideoProcessed { metadata, renditions, images: join(images, blobs)?, hls })
            }
            (other, _) => Err(unexpected(&other)),
        }
    }
}

impl ChildSpec {
    /// Image children of the running executable, limited as `iso` says.
    pub fn image(iso: &IsolationConfig, work_dir: &Path) -> std::io::Result<ChildSpec> {
        ChildSpec::own("image", iso.image_memory_mb, "isolation.image_memory_mb", iso, work_dir)
    }

    /// Video children of the running executable, limited as `iso` says.
    pub fn video(iso: &IsolationConfig, work_dir: &Path) -> std::io::Result<ChildSpec> {
        ChildSpec::own("video", iso.video_memory_mb, "isolation.video_memory_mb", iso, work_dir)
    }

    /// `mediamill sandbox` of the running executable.
    fn own(
        kind: &'static str,
        memory_mb: u64,
        memory_key: &'static str,
        iso: &IsolationConfig,
        work_dir: &Path,
    ) -> std::io::Result<ChildSpec> {
        let mut args = vec!["sandbox".to_string()];
        // Children get no environment, so the test switch travels as their flag.
        if std::env::var("MEDIAMILL_SANDBOX_FAULTS").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
            args.push("--test-faults".to_string());
        }
        Ok(ChildSpec {
            program: std::env::current_exe()?,
            args,
            work_dir: Some(work_dir.to_path_buf()),
            memory_mb,
            memory_key,
            max_jobs: iso.max_jobs_per_child,
            kind,
        })
    }
}
