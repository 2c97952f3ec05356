//! `mediamill process FILE… --out DIR`: the worker's processing code on local files, with no broker, store or
//! database. One JSON line per file (variants with paths, metadata, or the failure reason); exit status 1 if
//! any file failed.

use std::path::{Path, PathBuf};

use mediamill_core::config::Config;
use mediamill_core::model::MediaKind;
use mediamill_workers::image::{self, ImageSettings};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to process.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Folder for the outputs: one sub-folder per input, named after it.
    #[arg(long, default_value = "mediamill-out")]
    out: PathBuf,
}

fn one(path: &Path, out: &Path, settings: &ImageSettings, max_bytes: u64) -> Result<serde_json::Value, (String, String)> {
    let meta = std::fs::metadata(path).map_err(|e| ("unreadable".to_string(), e.to_string()))?;
    if meta.len() > max_bytes {
        return Err(("too_large".into(), format!("file is {} bytes; the limit is {max_bytes} bytes (limits.max_image_bytes)", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| ("unreadable".to_string(), e.to_string()))?;
    if bytes.is_empty() {
        return Err(("empty".into(), "the file has no bytes".into()));
    }
    let sniffed = mediamill_core::sniff::sniff(&bytes[..bytes.len().min(mediamill_core::sniff::SNIFF_BYTES)])
        .ok_or_else(|| ("unsupported_format".to_string(), "the first bytes match no supported format".to_string()))?;
    if sniffed.kind == MediaKind::Video {
        return Err(("unsupported_format".into(), "video processing is not built yet".into()));
    }
    let processed = image::process(&bytes, settings).map_err(|e| (e.reason().to_string(), e.to_string()))?;
    let stem = path.file_name().map(|s| s.to_string_lossy().replace(['/', '\\'], "_")).unwrap_or_else(|| "input".into());
    let dir = out.join(stem);
    std::fs::create_dir_all(&dir).map_err(|e| ("write_failed".to_string(), e.to_string()))?;
    let mut variants = Vec::new();
    for o in &processed.outputs {
        let p = dir.join(format!("{}.{}", o.name, o.format.ext()));
        std::fs::write(&p, &o.bytes).map_err(|e| ("write_failed".to_string(), e.to_string()))?;
        variants.push(json!({"name": o.name, "format": o.format, "width": o.width, "height": o.height, "size": o.bytes.len(), "path": p}));
    }
    Ok(json!({"metadata": processed.metadata, "variants": variants}))
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<()> {
    let settings = ImageSettings::from_config(&cfg);
    let max = cfg.limits.max_image_bytes;
    let mut failed = 0;
    for f in &args.files {
        let (f2, out, s) = (f.clone(), args.out.clone(), settings.clone());
        // The same CPU-bound code the worker runs on its pool; a panic fails only this file.
        let r = tokio::task::spawn_blocking(move || one(&f2, &out, &s, max))
            .await
            .unwrap_or_else(|e| Err(("crashed".into(), e.to_string())));
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
