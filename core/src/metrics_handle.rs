//! The process-wide Prometheus recorder, installed on first use: ingest serves it on `/metrics`, the other roles
//! on their operator endpoint.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Histogram buckets in seconds, from a fast API answer to a long batch: real buckets (not the exporter's default
/// summaries) so latencies can be summed over instances and read as quantiles in PromQL.
const BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];

/// The recorder's handle; `None` when another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().set_buckets(BUCKETS).and_then(|b| b.install_recorder()).ok())
        .as_ref()
}

/// Everything recorded so far, in Prometheus' text format (empty when another recorder was installed first).
pub fn render() -> String {
    handle().map(|h| h.render()).unwrap_or_default()
}
