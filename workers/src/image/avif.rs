//! AVIF output through libheif's AV1 encoder (aom in Debian's build). Slow next to JPEG and WebP, so no
//! default variant asks for it; list `avif` in a variant's formats to get it.

use image::DynamicImage;
use libheif_rs::{Channel, ColorSpace, CompressionFormat, EncoderQuality, HeifContext, Image, RgbChroma};

use crate::failure::ProcessError;

fn fail(e: libheif_rs::HeifError) -> ProcessError {
    ProcessError::Encode("avif", e.message.trim().to_string())
}

/// Encodes an 8-bit RGB or RGBA copy of `img` as AVIF at `quality` (1–100).
pub fn encode(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, ProcessError> {
    let alpha = img.color().has_alpha();
    let (chroma, channels, raw) = if alpha {
        (RgbChroma::Rgba, 4usize, img.to_rgba8().into_raw())
    } else {
        (RgbChroma::Rgb, 3usize, img.to_rgb8().into_raw())
    };
    let (w, h) = (img.width(), img.height());
    let mut image = Image::new(w, h, ColorSpace::Rgb(chroma)).map_err(fail)?;
    image.create_plane(Channel::Interleaved, w, h, 8).map_err(fail)?;
    {
        let planes = image.planes_mut();
        let plane = planes.interleaved.ok_or_else(|| ProcessError::Encode("avif", "no interleaved plane".into()))?;
        let row = w as usize * channels;
        for (dst, src) in plane.data.chunks_mut(plane.stride).zip(raw.chunks(row)) {
            dst[..row].copy_from_slice(src);
        }
    }
    let mut ctx = HeifContext::new().map_err(fail)?;
    let mut encoder = ctx.encoder_for_format(CompressionFormat::Av1).map_err(fail)?;
    encoder.set_quality(EncoderQuality::Lossy(quality.min(100))).map_err(fail)?;
    ctx.encode_image(&image, &mut encoder, None).map_err(fail)?;
    ctx.write_to_bytes().map_err(fail)
}
