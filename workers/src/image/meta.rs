//! Facts extracted from a source image: camera and capture time from EXIF, whether it carries a GPS position
//! (the coordinates only when the tenant asks), and compact placeholders (blurhash, thumbhash, dominant colour)
//! computed from a small copy of the upright image.

use base64::Engine;
use image::DynamicImage;
use serde::{Deserialize, Serialize};

/// What EXIF says about a photo.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExifFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `Make`.
    pub camera_make: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `Model`.
    pub camera_model: Option<String>,
    /// `DateTimeOriginal` as written by the camera (`YYYY:MM:DD HH:MM:SS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
    /// Whether the photo carries GPS coordinates (the coordinates themselves are in `gps`).
    pub gps_present: bool,
    /// (latitude, longitude) in degrees; kept out of records unless asked for.
    #[serde(skip)]
    pub gps: Option<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `Copyright`.
    pub copyright: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `Artist`.
    pub artist: Option<String>,
}

fn text(f: &exif::Field) -> Option<String> {
    match &f.value {
        exif::Value::Ascii(v) => {
            v.first().map(|s| String::from_utf8_lossy(s).trim().trim_end_matches('\0').to_string())
        }
        _ => Some(f.display_value().to_string()),
    }
    .filter(|s| !s.is_empty())
}

fn degrees(f: Option<&exif::Field>) -> Option<f64> {
    match &f?.value {
        exif::Value::Rational(r) if r.len() >= 3 => Some(r[0].to_f64() + r[1].to_f64() / 60.0 + r[2].to_f64() / 3600.0),
        _ => None,
    }
}

/// Reads the facts from raw EXIF (a TIFF structure, as decoders hand it over). Broken EXIF yields defaults.
pub fn exif_facts(raw: &[u8]) -> ExifFacts {
    let Ok(ex) = exif::Reader::new().read_raw(raw.to_vec()) else { return ExifFacts::default() };
    let get = |t| ex.get_field(t, exif::In::PRIMARY);
    let lat = degrees(get(exif::Tag::GPSLatitude));
    let lon = degrees(get(exif::Tag::GPSLongitude));
    let sign = |t, neg: &str| get(t).and_then(text).map(|r| if r.starts_with(neg) { -1.0 } else { 1.0 }).unwrap_or(1.0);
    ExifFacts {
        camera_make: get(exif::Tag::Make).and_then(text),
        camera_model: get(exif::Tag::Model).and_then(text),
        captured_at: get(exif::Tag::DateTimeOriginal).or_else(|| get(exif::Tag::DateTime)).and_then(text),
        gps_present: lat.is_some() || lon.is_some(),
        gps: lat
            .zip(lon)
            .map(|(la, lo)| (la * sign(exif::Tag::GPSLatitudeRef, "S"), lo * sign(exif::Tag::GPSLongitudeRef, "W"))),
        copyright: get(exif::Tag::Copyright).and_then(text),
        artist: get(exif::Tag::Artist).and_then(text),
    }
}

/// Placeholders computed from the upright image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Placeholders {
    /// Blurhash of 4×3 components.
    pub blurhash: String,
    /// Base64 of the thumbhash bytes.
    pub thumbhash: String,
    /// `#rrggbb`: the most common colour of the image (coarse bins, their pixels averaged).
    pub dominant_colour: String,
}

/// The longest side the dominant colour is counted on (and the most thumbhash takes).
pub const PLACEHOLDER_EDGE: u32 = 100;

/// The longest side the two hashes are computed from. Blurhash keeps 4×3 cosine components and thumbhash at
/// most 7 a side, which a 32 px copy holds as well as a 100 px one; both cost a cosine per pixel and component,
/// so the smaller copy makes them ten times cheaper (about 0.9 ms of a photo's 50).
const HASH_EDGE: u32 = 32;

/// Blurhash (4×3 components) and thumbhash from a copy of at most 32×32 pixels, dominant colour from one of at
/// most 100×100.
pub fn placeholders(img: &DynamicImage) -> Placeholders {
    let small = img.thumbnail(PLACEHOLDER_EDGE, PLACEHOLDER_EDGE);
    // Shrunk in the source's own colour type: an opaque picture shrunk as RGBA can come out with alpha 254,
    // which thumbhash would take for transparency.
    let tiny = small.thumbnail(HASH_EDGE, HASH_EDGE).to_rgba8();
    let small = small.to_rgba8();
    let (w, h) = tiny.dimensions();
    let blurhash = blurhash::encode(4, 3, w, h, tiny.as_raw()).unwrap_or_default();
    let thumbhash = base64::engine::general_purpose::STANDARD.encode(thumbhash::rgba_to_thumb_hash(
        w as usize,
        h as usize,
        tiny.as_raw(),
    ));
    let dominant_colour = dominant_colour(&small);
    Placeholders { blurhash, thumbhash, dominant_colour }
}

