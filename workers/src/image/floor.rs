//! The floor of JPEG thumbnailing on a file: what no pipeline making these outputs can avoid. libjpeg-turbo
//! decodes at the smallest M/8 DCT scale whose output still covers the largest variant (entropy decoding cannot
//! be skipped; the IDCT and colour conversion shrink with M), and each output is encoded once. Resizing is left
//! out, so a real pipeline lands above the floor by its resize and bookkeeping cost. `mediamill bench images`
//! reports mediamill's distance to it.

use image::imageops::FilterType;
use image::DynamicImage;

use super::stages::thread_cpu;
use crate::failure::ProcessError;
use mediamill_core::config::ImageFormat;

/// The floor's CPU seconds for one file, split into its two parts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Floor {
    /// Decoding at the covering M/8 scale.
    pub decode: f64,
    /// Encoding every output once.
    pub encode: f64,
    /// The M of the M/8 scale used.
    pub eighths: u8,
}

/// The smallest M (1–8) for which `long × M / 8`, rounded up as libjpeg-turbo does, reaches `target`.
pub fn covering_eighths(long: u32, target: u32) -> u8 {
    (1..=8u8).find(|m| (long as u64 * *m as u64).div_ceil(8) >= target as u64).unwrap_or(8)
}

fn err(e: impl std::fmt::Display) -> ProcessError {
    ProcessError::Corrupt(e.to_string())
}

/// Measures the floor of making `outputs` (long edge, format) at `quality` from the JPEG `bytes`.
pub fn measure(bytes: &[u8], outputs: &[(u32, ImageFormat)], quality: u8) -> Result<Floor, ProcessError> {
    let largest = outputs.iter().map(|o| o.0).max().unwrap_or(1);
    let mut d = turbojpeg::Decompressor::new().map_err(err)?;
    let header = d.read_header(bytes).map_err(err)?;
    let m = covering_eighths(header.width.max(header.height) as u32, largest);
    d.set_scaling_factor(turbojpeg::ScalingFactor::new(m as usize, 8)).map_err(err)?;
    let scaled = header.scaled(turbojpeg::ScalingFactor::new(m as usize, 8));
    let t0 = thread_cpu();
    let mut pixels = turbojpeg::Image {
        pixels: vec![0u8; scaled.width * scaled.height * 3],
        width: scaled.width,
        pitch: scaled.width * 3,
        height: scaled.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    d.decompress(bytes, pixels.as_deref_mut()).map_err(err)?;
    let decode = thread_cpu() - t0;
    let rgb = image::RgbImage::from_raw(scaled.width as u32, scaled.height as u32, pixels.pixels)
        .ok_or_else(|| err("decoded buffer has the wrong size"))?;
    let full = DynamicImage::ImageRgb8(rgb);
    let mut encode = 0.0;
    for (edge, format) in outputs {
        let (w, h) = super::fit_long_edge(full.width(), full.height(), *edge);
        // The resize is not part of the floor: made here untimed, only so there is something to encode.
        let img = full.resize_exact(w, h, FilterType::Triangle);
        let t = thread_cpu();
        super::encode::encode(&img, *format, quality, [255, 255, 255])?;
        encode += thread_cpu() - t;
    }
    Ok(Floor { decode, encode, eighths: m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_covering_scale_is_the_smallest_that_reaches_the_target() {
        assert_eq!(covering_eighths(6000, 1024), 2); // 1500 ≥ 1024, 750 is not
        assert_eq!(covering_eighths(4000, 1024), 3); // 1500; 1000 at 2/8 is short
        assert_eq!(covering_eighths(8192, 1024), 1);
        assert_eq!(covering_eighths(800, 1024), 8); // smaller than the target: full size
        assert_eq!(covering_eighths(1025, 1024), 8);
        assert_eq!(covering_eighths(2048, 256), 1);
    }
}
