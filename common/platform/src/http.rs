//! What every service's router gets: health routes, Swagger UI and the OpenAPI document, 404 and
//! 405 in the contract's error shape, and the shared layers (panic guard, request id, tracing span,
//! CORS, request timeout, body limit).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use http_body::Body as _;
use mongodb::Database;
use serde::Serialize;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::{Level, Span};
use utoipa::{
    IntoResponses as _, OpenApi as _, ToSchema,
    openapi::{
        OpenApi,
        security::{
            Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
            SecurityScheme,
        },
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

use common_api::{
    error::ApiError,
    extract::BODY_LIMIT_BYTES,
    openapi::{BEARER_SCHEME, BodyTimeout, DbUnavailable, ErrorSchemas, OAUTH2_SCHEME},
};

use crate::{
    config::{Config, CorsOrigins},
    deadline::{self, DbGate},
};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The order service's request header that makes `POST /orders` safe to retry. It is allowed here
/// because the CORS layer is built once, for every service: a browser's preflight must see it.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The order service's response header marking a replayed order; exposed here for the same
/// reason as [`IDEMPOTENCY_KEY`].
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The paged lists' total, exposed with the `Link` header for every service's lists.
const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// Finishes a service's router: adds `/health`, `/health/db`, `/docs` and `/openapi.json`, answers
/// unknown routes and methods in the error shape, and wraps everything in the shared layers.
pub fn service_router(routes: OpenApiRouter, config: &Config, db: Database) -> Router {
    let gate = DbGate::new(db);
    // `/health/db` pings through the gate, so its answer also opens or closes it.
    let health = OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(health_db))
        .with_state(gate.clone());
    // Every route of the service is bounded by the database deadline; health and docs are not
    // (`/health/db` is bounded by its own ping, and is how an operator sees the outage).
    let routes = routes.layer(middleware::from_fn_with_state(gate, deadline::guard));
    let (routes, mut openapi) = routes.split_for_parts();
    document_layer_responses(&mut openapi);
    let (health, health_doc) = health.split_for_parts();
    openapi.merge(health_doc);
    let router = routes.merge(health);
    declare_bearer_auth(&mut openapi, &config.oauth2_token_url);
    openapi.merge(ErrorSchemas::openapi());

    let router = match &config.metrics_path {
        Some(path) => {
            crate::metrics::install("unnamed");
            router.route(path, get(crate::metrics::render))
        }
        None => router,
    };
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn(error_bodies_in_contract_shape))
        .layer(middleware::from_fn_with_state(
            config.request_timeout,
            enforce_timeout,
        ))
        .layer(cors(&config.cors_origins))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(()),
        )
        .layer(middleware::from_fn(close_after_unread_body))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// Adds to every operation what the layers in front of any service route can answer: 503 (the
/// database deadline and gate) and, for an operation with a request body, 408 (a body that does
/// not arrive in time). A route that describes one of these itself keeps its description.
fn document_layer_responses(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let mut answers = DbUnavailable::responses();
            if operation.request_body.is_some() {
                answers.extend(BodyTimeout::responses());
            }
            for (status, response) in answers {
                operation
                    .responses
                    .responses
                    .entry(status)
                    .or_insert(response);
            }
        }
    }
}

/// Declares how protected routes are called: a bearer token pasted as it is (`bearer`), or one
/// that Swagger UI's "Authorize" gets itself from the user service's `POST /users/token` with an
/// email and a password (`oauth2`, the password flow at `token_url`), as FastAPI's docs do. Every
/// operation that asks for `bearer` accepts either.
fn declare_bearer_auth(openapi: &mut OpenApi, token_url: &str) {
    let components = openapi.components.get_or_insert_default();
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from POST /users/login"))
                .build(),
        ),
    );
    components.add_security_scheme(
        OAUTH2_SCHEME,
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::Password(Password::new(token_url, Scopes::new()))],
            "Sign in with your email (as the username) and password",
        )),
    );
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if let Some(security) = operation.security.as_mut().filter(|s| !s.is_empty()) {
                security.push(SecurityRequirement::new(
                    OAUTH2_SCHEME,
                    Vec::<String>::new(),
                ));
            }
        }
    }
}

/// Every log line of a request carries its id, method and path (never the query string, which
/// may hold an email address), and its trace id when it is traced.
fn request_span(request: &Request<Body>) -> Span {
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

/// The CORS layer of every service. One list serves all three, so a header only one service uses
/// (such as the order service's idempotency headers) is named here too; a header the browser is
/// not told about is invisible to a web shop's script.
fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            // The product service's image route answers 304 to a script that revalidates itself.
            header::IF_NONE_MATCH,
            IDEMPOTENCY_KEY,
            X_REQUEST_ID,
        ])
        .expose_headers([
            X_TOTAL_COUNT,
            header::LINK,
            X_REQUEST_ID,
            header::ETAG,
            // The user service's 429 on too many failed logins says when to try again.
            header::RETRY_AFTER,
            IDEMPOTENT_REPLAYED,
        ])
        .max_age(Duration::from_secs(3600));
    match origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => layer.allow_origin(list.clone()),
    }
}

/// Answers 503 when a request outlives `REQUEST_TIMEOUT_SECS`, counting the waits the database
/// deadline ([`deadline::guard`]) leaves out, such as a slow upload or a queue for bcrypt: the
/// backstop for everything a request can wait on.
async fn enforce_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
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
async fn close_after_unread_body(request: Request, next: Next) -> Response {
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
async fn error_bodies_in_contract_shape(request: Request, next: Next) -> Response {
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

async fn route_not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "No such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This route does not accept that method",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
}

/// Liveness.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Database health.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "db": "ecommerce", "latency_ms": 0.42}))]
pub struct DbHealth {
    /// `ok`.
    pub status: &'static str,
    /// The database name (`DB_NAME`).
    pub db: String,
    /// Round trip of a `ping`, in milliseconds.
    pub latency_ms: f64,
}

/// Database health when the database cannot be reached.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "error", "detail": "The database is unavailable", "error_code": "DB_UNAVAILABLE"}))]
pub struct DbHealthError {
    /// `error`.
    pub status: &'static str,
    /// What is wrong.
    pub detail: &'static str,
    /// `DB_UNAVAILABLE`.
    pub error_code: &'static str,
}

/// Liveness: answers without touching the database.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The service is running", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness of the database: a `ping` round trip, or 503 within 2 s when it cannot be reached.
#[utoipa::path(get, path = "/health/db", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = DbHealth),
        (status = 503, description = "The database cannot be reached", body = DbHealthError),
    ))]
async fn health_db(State(gate): State<DbGate>) -> Response {
    match gate.check().await {
        Ok(latency) => Json(DbHealth {
            status: "ok",
            db: gate.db_name().to_owned(),
            latency_ms: latency.as_secs_f64() * 1000.0,
        })
        .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "database health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(DbHealthError {
                    status: "error",
                    detail: "The database is unavailable",
                    error_code: "DB_UNAVAILABLE",
                }),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
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
