//! Drives a service's router in process, and what it answers.

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header},
};
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;

/// Sends requests to a router in process.
#[derive(Clone)]
pub struct TestClient {
    router: Router,
}

impl TestClient {
    /// A client for `router`.
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// Starts a request with any method.
    pub fn request(&self, method: Method, uri: &str) -> TestRequest {
        TestRequest {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(uri),
            body: Body::empty(),
        }
    }

    /// Starts a GET request.
    pub fn get(&self, uri: &str) -> TestRequest {
        self.request(Method::GET, uri)
    }

    /// Starts a POST request.
    pub fn post(&self, uri: &str) -> TestRequest {
        self.request(Method::POST, uri)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, uri: &str) -> TestRequest {
        self.request(Method::PATCH, uri)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, uri: &str) -> TestRequest {
        self.request(Method::DELETE, uri)
    }
}

/// A request being built; finish with [`TestRequest::send`].
pub struct TestRequest {
    router: Router,
    builder: axum::http::request::Builder,
    body: Body,
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.builder = self.builder.header(name.as_ref(), value.as_ref());
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sends `value` as a JSON body.
    pub fn json(mut self, value: &impl Serialize) -> Self {
        self.builder = self
            .builder
            .header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(value).expect("serializable"));
        self
    }

    /// Sends raw bytes as the body, with whatever headers were set.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    pub async fn send(self) -> TestResponse {
        let request = self.builder.body(self.body).expect("a valid request");
        let response = self.router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body can be read");
        TestResponse {
            status,
            headers,
            body,
        }
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Bytes,
}

impl TestResponse {
    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(HeaderName::from_bytes(name.as_bytes()).ok()?)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    }

    /// Asserts the status and the contract's error body, and returns the body.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, error_code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body["error_code"], error_code, "body: {body}");
        assert!(
            body["detail"].is_string() || body["detail"].is_array(),
            "detail missing: {body}"
        );
        body
    }

    /// Asserts a 422 and returns the `loc` of every field error, e.g. `["body", "email"]`.
    #[track_caller]
    pub fn assert_validation_error(&self) -> Vec<Value> {
        let body = self.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
        let detail = body["detail"].as_array().expect("detail is a list").clone();
        assert!(!detail.is_empty(), "no field errors: {body}");
        detail
            .into_iter()
            .map(|error| error["loc"].clone())
            .collect()
    }
}
