-- Notifications: webhook endpoints and email recipients per tenant, and one delivery row per
-- (target, event) whose retry schedule lives here, so a restarted notifier loses none.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,
    event_types      TEXT NOT NULL,
    enabled          BIGINT NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    failing_since    BIGINT,
    deleted          BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

CREATE TABLE email_recipients (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    address      TEXT NOT NULL,
    event_types  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    channel          TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    target           TEXT NOT NULL,
    secret           TEXT,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (target_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

CREATE TABLE delivery_attempts (
    delivery_id  TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

ALTER TABLE batches ADD COLUMN webhook_secret TEXT;
