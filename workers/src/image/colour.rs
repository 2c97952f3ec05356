//! Colour management: an embedded RGB ICC profile (Display P3, Adobe RGB, …) is converted to sRGB, so wide-gamut
//! photos do not come out dull once their profile is stripped. Grey and CMYK profiles are left to the decoder,
//! which already produced RGB.

use image::DynamicImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// `img` converted from `icc` to sRGB; unchanged when the profile is not an RGB profile, cannot be parsed, or
/// maps colours to themselves (an sRGB profile under whatever name, as most cameras embed): converting those
/// would cost a pass over every pixel for nothing.
pub fn to_srgb(img: DynamicImage, icc: Option<&[u8]>) -> DynamicImage {
    let layout = if img.color().has_alpha() { Layout::Rgba } else { Layout::Rgb };
    let Some(t) = transform(icc, layout) else { return img };
    let mut img = match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
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

/// Whether pixels under `icc` change on the way to sRGB: `false` without a profile, for a profile that is not
/// RGB or cannot be read, and for one that maps colours to themselves ([`to_srgb`] leaves all those alone).
pub fn needs_conversion(icc: Option<&[u8]>) -> bool {
    transform(icc, Layout::Rgb).is_some()
}

/// The transform from `icc` to sRGB, or `None` when there is nothing to convert.
fn transform(icc: Option<&[u8]>, layout: Layout) -> Option<std::sync::Arc<moxcms::Transform8BitExecutor>> {
    let src = ColorProfile::new_from_slice(icc?).ok()?;
    if src.color_space != DataColorSpace::Rgb {
        return None;
    }
    let t = src.create_transform_8bit(layout, &ColorProfile::new_srgb(), layout, TransformOptions::default()).ok()?;
    (!is_identity(t.as_ref(), layout)).then_some(t)
}

/// Whether `t` leaves every colour of a 6×6×6 grid over the RGB cube within 1 of itself.
fn is_identity(t: &moxcms::Transform8BitExecutor, layout: Layout) -> bool {
    let channels = if layout == Layout::Rgba { 4 } else { 3 };
    let steps = [0u8, 51, 102, 153, 204, 255];
    let mut probe = Vec::with_capacity(216 * channels);
    for r in steps {
        for g in steps {
            for b in steps {
                probe.extend_from_slice(&[r, g, b, 255][..channels]);
            }
        }
    }
    let mut out = vec![0u8; probe.len()];
    t.transform(&probe, &mut out).is_ok() && probe.iter().zip(&out).all(|(a, b)| a.abs_diff(*b) <= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icc(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/icc").join(name)).unwrap()
    }

    fn photo() -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])))
    }

    #[test]
    fn an_srgb_profile_leaves_the_pixels_untouched_and_a_wide_one_converts_them() {
        let same = to_srgb(photo(), Some(&icc("sRGB.icc")));
        assert_eq!(same.as_bytes(), photo().as_bytes(), "an sRGB profile is skipped, bit for bit");
        let wide = to_srgb(photo(), Some(&icc("compatibleWithAdobeRGB1998.icc")));
        assert_ne!(wide.as_bytes(), photo().as_bytes(), "Adobe RGB is converted");
    }
}
