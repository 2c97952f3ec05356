//! W3C trace context across processes: one upload is one trace from the HTTP request through the outbox row and
//! the Kafka message headers to the worker, the tracker and the notifier.
//!
//! A span's context is written as a `traceparent` string (the W3C header, also the CloudEvents distributed-tracing
//! extension) and read back as a remote parent. With no OpenTelemetry layer installed (`telemetry.otlp_endpoint`
//! unset) spans have no context, nothing is written and nothing is read: tracing costs nothing then.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and CloudEvents extension attribute) the context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// The current span's context as a `traceparent` value, or `None` when it has none (tracing off).
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// `span`'s context as a `traceparent` value, or `None` when it has none.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes the context in `traceparent` (from another process) the parent of `span`; an absent or malformed value
/// leaves `span` a root.
pub fn set_remote_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else { return };
    let carrier = HashMap::from([(TRACEPARENT.to_string(), tp.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}
