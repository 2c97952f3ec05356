//! `mediamill bench isolation [DIR]`: what process isolation costs. The same files through
//! `image::process` in this process and through a warm sandbox child (`mediamill sandbox`, over its pipes),
//! interleaved round by round so drift hits both alike; then one video transcode both ways; then what
//! starting a child costs (paid once per child, not per job). Prints each figure beside its in-process anchor
//! and the ratio.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_workers::image::{self as img, ImageSettings};
use mediamill_workers::sandbox::{ChildSpec, Supervisor};
use mediamill_workers::video::{self, VideoSettings};

const TIMEOUT: Duration = Duration::from_secs(600);

/// Image files of `dir` that process cleanly in process (the broken fixtures are not what is measured).
fn images(dir: &Path, s: &ImageSettings) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = e?.path();
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("").to_ascii_lowercase();
        if !["jpg", "jpeg", "png", "webp", "gif", "heic", "avif", "tif", "tiff", "bmp"].contains(&ext.as_str()) {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        if img::process(&bytes, s).is_ok() {
            files.push((path, bytes));
        }
    }
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no image in {} processes cleanly", dir.display());
    Ok(files)
}

/// Runs the benchmark.
pub async fn run(cfg: &Config, dir: &Path, video_file: &Path, rounds: usize) -> anyhow::Result<()> {
    // The children may read and write only beneath this folder, so the job folders go there.
    let work = mediamill_workers::jobs::video::work_root(&std::env::temp_dir())?;
    let s = ImageSettings::from_config(cfg);
    let files = images(dir, &s)?;
    let sb = Supervisor::start(ChildSpec::image(&cfg.isolation, &work)?, 1).await?;
    // One untimed pass each: page cache, the child's first-use initialisation.
    for (_, b) in &files {
        sb.image(b, &s, TIMEOUT).await?;
    }
    let (mut inproc, mut isolated) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds.max(1) {
        for (path, b) in &files {
            let t = Instant::now();
            let local =
                tokio::task::block_in_place(|| img::process(b, &s)).with_context(|| path.display().to_string())?;
            inproc += t.elapsed();
            let t = Instant::now();
            let child = sb.image(b, &s, TIMEOUT).await.with_context(|| path.display().to_string())?;
            isolated += t.elapsed();
            anyhow::ensure!(child.outputs.len() == local.outputs.len(), "{}: outputs differ", path.display());
        }
    }
    let n = (files.len() * rounds.max(1)) as f64;
    let (a, b) = (inproc.as_secs_f64() * 1e3 / n, isolated.as_secs_f64() * 1e3 / n);
    println!("images: {} files × {} rounds, the configured variants, one at a time", files.len(), rounds.max(1));
    println!("  in process      {a:8.2} ms/image  (anchor)");
    println!("  sandbox child   {b:8.2} ms/image  = {:.3}× in process, +{:.2} ms/image", b / a, b - a);

    if video_file.exists() {
        let vs = VideoSettings::from_config(cfg);
        let vsb = Supervisor::start(ChildSpec::video(&cfg.isolation, &work)?, 1).await?;
        let (mut inproc, mut isolated) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let dir = tempfile::tempdir_in(&work)?;
            let never = AtomicBool::new(false);
            let t = Instant::now();
            tokio::task::block_in_place(|| video::process(video_file, dir.path(), &vs, &|_| {}, &never))?;
            inproc = inproc.min(t.elapsed().as_secs_f64());
            let dir = tempfile::tempdir_in(&work)?;
            let t = Instant::now();
            vsb.video(video_file, dir.path(), &vs, TIMEOUT, |_| {}).await?;
            isolated = isolated.min(t.elapsed().as_secs_f64());
        }
        println!("video: {} (best of 3)", video_file.display());
        println!("  in process      {:8.1} ms  (anchor)", inproc * 1e3);
        println!("  sandbox child   {:8.1} ms  = {:.3}× in process", isolated * 1e3, isolated / inproc);
    }

    let starts = 5;
    let t = Instant::now();
    for _ in 0..starts {
        Supervisor::start(ChildSpec::image(&cfg.isolation, &work)?, 1).await?;
    }
    let start_ms = t.elapsed().as_secs_f64() * 1e3 / starts as f64;
    println!(
        "child start (spawn → ready, paid once per child, not per job): {start_ms:.1} ms = {:.1}× one in-process image",
        start_ms / a
    );
    Ok(())
}
