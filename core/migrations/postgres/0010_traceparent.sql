-- W3C trace context of the span that wrote the row (telemetry): the relay publishes an event's as the
-- traceparent header and the notifier continues a delivery's, so one upload is one trace across processes.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
ALTER TABLE deliveries ADD COLUMN traceparent TEXT;
