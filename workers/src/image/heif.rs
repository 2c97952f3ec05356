//! HEIC/HEIF (iPhone photos) and AVIF through libheif (Debian's, with libde265 and dav1d/aom behind it).
//! libheif applies the container's rotation and mirroring (`irot`/`imir`) while decoding; the EXIF
//! orientation of a HEIF is informational only and is not applied again.

use image::DynamicImage;
use libheif_rs::{ColorSpace, HeifContext, HeifError, HeifErrorCode, ItemId, RgbChroma};

use super::decoded::Decoded;
use crate::failure::ProcessError;

/// Whether `bytes` start an ISO-BMFF file with a HEIF or AVIF brand.
pub fn is_heif(bytes: &[u8]) -> bool {
    brand(bytes).is_some()
}

/// `heif` or `avif`, from the `ftyp` box's major and compatible brands.
fn brand(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = (u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize).clamp(16, bytes.len().min(256));
    let brands: Vec<&[u8]> = std::iter::once(&bytes[8..12]).chain(bytes[16..size].chunks_exact(4)).collect();
    if brands.iter().any(|b| matches!(*b, b"avif" | b"avis")) {
        Some("avif")
    } else if brands.iter().any(|b| matches!(*b, b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1")) {
        Some("heif")
    } else {
        None
    }
}

fn classify(e: HeifError) -> ProcessError {
    match e.code {
        HeifErrorCode::UnsupportedFileType | HeifErrorCode::UnsupportedFeature | HeifErrorCode::PluginLoadingError => {
            ProcessError::UnsupportedFormat(format!("HEIF: {}", e.message.trim()))
        }
        _ => ProcessError::Corrupt(format!("HEIF: {}", e.message.trim())),
    }
}

/// Decodes the primary image of a HEIF/AVIF file, refusing more than `max_pixels` before decoding.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, ProcessError> {
    let format = brand(bytes).ok_or_else(|| ProcessError::UnsupportedFormat("not a HEIF or AVIF file".into()))?;
    let ctx = HeifContext::read_from_bytes(bytes).map_err(classify)?;
    let handle = ctx.primary_image_handle().map_err(classify)?;
    let (w, h) = (handle.width(), handle.height());
    let pixels = w as u64 * h as u64;
    if pixels > max_pixels {
        return Err(ProcessError::TooManyPixels { width: w, height: h, pixels, limit: max_pixels });
    }
    if pixels == 0 {
        return Err(ProcessError::Corrupt("the image has no pixels".into()));
    }
    let alpha = handle.has_alpha_channel();
    let chroma = if alpha { RgbChroma::Rgba } else { RgbChroma::Rgb };
    let decoded = handle.decode(ColorSpace::Rgb(chroma), None).map_err(classify)?;
    let plane =
        decoded.planes().interleaved.ok_or_else(|| ProcessError::Corrupt("HEIF: no interleaved plane".into()))?;
    let channels = if alpha { 4 } else { 3 };
    let row = plane.width as usize * channels;
    let mut buf = Vec::with_capacity(row * plane.height as usize);
    for line in plane.data.chunks(plane.stride).take(plane.height as usize) {
        buf.extend_from_slice(line.get(..row).ok_or_else(|| ProcessError::Corrupt("HEIF: short row".into()))?);
    }
    let image = if alpha {
        image::RgbaImage::from_raw(plane.width, plane.height, buf).map(DynamicImage::ImageRgba8)
    } else {
        image::RgbImage::from_raw(plane.width, plane.height, buf).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| ProcessError::Corrupt("HEIF: impossible image size".into()))?;
    let icc = handle.color_profile_raw().map(|p| p.data).filter(|d| !d.is_empty());
    let image = super::colour::to_srgb(image, icc.as_deref());
    Ok(Decoded {
        width: image.width(),
        height: image.height(),
        image,
        format: format.into(),
        orientation: 1,
        exif: exif(&handle),
        icc_applied: icc.is_some(),
        frame_count: 1,
    })
}

/// The EXIF block, without the 4-byte offset HEIF puts before the TIFF header.
fn exif(handle: &libheif_rs::ImageHandle) -> Option<Vec<u8>> {
    let mut ids: [ItemId; 4] = [0; 4];
    let n = handle.metadata_block_ids(&mut ids, b"Exif");
    let raw = handle.metadata(*ids[..n].first()?).ok()?;
    let offset = u32::from_be_bytes(raw.get(..4)?.try_into().ok()?) as usize;
    raw.get(4 + offset..).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brands_are_recognised_and_hostile_headers_are_not() {
        let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        assert_eq!(brand(&heic), Some("heif"));
        heic[8..12].copy_from_slice(b"avif");
        assert_eq!(brand(&heic), Some("avif"));
        assert_eq!(brand(b"\0\0\0\x18ftypisom\0\0\0\0isomavc1"), None, "an MP4 is not a HEIF");
        assert_eq!(brand(b"\xff\xff\xff\xffftypmif1"), None, "too short");
        assert_eq!(brand(b"\xff\xff\xff\xffftypheic\0\0\0\0"), Some("heif"), "a lying box size is clamped");
        assert!(decode(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", 1_000_000).is_err());
    }
}
