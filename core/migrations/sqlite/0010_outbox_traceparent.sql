-- W3C trace context of the span that wrote the event (telemetry): the relay publishes it as the
-- traceparent header, so one upload is one trace across processes.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
