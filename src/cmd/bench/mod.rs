//! `mediamill bench video FILE` lives in [`video`].
//!
//! `mediamill bench images DIR`: the same outputs (1024 px and 256 px JPEG q80, metadata stripped,
//! orientation applied) from the same files in the same run, by mediamill, libvips' `vipsthumbnail` and
//! ImageMagick's `convert`, measured in CPU seconds; quality is SSIM against a Lanczos reference downscale
//! of the source made by ImageMagick, so a faster but blurrier resize cannot win. Prints each figure with its
//! anchors and the ratios; then the cost of the full default variant set (with WebP) on its own line.

mod isolation;
mod limits;
mod load;
mod procfs;
mod scale;
mod video;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use mediamill_core::config::{Config, ImageFormat, VariantSpec};
use mediamill_workers::image::{self as img, ImageSettings};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// The pipeline's own overhead (202 → processed, minus processing time) at p50 and p99 under a steady
    /// upload rate, against a running pipeline (--url, --key) or, without them, an embedded one started here.
    Pipeline {
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Uploads per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, requires = "key")]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Realtime factor and peak memory of a transcode against the ffmpeg CLI with the same settings, then the
    /// whole ladder from one decode against the CLI once per rendition.
    Video {
        file: PathBuf,
        /// Short edges of the ladder run.
        #[arg(long, value_delimiter = ',', default_value = "1080,720,480")]
        ladder: Vec<u32>,
        /// Runs of each command; the best counts.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// One batch of --count uploads through a running pipeline to completion: time, exact counts, and the
    /// resident memory of --pids as it goes.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Processes whose memory to sample (e.g. ingest and workers).
        #[arg(long, value_delimiter = ',')]
        pids: Vec<u32>,
    },
    /// Scale-out: N photographs drained by 1 worker, then by 2, each pinned to its own CPU; the ratio and the
    /// CPU of every process. Needs a running ingest and this process's config pointing at its database and Kafka.
    Scale {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        /// Folder of JPEG photographs (scripts/fetch-bench-photos.sh).
        #[arg(long)]
        photos: PathBuf,
        /// Photographs per drain: enough that jobs spread evenly over the partitions the workers split.
        #[arg(long, default_value_t = 228)]
        count: usize,
        /// Other processes whose CPU to report, as NAME:PID (ingest, kafka, postgres, s3).
        #[arg(long, value_delimiter = ',')]
        infra: Vec<String>,
    },
    /// One transcode in a child process of `bench video` (measured from outside).
    #[command(hide = true)]
    Transcode {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_delimiter = ',')]
        short_edges: Vec<u32>,
    },
    /// What process isolation costs: images (and a video) in a warm sandbox child against the same work in
    /// this process, and what starting a child costs.
    Isolation {
        /// Images to process (the ones that process cleanly are used).
        #[arg(default_value = "fixtures/media")]
        dir: PathBuf,
        /// A video to transcode both ways (skipped when missing).
        #[arg(long, default_value = "fixtures/media/clip.mp4")]
        video: PathBuf,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// What a request-rate check costs in this instance's memory (what ingest does) against a bucket shared
    /// through the configured database (what a limit over all instances would cost), per request.
    Limits {
        #[arg(long, default_value_t = 200_000)]
        checks: usize,
        #[arg(long, default_value_t = 100)]
        tenants: usize,
    },
    /// Images per CPU-second against vipsthumbnail and ImageMagick on a folder of photos.
    Images {
        dir: PathBuf,
        /// At most this many files (largest first is not implied: sorted by name).
        #[arg(long, default_value_t = 100)]
        max_files: usize,
    },
}

fn rusage(who: i32) -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn thread_cpu() -> f64 {
    rusage(libc::RUSAGE_THREAD)
}

