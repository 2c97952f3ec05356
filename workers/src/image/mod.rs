//! Image processing: bytes in, variants and metadata out. Pure functions, no I/O, so the same code serves the
//! worker, the local one-shot command and the benchmarks.
//!
//! The image is decoded once (after its header passed the pixel limit), turned upright by its EXIF orientation,
//! then every variant is resized from it with SIMD (fast_image_resize) and encoded. Outputs carry no metadata.

mod avif;
mod colour;
mod decode;
mod decoded;
mod encode;
pub mod floor;
mod heif;
pub mod meta;
mod planar;
mod resize;
mod rights;
pub mod stages;

use mediamill_core::config::{parse_hex_colour, ImageFormat, VariantSpec};
use serde::{Deserialize, Serialize};

pub use decode::{decode, decode_at_least};
pub use decoded::Decoded;

use crate::failure::ProcessError;

/// What processing needs to know besides the bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSettings {
    /// The variants to make, largest first.
    pub variants: Vec<VariantSpec>,
    /// Most pixels a source may declare (`limits.max_image_pixels`).
    pub max_pixels: u64,
    /// Most frames an animation may have.
    pub max_frames: u32,
    /// Put behind transparent pixels in formats without alpha.
    pub background: [u8; 3],
    /// Keep `Artist` and `Copyright` in the outputs.
    pub keep_rights: bool,
    /// How far above the largest output a JPEG is decoded (shrink-on-load): 1.4 means the decoded long edge
    /// covers 1.4 × the largest variant, so the Lanczos resize, not the DCT scaling, makes the last step.
    /// Measured, not configured: `mediamill bench images` prints the cost and SSIM of other margins. 1.4 is the
    /// smallest whose SSIM is no lower than libvips' on both photo sets (on the camera photos by 0.00001);
    /// 1.33 and 1.25 cost less but drop below it there, 1.5 costs 4–6 % more for 0.00005 more.
    #[serde(default = "default_decode_margin")]
    pub decode_margin: f32,
}

fn default_decode_margin() -> f32 {
    1.4
}

impl ImageSettings {
    /// Settings from the configuration.
    pub fn from_config(cfg: &mediamill_core::config::Config) -> ImageSettings {
        ImageSettings {
            variants: cfg.image.variants.clone(),
            max_pixels: cfg.limits.max_image_pixels,
            max_frames: cfg.limits.max_image_frames,
            background: parse_hex_colour(&cfg.image.background).unwrap_or([255, 255, 255]),
            keep_rights: cfg.image.keep_rights,
            decode_margin: default_decode_margin(),
        }
    }
}

/// One encoded variant.
#[derive(Debug, Clone)]
pub struct Output {
    /// The variant's name (`large`, `medium`, `thumb`…).
    pub name: String,
    /// JPEG or WebP.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoded file.
    pub bytes: Vec<u8>,
}

/// Facts about the source image, stored on the media record and sent in the `processed` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageMetadata {
    /// Upright width (after orientation).
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// Lower-case format name (`jpeg`, `png`, …).
    pub format: String,
    /// EXIF orientation 1–8 as found (1 when absent).
    pub orientation: u8,
    /// Whether it has transparency.
    pub has_alpha: bool,
    /// Whether it is an animation (GIF, WebP).
    pub animated: bool,
    /// Frames in an animation (1 for still images).
    pub frame_count: u32,
    /// Whether an ICC profile was found and applied (converted to sRGB).
    pub icc_profile: bool,
    #[serde(flatten)]
    /// What EXIF says.
    pub exif: meta::ExifFacts,
    #[serde(flatten)]
    /// Blurhash, thumbhash and dominant colour.
    pub placeholders: meta::Placeholders,
}

/// The result of processing one image.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Facts about the source.
    pub metadata: ImageMetadata,
    /// The encoded variants.
    pub outputs: Vec<Output>,
}

