//! The floor of JPEG thumbnailing on a file: what no pipeline making these outputs can avoid. libjpeg-turbo
//! decodes at the smallest M/8 DCT scale whose output still covers the largest variant (entropy decoding cannot
//! be skipped; the IDCT and colour conversion shrink with M), and each output is encoded once. Resizing is left
//! out, so a real pipeline lands above the floor by its resize and bookkeeping cost. `mediamill bench images`
//! reports mediamill's distance to it.

use image::imageops::FilterType;
use image::DynamicImage;

use super::decode::{decode_scaled_jpeg, jpeg_scale};
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
}

fn err(e: impl std::fmt::Display) -> ProcessError {
    ProcessError::Corrupt(e.to_string())
}

/// Measures the floor of making `outputs` (long edge, format) at `quality` from the JPEG `bytes`: the decode is
/// the worker's own shrink-on-load at the smallest M/8 that covers the largest output, with no margin.
pub fn measure(bytes: &[u8], outputs: &[(u32, ImageFormat)], quality: u8) -> Result<Floor, ProcessError> {
    let largest = outputs.iter().map(|o| o.0).max().unwrap_or(1);
    let header = turbojpeg::Decompressor::new().map_err(err)?.read_header(bytes).map_err(err)?;
    let scale =
        jpeg_scale(header.width as u32, header.height as u32, largest).unwrap_or(turbojpeg::ScalingFactor::new(1, 1));
    let t0 = thread_cpu();
    let full = decode_scaled_jpeg(bytes, scale).ok_or_else(|| err("libjpeg-turbo cannot decode this file to RGB"))?;
    let decode = thread_cpu() - t0;
    let mut encode = 0.0;
    for (edge, format) in outputs {
        let (w, h) = super::fit_long_edge(full.width(), full.height(), *edge);
        // The resize is not part of the floor: made here untimed, only so there is something to encode.
        let img: DynamicImage = full.resize_exact(w, h, FilterType::Triangle);
        let t = thread_cpu();
        super::encode::encode(&img, *format, quality, [255, 255, 255])?;
        encode += thread_cpu() - t;
    }
    Ok(Floor { decode, encode })
}

/// The same floor the way mediamill decodes a YCbCr JPEG (`super::planar`): decoding into the JPEG's own planes at
/// the covering scale (no chroma upsampling, no colour conversion) and encoding each output from 4:2:0 planes.
/// A file without such planes (greyscale, CMYK, a wide-gamut profile) is measured the RGB way, as it is processed.
pub fn measure_planes(bytes: &[u8], outputs: &[(u32, ImageFormat)], quality: u8) -> Result<Floor, ProcessError> {
    let largest = outputs.iter().map(|o| o.0).max().unwrap_or(1);
    let probe = super::decode::probe(bytes, u64::MAX, 1)?;
    let t0 = thread_cpu();
    let Some(planes) = super::planar::decode(&probe, bytes, largest) else { return measure(bytes, outputs, quality) };
    let decode = thread_cpu() - t0;
    let mut encode = 0.0;
    for (edge, format) in outputs {
        let (w, h) = super::fit_long_edge(planes.width(), planes.height(), *edge);
        let small = super::planar::resize(&planes, w, h)?; // untimed, as in the RGB floor
        let t = thread_cpu();
        super::planar::encode(&small, *format, quality)?;
        encode += thread_cpu() - t;
    }
    Ok(Floor { decode, encode })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_decodes_at_the_covering_scale_and_times_both_parts() {
        assert_eq!(jpeg_scale(6000, 4000, 1024).map(|s| (s.num(), s.denom())), Some((1, 4)), "1500 ≥ 1024, 750 is not");
        assert_eq!(jpeg_scale(4000, 3000, 1024).map(|s| (s.num(), s.denom())), Some((3, 8)), "1000 at 2/8 is short");
        assert!(jpeg_scale(800, 600, 1024).is_none(), "smaller than the output: full size");
        let img = image::RgbImage::from_fn(1600, 1200, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 90]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).unwrap();
        let f = measure(&jpeg, &[(1024, ImageFormat::Jpeg), (256, ImageFormat::Jpeg)], 80).unwrap();
        assert!(f.decode > 0.0 && f.encode > 0.0, "{f:?}");
        assert!(measure(b"not a jpeg", &[(256, ImageFormat::Jpeg)], 80).is_err());
        let p = measure_planes(&jpeg, &[(1024, ImageFormat::Jpeg), (256, ImageFormat::Webp)], 80).unwrap();
        assert!(p.decode > 0.0 && p.encode > 0.0, "{p:?}");
        assert!(measure_planes(b"not a jpeg", &[(256, ImageFormat::Jpeg)], 80).is_err());
    }
}
