//! Which renditions a video gets: the configured ladder cut to the source's size, never upscaled.

use mediamill_core::config::Rendition;

/// One rendition to encode, with its output size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The rendition's name (`720p`…).
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
}

/// Output sizes for a source shown at `w`×`h`: every step whose short edge is below the source's, and
/// when no step is, the smallest step at the source's own size. Sizes keep the aspect ratio and are even
/// (4:2:0 chroma needs it).
pub fn targets(w: u32, h: u32, ladder: &[Rendition]) -> Vec<Target> {
    let source_short = w.min(h);
    let mut steps: Vec<&Rendition> = ladder.iter().collect();
    steps.sort_by_key(|r| std::cmp::Reverse(r.short_edge));
    let mut out: Vec<Target> = steps
        .iter()
        .filter(|r| r.short_edge < source_short)
        .map(|r| {
            let (tw, th) = scale_short_edge(w, h, r.short_edge);
            Target { name: r.name.clone(), width: tw, height: th }
        })
        .collect();
    if out.len() < steps.len() {
        // Steps at or above the source's size collapse into one at the source's size, named after the
        // smallest of them so the name still says which step it stands for.
        if let Some(r) = steps.iter().rev().find(|r| r.short_edge >= source_short) {
            out.insert(0, Target { name: r.name.clone(), width: even(w), height: even(h) });
        }
    }
    out
}

fn scale_short_edge(w: u32, h: u32, short: u32) -> (u32, u32) {
    let scaled = |long: u32, of: u32| (long as u64 * short as u64 / of.max(1) as u64) as u32;
    let (tw, th) = if w <= h { (short, scaled(h, w)) } else { (scaled(w, h), short) };
    (even(tw), even(th))
}

/// Rounds down to an even number, at least 2.
fn even(v: u32) -> u32 {
    (v & !1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Vec<Rendition> {
        [("1080p", 1080), ("720p", 720), ("480p", 480)]
            .into_iter()
            .map(|(n, s)| Rendition { name: n.into(), short_edge: s })
            .collect()
    }

    #[test]
    fn full_ladder_below_the_source() {
        let t = targets(1920, 1080, &ladder());
        let sizes: Vec<_> = t.iter().map(|t| (t.name.as_str(), t.width, t.height)).collect();
        assert_eq!(sizes, vec![("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 852, 480)]);
    }

    #[test]
    fn portrait_keeps_portrait() {
        let t = targets(1080, 1920, &ladder());
        assert_eq!((t[1].width, t[1].height), (720, 1280));
    }

    #[test]
    fn never_upscales_and_never_empty() {
        let t = targets(640, 360, &ladder());
        assert_eq!(t, vec![Target { name: "480p".into(), width: 640, height: 360 }]);
        let t = targets(161, 91, &ladder());
        assert_eq!((t[0].width, t[0].height), (160, 90), "odd sizes become even");
    }
}
