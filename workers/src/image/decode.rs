//! Decoding with limits: the pixel count is checked from the header before any pixel is decoded, and the
//! decoder's allocations are capped, so a decompression bomb fails fast and small.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};

use super::decoded::Decoded;
use crate::failure::ProcessError;

fn classify(e: ImageError) -> ProcessError {
    match e {
        ImageError::Unsupported(u) => ProcessError::UnsupportedFormat(u.to_string()),
        ImageError::Limits(l) => ProcessError::Corrupt(format!("decoder limit: {l}")),
        other => ProcessError::Corrupt(other.to_string()),
    }
}

fn reader(bytes: &[u8], max_pixels: u64) -> Result<ImageReader<Cursor<&[u8]>>, ProcessError> {
    let mut r =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| ProcessError::Corrupt(e.to_string()))?;
    let mut limits = image::Limits::default();
    // 16-bit RGBA is 8 bytes a pixel; allow that plus decoder scratch for the largest image allowed.
    limits.max_alloc = Some(max_pixels.saturating_mul(10).max(64 << 20));
    r.limits(limits);
    Ok(r)
}

/// Decodes `bytes` at full size, refusing images over `max_pixels`, and applies the EXIF orientation.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, ProcessError> {
    decode_at_least(bytes, max_pixels, u32::MAX, u32::MAX)
}

/// The smallest JPEG scale M/8 (libjpeg-turbo scales by any M/8 in the DCT) whose long edge still covers
/// `long_edge`; `None` when only the full size does. Callers ask for a margin above their largest output
/// (`ImageSettings::decode_margin`) so the Lanczos resize, not the DCT scaling, makes the last step.
pub(super) fn jpeg_scale(w: u32, h: u32, long_edge: u32) -> Option<turbojpeg::ScalingFactor> {
    let long = w.max(h) as u64;
    (1..8u64).find(|m| (long * m).div_ceil(8) >= long_edge as u64).map(|m| {
        let (num, denom) = eighths_in_lowest_terms(m);
        turbojpeg::ScalingFactor::new(num as usize, denom as usize)
    })
}

/// `m/8` as a fraction in lowest terms: 2 → (1, 4), 8 → (1, 1).
fn eighths_in_lowest_terms(m: u64) -> (u64, u64) {
    let g = [8, 4, 2, 1].into_iter().find(|g| m.is_multiple_of(*g)).unwrap_or(1);
    (m / g, 8 / g)
}

/// Decodes a JPEG at a reduced scale with libjpeg-turbo (DCT-domain scaling: most of the decode is skipped).
/// `None` when libjpeg-turbo cannot give RGB for this file (e.g. CMYK); the caller then decodes normally.
pub(super) fn decode_scaled_jpeg(bytes: &[u8], scale: turbojpeg::ScalingFactor) -> Option<DynamicImage> {
    let mut d = turbojpeg::Decompressor::new().ok()?;
    let header = d.read_header(bytes).ok()?;
    if matches!(header.colorspace, turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK) {
        return None;
    }
    let header = header.scaled(scale);
    d.set_scaling_factor(scale).ok()?;
    let mut img = turbojpeg::Image {
        pixels: vec![0u8; 3 * header.width * header.height],
        width: header.width,
        pitch: 3 * header.width,
        height: header.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    d.decompress(bytes, img.as_deref_mut()).ok()?;
    image::RgbImage::from_raw(header.width as u32, header.height as u32, img.pixels).map(DynamicImage::ImageRgb8)
}

/// The scale a decode was made at, as `M/8` in lowest terms (`1/4`), from the stored and decoded widths.
pub(super) fn scale_name(stored: u32, decoded: u32) -> String {
    let eighths = (decoded as u64 * 8).div_ceil(stored.max(1) as u64).clamp(1, 8);
    let (num, denom) = eighths_in_lowest_terms(eighths);
    format!("{num}/{denom}")
}

/// Decodes `bytes`, refusing images over `max_pixels`, applying the EXIF orientation, at the smallest JPEG
/// scale whose long edge still covers `long_edge` (any other format is decoded at full size). Animations with
/// more than `max_frames` frames are refused before their first frame is decoded.
pub fn decode_at_least(
    bytes: &[u8],
    max_pixels: u64,
    long_edge: u32,
    max_frames: u32,
) -> Result<Decoded, ProcessError> {
    if super::heif::is_heif(bytes) {
        return super::heif::decode(bytes, max_pixels);
    }
    probe(bytes, max_pixels, max_frames)?.decode(bytes, long_edge)
}

/// A source read as far as its headers and checked against the limits, before any pixel is decoded: what every
/// way of decoding it needs to know.
pub(super) struct Probe<'a> {
    /// The container format.
    pub format: image::ImageFormat,
    /// Stored width (before orientation).
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// The EXIF orientation.
    pub orientation: image::metadata::Orientation,
    /// The embedded ICC profile.
    pub icc: Option<Vec<u8>>,
    /// Raw EXIF.
    pub exif: Option<Vec<u8>>,
    /// Frames of an animation, at most the limit.
    pub frame_count: u32,
    decoder: Box<dyn ImageDecoder + 'a>,
}

