//! The records the repository keeps and the API shows.

mod batch;
mod media;
mod tenant;
mod upload;

pub use crate::ids::{BatchId, MediaId, TenantId, UploadId};
pub use batch::{Batch, BatchCounts, BatchItem, BatchStatus};
pub use media::{ext_of, sort_variants, Media, MediaKind, MediaStatus, Variant};
pub use tenant::{ApiKey, KeyScope, Tenant, TenantLimit, TenantLimits};
pub use upload::{ResumableUpload, UploadProgress};
