//! Planes resized to an output's size, with chroma at 4:2:0 whatever the source's subsampling: the resize of
//! each chroma plane is also its subsampling, so no separate step averages chroma down.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::GrayImage;

use super::{rows4, Ycc};

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

/// The `extent` (width, height) at the top left of `src`, resized to `w`×`h` with `filter`, in two passes as
/// fast_image_resize itself makes them (down the columns, then along the rows, so the results are the same
/// to the bit): the second with four rows at a time ([`rows4`]), which halves its cost.
fn plane(
    r: &mut Resizer,
    src: &GrayImage,
    extent: (f64, f64),
    w: u32,
    h: u32,
    filter: FilterType,
) -> Result<GrayImage, ProcessError> {
    let failed = |e: &dyn std::fmt::Display| ProcessError::Encode("resize", e.to_string());
    let convolve = |filter| ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    let sw = src.width();
    if w == sw && extent.0 == sw as f64 {
        let mut dst = GrayImage::new(w, h);
        let opts = convolve(filter).crop(0.0, 0.0, extent.0, extent.1);
        r.resize(src, &mut dst, &opts).map_err(|e| failed(&e))?;
        return Ok(dst);
    }
    let mut columns = GrayImage::new(sw, h);
    r.resize(src, &mut columns, &convolve(filter).crop(0.0, 0.0, sw as f64, extent.1)).map_err(|e| failed(&e))?;
    let groups = h.div_ceil(4);
    let side_by_side = rows4::interleave(columns.as_raw(), sw as usize, h as usize);
    let four = ImageRef::new(sw, groups, &side_by_side, PixelType::U8x4).map_err(|e| failed(&e))?;
    let mut rows = Image::new(w, groups, PixelType::U8x4);
    // The four channels are four rows of one plane, not colour and alpha.
    let opts = convolve(filter).use_alpha(false).crop(0.0, 0.0, extent.0, groups as f64);
    r.resize(&four, &mut rows, &opts).map_err(|e| failed(&e))?;
    GrayImage::from_raw(w, h, rows4::deinterleave(rows.buffer(), w as usize, h as usize))
        .ok_or_else(|| failed(&"the plane's rows did not add up"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fast_image_resize's own resize in one call, the reference the two passes must match.
    fn one_call(src: &GrayImage, extent: (f64, f64), w: u32, h: u32, filter: FilterType) -> GrayImage {
        let mut dst = GrayImage::new(w, h);
        let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)).crop(0.0, 0.0, extent.0, extent.1);
        Resizer::new().resize(src, &mut dst, &opts).unwrap();
        dst
    }

    #[test]
    fn four_rows_at_a_time_give_the_same_samples_as_one_resize() {
        // Texture with hard edges, so Lanczos overshoots and the clamping between passes is exercised too.
        let src = GrayImage::from_fn(301, 203, |x, y| image::Luma([if (x / 7 + y / 5) % 2 == 0 { 250 } else { 3 }]));
        let mut r = Resizer::new();
        for (extent, w, h, filter) in [
            ((301.0, 203.0), 200, 135, FilterType::Lanczos3),
            ((301.0, 203.0), 97, 61, FilterType::Lanczos3),
            ((300.5, 202.5), 151, 102, CHROMA),
            ((301.0, 203.0), 301, 101, FilterType::Lanczos3),
            ((301.0, 203.0), 150, 203, FilterType::Lanczos3),
            ((301.0, 203.0), 5, 3, CHROMA),
        ] {
            let ours = plane(&mut r, &src, extent, w, h, filter).unwrap();
            assert!(ours == one_call(&src, extent, w, h, filter), "{w}x{h} from {extent:?} with {filter:?}");
        }
    }
}
