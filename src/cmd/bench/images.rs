//! `mediamill bench images DIR`: the same outputs from the same files in the same run, by mediamill and by its
//! competitors at their best honest use, in CPU seconds of one thread; quality is SSIM against a Lanczos
//! reference downscale of the source made by ImageMagick (so a faster but blurrier resize cannot win) and bytes.
//!
//! - **two JPEGs** (1024 px and 256 px, q80, stripped, upright): mediamill; libvips as a service links it
//!   (pyvips, loaded once, one thread, `thumbnail` with shrink-on-load, the 256 px made from the 1024 px
//!   result in memory: `scripts/bench/vips_batch.py`); ImageMagick in one process per size (`mogrify` over the
//!   folder, the 256 px from the 1024 px outputs); and, for users who shell out per file, `vipsthumbnail` per
//!   file and size and `convert` per file as a second line.
//! - **the floor** on the same files: libjpeg-turbo decoding at the smallest M/8 scale covering the largest
//!   output, plus encoding each output once ([`mediamill_workers::image::floor`]).
//! - **the full default set** (2048/1024/256 px × JPEG + WebP q80): mediamill, libvips making the same six
//!   outputs from one decode with libwebp's same settings, and its floor.
//! - **the CPU budget per stage**: mediamill's time in decode (with the scale used), colour conversion,
//!   orientation, each resize, each encode and metadata; libvips' in its decode-and-first-resize, later
//!   resizes and encodes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use mediamill_core::config::{Config, ImageFormat, VariantSpec};
use mediamill_workers::image::{self as img, floor, stages, ImageSettings};

use super::procfs::children_cpu;

fn run(cmd: &mut Command) -> anyhow::Result<std::process::Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    anyhow::ensure!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(out)
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

/// One contender's CPU, work, bytes and quality.
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
    fn rate(&self) -> f64 {
        self.images as f64 / self.cpu
    }

    fn ssim(&self) -> f64 {
        self.ssim_sum / self.ssim_n.max(1) as f64
    }

    /// Whether this run's outputs are no worse than `anchor`'s on the two conditions, with the numbers:
    /// the difference in mean SSIM to six places, so a tie printed at five is not read as a pass or a miss.
    fn quality_against(&self, anchor: &Tally) -> String {
        let (ds, bytes) = (self.ssim() - anchor.ssim(), self.bytes as f64 / anchor.bytes.max(1) as f64);
        let yes = |ok: bool| if ok { "yes" } else { "NO" };
        format!("SSIM {:+.6} (no lower: {}), bytes {bytes:.3}x (no larger: {})", ds, yes(ds >= 0.0), yes(bytes <= 1.0))
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<32} {:>7.2} img/CPU-s {:>7.2} MP/CPU-s {:>7.3} CPU-s/img {:>10} bytes  SSIM {:.5}",
            self.rate(),
            self.megapixels / self.cpu,
            self.cpu / self.images as f64,
            self.bytes,
            self.ssim(),
        )
    }
}

/// Reference downscales of the sources, made once per (source, size) and shared by every contender.
struct Scorer {
    scratch: PathBuf,
    cache: BTreeMap<(PathBuf, u32, u32), image::GrayImage>,
}

impl Scorer {
    /// Adds `out` (an output made from `source`) to `t`: its bytes, and its SSIM against the reference.
    fn score(&mut self, source: &Path, out: &Path, t: &mut Tally) -> anyhow::Result<()> {
        let o = image::open(out).with_context(|| format!("reading {}", out.display()))?.to_luma8();
        let key = (source.to_path_buf(), o.width(), o.height());
        if !self.cache.contains_key(&key) {
            let reference = self.scratch.join("ref.png");
            run(Command::new("convert")
                .arg(source)
                .args(["-auto-orient", "-colorspace", "sRGB", "-filter", "Lanczos", "-resize"])
                .arg(format!("{}x{}!", o.width(), o.height()))
                .arg(&reference))?;
            self.cache.insert(key.clone(), image::open(&reference)?.to_luma8());
        }
        t.ssim_sum += ssim(&o, &self.cache[&key]);
        t.ssim_n += 1;
        t.bytes += std::fs::metadata(out)?.len();
        Ok(())
    }
}

/// What `scripts/bench/vips_batch.py` reports.
#[derive(serde::Deserialize)]
struct VipsRun {
    cpu: f64,
    stages: BTreeMap<String, f64>,
    libvips: String,
}

/// The libvips side, embedded so the benchmark runs from any binary.
const VIPS_BATCH: &str = include_str!("../../../scripts/bench/vips_batch.py");

