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

/// Running digests by upload, each valid at one offset.
#[derive(Default)]
pub struct RunningHashes(Mutex<HashMap<UploadId, (u64, u64, Sha256)>>);

impl RunningHashes {
    /// The digest of `id`'s first `offset` bytes, taken out; `None` when this instance has no such digest.
    pub fn take(&self, id: &UploadId, offset: u64) -> Option<Sha256> {
        let mut m = self.0.lock().ok()?;
        match m.remove(id) {
            Some((at, _, h)) if at == offset => Some(h),
            _ => None,
        }
    }

    /// Keeps the digest of `id`'s first `offset` bytes.
    pub fn put(&self, id: &UploadId, offset: u64, h: Sha256) {
        let Ok(mut m) = self.0.lock() else { return };
        if m.len() >= MAX && !m.contains_key(id) {
            let oldest = m.iter().min_by_key(|(_, (_, seq, _))| *seq).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                m.remove(&k);
            }
        }
        let seq = m.values().map(|(_, s, _)| *s).max().unwrap_or(0) + 1;
        m.insert(id.clone(), (offset, seq, h));
    }
}
