//! Zip archives of a batch: the body is spooled to a temporary file (memory stays flat), the entry count is
//! read from the end-of-central-directory record before the directory is parsed, the directory is parsed
//! once and checked as a whole before any entry is read, then entries are streamed one by one into the
//! ordinary upload path from that one parse.
//!
//! Refused outright, naming the entry or the limit: more entries than `limits.max_archive_entries`, more
//! expanded bytes than `limits.max_archive_expanded_bytes`, an entry whose compression ratio exceeds
//! `limits.max_compression_ratio` (a zip bomb), absolute or `..` names, symlink entries. Skipped and listed:
//! nested archives and files that are not media.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use mediamill_core::config::Limits;
use tokio::sync::mpsc;

/// Why an archive is refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a zip, or a damaged one.
    #[error("not a readable zip archive: {0}")]
    Unreadable(String),
    /// More entries than `limits.max_archive_entries`.
    #[error("the archive has {count} entries; the limit is {limit} (limits.max_archive_entries)")]
    TooManyEntries {
        /// Entries the archive declares or holds.
        count: u64,
        /// `limits.max_archive_entries`.
        limit: u64,
    },
    /// An entry that would land outside its folder, or a link.
    #[error("{0}")]
    Unsafe(String),
    /// Expands too far (ratio or total).
    #[error("{0}")]
    Bomb(String),
    /// The spooled file could not be read.
    #[error("reading the spooled archive: {0}")]
    Io(#[from] std::io::Error),
}

/// An entry worth uploading: its index in the archive, name and declared size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the zip's central directory.
    pub index: usize,
    /// The entry's path in the archive.
    pub name: String,
    /// Its declared uncompressed size (streaming stops past it).
    pub size: u64,
}

/// The checked table of contents.
#[derive(Debug, Default)]
pub struct Plan {
    /// Entries to upload, in archive order.
    pub entries: Vec<Entry>,
    /// (name, reason) of entries that will not be uploaded.
    pub skipped: Vec<(String, String)>,
}

/// A file that many readers share, each with its own position (`pread`), so one parsed archive can be
/// cloned per entry instead of parsed again.
#[derive(Debug, Clone)]
pub struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl SharedFile {
    fn open(path: &Path) -> std::io::Result<SharedFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(SharedFile { file: Arc::new(file), pos: 0, len })
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let next = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            next.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// The parsed archive; clones share the parse.
pub type Archive = zip::ZipArchive<SharedFile>;

/// The entry count the end-of-central-directory record declares (Zip64 too), read from the file's last
/// 64 KiB without parsing the directory; `None` when there is no such record.
pub fn declared_entries(f: &SharedFile) -> std::io::Result<Option<u64>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let tail_len = f.len.min(22 + 65_535);
    let mut tail = vec![0u8; tail_len as usize];
    f.file.read_exact_at(&mut tail, f.len - tail_len)?;
    let Some(at) = (0..tail.len().saturating_sub(21)).rev().find(|&i| &tail[i..i + 4] == EOCD) else {
        return Ok(None);
    };
    let count = u16::from_le_bytes([tail[at + 10], tail[at + 11]]) as u64;
    if count != 0xFFFF {
        return Ok(Some(count));
    }
    // Zip64: a locator 20 bytes before the record points at the Zip64 record, which holds the real count.
    if at < 20 || &tail[at - 20..at - 16] != b"PK\x06\x07" {
        return Ok(Some(count));
    }
    let mut off = [0u8; 8];
    off.copy_from_slice(&tail[at - 12..at - 4]);
    let mut rec = [0u8; 40];
    if f.file.read_exact_at(&mut rec, u64::from_le_bytes(off)).is_err() || &rec[..4] != b"PK\x06\x06" {
        return Ok(Some(count));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&rec[32..40]);
    Ok(Some(u64::from_le_bytes(n)))
}

