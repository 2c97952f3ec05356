//! Image variants and their encoding.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// One output of image processing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VariantSpec {
    /// Name used in URLs and object keys, e.g. `thumb`.
    pub name: String,
    /// Longest edge in pixels; images are never upscaled.
    pub long_edge: u32,
    /// Encodings to produce: `jpeg`, `webp`, `avif` (slow; off in the defaults), or `auto` (WebP unless the
    /// output is too large for WebP).
    pub formats: Vec<ImageFormat>,
    /// Encoder quality, 1–100.
    pub quality: u8,
}

/// An output encoding.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// JPEG (libjpeg-turbo).
    Jpeg,
    /// WebP (libwebp).
    Webp,
    /// WebP, unless the output is larger than WebP allows (16383 px a side): then JPEG.
    Auto,
    /// AV1 in HEIF (libheif with aom): the smallest files, and by far the slowest to make.
    Avif,
}

impl ImageFormat {
    /// File extension used in object keys.
    pub fn ext(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp | ImageFormat::Auto => "webp",
            ImageFormat::Avif => "avif",
        }
    }
    /// The Content-Type of the encoded bytes.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp | ImageFormat::Auto => "image/webp",
            ImageFormat::Avif => "image/avif",
        }
    }
}

/// Image processing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    /// The variants every image gets, largest first.
    pub variants: Vec<VariantSpec>,
    /// Colour put behind transparent pixels for formats without alpha, as `#rrggbb`.
    pub background: String,
    /// Write the source's `Artist` and `Copyright` (and nothing else) into JPEG and WebP outputs.
    pub keep_rights: bool,
}

impl Default for ImageConfig {
    fn default() -> Self {
        let v = |name: &str, long_edge| VariantSpec {
            name: name.into(),
            long_edge,
            formats: vec![ImageFormat::Jpeg, ImageFormat::Webp],
            quality: 80,
        };
        ImageConfig {
            variants: vec![v("thumb", 256), v("medium", 1024), v("large", 2048)],
            background: "#ffffff".into(),
            keep_rights: false,
        }
    }
}

/// Whether `name` can be part of an object key and a URL: non-empty letters, digits, `-` or `_`.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a list of image variants (`image.variants`, `video.poster`).
pub(crate) fn validate_variants(key: &'static str, variants: &[VariantSpec]) -> Result<(), ConfigError> {
    if variants.is_empty() {
        return Err(ConfigError::Invalid { key, problem: "must name at least one variant".into() });
    }
    for v in variants {
        if !is_safe_name(&v.name) {
            return Err(ConfigError::Invalid {
                key,
                problem: format!("{:?} must be non-empty letters, digits, '-' or '_'", v.name),
            });
        }
        if v.long_edge == 0 || v.formats.is_empty() || !(1..=100).contains(&v.quality) {
            return Err(ConfigError::Invalid {
                key,
                problem: format!("{:?} needs long_edge > 0, at least one format and quality 1–100", v.name),
            });
        }
    }
    Ok(())
}

/// `#rrggbb` → RGB.
pub fn parse_hex_colour(s: &str) -> Option<[u8; 3]> {
    let h = s.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let b = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some([b(0)?, b(2)?, b(4)?])
}
