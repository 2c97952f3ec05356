//! Tenants and their API keys.

use async_trait::async_trait;

use super::{EventsFor, RepoError};
use crate::model::{ApiKey, KeyScope, Tenant, TenantId, TenantLimits};

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// The tenant the key belongs to.
    pub tenant_id: &'a TenantId,
    /// SHA-256 of the secret; the secret itself is never stored.
    pub key_hash: &'a str,
    /// The first characters of the secret, shown in listings so a user can tell keys apart.
    pub prefix: &'a str,
    /// What the key may do.
    pub scope: KeyScope,
    /// When the key stops working (ms), if ever.
    pub expires_at: Option<i64>,
}

/// Storage of tenants, their settings and keys.
#[async_trait]
pub trait TenantRepo: Send + Sync {
    /// The tenant named `name`, created if missing.
    async fn ensure_tenant(&self, name: &str) -> Result<Tenant, RepoError>;
    /// The tenant named `name`, if there is one (read-only tools must not create tenants by asking).
    async fn find_tenant(&self, name: &str) -> Result<Option<Tenant>, RepoError>;
    /// Every tenant, by name.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, RepoError>;
    /// Whether GPS coordinates of the tenant's photos are kept on their records (`None`: no such tenant).
    async fn tenant_keeps_gps(&self, tenant_id: &TenantId) -> Result<Option<bool>, RepoError>;
    /// Turns keeping GPS coordinates on or off for the tenant named `name`; false if there is none.
    async fn set_tenant_keeps_gps(&self, name: &str, keep: bool) -> Result<bool, RepoError>;
    /// Replaces the limits of the tenant named `name`; false if there is none.
    async fn set_tenant_limits(&self, name: &str, limits: &TenantLimits) -> Result<bool, RepoError>;
    /// Replaces the browser origins allowed for the tenant named `name` (empty: none); false if there is none.
    async fn set_tenant_cors(&self, name: &str, origins: &[String]) -> Result<bool, RepoError>;
    /// Bytes and number of a tenant's media that are not deleted (for the `stored_bytes` and `media_count` quotas).
    async fn tenant_usage(&self, tenant_id: &TenantId) -> Result<(u64, u64), RepoError>;
    /// Stores a new key (only its hash) with the events `make` builds for it, in one transaction.
    async fn create_key(&self, new: &NewKey<'_>, make: &EventsFor<'_, ApiKey>) -> Result<ApiKey, RepoError>;
    /// Keys of one tenant, newest first.
    async fn list_keys(&self, tenant_id: &TenantId) -> Result<Vec<ApiKey>, RepoError>;
    /// Revokes a key with the events `make` builds for it, in one transaction; `None` if there is no active
    /// key with that id.
    async fn revoke_key(&self, key_id: &str, make: &EventsFor<'_, ApiKey>) -> Result<Option<ApiKey>, RepoError>;
    /// The key with this hash and its tenant, revoked and expired ones too (the caller refuses those).
    async fn key_by_hash(&self, key_hash: &str) -> Result<Option<(Tenant, ApiKey)>, RepoError>;
    /// Records when a key was last used.
    async fn touch_key(&self, key_id: &str, at: i64) -> Result<(), RepoError>;
    /// Marks a key's expiry as announced, writing `make`'s events the first time only; true that time.
    async fn report_expiry(&self, key: &ApiKey, make: &EventsFor<'_, ApiKey>) -> Result<bool, RepoError>;
}
