-- Per-tenant processing choices. keep_gps: 1 = GPS coordinates found in photos are stored with the media
-- record (never written into outputs); 0 = only whether a photo had a position.
ALTER TABLE tenants ADD COLUMN keep_gps BIGINT NOT NULL DEFAULT 0;