/// Reads `bytes`' headers: the pixel and frame limits and a JPEG's completeness are checked here, so no decode
/// starts on a bomb or a cut-off upload.
pub(super) fn probe(bytes: &[u8], max_pixels: u64, max_frames: u32) -> Result<Probe<'_>, ProcessError> {
    let r = reader(bytes, max_pixels)?;
    let format =
        r.format().ok_or_else(|| ProcessError::UnsupportedFormat("no decoder recognises these bytes".into()))?;
    let (w, h) = reader(bytes, max_pixels)?.into_dimensions().map_err(classify)?;
    let pixels = w as u64 * h as u64;
    if pixels > max_pixels {
        return Err(ProcessError::TooManyPixels { width: w, height: h, pixels, limit: max_pixels });
    }
    if pixels == 0 {
        return Err(ProcessError::Corrupt("the image has no pixels".into()));
    }
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills a cut-off scan with grey and calls it success; a photo app wants to know.
        return Err(ProcessError::Corrupt(
            "the JPEG data ends before its end-of-image marker (truncated upload?)".into(),
        ));
    }
    let frame_count = count_frames(bytes, format, max_frames.saturating_add(1))?;
    if frame_count > max_frames {
        return Err(ProcessError::TooManyFrames { limit: max_frames });
    }
    let mut decoder = r.into_decoder().map_err(classify)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let exif = decoder.exif_metadata().ok().flatten();
    Ok(Probe { format, width: w, height: h, orientation, icc, exif, frame_count, decoder: Box::new(decoder) })
}

impl Probe<'_> {
    /// Upright size: the stored size turned by the EXIF orientation.
    pub fn upright(&self) -> (u32, u32) {
        match self.orientation.to_exif() {
            5..=8 => (self.height, self.width),
            _ => (self.width, self.height),
        }
    }

    /// Lower-case format name (`jpeg`, `png`, …).
    pub fn format_name(&self) -> String {
        format!("{:?}", self.format).to_ascii_lowercase()
    }

    /// Decodes into upright sRGB pixels, a JPEG at the smallest scale whose long edge covers `long_edge`.
    pub fn decode(self, bytes: &[u8], long_edge: u32) -> Result<Decoded, ProcessError> {
        let (w, h) = (self.width, self.height);
        let (width, height) = self.upright();
        let format = self.format_name();
        let scaled = match self.format {
            image::ImageFormat::Jpeg => jpeg_scale(w, h, long_edge).and_then(|s| decode_scaled_jpeg(bytes, s)),
            _ => None,
        };
        let image = match scaled {
            Some(img) => img,
            None => DynamicImage::from_decoder(self.decoder).map_err(classify)?,
        };
        super::stages::mark(|| format!("decode {}", scale_name(w, image.width())));
        let icc_applied = self.icc.is_some();
        let mut image = super::colour::to_srgb(image, self.icc.as_deref());
        super::stages::mark(|| "colour".into());
        image.apply_orientation(self.orientation);
        super::stages::mark(|| "orient".into());
        Ok(Decoded {
            image,
            width,
            height,
            format,
            orientation: self.orientation.to_exif(),
            exif: self.exif,
            icc_applied,
            frame_count: self.frame_count,
        })
    }
}

/// Frames of an animated GIF or WebP, counted one at a time and at most `cap` of them. A frame that fails
/// to decode makes the animation corrupt (the decoders report a cut-off stream again and again, so counting
/// on past an error would only reach the cap).
fn count_frames(bytes: &[u8], format: image::ImageFormat, cap: u32) -> Result<u32, ProcessError> {
    let cap = cap as usize;
    let count = |frames: image::Frames<'_>| -> Result<usize, ImageError> {
        let mut n = 0;
        for f in frames.take(cap) {
            f?;
            n += 1;
        }
        Ok(n)
    };
    use image::AnimationDecoder;
    let frames = match format {
        image::ImageFormat::Gif => {
            image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).and_then(|d| count(d.into_frames()))
        }
        image::ImageFormat::WebP => match image::codecs::webp::WebPDecoder::new(Cursor::new(bytes)) {
            Ok(d) if d.has_animation() => count(d.into_frames()),
            Ok(_) => Ok(1),
            Err(e) => Err(e),
        },
        _ => Ok(1),
    };
    frames.map(|n| n.max(1) as u32).map_err(classify)
}

