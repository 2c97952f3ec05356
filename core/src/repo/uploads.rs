//! The resumable uploads' part of the repository.

use async_trait::async_trait;

use crate::model::{ResumableUpload, TenantId, UploadId, UploadProgress};
use crate::repo::RepoError;

/// Resumable uploads (tus). One request at a time works on an upload: it takes a lease on it at the offset it
/// found, and only the holder of the lease at that offset may move it on.
#[async_trait]
pub trait UploadRepo: Send + Sync {
    /// Records a new upload.
    async fn create_upload(&self, u: &ResumableUpload) -> Result<(), RepoError>;
    /// A tenant's upload; `None` for another tenant's or none at all.
    async fn get_upload(&self, tenant_id: &TenantId, id: &UploadId) -> Result<Option<ResumableUpload>, RepoError>;
    /// Takes the lease on an upload still at `offset`, not complete, not expired and not leased by another
    /// request, until `until` (ms); false when any of that fails.
    async fn lease_upload(&self, id: &UploadId, offset: u64, until: i64) -> Result<bool, RepoError>;
    /// Saves progress made under the lease taken at `from_offset`, extends the expiry to `expires_at` and keeps
    /// the lease until `lease_until` (`None` releases it); false when the lease was lost.
    async fn save_upload_progress(
        &self,
        id: &UploadId,
        from_offset: u64,
        p: &UploadProgress,
        expires_at: i64,
        lease_until: Option<i64>,
    ) -> Result<bool, RepoError>;
    /// Marks the upload complete (its media item recorded) and releases the lease.
    async fn complete_upload(&self, id: &UploadId, at: i64) -> Result<(), RepoError>;
    /// Forgets an upload (terminated, expired and cleaned up).
    async fn delete_upload(&self, id: &UploadId) -> Result<(), RepoError>;
    /// Uploads whose expiry is before `now` (ms) and that no request holds, oldest first, at most `limit`:
    /// unfinished ones to clean up, and finished ones kept so far for clients asking after their last answer.
    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<ResumableUpload>, RepoError>;
}
