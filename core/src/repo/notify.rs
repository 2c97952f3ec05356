//! The notification part of the repository: endpoints, recipients, deliveries and their attempts.

use async_trait::async_trait;

use super::RepoError;
use crate::model::TenantId;
use crate::notify_model::{Attempt, Delivery, EmailRecipient, Endpoint, Targets};

/// What the next state of a delivery is after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// The target took it.
    Delivered,
    /// Try again at this time (ms).
    RetryAt(i64),
    /// Give up.
    Dead,
}

/// One attempt of a delivery, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoggedAttempt {
    /// 1 for the first try.
    pub attempt: u32,
    /// When it was made (ms).
    pub at: i64,
    /// The HTTP status the target answered, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// Storage of notification targets and deliveries.
#[async_trait]
pub trait NotifyRepo: Send + Sync {
    /// Stores a new endpoint.
    async fn create_endpoint(&self, e: &Endpoint) -> Result<(), RepoError>;
    /// A tenant's endpoints (not deleted), oldest first.
    async fn list_endpoints(&self, tenant_id: &TenantId) -> Result<Vec<Endpoint>, RepoError>;
    /// One endpoint of a tenant (not deleted).
    async fn get_endpoint(&self, tenant_id: &TenantId, id: &str) -> Result<Option<Endpoint>, RepoError>;
    /// Makes `new_secret` the endpoint's secret; the old one keeps signing beside it until `overlap_until`
    /// (ms). `None` if the tenant has no such endpoint.
    async fn rotate_endpoint_secret(
        &self,
        tenant_id: &TenantId,
        id: &str,
        new_secret: &str,
        overlap_until: i64,
    ) -> Result<Option<Endpoint>, RepoError>;
    /// Deletes an endpoint and drops its pending deliveries; `false` if the tenant has no such endpoint.
    async fn delete_endpoint(&self, tenant_id: &TenantId, id: &str) -> Result<bool, RepoError>;
    /// Disables an endpoint with the reason the tenant will see; its pending deliveries die.
    async fn disable_endpoint(&self, id: &str, reason: &str) -> Result<(), RepoError>;

    /// Stores a recipient (unconfirmed: `confirm_token_hash` is what its link must match) with its
    /// confirmation delivery, in one transaction.
    async fn create_recipient(
        &self,
        r: &EmailRecipient,
        confirm_token_hash: &str,
        confirmation: &Delivery,
    ) -> Result<(), RepoError>;
    /// Confirms a recipient whose link token hashes to `token_hash`; `false` for a wrong token or id.
    async fn confirm_recipient(&self, id: &str, token_hash: &str) -> Result<Option<EmailRecipient>, RepoError>;
    /// A tenant's recipients, oldest first.
    async fn list_recipients(&self, tenant_id: &TenantId) -> Result<Vec<EmailRecipient>, RepoError>;
    /// Deletes a recipient and drops what was queued for it; `false` if the tenant has no such recipient.
    async fn delete_recipient(&self, tenant_id: &TenantId, id: &str) -> Result<bool, RepoError>;

    /// What every event of a tenant is fanned out to, read in one statement: the notifier asks for each event,
    /// so two reads an event (endpoints, then recipients) were a fifth of the embedded pipeline's statements.
    async fn live_targets(&self, tenant_id: &TenantId) -> Result<Targets, RepoError>;

    /// Adds deliveries; one already recorded for the same target and event is left as it is.
    async fn insert_deliveries(&self, ds: &[Delivery]) -> Result<(), RepoError>;
    /// Leases up to `limit` due deliveries until `now + lease_ms`, so two notifiers never send the same one.
    async fn claim_due(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<Delivery>, RepoError>;
    /// Records an attempt and moves the delivery on; on a webhook target, keeps the endpoint's failure streak.
    async fn record_attempt(&self, d: &Delivery, a: &Attempt, next: AfterAttempt) -> Result<(), RepoError>;
    /// Deliveries to one target, newest first.
    async fn list_deliveries(
        &self,
        target_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepoError>;
    /// Attempts of one delivery, first first.
    async fn delivery_attempts(&self, delivery_id: &str) -> Result<Vec<LoggedAttempt>, RepoError>;
    /// Schedules a delivery of `target_id` again now (same event id); `false` if no such delivery.
    async fn replay_delivery(&self, target_id: &str, delivery_id: &str) -> Result<bool, RepoError>;
}
