//! `mediamill bench images DIR`: the same outputs (1024 px and 256 px JPEG q80, metadata stripped,
//! orientation applied) from the same files in the same run, by mediamill, libvips' `vipsthumbnail` and
//! ImageMagick's `convert`, measured in CPU seconds; quality is SSIM against a Lanczos reference downscale
//! of the source made by ImageMagick, so a faster but blurrier resize cannot win. Prints each figure with its
//! anchors and the ratios; then the cost of the full default variant set (with WebP) on its own line.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use mediamill_core::config::{Config, ImageFormat, VariantSpec};
use mediamill_workers::image::{self as img, ImageSettings};

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