fn children_cpu() -> f64 {
    rusage(libc::RUSAGE_CHILDREN)
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    anyhow::ensure!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// Mean SSIM over 8×8 windows of luma; 1.0 is identical.
fn ssim(a: &image::GrayImage, b: &image::GrayImage) -> f64 {
    let (w, h) = a.dimensions().min(b.dimensions());
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut total, mut n) = (0.0, 0u64);
    for by in (0..h.saturating_sub(7)).step_by(4) {
        for bx in (0..w.saturating_sub(7)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in by..by + 8 {
                for x in bx..bx + 8 {
                    let (pa, pb) = (a.get_pixel(x, y)[0] as f64, b.get_pixel(x, y)[0] as f64);
                    sa += pa;
                    sb += pb;
                    saa += pa * pa;
                    sbb += pb * pb;
                    sab += pa * pb;
                }
            }
            let m = 64.0;
            let (ma, mb) = (sa / m, sb / m);
            let (va, vb, cov) = (saa / m - ma * ma, sbb / m - mb * mb, sab / m - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            n += 1;
        }
    }
    if n == 0 {
        1.0
    } else {
        total / n as f64
    }
}

#[derive(Default)]
struct Tally {
    cpu: f64,
    images: u64,
    megapixels: f64,
    bytes: u64,
    ssim_sum: f64,
    ssim_n: u64,
}

impl Tally {
    fn line(&self, name: &str) -> String {
        format!(
            "{name:<14} {:>8.2} img/CPU-s {:>8.2} MP/CPU-s {:>10} bytes  SSIM {:.4}  ({} images, {:.2} CPU-s)",
            self.images as f64 / self.cpu,
            self.megapixels / self.cpu,
            self.bytes,
            self.ssim_sum / self.ssim_n.max(1) as f64,
            self.images,
            self.cpu
        )
    }
}

/// Scores one output against the reference downscale (made at the output's own size).
fn score(source: &Path, out: &Path, scratch: &Path, t: &mut Tally) -> anyhow::Result<()> {
    let o = image::open(out).with_context(|| format!("reading {}", out.display()))?.to_luma8();
    let reference = scratch.join("ref.png");
    run(Command::new("convert")
        .arg(source)
        .args(["-auto-orient", "-colorspace", "sRGB", "-filter", "Lanczos", "-resize"])
        .arg(format!("{}x{}!", o.width(), o.height()))
        .arg(&reference))?;
    let r = image::open(&reference)?.to_luma8();
    t.ssim_sum += ssim(&o, &r);
    t.ssim_n += 1;
    t.bytes += std::fs::metadata(out)?.len();
    Ok(())
}

fn bench_images(cfg: &Config, dir: &Path, max_files: usize) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")))
        .collect();
    files.sort();
    files.truncate(max_files);
    anyhow::ensure!(!files.is_empty(), "no .jpg files in {}", dir.display());
    let scratch = std::env::temp_dir().join(format!("mediamill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let spec = |name: &str, long_edge, formats: Vec<ImageFormat>| VariantSpec {
        name: name.into(),
        long_edge,
        formats,
        quality: 80,
    };
    let same_outputs = ImageSettings {
        variants: vec![spec("medium", 1024, vec![ImageFormat::Jpeg]), spec("thumb", 256, vec![ImageFormat::Jpeg])],
        ..ImageSettings::from_config(cfg)
    };
    let full_set = ImageSettings::from_config(cfg);
    let (mut mm, mut vips, mut magick, mut full) =
        (Tally::default(), Tally::default(), Tally::default(), Tally::default());

    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f)?;
        let (w, h) = image::ImageReader::new(std::io::Cursor::new(&bytes)).with_guessed_format()?.into_dimensions()?;
        let mp = w as f64 * h as f64 / 1e6;
        eprintln!("[{}/{}] {} ({w}x{h})", i + 1, files.len(), f.display());

        // mediamill: decode once, both outputs.
        let t0 = thread_cpu();
        let p = img::process(&bytes, &same_outputs).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        mm.cpu += thread_cpu() - t0;
        mm.images += 1;
        mm.megapixels += mp;
        for o in &p.outputs {
            let out = scratch.join(format!("mm-{}.jpg", o.name));
            std::fs::write(&out, &o.bytes)?;
            score(f, &out, &scratch, &mut mm)?;
        }

        // The full default variant set (3 sizes × JPEG + WebP), for its own line.
        let t0 = thread_cpu();
        img::process(&bytes, &full_set).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        full.cpu += thread_cpu() - t0;
        full.images += 1;
        full.megapixels += mp;

        // libvips: one vipsthumbnail call per size, as users run it (shrink-on-load each time).
        let t0 = children_cpu();
        for (name, size) in [("medium", 1024), ("thumb", 256)] {
            let out = scratch.join(format!("vips-{name}.jpg"));
            run(Command::new("vipsthumbnail")
                .arg(f)
                .arg("-s")
                .arg(size.to_string())
                .arg("-o")
                .arg(format!("{}[Q=80,strip]", out.display()))
                .env("VIPS_CONCURRENCY", "1"))?;
        }
        vips.cpu += children_cpu() - t0;
        vips.images += 1;
        vips.megapixels += mp;
        for name in ["medium", "thumb"] {
            score(f, &scratch.join(format!("vips-{name}.jpg")), &scratch, &mut vips)?;
        }

        // ImageMagick: one call, both outputs from one decode.
        let t0 = children_cpu();
        let (m1, m2) = (scratch.join("magick-medium.jpg"), scratch.join("magick-thumb.jpg"));
        run(Command::new("convert")
            .arg(f)
            .args(["-auto-orient", "-strip", "(", "+clone", "-resize", "1024x1024>", "-quality", "80", "-write"])
            .arg(&m1)
            .args(["+delete", ")", "-resize", "256x256>", "-quality", "80"])
            .arg(&m2)
            .env("MAGICK_THREAD_LIMIT", "1"))?;
        magick.cpu += children_cpu() - t0;
        magick.images += 1;
        magick.megapixels += mp;
        score(f, &m1, &scratch, &mut magick)?;
        score(f, &m2, &scratch, &mut magick)?;
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let rate = |t: &Tally| t.images as f64 / t.cpu;
    println!("bench images: {} photos from {}, outputs 1024 px + 256 px JPEG q80, stripped, upright; single-threaded CPU time", files.len(), dir.display());
    println!("{}", mm.line("mediamill"));
    println!("{}", vips.line("vipsthumbnail"));
    println!("{}", magick.line("imagemagick"));
    println!("ratio mediamill/vipsthumbnail: {:.2}x img/CPU-s (target >= 2.5x)", rate(&mm) / rate(&vips));
    println!("ratio mediamill/imagemagick:   {:.2}x img/CPU-s (target >= 5x)", rate(&mm) / rate(&magick));
    println!("full default variant set (thumb/medium/large x JPEG+WebP): {:.2} img/CPU-s, {:.3} CPU-s per image; {:.2}x the cost of the two JPEGs",
        rate(&full), full.cpu / full.images as f64, full.cpu / mm.cpu);
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn bench_pipeline(
    cfg: Config,
    count: usize,
    rate: f64,
    url: Option<String>,
    key: Option<String>,
) -> anyhow::Result<()> {
    let mut running = None;
    let (url, key) = match (url, key) {
        (Some(u), Some(k)) => (u, k),
        _ => {
            let data = std::env::temp_dir().join(format!("mediamill-bench-pipeline-{}", std::process::id()));
            let mut c = cfg.clone();
            c.database.url = format!("sqlite://{}/db.sqlite", data.display());
            c.store.backend = mediamill_core::config::StoreBackend::Local;
            c.store.local_dir = data.join("objects");
            c.kafka.brokers = String::new();
            c.server.listen = "127.0.0.1:0".parse()?;
            // The benchmark measures the pipeline, not the per-tenant request limit.
            c.tenants.requests_per_sec = 0;
            c.tenants.upload_bytes_per_sec = 0;
            let r = super::up::start(c).await?;
            let k = r.new_key.clone().context("fresh data folder, fresh key")?;
            let u = format!("http://{}", r.addr);
            running = Some((r, data));
            (u, k)
        }
    };
    let photo = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut body = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut body, 85).encode_image(&photo)?;
    let http = reqwest::Client::new();
    let interval = std::time::Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut ids = Vec::with_capacity(count);
    let mut tick = tokio::time::interval(interval);
    for _ in 0..count {
        tick.tick().await;
        let r = http.post(format!("{url}/v1/media")).bearer_auth(&key).body(body.clone()).send().await?;
        anyhow::ensure!(r.status().as_u16() == 202, "upload answered {}", r.status());
        ids.push(r.json::<serde_json::Value>().await?["id"].as_str().unwrap_or_default().to_string());
    }
    let (mut overhead, mut processing) = (Vec::new(), Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    for id in &ids {
        loop {
            let m: serde_json::Value =
                http.get(format!("{url}/v1/media/{id}")).bearer_auth(&key).send().await?.json().await?;
            if m["status"] == "processed" {
                let total = (m["updated_at"].as_i64().unwrap_or(0) - m["created_at"].as_i64().unwrap_or(0)) as f64;
                let work = m["metadata"]["processing_ms"].as_f64().unwrap_or(0.0);
                overhead.push((total - work).max(0.0));
                processing.push(work);
                break;
            }
            anyhow::ensure!(std::time::Instant::now() < deadline, "{id} not processed in time");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    if let Some((r, data)) = running {
        r.stop().await;
        let _ = std::fs::remove_dir_all(data);
    }
    overhead.sort_by(f64::total_cmp);
    processing.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&overhead, 0.5), percentile(&overhead, 0.99));
    let work50 = percentile(&processing, 0.5);
    println!("bench pipeline: {count} uploads of a 640x480 JPEG at {rate}/s to {url}");
    println!("overhead (202 -> processed, minus processing): p50 {p50:.1} ms, p99 {p99:.1} ms (targets: p50 < 50 ms, p99 < 250 ms)");
    println!(
        "anchor: processing itself p50 {work50:.1} ms; overhead p50 is {:.2}x the processing time",
        p50 / work50.max(0.001)
    );
    Ok(())
}

pub async fn run_cmd(cfg: Config, args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Pipeline { count, rate, url, key } => bench_pipeline(cfg, count, rate, url, key).await,
        What::Limits { checks, tenants } => limits::run(&cfg, checks, tenants).await,
        What::Images { dir, max_files } => {
            tokio::task::spawn_blocking(move || bench_images(&cfg, &dir, max_files)).await?
        }
        What::Video { file, ladder, runs } => {
            tokio::task::spawn_blocking(move || video::bench(&cfg, &file, &ladder, runs)).await?
        }
        What::Load { url, key, count, pids } => load::run(&url, &key, count, &pids).await,
        What::Scale { url, key, photos, count, infra } => scale::run(&url, &key, &photos, count, &infra).await,
        What::Isolation { dir, video, rounds } => isolation::run(&cfg, &dir, &video, rounds).await,
        What::Transcode { file, out, short_edges } => {
            tokio::task::spawn_blocking(move || video::transcode_child(&cfg, &file, &out, &short_edges)).await?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssim_is_one_for_identical_and_lower_for_blurred() {
        let a = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]));
        assert!((ssim(&a, &a) - 1.0).abs() < 1e-9);
        let blurred = image::imageops::blur(&a, 2.0);
        assert!(ssim(&a, &blurred) < 0.9);
    }
}
