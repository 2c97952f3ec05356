-- Keys get a scope (`upload`: upload, read own media, follow events; `admin`: also webhooks, recipients),
-- an optional expiry, the last time they were used (written at most once a minute), and whether their
-- expiry was announced on auth.events. Existing keys keep every right they had: admin.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD COLUMN expiry_reported BIGINT NOT NULL DEFAULT 0;
