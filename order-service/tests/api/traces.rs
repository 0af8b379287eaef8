//! Traces over OTLP/HTTP, received by a small OTLP receiver in the test, from the order service
//! run as a process of its own (its tracing setup is process-wide).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::Method, http::StatusCode, routing::post};
use common_api::auth::Role;
use common_testing::{ServiceProcess, http};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::helpers::spawn_app;

const BINARY: &str = env!("CARGO_BIN_EXE_order-service");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// A span as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    parent_span_id: String,
}

/// An OTLP/HTTP receiver on a free port that keeps every span it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(spans): State<Arc<Mutex<Vec<Received>>>>, body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .and_then(|a| a.value.as_ref())
                            .map(|v| format!("{:?}", v.value))
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                spans.lock().unwrap().push(Received {
                                    service: service.clone(),
                                    name: span.name,
                                    trace_id: hex(&span.trace_id),
                                    parent_span_id: hex(&span.parent_span_id),
                                });
                            }
                        }
                    }
                    StatusCode::OK
                },
            ),
        )
        .with_state(Arc::clone(&spans));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the process runs the batch span processor's thread.
fn runs_a_span_exporter(service: &ServiceProcess) -> bool {
    let pid = service.pid().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .any(|name| name.starts_with("OpenTelemetry"))
}

/// `GET /orders` as a buyer, in the trace `TRACE_ID`, as a caller's span `PARENT_SPAN_ID`.
async fn traced_request(app: &crate::helpers::TestApp, service: &ServiceProcess) {
    let bearer = format!("Bearer {}", app.caller(Role::Buyer).token);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let answer = http(
        service.address,
        Method::GET,
        "/orders",
        &[("Authorization", &bearer), ("traceparent", &traceparent)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_otlp_endpoint_a_request_is_exported_as_a_child_of_its_traceparent() {
    let app = spawn_app().await;
    let (endpoint, spans) = receiver().await;
    let service = ServiceProcess::start(
        BINARY,
        &app.db.config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;

    traced_request(&app, &service).await;

    let deadline = Instant::now() + Duration::from_secs(15);
    let span = loop {
        let found = spans
            .lock()
            .unwrap()
            .iter()
            .find(|span| span.trace_id == TRACE_ID)
            .cloned();
        if let Some(span) = found {
            break span;
        }
        assert!(Instant::now() < deadline, "no span of the trace arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(span.name, "request");
    assert_eq!(span.parent_span_id, PARENT_SPAN_ID);
    assert!(span.service.contains("order-service"), "{span:?}");
    assert!(runs_a_span_exporter(&service));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_otlp_endpoint_no_exporter_runs() {
    let app = spawn_app().await;
    let service = ServiceProcess::start(BINARY, &app.db.config, &[]).await;

    traced_request(&app, &service).await;

    assert!(!runs_a_span_exporter(&service));
}
