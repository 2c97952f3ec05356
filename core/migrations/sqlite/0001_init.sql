-- Portable shapes on purpose: ids are TEXT, times are BIGINT milliseconds, JSON is TEXT, so one set of
-- queries serves PostgreSQL and SQLite. Only the outbox sequence differs between the two files.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE media (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    filename         TEXT,
    size             BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    raw_key          TEXT NOT NULL,
    width            BIGINT,
    height           BIGINT,
    metadata         TEXT,
    failure_reason   TEXT,
    failure_message  TEXT,
    batch_id         TEXT,
    idempotency_key  TEXT,
    attempt          BIGINT NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX media_tenant_id ON media (tenant_id, id);
CREATE INDEX media_status ON media (status);

CREATE TABLE variants (
    media_id      TEXT NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    format        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    size          BIGINT NOT NULL,
    PRIMARY KEY (media_id, name, format)
);

CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    msg_key     TEXT NOT NULL,
    ce_type     TEXT NOT NULL,
    ce_time     TEXT NOT NULL,
    subject     TEXT,
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
