//! Colour management: an embedded RGB ICC profile (Display P3, Adobe RGB, …) is converted to sRGB, so wide-gamut
//! photos do not come out dull once their profile is stripped. Grey and CMYK profiles are left to the decoder,
//! which already produced RGB.

use image::DynamicImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// `img` converted from `icc` to sRGB; unchanged when the profile is not an RGB profile, cannot be parsed, or
/// is sRGB already.
pub fn to_srgb(img: DynamicImage, icc: Option<&[u8]>) -> DynamicImage {
    let Some(icc) = icc else { return img };
    let Ok(src) = ColorProfile::new_from_slice(icc) else { return img };
    if src.color_space != DataColorSpace::Rgb {
        return img;
    }
    let dst = ColorProfile::new_srgb();
    let (layout, mut img) = if img.color().has_alpha() {
        (Layout::Rgba, DynamicImage::ImageRgba8(img.to_rgba8()))
    } else {
        (Layout::Rgb, DynamicImage::ImageRgb8(img.to_rgb8()))
    };
    let Ok(t) = src.create_transform_8bit(layout, &dst, layout, TransformOptions::default()) else { return img };
    let buf: &mut [u8] = match &mut img {
        DynamicImage::ImageRgba8(i) => i.as_mut(),
        DynamicImage::ImageRgb8(i) => i.as_mut(),
        _ => return img,
    };
    let src_copy = buf.to_vec();
    if t.transform(&src_copy, buf).is_err() {
        tracing::debug!("ICC transform failed; keeping the decoded pixels");
    }
    img
}
