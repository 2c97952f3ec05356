//! One plane's rows taken four at a time as the four channels of one row, and back.
//!
//! fast_image_resize's horizontal pass over a one-channel image works out each output sample on its own: a
//! few SIMD operations and a horizontal sum per sample, which made it four fifths of a luma resize. Over a
//! four-channel image the same arithmetic yields four samples at once. Rows are independent in a horizontal
//! pass, so four rows side by side, as the R, G, B and A of one row, come out exactly as four separate rows
//! would, in about half the time, and the two shuffles cost little beside it (both compile to vector code).

/// `plane` (`width` samples a row, `height` rows) as rows of `width` four-byte pixels: pixel `x` of row `g` is
/// sample `x` of rows `4g` to `4g + 3`. The last group repeats the last row where the plane runs out.
pub(super) fn interleave(plane: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut out = vec![0u8; height.div_ceil(4) * width * 4];
    if width == 0 || height == 0 {
        return out;
    }
    for (g, group) in out.chunks_exact_mut(width * 4).enumerate() {
        let row = |k: usize| {
            let y = (4 * g + k).min(height - 1);
            &plane[y * width..(y + 1) * width]
        };
        let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
        for ((((px, a), b), c), d) in group.chunks_exact_mut(4).zip(r0).zip(r1).zip(r2).zip(r3) {
            px.copy_from_slice(&[*a, *b, *c, *d]);
        }
    }
    out
}

/// The inverse of [`interleave`]: `height` rows of `width` samples from rows of `width` four-byte pixels; the
/// padding rows of the last group are dropped.
pub(super) fn deinterleave(pixels: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut out = vec![0u8; height.div_ceil(4) * width * 4];
    if width == 0 {
        return out;
    }
    for (group, rows) in pixels.chunks_exact(width * 4).zip(out.chunks_exact_mut(width * 4)) {
        let (r0, rest) = rows.split_at_mut(width);
        let (r1, rest) = rest.split_at_mut(width);
        let (r2, r3) = rest.split_at_mut(width);
        for ((((px, a), b), c), d) in group.chunks_exact(4).zip(r0).zip(r1).zip(r2).zip(r3) {
            (*a, *b, *c, *d) = (px[0], px[1], px[2], px[3]);
        }
    }
    out.truncate(width * height);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_go_side_by_side_and_come_back_whatever_the_height() {
        for (w, h) in [(5, 1), (5, 4), (3, 7), (1, 9), (0, 3)] {
            let plane: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
            let il = interleave(&plane, w, h);
            assert_eq!(il.len(), h.div_ceil(4) * w * 4, "{w}x{h}");
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(il[((y / 4) * w + x) * 4 + y % 4], plane[y * w + x], "{w}x{h} at {x},{y}");
                }
            }
            if h % 4 != 0 && w > 0 {
                // The padding repeats the last row, so a filter reaching past it sees an edge, not zeros.
                let last = (h.div_ceil(4) * 4 - 1) % 4;
                assert_eq!(il[((h / 4) * w) * 4 + last], plane[(h - 1) * w], "{w}x{h}");
            }
            assert_eq!(deinterleave(&il, w, h), plane, "{w}x{h}");
        }
    }
}