/// Size of a variant: the long edge scaled to `long_edge`, never larger than the source.
pub fn fit_long_edge(w: u32, h: u32, long_edge: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= long_edge {
        return (w, h);
    }
    let scale = long_edge as f64 / long as f64;
    let sw = ((w as f64 * scale).round() as u32).max(1);
    let sh = ((h as f64 * scale).round() as u32).max(1);
    (sw, sh)
}

/// Decodes `bytes` and makes every configured variant (see [`render`]). A YCbCr JPEG becoming JPEG and WebP
/// outputs stays in its planes from decode to encode (`planar`); anything else goes through RGB.
pub fn process(bytes: &[u8], s: &ImageSettings) -> Result<Processed, ProcessError> {
    let largest = s.variants.iter().map(|v| v.long_edge).max().unwrap_or(u32::MAX);
    let covered = (largest as f64 * s.decode_margin.max(1.0) as f64).ceil().min(u32::MAX as f64) as u32;
    if heif::is_heif(bytes) || !planar::serves(&s.variants) {
        return from_pixels(decode_at_least(bytes, s.max_pixels, covered, s.max_frames)?, s);
    }
    let probe = decode::probe(bytes, s.max_pixels, s.max_frames)?;
    let Some(planes) = planar::decode(&probe, bytes, covered) else {
        return from_pixels(probe.decode(bytes, covered)?, s);
    };
    let (width, height) = probe.upright();
    let facts = Facts {
        width,
        height,
        format: probe.format_name(),
        orientation: probe.orientation.to_exif(),
        has_alpha: false,
        frame_count: probe.frame_count,
        icc_applied: probe.icc.is_some(),
        exif: probe.exif.as_deref(),
    };
    finish(facts, s, |rights| {
        let (outputs, smallest) = planar::render(&planes, probe.orientation, &s.variants, rights)?;
        let smallest = smallest.unwrap_or_else(|| planes.clone().orient(probe.orientation));
        Ok((outputs, image::DynamicImage::ImageRgb8(smallest.to_rgb_within(meta::PLACEHOLDER_EDGE)?)))
    })
}

/// The variants of an image decoded to RGB pixels.
fn from_pixels(d: Decoded, s: &ImageSettings) -> Result<Processed, ProcessError> {
    let facts = Facts {
        width: d.width,
        height: d.height,
        format: d.format.clone(),
        orientation: d.orientation,
        has_alpha: d.image.color().has_alpha(),
        frame_count: d.frame_count,
        icc_applied: d.icc_applied,
        exif: d.exif.as_deref(),
    };
    finish(facts, s, |rights| {
        let (outputs, smallest) = render(&d.image, &s.variants, s.background, rights)?;
        Ok((outputs, smallest.unwrap_or_else(|| d.image.clone())))
    })
}

/// What a decode found out about the source, whichever way its pixels went.
struct Facts<'a> {
    width: u32,
    height: u32,
    format: String,
    orientation: u8,
    has_alpha: bool,
    frame_count: u32,
    icc_applied: bool,
    exif: Option<&'a [u8]>,
}

/// Reads the EXIF, makes the outputs with `render` (given the rights block to embed, if kept) and the
/// placeholders from the smallest image it returns.
fn finish(
    f: Facts<'_>,
    s: &ImageSettings,
    render: impl FnOnce(Option<&[u8]>) -> Result<(Vec<Output>, image::DynamicImage), ProcessError>,
) -> Result<Processed, ProcessError> {
    let exif = f.exif.map(meta::exif_facts).unwrap_or_default();
    let rights =
        if s.keep_rights { rights::exif_block(exif.artist.as_deref(), exif.copyright.as_deref()) } else { None };
    stages::mark(|| "exif".into());
    let (outputs, smallest) = render(rights.as_deref())?;
    let placeholders = meta::placeholders(&smallest);
    stages::mark(|| "placeholders".into());
    Ok(Processed {
        metadata: ImageMetadata {
            width: f.width,
            height: f.height,
            format: f.format,
            orientation: f.orientation,
            has_alpha: f.has_alpha,
            animated: f.frame_count > 1,
            frame_count: f.frame_count,
            icc_profile: f.icc_applied,
            exif,
            placeholders,
        },
        outputs,
    })
}