/// The most common colour, as `#rrggbb`: pixels are counted in 4096 bins (4 bits a channel) and the fullest bin's
/// pixels averaged, so a photo of blue sky over yellow sand is blue, not the grey a mean would give. Transparent
/// pixels do not count; an image with none opaque is black.
fn dominant_colour(img: &image::RgbaImage) -> String {
    let mut bins = vec![(0u32, [0u64; 3]); 4096];
    for p in img.pixels().filter(|p| p[3] >= 128) {
        let bin = &mut bins[((p[0] as usize >> 4) << 8) | ((p[1] as usize >> 4) << 4) | (p[2] as usize >> 4)];
        bin.0 += 1;
        for c in 0..3 {
            bin.1[c] += p[c] as u64;
        }
    }
    let (n, sum) = bins.iter().max_by_key(|b| b.0).copied().unwrap_or_default();
    let n = u64::from(n.max(1));
    format!("#{:02x}{:02x}{:02x}", sum[0] / n, sum[1] / n, sum[2] / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_exif_gives_defaults() {
        for raw in [&b""[..], b"II*\0", b"MM\0*\0\0\0\x08\xff\xff", &[0u8; 64][..]] {
            assert_eq!(exif_facts(raw), ExifFacts::default());
        }
    }

    #[test]
    fn placeholders_of_a_flat_image() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(300, 200, image::Rgb([200, 100, 50])));
        let p = placeholders(&img);
        assert_eq!(p.dominant_colour, "#c86432");
        assert!(p.blurhash.len() >= 6, "{}", p.blurhash);
        assert!(!p.thumbhash.is_empty());
    }

    #[test]
    fn hashes_from_the_small_copy_describe_the_picture_as_well_as_from_100_px() {
        // A sunset-like gradient with a dark band: what a placeholder has to get right.
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(400, 300, |x, y| {
            let band = if (120..180).contains(&y) { 0.3 } else { 1.0 };
            image::Rgb([((250 - x / 3) as f32 * band) as u8, ((80 + y / 3) as f32 * band) as u8, (x / 4) as u8])
        }));
        // How far a placeholder decoded at w×h is from the picture at that size, per sample.
        let error = |rgba: &[u8], w: u32, h: u32| {
            let truth = img.resize_exact(w, h, image::imageops::FilterType::Triangle).to_rgba8();
            rgba.iter().zip(truth.as_raw()).map(|(a, b)| a.abs_diff(*b) as f64).sum::<f64>() / rgba.len() as f64
        };
        let p = placeholders(&img);
        let full = img.thumbnail(PLACEHOLDER_EDGE, PLACEHOLDER_EDGE).to_rgba8();
        let (w, h) = full.dimensions();

        let ours = error(&blurhash::decode(&p.blurhash, 40, 30, 1.0).unwrap(), 40, 30);
        let from_100 = blurhash::encode(4, 3, w, h, full.as_raw()).unwrap();
        let theirs = error(&blurhash::decode(&from_100, 40, 30, 1.0).unwrap(), 40, 30);
        assert!(ours < theirs * 1.1 + 1.0, "blurhash: {ours} a sample off the picture, from 100 px {theirs}");

        use base64::Engine;
        let hash = base64::engine::general_purpose::STANDARD.decode(&p.thumbhash).unwrap();
        let (tw, th, rgba) = thumbhash::thumb_hash_to_rgba(&hash).unwrap();
        let ours = error(&rgba, tw as u32, th as u32);
        let from_100 = thumbhash::rgba_to_thumb_hash(w as usize, h as usize, full.as_raw());
        let (fw, fh, rgba) = thumbhash::thumb_hash_to_rgba(&from_100).unwrap();
        assert_eq!((tw, th), (fw, fh), "the same aspect, and no transparency taken for alpha");
        let theirs = error(&rgba, fw as u32, fh as u32);
        assert!(ours < theirs * 1.1 + 1.0, "thumbhash: {ours} a sample off the picture, from 100 px {theirs}");
    }

    #[test]
    fn the_dominant_colour_is_the_most_common_not_the_mean() {
        // Two thirds sky blue over one third sand yellow: the mean would be a grey-green nobody sees.
        let img = image::RgbaImage::from_fn(90, 90, |_, y| {
            if y < 60 {
                image::Rgba([40, 110, 220, 255])
            } else {
                image::Rgba([230, 200, 90, 255])
            }
        });
        assert_eq!(dominant_colour(&img), "#286edc");
        // Transparent pixels do not count, however many.
        let img = image::RgbaImage::from_fn(90, 90, |x, _| {
            if x < 80 {
                image::Rgba([255, 0, 0, 0])
            } else {
                image::Rgba([10, 20, 30, 255])
            }
        });
        assert_eq!(dominant_colour(&img), "#0a141e");
    }
}
