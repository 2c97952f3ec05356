-- Resumable uploads (tus): the state any ingest instance needs to continue one. The bytes live in the
-- object store as a parted write (`store_handle`, the parts sent so far in `parts` as JSON) plus the tail
-- of the last request, smaller than a part, as an object of its own (`tail_size` bytes).
CREATE TABLE uploads (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    length           BIGINT NOT NULL,
    upload_offset    BIGINT NOT NULL DEFAULT 0,
    metadata         TEXT NOT NULL,
    filename         TEXT,
    batch_id         TEXT,
    idempotency_key  TEXT,
    media_id         TEXT NOT NULL,
    raw_key          TEXT NOT NULL,
    content_type     TEXT,
    store_handle     TEXT,
    parts            TEXT NOT NULL,
    tail_size        BIGINT NOT NULL DEFAULT 0,
    lease_until      BIGINT,
    expires_at       BIGINT NOT NULL,
    completed_at     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads (expires_at);
