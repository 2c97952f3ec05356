use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};
use mediamill_core::config::{ImageFormat, VariantSpec};

use super::*;
use crate::image::decode::probe;

/// A photo-like picture whose four quadrants have distinct colours, so a wrong turn or a chroma plane out of
/// place shows.
fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let base = match (x < w / 2, y < h / 2) {
            (true, true) => [200, 40, 40],
            (false, true) => [40, 180, 40],
            (true, false) => [40, 40, 200],
            (false, false) => [220, 220, 60],
        };
        let t = ((x + 3 * y) % 17) as u8; // texture, so entropy coding has work to do
        image::Rgb([base[0] + t / 2, base[1] + t / 2, base[2] + t / 2])
    })
}

fn jpeg(img: &RgbImage, subsamp: turbojpeg::Subsamp) -> Vec<u8> {
    crate::image::encode::jpeg(img, 95, subsamp).unwrap()
}

fn near(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol)
}

#[test]
fn every_subsampling_decodes_to_planes_that_resize_to_the_same_picture() {
    let src = quadrants(403, 301); // odd sizes: padded luma, chroma reaching past the edge
    for subsamp in
        [turbojpeg::Subsamp::Sub2x2, turbojpeg::Subsamp::Sub2x1, turbojpeg::Subsamp::None, turbojpeg::Subsamp::Sub1x2]
    {
        let bytes = jpeg(&src, subsamp);
        let p = probe(&bytes, 1 << 20, 1).unwrap();
        let planes = decode(&p, &bytes, 403).unwrap_or_else(|| panic!("{subsamp:?} gives planes"));
        assert_eq!((planes.width(), planes.height()), (403, 301), "{subsamp:?}");
        let small = resize::resize(&planes, 101, 75).unwrap();
        assert_eq!((small.cb.width(), small.cb.height()), (51, 38), "4:2:0 chroma, rounded up");
        let rgb = small.to_rgb_within(u32::MAX).unwrap();
        for (x, y, want) in
            [(20, 15, [204, 44, 44]), (80, 15, [44, 184, 44]), (20, 60, [44, 44, 204]), (80, 60, [224, 224, 64])]
        {
            let got = rgb.get_pixel(x, y).0;
            assert!(near(got, want, 14), "{subsamp:?} at {x},{y}: {got:?} for {want:?}");
        }
    }
}

#[test]
fn planes_are_turned_upright_like_pixels() {
    let src = quadrants(64, 32);
    let bytes = jpeg(&src, turbojpeg::Subsamp::Sub2x2);
    let p = probe(&bytes, 1 << 20, 1).unwrap();
    let planes = decode(&p, &bytes, 64).unwrap();
    for o in [Orientation::Rotate90, Orientation::Rotate180, Orientation::FlipHorizontal, Orientation::Rotate90FlipH] {
        let mut want = DynamicImage::ImageRgb8(planes.to_rgb_within(u32::MAX).unwrap());
        want.apply_orientation(o);
        let got = planes.clone().orient(o);
        assert_eq!((got.width(), got.height()), (want.width(), want.height()), "{o:?}");
        let got = got.to_rgb_within(u32::MAX).unwrap();
        let want = want.to_rgb8();
        for (x, y) in [(2, 2), (got.width() - 3, 2), (2, got.height() - 3), (got.width() - 3, got.height() - 3)] {
            assert!(near(got.get_pixel(x, y).0, want.get_pixel(x, y).0, 2), "{o:?} at {x},{y}");
        }
    }
}

