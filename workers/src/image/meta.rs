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

/// The longest side placeholders are computed from (thumbhash's own limit).
pub const PLACEHOLDER_EDGE: u32 = 100;

/// Blurhash (4×3 components), thumbhash and dominant colour, from a copy of at most 100×100 pixels.
pub fn placeholders(img: &DynamicImage) -> Placeholders {
    let small = img.thumbnail(PLACEHOLDER_EDGE, PLACEHOLDER_EDGE).to_rgba8();
    let (w, h) = small.dimensions();
    let blurhash = blurhash::encode(4, 3, w, h, small.as_raw()).unwrap_or_default();
    let thumbhash = base64::engine::general_purpose::STANDARD.encode(thumbhash::rgba_to_thumb_hash(
        w as usize,
        h as usize,
        small.as_raw(),
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