/// Opens and checks the zip at `path`: the count first, then one parse of the directory.
pub fn open(path: &Path, limits: &Limits) -> Result<(Archive, Plan), ArchiveError> {
    let f = SharedFile::open(path)?;
    if let Some(count) = declared_entries(&f)? {
        if count > limits.max_archive_entries {
            return Err(ArchiveError::TooManyEntries { count, limit: limits.max_archive_entries });
        }
    }
    let mut zip = zip::ZipArchive::new(f).map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    // The record may understate what the directory holds; the parsed count is checked too.
    if zip.len() as u64 > limits.max_archive_entries {
        return Err(ArchiveError::TooManyEntries { count: zip.len() as u64, limit: limits.max_archive_entries });
    }
    let plan = plan(&mut zip, limits)?;
    Ok((zip, plan))
}

fn plan(zip: &mut Archive, limits: &Limits) -> Result<Plan, ArchiveError> {
    let mut plan = Plan::default();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let e = zip.by_index_raw(i).map_err(|e| ArchiveError::Unreadable(format!("entry {i}: {e}")))?;
        let name = e
            .name()
            .map_err(|err| ArchiveError::Unreadable(format!("entry {i} has an unreadable name: {err}")))?
            .to_string();
        let parts: Vec<&str> = name.split(['/', '\\']).collect();
        if name.starts_with('/')
            || name.starts_with('\\')
            || name.contains(':')
            || parts.contains(&"..")
            || e.enclosed_name().is_none()
        {
            return Err(ArchiveError::Unsafe(format!(
                "entry {name:?} would escape its folder (absolute or '..' path)"
            )));
        }
        if e.is_symlink() {
            return Err(ArchiveError::Unsafe(format!("entry {name:?} is a symbolic link")));
        }
        if e.is_dir() {
            continue;
        }
        let (size, packed) = (e.size(), e.compressed_size());
        if size > packed.max(1).saturating_mul(limits.max_compression_ratio) {
            return Err(ArchiveError::Bomb(format!(
                "entry {name:?} expands {size} bytes from {packed}; the most allowed is {}× (limits.max_compression_ratio)",
                limits.max_compression_ratio
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_archive_expanded_bytes {
            return Err(ArchiveError::Bomb(format!(
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
pub fn stream_entry(zip: &Archive, e: &Entry, tx: mpsc::Sender<Result<Bytes, String>>) -> Result<(), String> {
    let mut zip = zip.clone();
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
pub fn is_nested_archive(zip: &Archive, e: &Entry) -> bool {
    let mut zip = zip.clone();
    let Ok(r) = zip.by_index(e.index) else { return false };
    let mut head = Vec::with_capacity(512);
    let n = r.take(512).read_to_end(&mut head).unwrap_or(0);
    infer::is_archive(&head[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(n: usize) -> tempfile::NamedTempFile {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..n {
            w.start_file(format!("f{i}.txt"), zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(b"x").unwrap();
        }
        t.write_all(&w.finish().unwrap().into_inner()).unwrap();
        t
    }

    #[test]
    fn the_count_is_read_without_parsing_the_directory() {
        let t = zip_with(7);
        assert_eq!(declared_entries(&SharedFile::open(t.path()).unwrap()).unwrap(), Some(7));
        let mut not_zip = tempfile::NamedTempFile::new().unwrap();
        not_zip.write_all(b"hello").unwrap();
        assert_eq!(declared_entries(&SharedFile::open(not_zip.path()).unwrap()).unwrap(), None);
    }

    #[test]
    fn a_directory_too_large_is_refused_by_its_declared_count() {
        // Lie in the record: a huge declared count stops the parse before it starts.
        let t = zip_with(3);
        let mut bytes = std::fs::read(t.path()).unwrap();
        let at = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
        bytes[at + 10..at + 12].copy_from_slice(&60_000u16.to_le_bytes());
        std::fs::write(t.path(), &bytes).unwrap();
        let limits = Limits { max_archive_entries: 10, ..Limits::default() };
        match open(t.path(), &limits) {
            Err(ArchiveError::TooManyEntries { count: 60_000, limit: 10 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn entries_stream_from_one_parse() {
        let t = zip_with(3);
        let (zip, plan) = open(t.path(), &Limits::default()).unwrap();
        assert_eq!(plan.entries.len(), 3);
        for e in &plan.entries {
            let (tx, mut rx) = mpsc::channel(4);
            stream_entry(&zip, e, tx).unwrap();
            assert_eq!(rx.try_recv().unwrap().unwrap(), Bytes::from_static(b"x"));
            assert!(!is_nested_archive(&zip, e));
        }
    }
}
