//! The variants of a picture held in planes: the same cascade as the RGB path (`super::super::render`), each
//! output turned upright only after its resize, so orientation costs a pass over output samples, not source ones.

use std::borrow::Cow;

use image::metadata::Orientation;
use mediamill_core::config::VariantSpec;

use super::{encode, resize, Ycc};
use crate::failure::ProcessError;
use crate::image::{fit_long_edge, formats_of, largest_first, output, stages, Output};

/// Makes `variants` from planes stored in `orientation`; returns the outputs, smallest first, and the smallest
/// output's planes, upright.
pub(in crate::image) fn render(
    src: &Ycc,
    orientation: Orientation,
    variants: &[VariantSpec],
    rights_exif: Option<&[u8]>,
) -> Result<(Vec<Output>, Option<Ycc>), ProcessError> {
    let turned = orientation.to_exif() >= 5;
    let stored = |w: u32, h: u32| if turned { (h, w) } else { (w, h) };
    let (w, h) = stored(src.width(), src.height());
    let mut outputs = Vec::new();
    let mut smallest: Option<Ycc> = None;
    for spec in largest_first(variants) {
        let (tw, th) = fit_long_edge(w, h, spec.long_edge);
        let (sw, sh) = stored(tw, th);
        let from = match &smallest {
            Some(prev) if prev.width() >= sw * 2 && prev.height() >= sh * 2 => prev,
            _ => src,
        };
        let resized = resize::resize(from, sw, sh)?;
        stages::mark(|| format!("resize {}", spec.long_edge));
        let upright = resized.upright(orientation);
        for format in formats_of(spec, tw, th) {
            let bytes = encode::encode(&upright, format, spec.quality)?;
            outputs.push(output(spec, format, (tw, th), bytes, rights_exif)?);
        }
        smallest = Some(resized);
    }
    outputs.sort_by_key(|o| (o.width, o.name.clone()));
    Ok((outputs, smallest.map(|s| s.upright(orientation).into_owned())))
}

impl Ycc {
    /// These planes turned upright, borrowed when they already are.
    pub(super) fn upright(&self, o: Orientation) -> Cow<'_, Ycc> {
        if o == Orientation::NoTransforms {
            Cow::Borrowed(self)
        } else {
            Cow::Owned(self.clone().orient(o))
        }
    }
}