/// Runs libvips once over every file (`set`: `two` or `full`), writing into `out`.
fn vips_library(set: &str, files: &[PathBuf], out: &Path) -> anyhow::Result<VipsRun> {
    std::fs::create_dir_all(out)?;
    let script = out.join("vips_batch.py");
    std::fs::write(&script, VIPS_BATCH)?;
    let python = std::env::var("MEDIAMILL_BENCH_PYTHON")
        .unwrap_or_else(|_| "/var/tmp/mediamill-cache/benchtools/bin/python".to_string());
    let o = run(Command::new(&python).arg(&script).arg(set).arg(out).args(files))
        .context("libvips in one process (scripts/bench-images.sh installs pyvips)")?;
    serde_json::from_slice(&o.stdout).context("reading vips_batch.py's answer")
}

/// Mediamill's stages of one image, names folded so runs add up (`decode 1/4` counts as `decode`, its scale apart).
fn fold_stages(into: &mut BTreeMap<String, f64>, scales: &mut BTreeMap<String, u32>, stages: Vec<stages::Stage>) {
    for s in stages {
        let name = match s.name.strip_prefix("decode ") {
            Some(scale) => {
                *scales.entry(scale.to_string()).or_default() += 1;
                "decode".to_string()
            }
            None => s.name,
        };
        *into.entry(name).or_default() += s.cpu;
    }
}

fn budget_line(name: &str, stages: &BTreeMap<String, f64>, images: u64) -> String {
    let parts: Vec<String> = stages.iter().map(|(k, v)| format!("{k} {:.1}", v * 1000.0 / images as f64)).collect();
    format!("{name:<10} ms/img: {}", parts.join(", "))
}

