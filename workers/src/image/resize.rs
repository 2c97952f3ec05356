//! SIMD resizing (fast_image_resize, Lanczos3) into 8-bit RGB or RGBA.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use crate::failure::ProcessError;

/// `src` scaled to `w`×`h`, as 8-bit RGB, or RGBA when the source has alpha.
pub fn resize(src: &DynamicImage, w: u32, h: u32) -> Result<DynamicImage, ProcessError> {
    // Normalise first: 16-bit, grey and palette sources all become 8-bit RGB(A), which every encoder takes. A
    // source already in 8-bit RGB(A) (every JPEG) is read in place: copying a decoded photo costs milliseconds.
    let converted;
    let src8 = match src {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => src,
        other if other.color().has_alpha() => {
            converted = DynamicImage::ImageRgba8(other.to_rgba8());
            &converted
        }
        other => {
            converted = DynamicImage::ImageRgb8(other.to_rgb8());
            &converted
        }
    };
    if (w, h) == (src8.width(), src8.height()) {
        return Ok(src8.clone());
    }
    let mut dst = DynamicImage::new(w, h, src8.color());
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(src8, &mut dst, &opts).map_err(|e| ProcessError::Encode("resize", e.to_string()))?;
    Ok(dst)
}
