//! The process's log output and, when `telemetry.otlp_endpoint` is set, its trace export over OTLP/HTTP.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes what is still buffered.
pub struct Telemetry(Option<SdkTracerProvider>);

impl Telemetry {
    /// Sends the spans still buffered. Call outside the async runtime: the exporter's client blocks.
    pub fn shutdown(self) {
        if let Some(p) = self.0 {
            if let Err(e) = p.shutdown() {
                eprintln!("warning: flushing traces: {e}");
            }
        }
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,sqlx=warn,aws=warn"))
}

fn fmt_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
}

/// Logs to stderr only: before the configuration is read, and for the sandbox children (which have no network).
pub fn init_logs() {
    tracing_subscriber::registry().with(filter()).with(fmt_layer()).init();
}

/// Logs to stderr and, with `otlp_endpoint` set, exports spans as `service` (`mediamill-ingest`, ...). Must run
/// before the async runtime starts: the exporter's HTTP client is a blocking one on the batch processor's thread.
pub fn init(otlp_endpoint: &str, service: &str) -> anyhow::Result<Telemetry> {
    let endpoint = otlp_endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        init_logs();
        return Ok(Telemetry(None));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()
        .with_context(|| format!("telemetry.otlp_endpoint {endpoint}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(service.to_string()).build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("mediamill"));
    tracing_subscriber::registry().with(filter()).with(fmt_layer()).with(layer).init();
    Ok(Telemetry(Some(provider)))
}
