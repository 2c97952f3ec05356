//! JPEG and WebP written straight from 4:2:0 planes: libjpeg-turbo's and libwebp's own entry points for
//! YCbCr input, with the settings of the RGB encoders (`super::super::encode`).

use std::borrow::Cow;
use std::mem::MaybeUninit;

use image::GrayImage;

use libwebp_sys as webp;
use mediamill_core::config::ImageFormat;

use super::Ycc;
use crate::failure::ProcessError;

/// Encodes 4:2:0 planes (as [`super::resize::resize`] makes them) as JPEG, or WebP for `webp` and `auto`.
pub(in crate::image) fn encode(p: &Ycc, format: ImageFormat, quality: u8) -> Result<Vec<u8>, ProcessError> {
    debug_assert_eq!(p.step, (2, 2), "outputs are 4:2:0");
    match format {
        ImageFormat::Jpeg => jpeg(p, quality),
        ImageFormat::Webp | ImageFormat::Auto => webp(p, quality),
        ImageFormat::Avif => Err(ProcessError::Encode("avif", "AVIF is encoded from RGB, not from planes".into())),
    }
}

fn jpeg(p: &Ycc, quality: u8) -> Result<Vec<u8>, ProcessError> {
    let mut c = crate::image::encode::jpeg_compressor(quality)?;
    let y = padded_luma(&p.y);
    let image = turbojpeg::YuvPlanesImage {
        y_plane: y.as_raw().as_slice(),
        u_plane: p.cb.as_raw().as_slice(),
        v_plane: p.cr.as_raw().as_slice(),
        width: p.width() as usize,
        height: p.height() as usize,
        y_stride: y.width() as usize,
        u_stride: p.cb.width() as usize,
        v_stride: p.cr.width() as usize,
        subsamp: turbojpeg::Subsamp::Sub2x2,
    };
    c.compress_yuv_planes_to_vec(&image).map_err(crate::image::encode::jpeg_failed)
}

/// Luma padded to whole chroma samples, as libjpeg-turbo reads it: an odd width or height repeats its last
/// column or row.
fn padded_luma(y: &GrayImage) -> Cow<'_, GrayImage> {
    let (w, h) = y.dimensions();
    let (pw, ph) = (w.next_multiple_of(2), h.next_multiple_of(2));
    if (pw, ph) == (w, h) {
        return Cow::Borrowed(y);
    }
    let mut out = Vec::with_capacity((pw * ph) as usize);
    for row in y.as_raw().chunks_exact(w as usize) {
        out.extend_from_slice(row);
        out.extend(std::iter::repeat_n(row[row.len() - 1], (pw - w) as usize));
    }
    let last = out[out.len() - pw as usize..].to_vec();
    for _ in h..ph {
        out.extend_from_slice(&last);
    }
    GrayImage::from_raw(pw, ph, out).map_or(Cow::Borrowed(y), Cow::Owned)
}

fn webp(p: &Ycc, quality: u8) -> Result<Vec<u8>, ProcessError> {
    let fail = |what: String| ProcessError::Encode("webp", what);
    let mut config = webp::WebPConfig::new().map_err(|_| fail("libwebp version mismatch".into()))?;
    config.quality = quality as f32;
    let mut pic = webp::WebPPicture::new().map_err(|_| fail("libwebp version mismatch".into()))?;
    pic.use_argb = 0;
    pic.colorspace = webp::WebPEncCSP::WEBP_YUV420;
    pic.width = p.width() as i32;
    pic.height = p.height() as i32;
    // libwebp only reads the planes of a YUV picture; its struct has mutable pointers for pictures it fills.
    pic.y = p.y.as_ptr().cast_mut();
    pic.u = p.cb.as_ptr().cast_mut();
    pic.v = p.cr.as_ptr().cast_mut();
    pic.y_stride = p.y.width() as i32;
    pic.uv_stride = p.cb.width() as i32;
    let mut writer = MaybeUninit::<webp::WebPMemoryWriter>::uninit();
    // SAFETY: the writer is initialised before libwebp writes through it, the planes outlive the call and hold
    // width × height and (width/2) × (height/2) samples (rounded up) as the strides say; the picture owns no
    // memory of its own (no WebPPictureAlloc), so freeing it only clears what the encoder may have allocated.
    unsafe {
        webp::WebPMemoryWriterInit(writer.as_mut_ptr());
        pic.writer = Some(webp::WebPMemoryWrite);
        pic.custom_ptr = writer.as_mut_ptr().cast();
        let ok = webp::WebPEncode(&config, &mut pic);
        let mut writer = writer.assume_init();
        let out = if ok != 0 && !writer.mem.is_null() {
            Ok(std::slice::from_raw_parts(writer.mem, writer.size).to_vec())
        } else {
            Err(fail(format!("{:?}", pic.error_code)))
        };
        webp::WebPMemoryWriterClear(&mut writer);
        webp::WebPPictureFree(&mut pic);
        out
    }
}
