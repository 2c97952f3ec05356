//! Zip archives of a batch: the body is spooled to a temporary file (memory stays flat), the central
//! directory is checked as a whole before any entry is read, then entries are streamed one by one into the
//! ordinary upload path.
//!
//! Refused outright, naming the entry or the limit: more entries than `limits.max_archive_entries`, more
//! expanded bytes than `limits.max_archive_expanded_bytes`, an entry whose compression ratio exceeds
//! `limits.max_compression_ratio` (a zip bomb), absolute or `..` names, symlink entries. Skipped and listed:
//! nested archives and files that are not media.

use std::io::Read;

use axum::http::StatusCode;
use bytes::Bytes;
use mediamill_core::config::Limits;
use tokio::sync::mpsc;

use crate::error::ApiError;

/// An entry worth uploading: its index in the archive, name and declared size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: usize,
    pub name: String,
    pub size: u64,
}

/// The checked table of contents.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<Entry>,
    /// (name, reason) of entries that will not be uploaded.
    pub skipped: Vec<(String, String)>,
}

fn unsafe_archive(msg: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unsafe_archive", msg)
}

fn bomb(msg: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "zip_bomb", msg)
}

/// Reads and checks the central directory of the zip at `path`.
pub fn plan(path: &std::path::Path, limits: &Limits) -> Result<Plan, ApiError> {
    let f = std::fs::File::open(path).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut zip = zip::ZipArchive::new(f)
        .map_err(|e| ApiError::bad_request("bad_archive", format!("not a readable zip archive: {e}")))?;
    if zip.len() as u64 > limits.max_archive_entries {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_entries",
            format!("the archive has {} entries; the limit is {} (limits.max_archive_entries)", zip.len(), limits.max_archive_entries),
        ));
    }
    let mut plan = Plan::default();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let e = zip.by_index_raw(i).map_err(|e| ApiError::bad_request("bad_archive", format!("entry {i}: {e}")))?;
        let name = e.name().map_err(|err| ApiError::bad_request("bad_archive", format!("entry {i} has an unreadable name: {err}")))?.to_string();
        let parts: Vec<&str> = name.split(['/', '\\']).collect();
        if name.starts_with('/') || name.starts_with('\\') || name.contains(':') || parts.contains(&"..") || e.enclosed_name().is_none() {
            return Err(unsafe_archive(format!("entry {name:?} would escape its folder (absolute or '..' path)")));
        }
        if e.is_symlink() {
            return Err(unsafe_archive(format!("entry {name:?} is a symbolic link")));
        }
        if e.is_dir() {
            continue;
        }
        let (size, packed) = (e.size(), e.compressed_size());
        if size > packed.max(1) * limits.max_compression_ratio {
            return Err(bomb(format!(
                "entry {name:?} expands {size} bytes from {packed}; the most allowed is {}× (limits.max_compression_ratio)",
                limits.max_compression_ratio
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_archive_expanded_bytes {
            return Err(bomb(format!(
                "the entries expand to more than {} bytes (limits.max_archive_expanded_bytes)",
                limits.max_archive_expanded_bytes
            )));
        }
        plan.entries.push(Entry { index: i, name, size });
    }
    Ok(plan)
}

/// Streams one entry's bytes (in 256 KiB chunks) into `tx`; stops with an error if the entry turns out
/// longer than it declared (a lying header). Nested archives are found before, by [`is_nested_archive`].
pub fn stream_entry(path: &std::path::Path, e: &Entry, tx: mpsc::Sender<Result<Bytes, String>>) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| e.to_string())?;
    let mut r = zip.by_index(e.index).map_err(|e| e.to_string())?;
    let mut sent = 0u64;
    loop {
        let mut buf = vec![0u8; 256 * 1024];
        let n = r.read(&mut buf).map_err(|err| format!("entry {}: {err}", e.name))?;
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        sent += n as u64;
        if sent > e.size {
            let _ = tx.blocking_send(Err(format!("entry {} is longer than its header says", e.name)));
            return Err("lying_header".into());
        }
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return Ok(()); // the receiver stopped (the upload was refused)
        }
    }
}

/// Peeks at an entry's first bytes to see whether it is itself an archive.
pub fn is_nested_archive(path: &std::path::Path, e: &Entry) -> bool {
    let Ok(f) = std::fs::File::open(path) else { return false };
    let Ok(mut zip) = zip::ZipArchive::new(f) else { return false };
    let Ok(mut r) = zip.by_index(e.index) else { return false };
    let mut head = vec![0u8; 512];
    let n = r.read(&mut head).unwrap_or(0);
    infer::is_archive(&head[..n])
}
