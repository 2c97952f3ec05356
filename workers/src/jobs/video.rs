//! The video processor: the raw upload streamed to a private temporary folder, [`crate::video::process`] in a
//! sandbox child (or, isolation off, on the worker's CPU pool; never the consumer's poll loop, so
//! `max.poll.interval.ms` holds however long it runs), a `processing` event with the percent done every few
//! seconds, then renditions and posters streamed to the store.
//! The folder goes away on every path out, including timeouts and panics; a worker killed outright leaves
//! one behind, which the next worker started on the machine removes ([`remove_orphans`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mediamill_core::event::{self, MediaEvent};
use mediamill_core::model::{Media, MediaStatus};
use mediamill_core::outbox::media_event;
use mediamill_core::repo::Completion;
use mediamill_core::store;
use tracing::Instrument;

use super::transfer;
use super::{Processor, Services, Step};
use crate::executor::Executor;
use crate::failure::ProcessError;
use crate::video::{self, VideoProcessed, VideoSettings};

/// Prefix of the per-job temporary folders; the worker's pid follows, so orphans can be told from live ones.
const TMP_PREFIX: &str = "mediamill-video-";

/// Processes `media.jobs.video`.
pub struct VideoProcessor {
    /// Renditions, posters and limits.
    pub settings: Arc<VideoSettings>,
    /// How long one transcode may take (`video.timeout_secs`).
    pub timeout: Duration,
    /// At most one progress event per this long.
    pub progress_every: Duration,
    /// Where per-job folders are made.
    pub tmp_dir: PathBuf,
    /// Where the transcodes run.
    pub executor: Executor,
}

impl VideoProcessor {
    async fn emit_progress(&self, m: &Media, svc: &Services, percent: u8) {
        let mut ev = MediaEvent::of(m, MediaStatus::Processing);
        ev.progress = Some(percent);
        // Progress is advisory: a database hiccup must not fail the transcode.
        match svc.backends.repo.append_events(&[media_event(m, event::MEDIA_PROCESSING, &ev)]).await {
            Ok(()) => svc.backends.waker.wake(),
            Err(e) => tracing::debug!(media_id = %m.id, error = %e, "progress event not recorded"),
        }
    }

    /// Runs the transcode on the executor, sending
    /// progress events and enforcing the timeout and shutdown.
    async fn run(&self, m: &Media, svc: &Services, input: PathBuf, out: PathBuf) -> Result<VideoProcessed, Step> {
        let permille = Arc::new(AtomicU32::new(0));
        let mut tick = tokio::time::interval(self.progress_every);
        tick.tick().await;
        let sb = match &self.executor {
            Executor::Sandboxed(sb) => sb,
            Executor::InProcess(pool) => return self.run_in_process(pool, m, svc, input, out, permille, tick).await,
        };
        let mut last_sent = 0u8;
        let p = permille.clone();
        let work = sb.video(&input, &out, &self.settings, self.timeout, move |f| {
            p.store((f * 1000.0) as u32, Ordering::Relaxed)
        });
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return r.map_err(Step::from),
                // Dropping the call kills the child mid-transcode; the job goes back to Kafka uncommitted.
                _ = svc.shutdown.wait() => return Err(Step::HandBack),
                _ = tick.tick() => self.progress(m, svc, &permille, &mut last_sent).await,
            }
        }
    }

    /// Sends a `processing` event when the percent done moved since the last one.
    async fn progress(&self, m: &Media, svc: &Services, permille: &AtomicU32, last_sent: &mut u8) {
        let percent = (permille.load(Ordering::Relaxed) / 10).min(99) as u8;
        if percent > *last_sent {
            *last_sent = percent;
            self.emit_progress(m, svc, percent).await;
        }
    }

    /// The transcode on this process's CPU pool; timeout and shutdown cancel it cooperatively.
    #[allow(clippy::too_many_arguments)]
    async fn run_in_process(
        &self,
        pool: &crate::pool::CpuPool,
        m: &Media,
        svc: &Services,
        input: PathBuf,
        out: PathBuf,
        permille: Arc<AtomicU32>,
        mut tick: tokio::time::Interval,
    ) -> Result<VideoProcessed, Step> {
        let cancel = Arc::new(AtomicBool::new(false));
        let (c, p, s) = (cancel.clone(), permille.clone(), self.settings.clone());
        let task = pool.spawn(move || {
            let report = move |f: f64| p.store((f * 1000.0) as u32, Ordering::Relaxed);
            video::process(&input, &out, &s, &report, &c)
        });
        tokio::pin!(task);
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut last_sent = 0u8;
        let stop = |why: Step| {
            cancel.store(true, Ordering::Relaxed);
            why
        };
        let step = loop {
            tokio::select! {
                r = &mut task => return r.map_err(Step::Permanent),
                _ = &mut deadline => break stop(Step::Permanent(ProcessError::Timeout(self.timeout.as_secs()))),
                _ = svc.shutdown.wait() => break stop(Step::HandBack),
                _ = tick.tick() => self.progress(m, svc, &permille, &mut last_sent).await,
            }
        };
        // The loops check the flag between packets, so this returns within a frame's work; waiting keeps the
        // temporary folder alive until nothing writes to it any more.
        let _ = task.await;
        Err(step)
    }
}

