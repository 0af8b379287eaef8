//! The shared layers' own middleware: the request span, the request timeout, `Connection: close`
//! after an unread body, error bodies for axum's own refusals, 404 and 405, and the panic guard.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::Body as _;
use tracing::Span;

use common_api::error::ApiError;

use super::X_REQUEST_ID;

/// Every log line of a request carries its id, method and path (never the query string, which
/// may hold an email address), and its trace id when it is traced.
pub(super) fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    let span = tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        path = %request.uri().path(),
        trace_id = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, request.headers());
    span
}

/// Answers 503 when a request outlives `REQUEST_TIMEOUT_SECS`, counting the waits the database
/// deadline ([`deadline::guard`]) leaves out, such as a slow upload or a queue for bcrypt: the
/// backstop for everything a request can wait on.
pub(super) async fn enforce_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::DbUnavailable(anyhow::anyhow!("request exceeded {limit:?}")).into_response()
        }
    }
}

/// Adds `Connection: close` to the answer of a request whose body was not read to its end, as when
/// a request is refused before its body is looked at (401, 415, 429, a 503 from the database gate).
/// hyper cannot reuse such a connection, since the rest of the body is still on it, and closes it
/// after the answer; saying so lets a client that keeps connections alive open a new one instead
/// of sending its next request into a closed socket.
pub(super) async fn close_after_unread_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let finished = Arc::new(AtomicBool::new(false));
    let body = Body::new(ReadToEnd {
        inner: body,
        finished: Arc::clone(&finished),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !finished.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records whether it was read to its end.
struct ReadToEnd {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for ReadToEnd {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let frame = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Rewrites error responses produced outside our handlers (axum's own rejections, for instance)
/// into the contract's `{detail, error_code}` body, so every 4xx/5xx has the same shape.
pub(super) async fn error_bodies_in_contract_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let code = match status {
        StatusCode::BAD_REQUEST => "BAD_REQUEST",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        status if status.is_server_error() => "INTERNAL_ERROR",
        _ => "REQUEST_ERROR",
    };
    let detail = status.canonical_reason().unwrap_or("Request failed");
    let mut rewritten = ApiError::client(status, code, detail).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(rewritten.headers_mut().drain());
    Response::from_parts(parts, rewritten.into_body())
}

pub(super) async fn route_not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "No such route")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This route does not accept that method",
    )
}

pub(super) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::middleware;
    use axum::{Router, body::Bytes, routing::post};
    use tower::ServiceExt;

    use super::*;

    async fn connection_header(body: Body, path: &str) -> Option<String> {
        let app = Router::new()
            .route("/refuses", post(|| async { StatusCode::UNAUTHORIZED }))
            .route(
                "/reads",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(middleware::from_fn(close_after_unread_body));
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .body(body)
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        response
            .headers()
            .get(header::CONNECTION)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    /// Log output kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_line_inside_request(traceparent: Option<&str>) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut request = Request::builder().uri("/orders");
            if let Some(traceparent) = traceparent {
                request = request.header("traceparent", traceparent);
            }
            let span = request_span(&request.body(Body::empty()).unwrap());
            span.in_scope(|| tracing::info!("inside the request"));
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_traceparent_puts_its_trace_id_on_every_log_line_of_the_request() {
        let line = log_line_inside_request(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));

        assert!(
            line.contains("trace_id=4bf92f3577b34da6a3ce929d0e0e4736"),
            "{line}"
        );
    }

    #[test]
    fn without_a_traceparent_or_with_a_malformed_one_no_trace_id_is_logged() {
        for traceparent in [None, Some("00-not-a-trace-01")] {
            let line = log_line_inside_request(traceparent);

            assert!(line.contains("inside the request"), "{line}");
            assert!(!line.contains("trace_id"), "{line}");
        }
    }

    #[tokio::test]
    async fn a_body_left_unread_closes_the_connection_and_says_so() {
        assert_eq!(
            connection_header(Body::from("{\"email\": \"a\"}"), "/refuses").await,
            Some("close".to_owned())
        );
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_or_no_body_keeps_the_connection() {
        assert_eq!(connection_header(Body::from("{}"), "/reads").await, None);
        assert_eq!(connection_header(Body::empty(), "/refuses").await, None);
    }
}
