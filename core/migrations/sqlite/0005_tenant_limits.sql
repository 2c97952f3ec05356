-- Per-tenant limits and quotas as JSON ({"requests_per_sec": 5, "stored_bytes": 1073741824, ...}); a key that
-- is absent takes the [tenants] default of the configuration. NULL: every default.
ALTER TABLE tenants ADD COLUMN limits TEXT;
