//! `mediamill process FILE… --out DIR [--jobs N]`: the worker's processing code on local files, with no broker,
//! store or database, every core busy (N files at once, one per core by default). One JSON line per file (variants with paths, metadata, or the failure reason); exit status 1 if
//! any file failed.

use std::path::{Path, PathBuf};

use mediamill_core::config::Config;
use mediamill_core::model::MediaKind;
use std::io::Read;
use std::sync::atomic::AtomicBool;

use futures::StreamExt;
use mediamill_workers::image::{self, ImageSettings};
use mediamill_workers::pool::CpuPool;
use mediamill_workers::video::{self, VideoSettings};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to process.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Folder for the outputs: one sub-folder per input, named after it.
    #[arg(long, default_value = "mediamill-out")]
    out: PathBuf,
    /// Files processed at once (default: one per core). The lines still come in the order of the files.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
}

type Failure = (String, String);

fn failure(e: mediamill_workers::ProcessError) -> Failure {
    (e.reason().to_string(), e.to_string())
}

fn write_err(e: std::io::Error) -> Failure {
    ("write_failed".to_string(), e.to_string())
}

fn one(path: &Path, out: &Path, s: &Settings) -> Result<serde_json::Value, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| ("unreadable".to_string(), e.to_string()))?;
    if meta.len() == 0 {
        return Err(("empty".into(), "the file has no bytes".into()));
    }
    let mut head = Vec::with_capacity(mediamill_core::sniff::SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|f| f.take(mediamill_core::sniff::SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| ("unreadable".to_string(), e.to_string()))?;
    let sniffed = mediamill_core::sniff::sniff(&head)
        .ok_or_else(|| ("unsupported_format".to_string(), "the first bytes match no supported format".to_string()))?;
    let (limit, key) = match sniffed.kind {
        MediaKind::Video | MediaKind::Audio => (s.max_video_bytes, "limits.max_video_bytes"),
        MediaKind::Image => (s.max_image_bytes, "limits.max_image_bytes"),
    };
    if meta.len() > limit {
        return Err(("too_large".into(), format!("file is {} bytes; the limit is {limit} bytes ({key})", meta.len())));
    }
    let stem =
        path.file_name().map(|s| s.to_string_lossy().replace(['/', '\\'], "_")).unwrap_or_else(|| "input".into());
    let dir = out.join(stem);
    let existed = dir.exists();
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let r = match sniffed.kind {
        MediaKind::Image => one_image(path, &dir, s),
        MediaKind::Video | MediaKind::Audio => one_video(path, &dir, s),
    };
    if r.is_err() && !existed {
        // A failed file leaves nothing behind: no folder that looks like a result.
        let _ = std::fs::remove_dir_all(&dir);
    }
    r
}

fn image_lines(dir: &Path, outputs: &[image::Output]) -> Result<Vec<serde_json::Value>, Failure> {
    let mut variants = Vec::new();
    for o in outputs {
        let p = dir.join(format!("{}.{}", o.name, o.format.ext()));
        std::fs::write(&p, &o.bytes).map_err(write_err)?;
        variants.push(json!({"name": o.name, "format": o.format, "width": o.width, "height": o.height, "size": o.bytes.len(), "path": p}));
    }
    Ok(variants)
}

fn one_image(path: &Path, dir: &Path, s: &Settings) -> Result<serde_json::Value, Failure> {
    let bytes = std::fs::read(path).map_err(|e| ("unreadable".to_string(), e.to_string()))?;
    let processed = image::process(&bytes, &s.image).map_err(failure)?;
    let mut variants = image_lines(dir, &processed.outputs)?;
    if processed.metadata.animated && processed.metadata.format == "gif" {
        // As the worker does: animations also become an MP4.
        let r = video::animation_to_mp4(path, dir, &s.video).map_err(failure)?;
        variants.push(rendition_line(&r));
    }
    Ok(json!({"metadata": processed.metadata, "variants": variants}))
}

fn one_video(path: &Path, dir: &Path, s: &Settings) -> Result<serde_json::Value, Failure> {
    let cancel = AtomicBool::new(false);
    let processed = video::process(path, dir, &s.video, &|_| {}, &cancel).map_err(failure)?;
    let mut variants = image_lines(dir, &processed.images)?;
    variants.extend(processed.renditions.iter().map(rendition_line));
    let mut line = json!({"metadata": processed.metadata, "variants": variants});
    if !processed.hls.is_empty() {
        line["hls"] = json!(processed.hls);
    }
    Ok(line)
}

fn rendition_line(r: &video::Encoded) -> serde_json::Value {
    let size = std::fs::metadata(&r.path).map(|m| m.len()).unwrap_or(0);
    json!({"name": r.name, "format": r.container.ext(), "width": r.width, "height": r.height, "size": size, "path": r.path})
}

/// Everything [`one`] needs from the configuration.
#[derive(Clone)]
struct Settings {
    image: ImageSettings,
    video: VideoSettings,
    max_image_bytes: u64,
    max_video_bytes: u64,
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let settings = Settings {
        image: ImageSettings::from_config(&cfg),
        video: VideoSettings::from_config(&cfg),
        max_image_bytes: cfg.limits.max_image_bytes,
        max_video_bytes: cfg.limits.max_video_bytes,
    };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    // The worker's CPU pool: a panic fails only its file. `buffered` keeps at most `jobs` files in flight and
    // hands their results back in the order of the files, whichever finishes first.
    let pool = CpuPool::new(jobs);
    let mut results = futures::stream::iter(args.files.iter().cloned())
        .map(|f| {
            let (path, out, s) = (f.clone(), args.out.clone(), settings.clone());
            let work = pool.spawn(move || Ok(one(&path, &out, &s)));
            async move { (f, work.await.unwrap_or_else(|e| Err(failure(e)))) }
        })
        .buffered(jobs);
    let mut failed = 0;
    while let Some((f, r)) = results.next().await {
        let line = match r {
            Ok(mut v) => {
                v["file"] = json!(f);
                v["status"] = json!("processed");
                v
            }
            Err((reason, message)) => {
                failed += 1;
                json!({"file": f, "status": "failed", "reason": reason, "message": message})
            }
        };
        println!("{line}");
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
