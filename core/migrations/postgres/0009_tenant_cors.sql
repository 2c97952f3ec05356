-- Browser origins allowed to call the API with a tenant's keys (comma-separated; NULL: none).
ALTER TABLE tenants ADD COLUMN cors_origins TEXT;
