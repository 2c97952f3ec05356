//! The SHA-256 of each upload's bytes so far, kept by the instance that received them. The item's digest is
//! needed when the last byte arrives; when every request of an upload came to this instance (the usual case)
//! it is here already, and only an upload that moved between instances (or outlived a restart) is read back
//! from the store once to compute it.

use std::collections::HashMap;
use std::sync::Mutex;

use mediamill_core::model::UploadId;
use sha2::Sha256;

/// At most this many uploads are followed; past it the oldest is dropped (and would be read back).
const MAX: usize = 4096;

/// Running digests by upload, each valid at one offset, with the order they were kept in.
#[derive(Default)]
pub struct RunningHashes(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    /// Upload → (offset, when it was kept, digest).
    by_upload: HashMap<UploadId, (u64, u64, Sha256)>,
    /// Counts every `put`: the smallest "when" is the oldest entry.
    clock: u64,
}

impl RunningHashes {
    /// The digest of `id`'s first `offset` bytes, taken out; `None` when this instance has no such digest.
    pub fn take(&self, id: &UploadId, offset: u64) -> Option<Sha256> {
        let mut k = self.0.lock().ok()?;
        match k.by_upload.remove(id) {
            Some((at, _, h)) if at == offset => Some(h),
            _ => None,
        }
    }

    /// Keeps the digest of `id`'s first `offset` bytes.
    pub fn put(&self, id: &UploadId, offset: u64, h: Sha256) {
        let Ok(mut k) = self.0.lock() else { return };
        if k.by_upload.len() >= MAX && !k.by_upload.contains_key(id) {
            let oldest = k.by_upload.iter().min_by_key(|(_, (_, when, _))| *when).map(|(id, _)| id.clone());
            if let Some(old) = oldest {
                k.by_upload.remove(&old);
            }
        }
        k.clock += 1;
        let when = k.clock;
        k.by_upload.insert(id.clone(), (offset, when, h));
    }
}