#[async_trait]
impl Processor for VideoProcessor {
    async fn process(&self, m: &Media, svc: &Services) -> Result<Completion, Step> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{TMP_PREFIX}{}-", std::process::id()))
            .tempdir_in(&self.tmp_dir)
            .map_err(|e| Step::Transient(format!("creating a temporary folder in {}: {e}", self.tmp_dir.display())))?;
        let input = dir.path().join("source");
        let out = dir.path().join("out");
        tokio::fs::create_dir(&out).await.map_err(|e| Step::Transient(format!("creating {}: {e}", out.display())))?;
        transfer::download(svc.backends.store.as_ref(), &m.raw_key, &input)
            .instrument(tracing::info_span!("download", bytes = m.size))
            .await?;

        let started = Instant::now();
        let mut processed = self
            .run(m, svc, input, out)
            .instrument(tracing::info_span!("process", sandboxed = self.executor.is_sandboxed()))
            .await?;
        metrics::histogram!("mediamill_video_process_seconds").record(started.elapsed().as_secs_f64());

        let mut variants = Vec::new();
        async {
            for o in std::mem::take(&mut processed.images) {
                variants.push(transfer::put_image(svc.backends.store.as_ref(), m, o).await?);
            }
            for r in &processed.renditions {
                variants.push(transfer::put_rendition(svc.backends.store.as_ref(), m, r).await?);
            }
            if let Some(master) = processed.hls.first() {
                variants.push(store_hls(svc, m, &processed, master).await?);
            }
            Ok::<(), Step>(())
        }
        .instrument(tracing::info_span!("store"))
        .await?;
        let mut metadata = serde_json::to_value(&processed.metadata).unwrap_or_default();
        metadata["processing_ms"] = serde_json::json!(started.elapsed().as_millis() as u64);
        Ok(Completion { width: processed.metadata.width, height: processed.metadata.height, metadata, variants })
    }
}

/// Stores every HLS file under `derived/…/hls/` (segments first, the master playlist last, so a client that
/// sees the master finds everything it names) and returns the `hls` variant, which points at the master.
async fn store_hls(
    svc: &Services,
    m: &Media,
    p: &VideoProcessed,
    master: &Path,
) -> Result<mediamill_core::model::Variant, Step> {
    let mut master_size = 0;
    for path in p.hls.iter().skip(1).chain(std::iter::once(&master.to_path_buf())) {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let ct = video::hls::content_type(&file)
            .ok_or_else(|| Step::Permanent(ProcessError::Encode("hls", format!("unexpected file {file}"))))?;
        let size =
            transfer::stream_file(svc.backends.store.as_ref(), &store::hls_key(&m.tenant_id, &m.id, &file), ct, path)
                .await?;
        if path == master {
            master_size = size;
        }
    }
    let (width, height) = p.renditions.iter().map(|r| (r.width, r.height)).max().unwrap_or((0, 0));
    Ok(mediamill_core::model::Variant {
        name: "hls".into(),
        format: "m3u8".into(),
        key: store::hls_key(&m.tenant_id, &m.id, video::hls::MASTER),
        content_type: "application/vnd.apple.mpegurl".into(),
        width,
        height,
        size: master_size,
        url: None,
    })
}

/// The folder of this worker process's job folders, `{tmp_dir}/mediamill-video-{pid}-work`: what its sandbox
/// children may read and write, and what [`remove_orphans`] removes once the process is gone.
pub fn work_root(tmp_dir: &Path) -> std::io::Result<PathBuf> {
    let root = tmp_dir.join(format!("{TMP_PREFIX}{}-work", std::process::id()));
    std::fs::create_dir_all(&root)?;
    Ok(root)
}

/// Removes job folders left in `tmp_dir` by video workers that no longer run (killed mid-job).
pub fn remove_orphans(tmp_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tmp_dir) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) =
            name.strip_prefix(TMP_PREFIX).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_of_dead_workers_are_removed_and_live_ones_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let mine = root.path().join(format!("{TMP_PREFIX}{}-abc", std::process::id()));
        // pid_max is below 2^22 on Linux, so this pid cannot be running.
        let dead = root.path().join(format!("{TMP_PREFIX}4194304999-xyz"));
        let other = root.path().join("unrelated-4194304999");
        for d in [&mine, &dead, &other] {
            std::fs::create_dir_all(d.join("out")).expect("mkdir");
        }
        assert_eq!(remove_orphans(root.path()), 1);
        assert!(mine.exists() && other.exists() && !dead.exists());
    }
}
