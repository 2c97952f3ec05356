//! Encoders: JPEG through libjpeg-turbo (SIMD, 4:2:0, optimised Huffman tables; alpha flattened on the
//! configured background) and lossy WebP through libwebp.
//! Nothing of the source's metadata is written, so no GPS position ever leaks into an output.

use image::{DynamicImage, RgbImage};
use mediamill_core::config::ImageFormat;

use crate::failure::ProcessError;

/// Encodes an 8-bit RGB(A) image.
pub fn encode(img: &DynamicImage, format: ImageFormat, quality: u8, bg: [u8; 3]) -> Result<Vec<u8>, ProcessError> {
    match format {
        ImageFormat::Jpeg => jpeg(&flatten(img, bg), quality, turbojpeg::Subsamp::Sub2x2),
        ImageFormat::Avif => super::avif::encode(img, quality),
        ImageFormat::Webp | ImageFormat::Auto => {
            let enc = match img {
                DynamicImage::ImageRgba8(i) => webp::Encoder::from_rgba(i.as_raw(), i.width(), i.height()),
                DynamicImage::ImageRgb8(i) => webp::Encoder::from_rgb(i.as_raw(), i.width(), i.height()),
                other => return encode(&DynamicImage::ImageRgba8(other.to_rgba8()), format, quality, bg),
            };
            let mem =
                enc.encode_simple(false, quality as f32).map_err(|e| ProcessError::Encode("webp", format!("{e:?}")))?;
            Ok(mem.to_vec())
        }
    }
}

/// JPEG through libjpeg-turbo at `subsamp` (the outputs use 4:2:0; tests make sources at others).
pub(super) fn jpeg(rgb: &RgbImage, quality: u8, subsamp: turbojpeg::Subsamp) -> Result<Vec<u8>, ProcessError> {
    let mut c = jpeg_compressor(quality)?;
    c.set_subsamp(subsamp).map_err(jpeg_failed)?;
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let image = turbojpeg::Image {
        pixels: rgb.as_raw().as_slice(),
        width: w,
        pitch: 3 * w,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    c.compress_to_vec(image).map_err(jpeg_failed)
}

/// libjpeg-turbo's compressor with the outputs' settings: `quality`, and optimised Huffman tables (a few
/// percent smaller, written by libjpeg-turbo itself, so every decoder reads them).
pub(super) fn jpeg_compressor(quality: u8) -> Result<turbojpeg::Compressor, ProcessError> {
    let mut c = turbojpeg::Compressor::new().map_err(jpeg_failed)?;
    c.set_quality(quality as i32).map_err(jpeg_failed)?;
    c.set_optimize(true).map_err(jpeg_failed)?;
    Ok(c)
}

/// A libjpeg-turbo error as the encode failure it is.
pub(super) fn jpeg_failed(e: turbojpeg::Error) -> ProcessError {
    ProcessError::Encode("jpeg", e.to_string())
}

/// RGB with transparent pixels composited over `bg`.
fn flatten(img: &DynamicImage, bg: [u8; 3]) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(i) => i.clone(),
        other if !other.color().has_alpha() => other.to_rgb8(),
        other => {
            let rgba = other.to_rgba8();
            let mut out = RgbImage::new(rgba.width(), rgba.height());
            for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
                let a = p[3] as u32;
                for c in 0..3 {
                    o[c] = ((p[c] as u32 * a + bg[c] as u32 * (255 - a) + 127) / 255) as u8;
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_output_decodes_back_to_the_same_picture() {
        // A photo-like gradient: flat test images hide entropy-coding bugs.
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(300, 200, |x, y| {
            image::Rgb([(x * 255 / 300) as u8, (y * 255 / 200) as u8, ((x + y) / 2 % 256) as u8])
        }));
        let bytes = encode(&img, ImageFormat::Jpeg, 90, [255, 255, 255]).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let orig = img.to_rgb8();
        let diff: u64 = back.as_raw().iter().zip(orig.as_raw()).map(|(a, b)| a.abs_diff(*b) as u64).sum();
        let mean = diff as f64 / orig.as_raw().len() as f64;
        assert!(mean < 4.0, "mean difference {mean}");
    }

    #[test]
    fn transparent_pixels_take_the_background() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 0])));
        let rgb = flatten(&img, [10, 20, 30]);
        assert_eq!(rgb.get_pixel(0, 0).0, [10, 20, 30]);
    }
}
