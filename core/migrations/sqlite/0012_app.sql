-- The app's notification service, analytics and chat archive (issue 17). Same SQL on both backends.

-- Events a consumer has applied, by CloudEvents id: redelivery and replay apply nothing twice.
CREATE TABLE app_events_seen (
    consumer    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Users as the User service announced them: where their emails and SMS go, their time zone.
CREATE TABLE app_users (
    tenant_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    email         TEXT,
    phone         TEXT,
    display_name  TEXT,
    time_zone     TEXT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Chat presence, last writer (by event time) wins.
CREATE TABLE app_presence (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    online      BIGINT NOT NULL,
    changed_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Per-user notification preferences (JSON, see docs/notifications.md).
CREATE TABLE app_preferences (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    prefs       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Web Push subscriptions (RFC 8030 endpoint, RFC 8291 keys).
CREATE TABLE push_subscriptions (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    p256dh      TEXT NOT NULL,
    auth        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, user_id, endpoint)
);

-- One notification to one user. Its id is derived from what it is about (a like window, a comment, a chat
-- message), so a redelivered or replayed event finds it instead of making another. `visible_at` NULL: never
-- in the feed (emails only, or a chat notice still waiting). `state`: pending (channels not yet sent),
-- sent, cancelled (an undone like, a deleted comment, a chat message seen in time).
CREATE TABLE app_notifications (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    data          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    visible_at    BIGINT,
    send_at       BIGINT NOT NULL,
    state         TEXT NOT NULL,
    lease_until   BIGINT,
    read_at       BIGINT
);
CREATE INDEX app_notifications_feed ON app_notifications (tenant_id, user_id, created_at);
CREATE INDEX app_notifications_due ON app_notifications (state, send_at);

-- Who acted in an aggregated notification ("Alice and 9 others"); an undone like clears `present`.
CREATE TABLE app_notification_actors (
    notification_id  TEXT NOT NULL,
    actor_id         TEXT NOT NULL,
    actor_name       TEXT,
    present          BIGINT NOT NULL,
    changed_at       BIGINT NOT NULL,
    event_id         TEXT NOT NULL,
    PRIMARY KEY (notification_id, actor_id)
);

-- Analytics facts, one generation per build: a rebuild fills the next generation from the log, then it
-- becomes the active one. Likes are last-writer-wins by (event time, event id); a deleted comment stays deleted.
CREATE TABLE stats_generations (
    gen         BIGINT PRIMARY KEY,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
INSERT INTO stats_generations (gen, state, created_at) VALUES (1, 'active', 0);

CREATE TABLE stats_likes (
    gen         BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    liked       BIGINT NOT NULL,
    event_time  BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    PRIMARY KEY (gen, tenant_id, media_id, actor_id)
);
CREATE INDEX stats_likes_owner ON stats_likes (gen, tenant_id, owner_id);

CREATE TABLE stats_comments (
    gen         BIGINT NOT NULL,
    tenant_id   TEXT NOT NULL,
    comment_id  TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    deleted     BIGINT NOT NULL,
    PRIMARY KEY (gen, tenant_id, comment_id)
);
CREATE INDEX stats_comments_media ON stats_comments (gen, tenant_id, media_id);
CREATE INDEX stats_comments_owner ON stats_comments (gen, tenant_id, owner_id);

CREATE TABLE stats_active (
    gen        BIGINT NOT NULL,
    tenant_id  TEXT NOT NULL,
    day        TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    PRIMARY KEY (gen, tenant_id, day, user_id)
);

-- The chat archive: every message with its per-recipient delivery and seen times.
CREATE TABLE chat_messages (
    tenant_id        TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    conversation_id  TEXT NOT NULL,
    sender_id        TEXT NOT NULL,
    text             TEXT NOT NULL,
    sent_at          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE INDEX chat_messages_conversation ON chat_messages (tenant_id, conversation_id, sent_at, message_id);

CREATE TABLE chat_receipts (
    tenant_id     TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    delivered_at  BIGINT,
    seen_at       BIGINT,
    PRIMARY KEY (tenant_id, message_id, user_id)
);
