//! What every decoder hands on: the upright pixels and the facts read on the way. Its own module so the JPEG/PNG
//! path (`decode.rs`) and the HEIF path (`heif.rs`) both depend on it and not on each other.

use image::DynamicImage;

/// A decoded, upright image.
pub struct Decoded {
    /// The pixels: the full image, or a JPEG decoded at 1/2, 1/4 or 1/8 scale (shrink-on-load) when that still
    /// covers the largest output asked for.
    pub image: DynamicImage,
    /// Upright size of the full image.
    pub width: u32,
    /// Upright height of the full image.
    pub height: u32,
    /// Lower-case format name (`jpeg`, `png`, …).
    pub format: String,
    /// EXIF orientation as found, 1–8.
    pub orientation: u8,
    /// Raw EXIF, if any.
    pub exif: Option<Vec<u8>>,
    /// Whether an embedded ICC profile was converted to sRGB.
    pub icc_applied: bool,
    /// Frames of an animation (GIF, WebP); 1 for still images. The first frame is the one decoded.
    pub frame_count: u32,
}
