-- Cancellations that arrived before what they cancel (app events are handled concurrently and may come out of
-- order: a comment deleted before its "added" was applied, a chat message seen before its notice was made).
-- A notification made later with one of these ids starts cancelled. Same SQL on both backends.
CREATE TABLE app_cancelled (
    notification_id  TEXT PRIMARY KEY,
    at               BIGINT NOT NULL
);