/// WebP's largest side; `auto` falls back to JPEG beyond it.
const WEBP_MAX_SIDE: u32 = 16383;

/// The concrete format for `auto`: WebP (smaller, keeps alpha) unless the output cannot be a WebP.
fn resolve(f: ImageFormat, w: u32, h: u32) -> ImageFormat {
    match f {
        ImageFormat::Auto if w > WEBP_MAX_SIDE || h > WEBP_MAX_SIDE => ImageFormat::Jpeg,
        ImageFormat::Auto => ImageFormat::Webp,
        other => other,
    }
}

/// Makes `variants` of an upright image: largest first, each from the previous one while that is still at
/// least twice its size (a cascade of Lanczos steps looks the same and costs a fraction of resizing the full
/// image every time). Returns the outputs, smallest first, and the smallest resized image.
pub fn render(
    img: &image::DynamicImage,
    variants: &[VariantSpec],
    background: [u8; 3],
    rights: Option<&[u8]>,
) -> Result<(Vec<Output>, Option<image::DynamicImage>), ProcessError> {
    let (w, h) = (img.width(), img.height());
    let mut outputs = Vec::new();
    let mut smallest: Option<image::DynamicImage> = None;
    for spec in largest_first(variants) {
        let (tw, th) = fit_long_edge(w, h, spec.long_edge);
        let from = match &smallest {
            Some(prev) if prev.width() >= tw * 2 && prev.height() >= th * 2 => prev,
            _ => img,
        };
        let resized = resize::resize(from, tw, th)?;
        stages::mark(|| format!("resize {}", spec.long_edge));
        for format in formats_of(spec, tw, th) {
            let bytes = encode::encode(&resized, format, spec.quality, background)?;
            outputs.push(output(spec, format, (tw, th), bytes, rights)?);
        }
        smallest = Some(resized);
    }
    outputs.sort_by_key(|o| (o.width, o.name.clone()));
    Ok((outputs, smallest))
}

/// The variants in the order a cascade makes them: largest first.
fn largest_first(variants: &[VariantSpec]) -> Vec<&VariantSpec> {
    let mut order: Vec<&VariantSpec> = variants.iter().collect();
    order.sort_by_key(|v| std::cmp::Reverse(v.long_edge));
    order
}

/// The concrete formats of one variant at `w`×`h`, each once.
fn formats_of(spec: &VariantSpec, w: u32, h: u32) -> Vec<ImageFormat> {
    let mut formats: Vec<ImageFormat> = spec.formats.iter().map(|f| resolve(*f, w, h)).collect();
    formats.dedup();
    formats
}

/// One encoded variant, with the rights block embedded when it is kept; ends the encode's stage.
fn output(
    spec: &VariantSpec,
    format: ImageFormat,
    (width, height): (u32, u32),
    mut bytes: Vec<u8>,
    rights: Option<&[u8]>,
) -> Result<Output, ProcessError> {
    if let Some(exif) = rights {
        bytes = rights::embed(bytes, format, exif)?;
    }
    stages::mark(|| format!("encode {} {}", spec.long_edge, format.ext()));
    Ok(Output { name: spec.name.clone(), format, width, height, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_webp_unless_too_large_for_webp() {
        assert_eq!(resolve(ImageFormat::Auto, 2048, 1536), ImageFormat::Webp);
        assert_eq!(resolve(ImageFormat::Auto, 20000, 100), ImageFormat::Jpeg);
        assert_eq!(resolve(ImageFormat::Jpeg, 10, 10), ImageFormat::Jpeg);
    }

    #[test]
    fn never_upscales_and_keeps_aspect() {
        assert_eq!(fit_long_edge(100, 50, 256), (100, 50));
        assert_eq!(fit_long_edge(4000, 3000, 1024), (1024, 768));
        assert_eq!(fit_long_edge(3000, 4000, 256), (192, 256));
        assert_eq!(fit_long_edge(10000, 1, 100), (100, 1), "never zero");
    }
}
