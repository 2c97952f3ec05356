//! What an upload is, decided from its first bytes (never from its name or the client's Content-Type).

use crate::model::MediaKind;

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_BYTES: usize = 4096;

/// A recognised upload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub kind: MediaKind,
    pub mime: &'static str,
}

/// Classifies the first bytes of an upload; `None` for anything mediamill does not process.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let t = infer::get(head)?;
    let mime = t.mime_type();
    let kind = match mime {
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/tiff" | "image/bmp" | "image/avif"
        | "image/heif" | "image/heic" => MediaKind::Image,
        "video/mp4" | "video/quicktime" | "video/webm" | "video/x-matroska" | "video/x-msvideo" | "video/mpeg"
        | "video/x-m4v" => MediaKind::Video,
        "audio/mpeg" | "audio/m4a" | "audio/x-m4a" | "audio/aac" | "audio/ogg" | "audio/x-flac" | "audio/x-wav"
        | "audio/opus" => MediaKind::Audio,
        _ => return None,
    };
    Some(Sniffed { kind, mime })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_magic_bytes() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert_eq!(sniff(&jpeg).map(|s| s.mime), Some("image/jpeg"));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png).map(|s| s.kind), Some(MediaKind::Image));
        let mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";
        assert_eq!(sniff(mp4).map(|s| s.kind), Some(MediaKind::Video));
        let wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0";
        assert_eq!(sniff(wav).map(|s| s.kind), Some(MediaKind::Audio));
    }

    #[test]
    fn refuses_what_is_not_media() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"hello, I am a text file named photo.jpg"), None);
        assert_eq!(sniff(b"PK\x03\x04 a zip"), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(&[0xFF]), None, "truncated magic");
    }
}
