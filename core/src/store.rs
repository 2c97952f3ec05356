//! The object store: raw uploads and derived variants, behind one trait.
//!
//! Keys are deterministic (`raw/{tenant}/{media}`, `derived/{tenant}/{media}/{variant}.{ext}`), so a job that runs
//! twice overwrites the same objects instead of leaving copies. Writes stream: [`Store::writer`] takes chunks as
//! they arrive, so memory stays flat whatever the object's size.

mod local;
mod range;
mod s3;
mod s3_put;

use crate::ids::{MediaId, TenantId};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use local::LocalStore;
pub use range::ByteRange;
pub use s3::{sdk_client, S3Store};

use crate::config::{StoreBackend, StoreConfig};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object under that key.
    #[error("object {0} not found")]
    NotFound(String),
    /// The requested byte range lies outside the object.
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable {
        /// The object's size, for the `Content-Range` of the 416.
        size: u64,
    },
    /// The store could not be reached or timed out; trying again later may work.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    /// The key is not one this store accepts.
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    /// The store answered but refused the request (HTTP 4xx other than 404/416: credentials, permissions, a
    /// malformed request). Asking again will not help until its configuration changes.
    #[error("object store refused the request: {0}")]
    Refused(String),
    /// Anything else the backend reported.
    #[error("object store error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether the same call may succeed later (an outage), as opposed to not without a change here. `Other`
    /// (a failure with no answer from the store) counts as an outage.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Other(_))
    }
}

/// An object being read: its metadata and a stream of its bytes.
pub struct ObjectRead {
    /// Its MIME type.
    pub content_type: String,
    /// Size of the whole object.
    pub total_size: u64,
    /// The inclusive byte range being returned, when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes, streamed.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// A streaming write of one object. Nothing is visible under the key until [`ObjectWriter::finish`].
/// A writer dropped without `finish` or `abort` (a client that went away mid-upload drops the request's
/// future) cleans up after itself: its temporary file is removed, its multipart upload aborted.
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends a chunk.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError>;
    /// Makes the object visible; returns its size.
    async fn finish(self: Box<Self>) -> Result<u64, StoreError>;
    /// Drops what was written; nothing half-written is left behind.
    async fn abort(self: Box<Self>);
}

/// Holds any writer to a declared size: a byte more is refused, and a write that ends short is aborted.
pub struct SizedWriter {
    inner: Box<dyn ObjectWriter>,
    key: String,
    size: u64,
    written: u64,
}

impl SizedWriter {
    /// `inner`, which must receive exactly `size` bytes.
    pub fn new(inner: Box<dyn ObjectWriter>, key: &str, size: u64) -> SizedWriter {
        SizedWriter { inner, key: key.to_string(), size, written: 0 }
    }
}

#[async_trait]
impl ObjectWriter for SizedWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.written += chunk.len() as u64;
        if self.written > self.size {
            return Err(StoreError::Other(format!("{}: more bytes than the {} declared", self.key, self.size)));
        }
        self.inner.write(chunk).await
    }

    async fn finish(self: Box<Self>) -> Result<u64, StoreError> {
        if self.written != self.size {
            self.inner.abort().await;
            return Err(StoreError::Other(format!(
                "{}: {} of the {} declared bytes were written",
                self.key, self.written, self.size
            )));
        }
        self.inner.finish().await
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await
    }
}

/// Writes every chunk of `chunks` with `w` and makes the object visible; at the first failure, of a chunk
/// (turned into the caller's error by `read_err`) or of the store, drops what was written. Returns the size.
pub async fn write_all<S, E>(
    mut w: Box<dyn ObjectWriter>,
    mut chunks: S,
    read_err: impl Fn(std::io::Error) -> E,
) -> Result<u64, E>
where
    S: futures::Stream<Item = std::io::Result<Bytes>> + Unpin,
    E: From<StoreError>,
{
    use futures::StreamExt;
    while let Some(c) = chunks.next().await {
        let written = match c {
            Ok(c) => w.write(c).await.map_err(E::from),
            Err(e) => Err(read_err(e)),
        };
        if let Err(e) = written {
            w.abort().await;
            return Err(e);
        }
    }
    Ok(w.finish().await?)
}

