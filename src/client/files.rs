//! Which of the paths given are media: files as they are, folders walked recursively. Each candidate's first
//! bytes are sniffed with the server's own rule, so what the server would refuse is skipped here with the
//! same reason, before any byte is sent.

use std::io::Read;
use std::path::{Path, PathBuf};

use mediamill_core::sniff::{sniff, SNIFF_BYTES};

/// A file to upload.
#[derive(Debug, Clone)]
pub struct MediaFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time (seconds), part of its fingerprint.
    pub modified: u64,
}

/// A path not uploaded, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// The path.
    pub path: PathBuf,
    /// Why: `not_media`, `empty`, `unreadable`, `not_found`.
    pub reason: &'static str,
}

/// Every media file under `paths`, in a stable order, and what was skipped.
pub fn collect(paths: &[PathBuf]) -> (Vec<MediaFile>, Vec<Skipped>) {
    let (mut media, mut skipped) = (Vec::new(), Vec::new());
    for p in paths {
        if !p.exists() {
            skipped.push(Skipped { path: p.clone(), reason: "not_found" });
            continue;
        }
        // Symbolic links inside folders are not followed: a link loop or a link out of the folder is not
        // something a user means to upload.
        let mut entries: Vec<_> = walkdir::WalkDir::new(p).follow_links(false).into_iter().collect();
        entries.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => a.path().cmp(b.path()),
            _ => std::cmp::Ordering::Equal,
        });
        for e in entries {
            match e {
                Ok(e) if e.file_type().is_file() => match check(e.path()) {
                    Ok(f) => media.push(f),
                    Err(reason) => skipped.push(Skipped { path: e.path().to_path_buf(), reason }),
                },
                Ok(_) => {}
                Err(e) => skipped.push(Skipped {
                    path: e.path().map(Path::to_path_buf).unwrap_or_else(|| p.clone()),
                    reason: "unreadable",
                }),
            }
        }
    }
    (media, skipped)
}

fn check(path: &Path) -> Result<MediaFile, &'static str> {
    let meta = std::fs::metadata(path).map_err(|_| "unreadable")?;
    if meta.len() == 0 {
        return Err("empty");
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|_| "unreadable")?;
    sniff(&head).ok_or("not_media")?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(MediaFile { path: path.to_path_buf(), size: meta.len(), modified })
}
