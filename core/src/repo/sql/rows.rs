//! Rows as the database returns them, and their checked conversion into the model: a value the model cannot
//! hold (an unknown status, damaged JSON) is a `Corrupt` error naming the column, never a silent default.

use std::str::FromStr;

use crate::model::{
    ApiKey, Batch, BatchId, BatchItem, Media, MediaId, ResumableUpload, Tenant, TenantId, TenantLimits, UploadId,
    UploadProgress, Variant,
};
use crate::notify_model::{Delivery, EmailRecipient, Endpoint, Targets};
use crate::repo::{LoggedAttempt, RepoError};

/// The media columns every media query selects, in [`MediaRow`]'s order.
pub(super) const MEDIA_COLS: &str = "id, tenant_id, kind, status, content_type, filename, size, sha256, raw_key, \
    width, height, metadata, failure_reason, failure_message, batch_id, idempotency_key, created_at, updated_at";

/// The batch columns every batch query selects.
pub(super) const BATCH_COLS: &str = "id, tenant_id, name, expected_count, metadata, webhook_url, webhook_secret, \
    status, outcome, round, created_at, sealed_at, completed_at";

/// The key columns every key query selects.
pub(super) const UPLOAD_COLS: &str = "id, tenant_id, length, upload_offset, metadata, filename, batch_id, \
    idempotency_key, media_id, raw_key, content_type, store_handle, parts, tail_size, expires_at, completed_at, created_at";
pub(super) const KEY_COLS: &str = "id, tenant_id, prefix, created_at, revoked_at, scope, expires_at, last_used_at";

/// The delivery columns every delivery query selects.
pub(super) const DELIVERY_COLS: &str = "id, tenant_id, channel, target_id, target, secret, event_id, event_type, \
    payload, status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at, traceparent";

fn enum_column<T: FromStr>(what: &str, v: &str) -> Result<T, RepoError> {
    v.parse().map_err(|_| RepoError::Corrupt(format!("{what} {v:?}")))
}

fn json_column(what: &str, v: Option<String>) -> Result<Option<serde_json::Value>, RepoError> {
    v.map(|m| serde_json::from_str(&m).map_err(|e| RepoError::Corrupt(format!("{what}: {e}")))).transpose()
}

fn unsigned<T: TryFrom<i64>>(what: &str, v: i64) -> Result<T, RepoError> {
    T::try_from(v).map_err(|_| RepoError::Corrupt(format!("{what} {v}")))
}

fn opt_unsigned<T: TryFrom<i64>>(what: &str, v: Option<i64>) -> Result<Option<T>, RepoError> {
    v.map(|v| unsigned(what, v)).transpose()
}

/// A comma-separated list column (origins, event types).
fn list_column(s: Option<String>) -> Vec<String> {
    s.map(|s| s.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect()).unwrap_or_default()
}