/// Where objects live. Implemented by [`S3Store`] and [`LocalStore`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a streaming write of `key`.
    async fn writer(&self, key: &str, content_type: &str) -> Result<Box<dyn ObjectWriter>, StoreError>;
    /// Starts a streaming write of `key` that will be exactly `size` bytes (fewer or more is an error and
    /// stores nothing), which lets a store send it in one request.
    async fn writer_sized(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        Ok(Box::new(SizedWriter::new(self.writer(key, content_type).await?, key, size)))
    }
    /// Writes a whole object at once (variants, which are small).
    async fn put(&self, key: &str, content_type: &str, data: Bytes) -> Result<(), StoreError>;
    /// Reads a whole object into memory (callers bound the size by config limits first).
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// Opens an object for streaming, optionally only a byte range of it.
    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<ObjectRead, StoreError>;
    /// Deletes one object; a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes every object whose key starts with `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError>;
    /// Starts a write in parts that outlives any one request or process (a resumable upload): each part is
    /// sent on its own, from whichever instance holds the upload, and the object appears only at
    /// [`Store::finish_parts`]. Returns the handle the other calls take.
    async fn start_parts(&self, key: &str, content_type: &str) -> Result<String, StoreError>;
    /// Sends part `number` (from 1) of a parted write: `len` bytes of the file `path` from `offset`, streamed
    /// from disk. Every part but the last must be at least [`MIN_PART_BYTES`]. Returns the part's tag.
    async fn put_part(
        &self,
        part: &Part<'_>,
        path: &std::path::Path,
        offset: u64,
        len: u64,
    ) -> Result<String, StoreError>;
    /// Sends part `number` of a parted write from `chunks` as they arrive, without a file: `len` bytes, which
    /// is all the caller may queue. When the queue closes before `len` bytes came, the part fails and nothing
    /// of it is kept. Returns the part's tag.
    async fn put_part_streamed(
        &self,
        part: &Part<'_>,
        len: u64,
        chunks: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<String, StoreError>;
    /// Joins the parts (number and tag, in order) into the object under the write's key, of `content_type`
    /// (which S3 took at the start already).
    async fn finish_parts(
        &self,
        key: &str,
        handle: &str,
        content_type: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StoreError>;
    /// Drops a parted write and whatever parts it had; an unknown handle is not an error.
    async fn abort_parts(&self, key: &str, handle: &str) -> Result<(), StoreError>;
    /// Fails when the store cannot serve requests (for `/readyz`).
    async fn check(&self) -> Result<(), StoreError>;
    /// Uploads straight from clients to the store (presigned URLs), when the store can take them: S3 can, the
    /// local store cannot.
    fn direct(&self) -> Option<&dyn DirectUploads> {
        None
    }
    /// Writes started under `prefix` and neither finished nor cleaned up (temporary files, multipart uploads).
    async fn incomplete_writes(&self, prefix: &str) -> Result<u64, StoreError>;
    /// Cleans up incomplete writes older than `older_than` (left by a process that was killed mid-write);
    /// returns how many.
    async fn sweep_incomplete(&self, older_than: std::time::Duration) -> Result<u64, StoreError>;
}

/// A request a client makes straight to the store: what to send where, with which headers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignedRequest {
    /// The HTTP method (`PUT`).
    pub method: String,
    /// The presigned URL.
    pub url: String,
    /// Headers the request must carry as they are (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// Uploads from clients straight into the store, through presigned requests; the server only plans them and
/// checks what arrived.
#[async_trait]
pub trait DirectUploads: Send + Sync {
    /// A presigned `PUT` of exactly `size` bytes to `key`, valid for `ttl`.
    async fn presign_put(&self, key: &str, size: u64, ttl: std::time::Duration) -> Result<SignedRequest, StoreError>;
    /// A presigned `PUT` of one part (exactly `size` bytes) of a parted write, valid for `ttl`.
    async fn presign_part(
        &self,
        part: &Part<'_>,
        size: u64,
        ttl: std::time::Duration,
    ) -> Result<SignedRequest, StoreError>;
    /// The parts the store holds for a parted write: number, tag and size, in order.
    async fn uploaded_parts(&self, key: &str, handle: &str) -> Result<Vec<(i32, String, u64)>, StoreError>;
    /// The size of the object under `key`, `None` when there is none.
    async fn size_of(&self, key: &str) -> Result<Option<u64>, StoreError>;
}

/// The smallest part of a parted write but the last (S3's own minimum).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// Which part of which parted write ([`Store::start_parts`]).
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The object's key.
    pub key: &'a str,
    /// The handle `start_parts` returned.
    pub handle: &'a str,
    /// The part's number, from 1.
    pub number: i32,
}

/// Where resumable uploads write their raw objects: apart from `raw/`, so that the sweep of abandoned writes
/// (a day after they started) leaves them to their own expiry, which counts from their last activity.
pub const RESUMABLE_PREFIX: &str = "resumable/";

/// Key of the raw object of a resumable upload.
pub fn resumable_key(tenant_id: &TenantId, media_id: &MediaId) -> String {
    format!("{RESUMABLE_PREFIX}{tenant_id}/{media_id}")
}

/// Opens the store the configuration names.
pub async fn open(cfg: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match cfg.backend {
        StoreBackend::Local => Arc::new(LocalStore::new(&cfg.local_dir).await?),
        StoreBackend::S3 => Arc::new(S3Store::new(&cfg.s3).await?),
    })
}

/// Key of a raw upload.
pub fn raw_key(tenant_id: &TenantId, media_id: &MediaId) -> String {
    format!("raw/{tenant_id}/{media_id}")
}

/// Prefix of every derived object of one media item.
pub fn derived_prefix(tenant_id: &TenantId, media_id: &MediaId) -> String {
    format!("derived/{tenant_id}/{media_id}/")
}

/// Key of one variant.
pub fn variant_key(tenant_id: &TenantId, media_id: &MediaId, variant: &str, ext: &str) -> String {
    format!("derived/{tenant_id}/{media_id}/{variant}.{ext}")
}

/// Key of one HLS file (playlist or segment) of a media item; `file` is a plain name, never a path.
pub fn hls_key(tenant_id: &TenantId, media_id: &MediaId, file: &str) -> String {
    format!("derived/{tenant_id}/{media_id}/hls/{file}")
}

/// The Content-Type of an HLS file by its extension; `None` for anything else.
pub fn hls_content_type(file: &str) -> Option<&'static str> {
    match file.rsplit_once('.').map(|(_, e)| e) {
        Some("m3u8") => Some("application/vnd.apple.mpegurl"),
        Some("ts") => Some("video/mp2t"),
        _ => None,
    }
}

/// Rejects keys that could escape a folder or confuse a backend.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        Err(StoreError::InvalidKey(key.to_string()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_refused() {
        for k in ["", "/abs", "a/../b", "a//b", "a/./b", "a\\b", "a\0b", ".."] {
            assert!(check_key(k).is_err(), "{k:?} accepted");
        }
        check_key("raw/t/m").unwrap();
        check_key(&variant_key(&"t".into(), &"m".into(), "thumb", "jpg")).unwrap();
    }
}
