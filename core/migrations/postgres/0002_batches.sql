-- Batches and their items. An item's state only moves forward (rank), so a redelivered or late event can
-- never move a count twice or backwards; counts are always derived from item rows.
CREATE TABLE batches (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    name            TEXT,
    expected_count  BIGINT,
    metadata        TEXT,
    webhook_url     TEXT,
    status          TEXT NOT NULL,
    outcome         TEXT,
    round           BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    sealed_at       BIGINT,
    completed_at    BIGINT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX batches_status ON batches (status, created_at);

CREATE TABLE batch_items (
    batch_id    TEXT NOT NULL REFERENCES batches(id),
    item_id     TEXT NOT NULL,
    media_id    TEXT,
    filename    TEXT,
    state       TEXT NOT NULL,
    rank        BIGINT NOT NULL,
    reason      TEXT,
    message     TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (batch_id, item_id)
);
CREATE INDEX batch_items_media ON batch_items (media_id);
