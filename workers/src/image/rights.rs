//! Keeping the author's rights in outputs when asked (`image.keep_rights`): a fresh EXIF block holding only
//! `Artist` and `Copyright`, written into JPEG and WebP outputs. Nothing else of the source's metadata (GPS,
//! camera serials, thumbnails) can ride along, because the block is built from those two strings alone.

use exif::experimental::Writer;
use exif::{Field, In, Tag, Value};
use img_parts::{Bytes, ImageEXIF};
use mediamill_core::config::ImageFormat;

use crate::failure::ProcessError;

/// A minimal EXIF (TIFF) block with the given `Artist` and `Copyright`; `None` when both are absent.
pub fn exif_block(artist: Option<&str>, copyright: Option<&str>) -> Option<Vec<u8>> {
    let fields: Vec<Field> = [(Tag::Artist, artist), (Tag::Copyright, copyright)]
        .into_iter()
        .filter_map(|(tag, v)| {
            v.map(|v| Field { tag, ifd_num: In::PRIMARY, value: Value::Ascii(vec![v.as_bytes().to_vec()]) })
        })
        .collect();
    if fields.is_empty() {
        return None;
    }
    let mut w = Writer::new();
    fields.iter().for_each(|f| w.push_field(f));
    let mut out = std::io::Cursor::new(Vec::new());
    w.write(&mut out, false).ok()?;
    Some(out.into_inner())
}

/// Puts `exif` into an encoded JPEG or WebP.
pub fn embed(encoded: Vec<u8>, format: ImageFormat, exif: &[u8]) -> Result<Vec<u8>, ProcessError> {
    let fail = |e: img_parts::Error| ProcessError::Encode("exif", e.to_string());
    let exif = Some(Bytes::copy_from_slice(exif));
    let out = match format {
        ImageFormat::Jpeg => {
            let mut j = img_parts::jpeg::Jpeg::from_bytes(encoded.into()).map_err(fail)?;
            j.set_exif(exif);
            j.encoder().bytes()
        }
        // AVIF carries EXIF as a HEIF item, which img-parts cannot write: rights are not kept there.
        ImageFormat::Avif => return Ok(encoded),
        ImageFormat::Webp | ImageFormat::Auto => {
            let mut w = img_parts::webp::WebP::from_bytes(encoded.into()).map_err(fail)?;
            w.set_exif(exif);
            w.encoder().bytes()
        }
    };
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_artist_and_copyright_go_in() {
        assert!(exif_block(None, None).is_none());
        let block = exif_block(Some("Ada"), Some("(c) ACME")).expect("block");
        let ex = exif::Reader::new().read_raw(block).expect("valid EXIF");
        let fields: Vec<String> = ex.fields().map(|f| format!("{}={}", f.tag, f.display_value())).collect();
        assert_eq!(fields, ["Artist=\"Ada\"", "Copyright=\"(c) ACME\""]);
    }
}
