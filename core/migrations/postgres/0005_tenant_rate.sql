-- Per-tenant request rate (requests per second; burst is twice that). NULL: limits.requests_per_sec.
ALTER TABLE tenants ADD COLUMN requests_per_sec BIGINT;
