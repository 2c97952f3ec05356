//! The variants of a picture held in planes: the same cascade as the RGB path (`super::super::render`), each
//! output turned upright only after its resize, so orientation costs a pass over output samples, not source ones.

use std::borrow::Cow;

use image::metadata::Orientation;
use mediamill_core::config::VariantSpec;

use super::{encode, resize, Ycc};
use crate::failure::ProcessError;
use crate::image::{fit_long_edge, resolve, rights, stages, Output};

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
    let mut order: Vec<&VariantSpec> = variants.iter().collect();
    order.sort_by_key(|v| std::cmp::Reverse(v.long_edge));
    let mut outputs = Vec::new();
    let mut smallest: Option<Ycc> = None;
    for spec in order {
        let (tw, th) = fit_long_edge(w, h, spec.long_edge);
        let (sw, sh) = stored(tw, th);
        let from = match &smallest {
            Some(prev) if prev.width() >= sw * 2 && prev.height() >= sh * 2 => prev,
            _ => src,
        };
        let resized = resize::resize(from, sw, sh)?;
        stages::mark(|| format!("resize {}", spec.long_edge));
        let upright = resized.upright(orientation);
        let mut formats: Vec<_> = spec.formats.iter().map(|f| resolve(*f, tw, th)).collect();
        formats.dedup();
        for format in formats {
            let mut bytes = encode::encode(&upright, format, spec.quality)?;
            if let Some(exif) = rights_exif {
                bytes = rights::embed(bytes, format, exif)?;
            }
            stages::mark(|| format!("encode {} {}", spec.long_edge, format.ext()));
            outputs.push(Output { name: spec.name.clone(), format, width: tw, height: th, bytes });
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
