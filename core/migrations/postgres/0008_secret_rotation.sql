-- Webhook secret rotation: after a rotation the old secret keeps signing beside the new one until
-- previous_secret_until (ms), so receivers can switch without dropping a delivery.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until BIGINT;