#[test]
fn outputs_from_planes_decode_back_to_the_picture_upright() {
    let src = quadrants(900, 600);
    let bytes = jpeg(&src, turbojpeg::Subsamp::Sub2x2);
    let p = probe(&bytes, 1 << 20, 1).unwrap();
    let planes = decode(&p, &bytes, 900).unwrap();
    let variants = vec![
        VariantSpec {
            name: "medium".into(),
            long_edge: 301,
            formats: vec![ImageFormat::Jpeg, ImageFormat::Webp],
            quality: 85,
        },
        VariantSpec { name: "thumb".into(), long_edge: 60, formats: vec![ImageFormat::Jpeg], quality: 85 },
    ];
    let (outputs, smallest) = render(&planes, Orientation::Rotate90, &variants, None).unwrap();
    assert_eq!(outputs.iter().map(|o| (o.width, o.height)).collect::<Vec<_>>(), [(40, 60), (201, 301), (201, 301)]);
    assert_eq!(smallest.map(|s| (s.width(), s.height())), Some((40, 60)));
    for o in &outputs {
        let back = image::load_from_memory(&o.bytes).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (o.width, o.height));
        // Turned a quarter clockwise: the source's bottom-left blue is now top left, its top-left red top right.
        let (w, h) = (o.width, o.height);
        assert!(
            near(back.get_pixel(w / 4, h / 4).0, [44, 44, 204], 20),
            "{:?} {:?}",
            o.format,
            back.get_pixel(w / 4, h / 4)
        );
        assert!(near(back.get_pixel(3 * w / 4, h / 4).0, [204, 44, 44], 20), "{:?}", o.format);
        assert!(near(back.get_pixel(3 * w / 4, 3 * h / 4).0, [44, 184, 44], 20), "{:?}", o.format);
    }
}

#[test]
fn only_ycbcr_jpegs_without_a_colour_conversion_take_planes() {
    let grey = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([(x * 3 + y) as u8]));
    let mut g = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut g, 90).encode_image(&grey).unwrap();
    assert!(decode(&probe(&g, 1 << 20, 1).unwrap(), &g, 64).is_none(), "greyscale goes the RGB way");
    let mut png = Vec::new();
    quadrants(32, 32).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    assert!(decode(&probe(&png, 1 << 20, 1).unwrap(), &png, 32).is_none(), "not a JPEG");
    assert!(!serves(&[VariantSpec { name: "a".into(), long_edge: 10, formats: vec![ImageFormat::Avif], quality: 50 }]));
    assert!(serves(&[VariantSpec {
        name: "a".into(),
        long_edge: 10,
        formats: vec![ImageFormat::Auto, ImageFormat::Jpeg],
        quality: 50
    }]));
}

#[test]
fn a_jpeg_through_planes_gets_the_metadata_and_placeholders_of_the_rgb_way() {
    // Mostly one colour, so the dominant colour has one clear winner.
    let picture = RgbImage::from_fn(1200, 800, |x, y| {
        if x > 900 && y > 500 {
            image::Rgb([30, 60, 200])
        } else {
            image::Rgb([200, 90, 40])
        }
    });
    let bytes = jpeg(&picture, turbojpeg::Subsamp::Sub2x2);
    let variants =
        vec![VariantSpec { name: "medium".into(), long_edge: 300, formats: vec![ImageFormat::Jpeg], quality: 80 }];
    let mut s = crate::image::ImageSettings {
        variants,
        max_pixels: 1 << 24,
        max_frames: 1,
        background: [255, 255, 255],
        keep_rights: false,
        decode_margin: 1.5,
    };
    let planes = crate::image::process(&bytes, &s).unwrap();
    s.variants[0].formats = vec![ImageFormat::Avif]; // AVIF is made from RGB: the other way, same source
    let pixels = crate::image::process(&bytes, &s).unwrap();
    let (a, b) = (&planes.metadata, &pixels.metadata);
    assert_eq!(
        (a.width, a.height, &a.format, a.orientation, a.has_alpha),
        (b.width, b.height, &b.format, b.orientation, b.has_alpha)
    );
    let rgb =
        |hex: &str| (1..7).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect::<Vec<_>>();
    let (da, db) = (rgb(&a.placeholders.dominant_colour), rgb(&b.placeholders.dominant_colour));
    assert!(da.iter().zip(&db).all(|(x, y)| x.abs_diff(*y) <= 4), "{da:?} {db:?}");
    assert!(da[0] > 180 && da[2] < 60, "the orange, not the blue corner: {da:?}");
    assert_eq!(a.placeholders.blurhash.len(), b.placeholders.blurhash.len());
    assert_eq!((planes.outputs[0].width, planes.outputs[0].height), (300, 200));
}
