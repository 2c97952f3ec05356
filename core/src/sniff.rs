//! What an upload is, decided from its first bytes (never from its name or the client's Content-Type).

use crate::model::MediaKind;

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_BYTES: usize = 4096;

/// A recognised upload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// What kind of media the bytes are.
    pub kind: MediaKind,
    /// Their MIME type.
    pub mime: &'static str,
}

/// Every type mediamill takes: (sniffed MIME type, kind, the name people know it by). The one list both
/// [`sniff`] and [`supported_formats`] read, so the refusal message cannot fall behind what is accepted.
pub const FORMATS: &[(&str, MediaKind, &str)] = &[
    ("image/jpeg", MediaKind::Image, "JPEG"),
    ("image/png", MediaKind::Image, "PNG"),
    ("image/gif", MediaKind::Image, "GIF"),
    ("image/webp", MediaKind::Image, "WebP"),
    ("image/tiff", MediaKind::Image, "TIFF"),
    ("image/bmp", MediaKind::Image, "BMP"),
    ("image/avif", MediaKind::Image, "AVIF"),
    ("image/heif", MediaKind::Image, "HEIF"),
    ("image/heic", MediaKind::Image, "HEIC"),
    ("video/mp4", MediaKind::Video, "MP4"),
    ("video/quicktime", MediaKind::Video, "MOV"),
    ("video/webm", MediaKind::Video, "WebM"),
    ("video/x-matroska", MediaKind::Video, "MKV"),
    ("video/x-msvideo", MediaKind::Video, "AVI"),
    ("video/mpeg", MediaKind::Video, "MPEG"),
    ("video/x-m4v", MediaKind::Video, "M4V"),
    ("audio/mpeg", MediaKind::Audio, "MP3"),
    ("audio/m4a", MediaKind::Audio, "M4A"),
    ("audio/x-m4a", MediaKind::Audio, "M4A"),
    ("audio/aac", MediaKind::Audio, "AAC"),
    ("audio/ogg", MediaKind::Audio, "Ogg"),
    ("audio/x-flac", MediaKind::Audio, "FLAC"),
    ("audio/x-wav", MediaKind::Audio, "WAV"),
    ("audio/opus", MediaKind::Audio, "Opus"),
];

/// Classifies the first bytes of an upload; `None` for anything mediamill does not process.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let t = infer::get(head)?;
    let mime = t.mime_type();
    let (mime, kind, _) = FORMATS.iter().find(|(m, _, _)| *m == mime)?;
    Some(Sniffed { kind: *kind, mime })
}

/// What is accepted, for people: `images: JPEG, PNG, …; videos: …; audio: …`.
pub fn supported_formats() -> String {
    let group = |kind: MediaKind| {
        let mut names: Vec<&str> = Vec::new();
        for (_, k, n) in FORMATS {
            if *k == kind && !names.contains(n) {
                names.push(n);
            }
        }
        names.join(", ")
    };
    format!(
        "images: {}; videos: {}; audio: {}",
        group(MediaKind::Image),
        group(MediaKind::Video),
        group(MediaKind::Audio)
    )
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
    fn the_list_of_formats_names_every_kind() {
        let s = supported_formats();
        for name in ["JPEG", "HEIC", "AVI", "MPEG", "MP3", "FLAC", "Opus"] {
            assert!(s.contains(name), "{s}");
        }
        assert!(s.starts_with("images: JPEG") && s.contains("; audio: MP3"), "{s}");
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