/// Whether a JPEG's segments are intact up to its first scan and an end-of-image marker follows the scan.
/// Entropy-coded data escapes 0xFF as FF 00, so FF D9 after the first SOS can only be the real EOI. It is
/// looked for from the end, where it is (at most some trailing bytes after it): a forward scan over a photo's
/// megabytes cost more than a millisecond.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    let sos = loop {
        if i + 1 >= b.len() || b[i] != 0xFF {
            return false;
        }
        while i + 1 < b.len() && b[i + 1] == 0xFF {
            i += 1; // fill bytes
        }
        let Some(&marker) = b.get(i + 1) else { return false };
        match marker {
            0xDA => break i,
            0xD0..=0xD7 | 0x01 => i += 2,
            0xD9 => return false, // EOI before any scan: no image data
            _ => {
                let Some(len) = b.get(i + 2..i + 4).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                i += 2 + len;
            }
        }
    };
    memchr::memmem::rfind(&b[sos..], &[0xFF, 0xD9]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_scales_are_named_in_lowest_terms() {
        assert_eq!(scale_name(6000, 1500), "1/4");
        assert_eq!(scale_name(6000, 3000), "1/2");
        assert_eq!(scale_name(6000, 750), "1/8");
        assert_eq!(scale_name(6000, 2250), "3/8");
        assert_eq!(scale_name(800, 800), "1/1");
    }

    fn tiny_jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&img).unwrap();
        out
    }

    #[test]
    fn whole_jpeg_is_complete_and_cut_ones_are_not() {
        let j = tiny_jpeg();
        assert!(jpeg_is_complete(&j));
        for cut in [3, 20, j.len() / 2, j.len() - 1] {
            assert!(!jpeg_is_complete(&j[..cut]), "cut at {cut}");
        }
        let mut trailing = j.clone();
        trailing.extend_from_slice(b"trailing bytes some cameras append");
        assert!(jpeg_is_complete(&trailing));
    }

    #[test]
    fn truncated_jpeg_fails_as_corrupt() {
        let j = tiny_jpeg();
        let e = decode(&j[..j.len() - 40], 1_000_000).err().expect("must fail");
        assert_eq!(e.reason(), "corrupt");
    }

    #[test]
    fn hostile_inputs_fail_cleanly() {
        for bytes in [&b""[..], b"\xFF\xD8", b"GIF89a", b"\x89PNG\r\n\x1a\n", &[0u8; 100][..]] {
            assert!(decode(bytes, 1_000_000).is_err());
        }
    }

    #[test]
    fn shrink_on_load_keeps_the_largest_output_covered() {
        let scale = |w, h, edge| jpeg_scale(w, h, edge).map(|s| (s.num(), s.denom()));
        assert_eq!(scale(4000, 3000, 1536), Some((1, 2)));
        assert_eq!(scale(6000, 4000, 1536), Some((3, 8)), "any M/8, not only powers of two");
        assert_eq!(scale(4000, 3000, 384), Some((1, 8)));
        assert_eq!(scale(4000, 3000, 3600), None, "7/8 = 3500 does not cover it");
        let img = image::RgbImage::from_fn(800, 600, |x, y| image::Rgb([(x / 4) as u8, (y / 3) as u8, 90]));
        let mut j = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut j, 90).encode_image(&img).unwrap();
        let d = decode_at_least(&j, 1_000_000, 300, 1).unwrap();
        assert_eq!((d.width, d.height), (800, 600), "the full size is reported");
        assert_eq!((d.image.width(), d.image.height()), (300, 225), "decoded at 3/8: 2/8 would not cover 300");
        let p = d.image.to_rgb8().get_pixel(150, 112).0;
        assert!(p[0].abs_diff(100) < 8 && p[1].abs_diff(100) < 8, "{p:?}");
    }

    #[test]
    fn animations_over_the_frame_limit_are_refused() {
        use image::codecs::gif::GifEncoder;
        let mut gif = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut gif);
            for i in 0..5u8 {
                let f = image::RgbaImage::from_pixel(8, 8, image::Rgba([i * 40, 0, 0, 255]));
                enc.encode_frame(image::Frame::new(f)).unwrap();
            }
        }
        assert_eq!(decode_at_least(&gif, 1_000_000, 100, 5).map(|d| d.frame_count).ok(), Some(5));
        match decode_at_least(&gif, 1_000_000, 100, 4) {
            Err(e @ ProcessError::TooManyFrames { limit: 4 }) => assert_eq!(e.reason(), "too_many_frames"),
            other => panic!("{:?}", other.map(|d| d.frame_count)),
        }
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let j = tiny_jpeg(); // 64 × 48 = 3072 px
        match decode(&j, 3000) {
            Err(ProcessError::TooManyPixels { pixels: 3072, limit: 3000, .. }) => {}
            other => panic!("{:?}", other.map(|d| d.format)),
        }
    }
}