pub fn bench_images(cfg: &Config, dir: &Path, max_files: usize) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")))
        .collect();
    files.sort();
    files.truncate(max_files);
    anyhow::ensure!(!files.is_empty(), "no .jpg files in {}", dir.display());
    let scratch = std::env::temp_dir().join(format!("mediamill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut scorer = Scorer { scratch: scratch.clone(), cache: BTreeMap::new() };
    let spec = |name: &str, long_edge, formats: Vec<ImageFormat>| VariantSpec {
        name: name.into(),
        long_edge,
        formats,
        quality: 80,
    };
    let two = ImageSettings {
        variants: vec![spec("medium", 1024, vec![ImageFormat::Jpeg]), spec("thumb", 256, vec![ImageFormat::Jpeg])],
        ..ImageSettings::from_config(cfg)
    };
    let full_set = ImageSettings::from_config(cfg);
    let full_outputs: Vec<(u32, ImageFormat)> =
        full_set.variants.iter().flat_map(|v| v.formats.iter().map(move |f| (v.long_edge, *f))).collect();
    let two_outputs = [(1024, ImageFormat::Jpeg), (256, ImageFormat::Jpeg)];
    let mut megapixels = Vec::new();
    // Levers measured beside the default: how far above the largest output a JPEG is decoded.
    let margins = [1.0f32, 1.25, 1.33, 1.5];
    let mut by_margin: Vec<Tally> = margins.iter().map(|_| Tally::default()).collect();
    let (mut mm, mut mm_full, mut floor_two, mut floor_full) =
        (Tally::default(), Tally::default(), Tally::default(), Tally::default());
    let (mut mm_stages, mut scales) = (BTreeMap::new(), BTreeMap::new());
    let (mut floor_decode, mut floor_encode) = (0.0, 0.0);
    // The floor again in YCbCr planes, the way mediamill now decodes and encodes a YCbCr JPEG.
    let (mut planes_two, mut planes_full) = (Tally::default(), Tally::default());

    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f)?;
        let (w, h) = image::ImageReader::new(std::io::Cursor::new(&bytes)).with_guessed_format()?.into_dimensions()?;
        let mp = w as f64 * h as f64 / 1e6;
        megapixels.push(mp);
        eprintln!("[{}/{}] {} ({w}x{h})", i + 1, files.len(), f.display());

        // mediamill: decode once, both outputs. A first, untimed run takes the cost of a file's first use (its
        // bytes and the decoder's buffers coming into the caches), which the floor and the levers, measured after
        // it, never pay: timed first, the same work measured 6 % dearer than as a lever. Then the timed run, then
        // one with every stage timed for the budget, whose clock reads do not count in the line.
        img::process(&bytes, &two).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        let t0 = stages::thread_cpu();
        let p = img::process(&bytes, &two).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        mm.cpu += stages::thread_cpu() - t0;
        stages::record();
        img::process(&bytes, &two).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        fold_stages(&mut mm_stages, &mut scales, stages::take());
        mm.images += 1;
        mm.megapixels += mp;
        for o in &p.outputs {
            let out = scratch.join(format!("mm-{}.jpg", o.name));
            std::fs::write(&out, &o.bytes)?;
            scorer.score(f, &out, &mut mm)?;
        }

        for (m, t) in margins.iter().zip(by_margin.iter_mut()) {
            let s = ImageSettings { decode_margin: *m, ..two.clone() };
            let t0 = stages::thread_cpu();
            let p = img::process(&bytes, &s).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            t.cpu += stages::thread_cpu() - t0;
            t.images += 1;
            t.megapixels += mp;
            for o in &p.outputs {
                let out = scratch.join(format!("margin-{}.jpg", o.name));
                std::fs::write(&out, &o.bytes)?;
                scorer.score(f, &out, t)?;
            }
        }

        let t0 = stages::thread_cpu();
        img::process(&bytes, &full_set).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        mm_full.cpu += stages::thread_cpu() - t0;
        mm_full.images += 1;
        mm_full.megapixels += mp;

        let fl = floor::measure(&bytes, &two_outputs, 80)?;
        floor_decode += fl.decode;
        floor_encode += fl.encode;
        floor_two.cpu += fl.decode + fl.encode;
        floor_two.images += 1;
        floor_two.megapixels += mp;
        let ff = floor::measure(&bytes, &full_outputs, 80)?;
        floor_full.cpu += ff.decode + ff.encode;
        floor_full.images += 1;
        floor_full.megapixels += mp;
        for (outputs, tally) in [(&two_outputs[..], &mut planes_two), (&full_outputs[..], &mut planes_full)] {
            let fp = floor::measure_planes(&bytes, outputs, 80)?;
            tally.cpu += fp.decode + fp.encode;
            tally.images += 1;
            tally.megapixels += mp;
        }
    }

    // libvips as a library: one process over every file, then the outputs scored.
    let vips_dir = scratch.join("vips-two");
    let vips_run = vips_library("two", &files, &vips_dir)?;
    let mut vips = Tally {
        cpu: vips_run.cpu,
        images: files.len() as u64,
        megapixels: megapixels.iter().sum(),
        ..Default::default()
    };
    for (n, f) in files.iter().enumerate() {
        for size in [1024, 256] {
            scorer.score(f, &vips_dir.join(format!("{n}-{size}.jpg")), &mut vips)?;
        }
    }
    let vips_full_run = vips_library("full", &files, &scratch.join("vips-full"))?;
    let vips_full = Tally {
        cpu: vips_full_run.cpu,
        images: files.len() as u64,
        megapixels: megapixels.iter().sum(),
        ..Default::default()
    };

    // ImageMagick in one process per size: mogrify over the folder, the 256 px from the 1024 px outputs.
    let (m1024, m256) = (scratch.join("magick-1024"), scratch.join("magick-256"));
    std::fs::create_dir_all(&m1024)?;
    std::fs::create_dir_all(&m256)?;
    let t0 = children_cpu();
    run(Command::new("mogrify")
        .arg("-path")
        .arg(&m1024)
        .args(["-auto-orient", "-strip", "-resize", "1024x1024>", "-quality", "80", "-format", "jpg"])
        .args(&files)
        .env("MAGICK_THREAD_LIMIT", "1"))?;
    // mogrify names each output after its input's stem (which may hold dots) with the new extension.
    let outs_1024: Vec<PathBuf> = files
        .iter()
        .map(|f| m1024.join(format!("{}.jpg", f.file_stem().unwrap_or_default().to_string_lossy())))
        .collect();
    run(Command::new("mogrify")
        .arg("-path")
        .arg(&m256)
        .args(["-strip", "-resize", "256x256>", "-quality", "80"])
        .args(&outs_1024)
        .env("MAGICK_THREAD_LIMIT", "1"))?;
    let mut magick = Tally {
        cpu: children_cpu() - t0,
        images: files.len() as u64,
        megapixels: megapixels.iter().sum(),
        ..Default::default()
    };
    for (f, o) in files.iter().zip(&outs_1024) {
        scorer.score(f, o, &mut magick)?;
        scorer.score(f, &m256.join(o.file_name().unwrap_or_default()), &mut magick)?;
    }

    // Per call, as users who shell out run them: start-up paid per file (and per size for vipsthumbnail).
    let (mut vips_call, mut magick_call) = (Tally::default(), Tally::default());
    for (f, mp) in files.iter().zip(&megapixels) {
        let t0 = children_cpu();
        for size in [1024, 256] {
            let out = scratch.join(format!("vipscall-{size}.jpg"));
            run(Command::new("vipsthumbnail")
                .arg(f)
                .arg("-s")
                .arg(size.to_string())
                .arg("-o")
                .arg(format!("{}[Q=80,strip]", out.display()))
                .env("VIPS_CONCURRENCY", "1"))?;
        }
        vips_call.cpu += children_cpu() - t0;
        vips_call.images += 1;
        vips_call.megapixels += mp;
        let t0 = children_cpu();
        let (c1, c2) = (scratch.join("convert-1024.jpg"), scratch.join("convert-256.jpg"));
        run(Command::new("convert")
            .arg(f)
            .args(["-auto-orient", "-strip", "(", "+clone", "-resize", "1024x1024>", "-quality", "80", "-write"])
            .arg(&c1)
            .args(["+delete", ")", "-resize", "256x256>", "-quality", "80"])
            .arg(&c2)
            .env("MAGICK_THREAD_LIMIT", "1"))?;
        magick_call.cpu += children_cpu() - t0;
        magick_call.images += 1;
        magick_call.megapixels += mp;
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let n = files.len() as u64;
    let when = chrono::Utc::now().format("%Y-%m-%d");
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    println!("bench images ({when}, {cores} cores, one thread each): {n} photos from {}", dir.display());
    println!("two JPEGs: 1024 px + 256 px, q80, stripped, upright");
    println!("{}", mm.line("mediamill"));
    println!("{}", vips.line(&format!("libvips {} (library, 1 process)", vips_run.libvips)));
    println!("{}", magick.line("imagemagick (mogrify per size)"));
    println!("{}", floor_two.line("floor (decode M/8 + encodes)"));
    println!("ratio mediamill/libvips:      {:.2}x img/CPU-s (target >= 1.6x)", mm.rate() / vips.rate());
    println!("quality mediamill/libvips:    {}", mm.quality_against(&vips));
    println!("ratio mediamill/imagemagick:  {:.2}x img/CPU-s", mm.rate() / magick.rate());
    println!("mediamill/floor:              {:.2}x the floor's CPU (target <= 1.15x)", mm.cpu / floor_two.cpu);
    println!("{}", planes_two.line("floor in planes (YCbCr M/8 + encodes)"));
    println!("mediamill/floor in planes:    {:.2}x", mm.cpu / planes_two.cpu);
    println!(
        "per call (shelling out per file): vipsthumbnail {:.2} img/CPU-s (mediamill {:.2}x), convert {:.2} img/CPU-s (mediamill {:.2}x)",
        vips_call.rate(),
        mm.rate() / vips_call.rate(),
        magick_call.rate(),
        mm.rate() / magick_call.rate()
    );
    for (m, t) in margins.iter().zip(&by_margin) {
        println!("{}", t.line(&format!("lever: decode margin {m} (default {})", two.decode_margin)));
        println!(
            "    against libvips: {:.2}x, {}; {:.2}x the floor",
            t.rate() / vips.rate(),
            t.quality_against(&vips),
            t.cpu / floor_two.cpu
        );
    }
    println!(
        "floor split: decode {:.1} ms/img, encode {:.1} ms/img",
        floor_decode * 1000.0 / n as f64,
        floor_encode * 1000.0 / n as f64
    );
    println!("CPU budget per stage (two JPEGs):");
    println!("{}", budget_line("mediamill", &mm_stages, n));
    let scale_list: Vec<String> = scales.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    println!("           decode scales: {}", scale_list.join(", "));
    println!("{}", budget_line("libvips", &vips_run.stages, n));
    println!("full default set: 2048/1024/256 px × JPEG + WebP q80 (libwebp's defaults otherwise, both)");
    println!("{}", mm_full.line("mediamill"));
    println!("{}", vips_full.line(&format!("libvips {} (library, 1 process)", vips_full_run.libvips)));
    println!("{}", floor_full.line("floor (decode M/8 + encodes)"));
    println!("ratio mediamill/libvips:      {:.2}x img/CPU-s (target >= 1.0x)", mm_full.rate() / vips_full.rate());
    println!("mediamill/floor:              {:.2}x the floor's CPU (target <= 1.15x)", mm_full.cpu / floor_full.cpu);
    println!("{}", planes_full.line("floor in planes (YCbCr M/8 + encodes)"));
    println!("mediamill/floor in planes:    {:.2}x", mm_full.cpu / planes_full.cpu);
    println!("{}", budget_line("libvips", &vips_full_run.stages, n));
    Ok(())
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

    #[test]
    fn stages_fold_decode_scales_apart() {
        let (mut into, mut scales) = (BTreeMap::new(), BTreeMap::new());
        let s = |n: &str, cpu| stages::Stage { name: n.into(), cpu };
        fold_stages(&mut into, &mut scales, vec![s("decode 1/4", 0.5), s("resize 1024", 0.25)]);
        fold_stages(&mut into, &mut scales, vec![s("decode 1/2", 0.5)]);
        assert_eq!(into["decode"], 1.0);
        assert_eq!(into["resize 1024"], 0.25);
        assert_eq!(scales["1/4"], 1);
    }
}
