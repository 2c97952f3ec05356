//! Planes resized to an output's size, with chroma at 4:2:0 whatever the source's subsampling: the resize of
//! each chroma plane is also its subsampling, so no separate step averages chroma down.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::GrayImage;

use super::Ycc;

/// Chroma's filter: Catmull-Rom, the sharp cubic video scalers use for chroma; Lanczos3's wider support costs a
/// tenth of the resize more for detail the eye hardly resolves in colour, which the output halves again.
const CHROMA: FilterType = FilterType::CatmullRom;
use crate::failure::ProcessError;

/// `src` with `w`×`h` luma and 4:2:0 chroma (`w/2`×`h/2`, rounded up): luma with Lanczos3, as the RGB path.
pub(in crate::image) fn resize(src: &Ycc, w: u32, h: u32) -> Result<Ycc, ProcessError> {
    let (sw, sh) = (src.width(), src.height());
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    if (sw, sh) == (w, h) && src.step == (2, 2) {
        return Ok(src.clone());
    }
    let mut r = Resizer::new();
    let y = if (sw, sh) == (w, h) {
        src.y.clone()
    } else {
        plane(&mut r, &src.y, (sw as f64, sh as f64), w, h, FilterType::Lanczos3)?
    };
    // An output chroma sample stands for 2 output luma samples across, which are 2·sw/w source luma samples,
    // which are that over the source's step in source chroma samples. With an odd size the last output chroma
    // sample reaches past the picture, as the decoder's does: the extent is capped at the plane.
    let extent = |out: u32, scale: f64, step: u32, have: u32| (out as f64 * 2.0 * scale / step as f64).min(have as f64);
    let cx = extent(cw, sw as f64 / w as f64, src.step.0, src.cb.width());
    let cy = extent(ch, sh as f64 / h as f64, src.step.1, src.cb.height());
    let cb = plane(&mut r, &src.cb, (cx, cy), cw, ch, CHROMA)?;
    let cr = plane(&mut r, &src.cr, (cx, cy), cw, ch, CHROMA)?;
    Ok(Ycc { y, cb, cr, step: (2, 2) })
}

/// The `extent` (width, height) at the top left of `src`, resized to `w`×`h` with `filter`.
fn plane(
    r: &mut Resizer,
    src: &GrayImage,
    extent: (f64, f64),
    w: u32,
    h: u32,
    filter: FilterType,
) -> Result<GrayImage, ProcessError> {
    let mut dst = GrayImage::new(w, h);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)).crop(0.0, 0.0, extent.0, extent.1);
    r.resize(src, &mut dst, &opts).map_err(|e| ProcessError::Encode("resize", e.to_string()))?;
    Ok(dst)
}
