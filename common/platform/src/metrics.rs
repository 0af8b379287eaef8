//! Prometheus metrics: the recorder, the `/metrics` route, the HTTP layer that counts and times
//! every request, and the MongoDB command timer.
//!
//! Names (each series also carries `service`, the process's service name):
//!
//! - `http_requests_total{method, route, status}` and `http_request_duration_seconds{…}`
//!   (histogram): `route` is the route template (`/orders/{id}/cancel`), or `unmatched` for a
//!   request no route took, and `method` one of the nine methods HTTP defines, or `other`, so
//!   neither random paths nor made-up methods can create series without bound;
//! - `http_requests_in_flight`: requests being served;
//! - `mongodb_command_duration_seconds{command, outcome}` (histogram; outcome `ok` or `error`);
//! - each service's business counters, named where they are counted (listed in
//!   `docs/operations.md`).
//!
//! The `metrics` facade is a no-op until a recorder is installed, so code counts unconditionally;
//! [`install`] installs one per process (the binary at startup, tests on first use).

use std::{sync::OnceLock, time::Duration};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use mongodb::event::command::CommandEvent;
use tokio::time::Instant;

/// Histogram buckets for request and command latency, in seconds: from half a millisecond to
/// past the 2 s a request may take during an outage.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram buckets for lags (`…_lag_seconds`: how long after a change something followed it),
/// in seconds: from 10 ms to the hours a retried webhook may take.
const LAG_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    14_400.0, 86_400.0,
];

/// How often buffered histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder, labelling every series with `service`, and starts its upkeep
/// on the current runtime. Later calls (another service's tests in the same process) keep the
/// first recorder.
pub fn install(service: &str) -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .add_global_label("service", service)
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".to_owned()),
                    LATENCY_BUCKETS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Suffix("lag_seconds".to_owned()),
                        LAG_BUCKETS,
                    )
                });
            // Only fails for empty buckets, which these are not.
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(err) => unreachable!("latency buckets are not empty: {err}"),
            };
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder was installed first; /metrics stays empty"
                );
            }
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
                loop {
                    interval.tick().await;
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

/// `GET /metrics`: every series in the Prometheus text format.
pub async fn render() -> Response {
    let body = HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The HTTP layer: counts and times every request by route template, method and status, and
/// keeps the in-flight gauge.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let in_flight = metrics::gauge!("http_requests_in_flight");
    in_flight.increment(1.0);
    let _done = InFlight(in_flight);
    let started = Instant::now();

    let response = next.run(request).await;

    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The `method` label of a request: one of the methods HTTP defines, or `other`. hyper accepts
/// any token as a method, so copying it would let clients create series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Lowers the in-flight gauge when the request ends, also when it is dropped half-way.
struct InFlight(metrics::Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Records the duration of each MongoDB command the driver completes or fails: the driver's
/// command monitoring calls this (see [`crate::db::connect`]).
pub fn record_command(event: CommandEvent) {
    let (command, outcome, duration) = match event {
        CommandEvent::Succeeded(event) => (event.command_name, "ok", event.duration),
        CommandEvent::Failed(event) => (event.command_name, "error", event.duration),
        _ => return,
    };
    metrics::histogram!(
        "mongodb_command_duration_seconds",
        "command" => command,
        "outcome" => outcome,
    )
    .record(duration.as_secs_f64());
}
