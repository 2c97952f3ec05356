//! Decoding with limits: the pixel count is checked from the header before any pixel is decoded, and the
//! decoder's allocations are capped, so a decompression bomb fails fast and small.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader};

use crate::failure::ProcessError;

/// A decoded, upright image.
pub struct Decoded {
    pub image: DynamicImage,
    /// Lower-case format name (`jpeg`, `png`, …).
    pub format: String,
    /// EXIF orientation as found, 1–8.
    pub orientation: u8,
}

fn classify(e: ImageError) -> ProcessError {
    match e {
        ImageError::Unsupported(u) => ProcessError::UnsupportedFormat(u.to_string()),
        ImageError::Limits(l) => ProcessError::Corrupt(format!("decoder limit: {l}")),
        other => ProcessError::Corrupt(other.to_string()),
    }
}

fn reader(bytes: &[u8], max_pixels: u64) -> Result<ImageReader<Cursor<&[u8]>>, ProcessError> {
    let mut r = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ProcessError::Corrupt(e.to_string()))?;
    let mut limits = image::Limits::default();
    // 16-bit RGBA is 8 bytes a pixel; allow that plus decoder scratch for the largest image allowed.
    limits.max_alloc = Some(max_pixels.saturating_mul(10).max(64 << 20));
    r.limits(limits);
    Ok(r)
}

/// Decodes `bytes`, refusing images over `max_pixels`, and applies the EXIF orientation.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, ProcessError> {
    let r = reader(bytes, max_pixels)?;
    let format = r
        .format()
        .ok_or_else(|| ProcessError::UnsupportedFormat("no decoder recognises these bytes".into()))?;
    let (w, h) = reader(bytes, max_pixels)?.into_dimensions().map_err(classify)?;
    let pixels = w as u64 * h as u64;
    if pixels > max_pixels {
        return Err(ProcessError::TooManyPixels { width: w, height: h, pixels, limit: max_pixels });
    }
    if pixels == 0 {
        return Err(ProcessError::Corrupt("the image has no pixels".into()));
    }
    let mut decoder = r.into_decoder().map_err(classify)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    image.apply_orientation(orientation);
    Ok(Decoded {
        image,
        format: format!("{format:?}").to_ascii_lowercase(),
        orientation: orientation.to_exif(),
    })
}
