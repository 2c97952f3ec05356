//! JPEG sources kept in the decoder's own YCbCr planes from decode to encode. A JPEG stores luma and two
//! (usually subsampled) chroma planes, and JPEG and WebP outputs store the same 4:2:0 planes again: going
//! through RGB in between costs the decoder's chroma upsampling and colour conversion, a resize of three
//! full-size channels, and the encoder's colour conversion and chroma downsampling. In the planes the decoder
//! runs its scaled IDCT on the small chroma planes, the resize moves 1.5 channels' worth of samples instead of
//! 3, and both encoders take the planes as they are.
//!
//! Taken only where it gives the same picture: a YCbCr JPEG whose colours need no ICC conversion, and outputs
//! that are JPEG or WebP. Everything else goes the RGB way (`super::decode`).

mod encode;
mod render;
mod resize;
mod rows4;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use mediamill_core::config::{ImageFormat, VariantSpec};

pub(super) use encode::encode;
pub(super) use render::render;
pub(super) use resize::resize;

use super::decode::{jpeg_scale, scale_name, Probe};

/// A picture as JPEG stores it: full-resolution luma and two chroma planes, each chroma sample standing for
/// `step` luma samples across and down.
#[derive(Clone)]
pub(super) struct Ycc {
    /// Luma.
    pub y: GrayImage,
    /// Blue-difference chroma.
    pub cb: GrayImage,
    /// Red-difference chroma.
    pub cr: GrayImage,
    /// Luma samples per chroma sample, across and down: (2, 2) for 4:2:0, (1, 1) for 4:4:4.
    pub step: (u32, u32),
}

/// Whether every output of `variants` can be written from planes (JPEG and WebP can; AVIF is encoded from RGB).
pub(super) fn serves(variants: &[VariantSpec]) -> bool {
    variants
        .iter()
        .flat_map(|v| &v.formats)
        .all(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Webp | ImageFormat::Auto))
}

/// Decodes the probed JPEG into planes at the smallest M/8 scale whose long edge covers `long_edge`; `None` when
/// it is not a JPEG, its colours need an ICC conversion, or libjpeg-turbo cannot give YCbCr planes for it
/// (greyscale, CMYK, a decode error): the caller then decodes it to RGB.
pub(in crate::image) fn decode(probe: &Probe<'_>, bytes: &[u8], long_edge: u32) -> Option<Ycc> {
    if probe.format != image::ImageFormat::Jpeg || super::colour::needs_conversion(probe.icc.as_deref()) {
        return None;
    }
    let mut d = turbojpeg::Decompressor::new().ok()?;
    let header = d.read_header(bytes).ok()?;
    if header.colorspace != turbojpeg::Colorspace::YCbCr || header.is_lossless {
        return None;
    }
    let step = match header.subsamp {
        turbojpeg::Subsamp::Sub2x2 => (2, 2),
        turbojpeg::Subsamp::Sub2x1 => (2, 1),
        turbojpeg::Subsamp::None => (1, 1),
        turbojpeg::Subsamp::Sub1x2 => (1, 2),
        turbojpeg::Subsamp::Sub4x1 => (4, 1),
        turbojpeg::Subsamp::Sub1x4 => (1, 4),
        _ => return None,
    };
    let scale =
        jpeg_scale(header.width as u32, header.height as u32, long_edge).unwrap_or(turbojpeg::ScalingFactor::ONE);
    d.set_scaling_factor(scale).ok()?;
    let scaled = header.scaled(scale);
    let (w, h) = (scaled.width, scaled.height);
    // libjpeg-turbo pads luma to whole chroma samples (an odd width has a luma column more in the plane).
    let (sx, sy) = (step.0 as usize, step.1 as usize);
    let (yw, yh) = (w.next_multiple_of(sx), h.next_multiple_of(sy));
    let (cw, ch) = (yw / sx, yh / sy);
    let mut yuv = turbojpeg::YuvImage {
        pixels: vec![0u8; yw * yh + 2 * cw * ch],
        width: w,
        align: 1,
        height: h,
        subsamp: header.subsamp,
    };
    d.decompress_to_yuv(bytes, yuv.as_deref_mut()).ok()?;
    let mut pixels = yuv.pixels;
    let cr = pixels.split_off(yw * yh + cw * ch);
    let cb = pixels.split_off(yw * yh);
    let mut y = GrayImage::from_raw(yw as u32, yh as u32, pixels)?;
    if (yw, yh) != (w, h) {
        y = image::imageops::crop_imm(&y, 0, 0, w as u32, h as u32).to_image();
    }
    let planes = Ycc {
        y,
        cb: GrayImage::from_raw(cw as u32, ch as u32, cb)?,
        cr: GrayImage::from_raw(cw as u32, ch as u32, cr)?,
        step,
    };
    super::stages::mark(|| format!("decode {} planes", scale_name(probe.width, w as u32)));
    Some(planes)
}

impl Ycc {
    /// Luma width.
    pub fn width(&self) -> u32 {
        self.y.width()
    }

    /// Luma height.
    pub fn height(&self) -> u32 {
        self.y.height()
    }

    /// The planes turned upright by an EXIF orientation; luma and chroma turn alike, so the step is kept across
    /// a flip and swapped by a quarter turn.
    pub fn orient(self, o: Orientation) -> Ycc {
        if o == Orientation::NoTransforms {
            return self;
        }
        let turn = |p: GrayImage| {
            let mut d = DynamicImage::ImageLuma8(p);
            d.apply_orientation(o);
            d.into_luma8()
        };
        let step = if o.to_exif() >= 5 { (self.step.1, self.step.0) } else { self.step };
        Ycc { y: turn(self.y), cb: turn(self.cb), cr: turn(self.cr), step }
    }

    /// RGB (JFIF's full-range BT.601) of these planes shrunk to fit `edge`, each chroma sample spread over the
    /// luma samples it stands for: for placeholders, which need no more than a hundred pixels a side.
    pub fn to_rgb_within(&self, edge: u32) -> Result<RgbImage, crate::failure::ProcessError> {
        if self.width().max(self.height()) > edge {
            let (w, h) = super::fit_long_edge(self.width(), self.height(), edge);
            return resize::resize(self, w, h)?.to_rgb_within(edge);
        }
        let (sx, sy) = self.step;
        let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        Ok(RgbImage::from_fn(self.width(), self.height(), |x, y| {
            let (cx, cy) = ((x / sx).min(self.cb.width() - 1), (y / sy).min(self.cb.height() - 1));
            let l = self.y.get_pixel(x, y)[0] as f32;
            let b = self.cb.get_pixel(cx, cy)[0] as f32 - 128.0;
            let r = self.cr.get_pixel(cx, cy)[0] as f32 - 128.0;
            image::Rgb([clamp(l + 1.402 * r), clamp(l - 0.344_136 * b - 0.714_136 * r), clamp(l + 1.772 * b)])
        }))
    }
}

#[cfg(test)]
mod tests;
