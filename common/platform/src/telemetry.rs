//! Logging and tracing.
//!
//! Logs: JSON lines for collectors or pretty lines for a terminal, filtered by `RUST_LOG` (default
//! `info`). Request spans come from [`crate::http`], so every line of a request carries its request
//! id, and its `trace_id` when the request is traced.
//!
//! Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans
//! are exported over OTLP/HTTP (protobuf) in batches, with `service.name` set to the service (or
//! `OTEL_SERVICE_NAME`); the exporter's other standard variables (`OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_*`, …) apply. An incoming W3C `traceparent` makes the request's span a child of the
//! caller's. Unset, no exporter, processor or thread exists: a request pays for reading one
//! header.

use std::{future::Future, io::IsTerminal, pin::Pin, sync::OnceLock, time::Duration};

use axum::{
    body::Bytes,
    http::{HeaderMap, Request, Response},
};
use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_http::{HttpClient, HttpError, hyper::HyperClient};
use opentelemetry_otlp::{SpanExporter, WithHttpConfig};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::config::{Config, LogFormat};

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for the last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer provider, when traces are exported.
static TRACES: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber, with an OTLP trace exporter for `service` when an OTLP endpoint
/// is set; a second call (as in tests) leaves the first in place. Must run on a Tokio runtime
/// when traces are exported (their HTTP client runs on it).
pub fn init(config: &Config, service: &'static str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    let logs = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_ansi(ansi).boxed(),
    };
    // RUST_LOG filters the logs only: spans at info and above are exported whatever it says, so
    // quieting the logs does not also switch off the traces.
    let traces = if config.export_traces {
        let provider = tracer_provider(service, config.otel_service_name.is_none())?;
        let tracer = provider.tracer(service);
        let _ = TRACES.set(provider);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(LevelFilter::INFO),
        )
    } else {
        None
    };
    // An error only means a subscriber is already installed.
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init();
    if TRACES.get().is_some() {
        tracing::info!("exporting traces over OTLP/HTTP");
    }
    Ok(())
}

/// The provider exporting `service`'s spans; `name_it` when `OTEL_SERVICE_NAME` is unset (the
/// SDK reads it itself when set).
fn tracer_provider(service: &'static str, name_it: bool) -> anyhow::Result<SdkTracerProvider> {
    let client = OnRuntime {
        client: HyperClient::with_default_connector(EXPORT_TIMEOUT, None),
        runtime: tokio::runtime::Handle::try_current()?,
    };
    // The endpoint, headers and timeout come from the standard OTEL_EXPORTER_OTLP_* variables.
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()?;
    let mut resource = Resource::builder();
    if name_it {
        resource = resource.with_service_name(service);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Exports the spans still buffered; called once the server has drained.
pub fn shutdown() {
    if let Some(provider) = TRACES.get()
        && let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
    {
        eprintln!("traces could not be flushed: {err}");
    }
}

/// Makes `span` (a request's) the child of the caller's trace when the request carries a W3C
/// `traceparent`, and records the trace id on it, so every log line of the request names its
/// trace. Without an exporter, the incoming trace id is still recorded, for logs.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    let parent =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if TRACES.get().is_some() {
        // Fails only when the span is disabled (filtered out), which leaves nothing to link.
        let _ = span.set_parent(parent);
        let trace_id = span.context().span().span_context().trace_id();
        span.record("trace_id", tracing::field::display(trace_id));
    } else if parent.span().span_context().is_valid() {
        let trace_id = parent.span().span_context().trace_id();
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The hyper client on the service's runtime: the batch span processor exports from a thread of
/// its own, where no Tokio runtime runs, so each request is spawned onto the runtime and awaited.
#[derive(Debug)]
struct OnRuntime {
    client: HyperClient,
    runtime: tokio::runtime::Handle,
}

impl HttpClient for OnRuntime {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let client = self.client.clone();
        let sent = self
            .runtime
            .spawn(async move { client.send_bytes(request).await });
        Box::pin(async move { sent.await.map_err(HttpError::from)? })
    }
}