#[derive(sqlx::FromRow)]
pub(super) struct MediaRow {
    id: MediaId,
    tenant_id: TenantId,
    kind: String,
    status: String,
    content_type: String,
    filename: Option<String>,
    size: i64,
    sha256: String,
    raw_key: String,
    width: Option<i64>,
    height: Option<i64>,
    metadata: Option<String>,
    failure_reason: Option<String>,
    failure_message: Option<String>,
    batch_id: Option<BatchId>,
    idempotency_key: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<MediaRow> for Media {
    type Error = RepoError;
    fn try_from(r: MediaRow) -> Result<Media, RepoError> {
        Ok(Media {
            kind: enum_column("media kind", &r.kind)?,
            status: enum_column("media status", &r.status)?,
            size: unsigned("media size", r.size)?,
            width: opt_unsigned("media width", r.width)?,
            height: opt_unsigned("media height", r.height)?,
            metadata: json_column("media metadata", r.metadata)?,
            id: r.id,
            tenant_id: r.tenant_id,
            content_type: r.content_type,
            filename: r.filename,
            sha256: r.sha256,
            raw_key: r.raw_key,
            failure_reason: r.failure_reason,
            failure_message: r.failure_message,
            batch_id: r.batch_id,
            idempotency_key: r.idempotency_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A media row with its attempt counter (requeue).
#[derive(sqlx::FromRow)]
pub(super) struct AttemptedMediaRow {
    #[sqlx(flatten)]
    pub(super) media: MediaRow,
    pub(super) attempt: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    id: TenantId,
    name: String,
    limits: Option<String>,
    cors_origins: Option<String>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = RepoError;
    fn try_from(r: TenantRow) -> Result<Tenant, RepoError> {
        let limits = match r.limits {
            Some(j) => serde_json::from_str(&j).map_err(|e| RepoError::Corrupt(format!("tenant limits {j:?}: {e}")))?,
            None => TenantLimits::default(),
        };
        Ok(Tenant { id: r.id, name: r.name, limits, cors_origins: list_column(r.cors_origins) })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    id: String,
    tenant_id: TenantId,
    prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
    scope: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = RepoError;
    fn try_from(r: KeyRow) -> Result<ApiKey, RepoError> {
        Ok(ApiKey {
            scope: enum_column("key scope", &r.scope)?,
            id: r.id,
            tenant_id: r.tenant_id,
            prefix: r.prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        })
    }
}

/// A key joined with its tenant, whose columns carry a `t_` prefix beside the key's own `id`.
#[derive(sqlx::FromRow)]
pub(super) struct KeyWithTenantRow {
    #[sqlx(flatten)]
    key: KeyRow,
    t_id: TenantId,
    t_name: String,
    t_limits: Option<String>,
    t_cors_origins: Option<String>,
}

impl TryFrom<KeyWithTenantRow> for (Tenant, ApiKey) {
    type Error = RepoError;
    fn try_from(r: KeyWithTenantRow) -> Result<(Tenant, ApiKey), RepoError> {
        let tenant = TenantRow { id: r.t_id, name: r.t_name, limits: r.t_limits, cors_origins: r.t_cors_origins };
        Ok((tenant.try_into()?, r.key.try_into()?))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct VariantRow {
    name: String,
    format: String,
    object_key: String,
    content_type: String,
    width: i64,
    height: i64,
    size: i64,
}

impl TryFrom<VariantRow> for Variant {
    type Error = RepoError;
    fn try_from(r: VariantRow) -> Result<Variant, RepoError> {
        Ok(Variant {
            width: unsigned("variant width", r.width)?,
            height: unsigned("variant height", r.height)?,
            size: unsigned("variant size", r.size)?,
            name: r.name,
            format: r.format,
            key: r.object_key,
            content_type: r.content_type,
            url: None,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct BatchRow {
    id: BatchId,
    tenant_id: TenantId,
    name: Option<String>,
    expected_count: Option<i64>,
    metadata: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    status: String,
    outcome: Option<String>,
    round: i64,
    created_at: i64,
    sealed_at: Option<i64>,
    completed_at: Option<i64>,
}

impl TryFrom<BatchRow> for Batch {
    type Error = RepoError;
    fn try_from(r: BatchRow) -> Result<Batch, RepoError> {
        Ok(Batch {
            expected_count: opt_unsigned("batch expected_count", r.expected_count)?,
            metadata: json_column("batch metadata", r.metadata)?,
            status: enum_column("batch status", &r.status)?,
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            webhook_url: r.webhook_url,
            webhook_secret: r.webhook_secret,
            outcome: r.outcome,
            round: r.round,
            created_at: r.created_at,
            sealed_at: r.sealed_at,
            completed_at: r.completed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct BatchItemRow {
    item_id: String,
    media_id: Option<MediaId>,
    filename: Option<String>,
    state: String,
    reason: Option<String>,
    message: Option<String>,
    updated_at: i64,
}

impl TryFrom<BatchItemRow> for BatchItem {
    type Error = RepoError;
    fn try_from(r: BatchItemRow) -> Result<BatchItem, RepoError> {
        Ok(BatchItem {
            state: enum_column("item state", &r.state)?,
            item_id: r.item_id,
            media_id: r.media_id,
            filename: r.filename,
            reason: r.reason,
            message: r.message,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EndpointRow {
    id: String,
    tenant_id: TenantId,
    url: String,
    secret: String,
    event_types: String,
    enabled: i64,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    created_at: i64,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
}

impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Endpoint {
        Endpoint {
            id: r.id,
            tenant_id: r.tenant_id,
            url: r.url,
            secret: r.secret,
            event_types: list_column(Some(r.event_types)),
            enabled: r.enabled != 0,
            disabled_reason: r.disabled_reason,
            failing_since: r.failing_since,
            created_at: r.created_at,
            previous_secret: r.previous_secret,
            previous_secret_until: r.previous_secret_until,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RecipientRow {
    id: String,
    tenant_id: TenantId,
    address: String,
    event_types: String,
    created_at: i64,
    confirmed_at: Option<i64>,
}

impl From<RecipientRow> for EmailRecipient {
    fn from(r: RecipientRow) -> EmailRecipient {
        EmailRecipient {
            id: r.id,
            tenant_id: r.tenant_id,
            address: r.address,
            event_types: list_column(Some(r.event_types)),
            created_at: r.created_at,
            confirmed_at: r.confirmed_at,
        }
    }
}

/// A tenant's enabled endpoints and confirmed recipients as one result, told apart by `kind`, each oldest
/// first. Both databases give an untyped `NULL` the type of the column it stands beside in the other half.
pub(super) const TARGETS: &str = "SELECT 'webhook' AS kind, id, tenant_id, url AS target, secret, event_types, \
    disabled_reason, failing_since, created_at, previous_secret, previous_secret_until, NULL AS confirmed_at \
    FROM webhook_endpoints WHERE tenant_id = $1 AND deleted = 0 AND enabled = 1 \
    UNION ALL SELECT 'email', id, tenant_id, address, NULL, event_types, NULL, NULL, created_at, NULL, NULL, \
    confirmed_at FROM email_recipients WHERE tenant_id = $1 AND confirmed_at IS NOT NULL \
    ORDER BY kind DESC, id";

#[derive(sqlx::FromRow)]
pub(super) struct TargetRow {
    kind: String,
    id: String,
    tenant_id: TenantId,
    target: String,
    secret: Option<String>,
    event_types: String,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    created_at: i64,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    confirmed_at: Option<i64>,
}

/// Sorts the rows of [`TARGETS`] into endpoints and recipients, keeping their order.
pub(super) fn targets(rows: Vec<TargetRow>) -> Targets {
    let mut t = Targets::default();
    for r in rows {
        let event_types = list_column(Some(r.event_types));
        if r.kind == "webhook" {
            t.endpoints.push(Endpoint {
                id: r.id,
                tenant_id: r.tenant_id,
                url: r.target,
                secret: r.secret.unwrap_or_default(),
                event_types,
                enabled: true,
                disabled_reason: r.disabled_reason,
                failing_since: r.failing_since,
                created_at: r.created_at,
                previous_secret: r.previous_secret,
                previous_secret_until: r.previous_secret_until,
            });
        } else {
            t.recipients.push(EmailRecipient {
                id: r.id,
                tenant_id: r.tenant_id,
                address: r.target,
                event_types,
                created_at: r.created_at,
                confirmed_at: r.confirmed_at,
            });
        }
    }
    t
}

#[derive(sqlx::FromRow)]
pub(super) struct DeliveryRow {
    id: String,
    tenant_id: TenantId,
    channel: String,
    target_id: String,
    target: String,
    secret: Option<String>,
    event_id: String,
    event_type: String,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
    traceparent: Option<String>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = RepoError;
    fn try_from(r: DeliveryRow) -> Result<Delivery, RepoError> {
        Ok(Delivery {
            channel: enum_column("delivery channel", &r.channel)?,
            status: enum_column("delivery status", &r.status)?,
            attempts: unsigned("delivery attempts", r.attempts)?,
            last_status: opt_unsigned("delivery last_status", r.last_status)?,
            id: r.id,
            tenant_id: r.tenant_id,
            target_id: r.target_id,
            target: r.target,
            secret: r.secret,
            event_id: r.event_id,
            event_type: r.event_type,
            payload: r.payload,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
            traceparent: r.traceparent,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AttemptRow {
    attempt: i64,
    at: i64,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
}

impl TryFrom<AttemptRow> for LoggedAttempt {
    type Error = RepoError;
    fn try_from(r: AttemptRow) -> Result<LoggedAttempt, RepoError> {
        Ok(LoggedAttempt {
            attempt: unsigned("attempt number", r.attempt)?,
            status_code: opt_unsigned("attempt status_code", r.status_code)?,
            duration_ms: unsigned("attempt duration_ms", r.duration_ms)?,
            at: r.at,
            error: r.error,
        })
    }
}

/// Converts every row of a listing, failing on the first one the model cannot hold.
#[derive(sqlx::FromRow)]
pub(super) struct UploadRow {
    id: UploadId,
    tenant_id: TenantId,
    length: i64,
    upload_offset: i64,
    metadata: String,
    filename: Option<String>,
    batch_id: Option<BatchId>,
    idempotency_key: Option<String>,
    media_id: MediaId,
    raw_key: String,
    content_type: Option<String>,
    store_handle: Option<String>,
    parts: String,
    tail_size: i64,
    expires_at: i64,
    completed_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<UploadRow> for ResumableUpload {
    type Error = RepoError;
    fn try_from(r: UploadRow) -> Result<ResumableUpload, RepoError> {
        let metadata = match json_column("upload metadata", Some(r.metadata))? {
            Some(serde_json::Value::Object(m)) => m,
            _ => return Err(RepoError::Corrupt("upload metadata is not an object".into())),
        };
        let parts = serde_json::from_str(&r.parts).map_err(|e| RepoError::Corrupt(format!("upload parts: {e}")))?;
        Ok(ResumableUpload {
            length: unsigned("upload length", r.length)?,
            progress: UploadProgress {
                offset: unsigned("upload offset", r.upload_offset)?,
                content_type: r.content_type,
                store_handle: r.store_handle,
                parts,
                tail_size: unsigned("upload tail_size", r.tail_size)?,
            },
            id: r.id,
            tenant_id: r.tenant_id,
            metadata,
            filename: r.filename,
            batch_id: r.batch_id,
            idempotency_key: r.idempotency_key,
            media_id: r.media_id,
            raw_key: r.raw_key,
            expires_at: r.expires_at,
            completed_at: r.completed_at,
            created_at: r.created_at,
        })
    }
}

pub(super) fn convert_all<R, T: TryFrom<R, Error = RepoError>>(rows: Vec<R>) -> Result<Vec<T>, RepoError> {
    rows.into_iter().map(T::try_from).collect()
}

/// Converts an optional row.
pub(super) fn convert_opt<R, T: TryFrom<R, Error = RepoError>>(row: Option<R>) -> Result<Option<T>, RepoError> {
    row.map(T::try_from).transpose()
}
