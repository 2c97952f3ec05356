//! The image processor: the raw upload from the store, variants from [`crate::image::process`] on its
//! [`Executor`], and for animated GIFs an MP4 of the animation (far
//! smaller than the GIF, and what browsers play best).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mediamill_core::model::Media;
use mediamill_core::repo::Completion;
use tracing::Instrument;

use super::transfer;
use super::{Processor, Services, Step};
use crate::executor::Executor;
use crate::image::ImageSettings;
use crate::video::VideoSettings;

/// Processes `media.jobs.image`.
pub struct ImageProcessor {
    /// Where the work runs.
    pub executor: Executor,
    /// Sizes, formats and quality of the variants.
    pub settings: Arc<ImageSettings>,
    /// For the MP4 made from animated GIFs.
    pub video: Arc<VideoSettings>,
    /// How long one image may take before it fails as `timeout`.
    pub job_timeout: Duration,
    /// Where job folders go (GIF → MP4): the sandbox children's work folder.
    pub tmp_dir: std::path::PathBuf,
}

#[async_trait]
impl Processor for ImageProcessor {
    async fn process(&self, m: &Media, svc: &Services) -> Result<Completion, Step> {
        let raw: Bytes =
            svc.backends.store.get(&m.raw_key).instrument(tracing::info_span!("download", bytes = m.size)).await?;
        let settings = self.settings.clone();
        let started = std::time::Instant::now();
        // Decode, resize and encode: one span, since in a sandbox child they run in another process.
        let processed = self
            .executor
            .image(&raw, &settings, self.job_timeout)
            .instrument(tracing::info_span!("process", sandboxed = self.executor.is_sandboxed()))
            .await?;
        metrics::histogram!("mediamill_image_process_seconds").record(started.elapsed().as_secs_f64());
        let mut variants = Vec::with_capacity(processed.outputs.len() + 1);
        let outputs = processed.outputs.len();
        async {
            for o in processed.outputs {
                variants.push(transfer::put_image(svc.backends.store.as_ref(), m, o).await?);
            }
            Ok::<(), Step>(())
        }
        .instrument(tracing::info_span!("store", outputs))
        .await?;
        if processed.metadata.animated && processed.metadata.format == "gif" {
            let dir = tempfile::Builder::new()
                .prefix("mediamill-gif-")
                .tempdir_in(&self.tmp_dir)
                .map_err(|e| Step::Transient(format!("creating a temporary folder: {e}")))?;
            let (input, out) = (dir.path().join("source.gif"), dir.path().to_path_buf());
            tokio::fs::write(&input, &raw)
                .await
                .map_err(|e| Step::Transient(format!("writing {}: {e}", input.display())))?;
            let r = self.executor.animation(&input, &out, &self.video, self.job_timeout).await?;
            variants.push(transfer::put_rendition(svc.backends.store.as_ref(), m, &r).await?);
        }
        let mut metadata = serde_json::to_value(&processed.metadata).unwrap_or_default();
        if let Some((latitude, longitude)) = processed.metadata.exif.gps {
            // Coordinates locate people's homes: only tenants who asked get them, and only on the record.
            if svc.backends.repo.tenant_keeps_gps(&m.tenant_id).await?.unwrap_or(false) {
                metadata["gps"] = serde_json::json!({"latitude": latitude, "longitude": longitude});
            }
        }
        // Kept so the pipeline's own overhead (upload → processed, minus this) can be measured.
        metadata["processing_ms"] = serde_json::json!(started.elapsed().as_millis() as u64);
        Ok(Completion {
            width: Some(processed.metadata.width),
            height: Some(processed.metadata.height),
            metadata,
            variants,
        })
    }
}
