//! Reading request bodies: JSON and form bodies with their content types, raw bodies, the size
//! limit (413) and the read timeout (408), the waiting paused out of the database budget.

use axum::{
    body::Bytes,
    extract::{FromRequest, OptionalFromRequest, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

use crate::validate::Validate;

use super::decode::{from_json, from_urlencoded};

/// How long [`JsonBody`] waits for the whole body once the headers have arrived; a body still
/// incomplete then (a stalled or trickling upload) is answered 408 `REQUEST_TIMEOUT`.
///
/// It is a constant, shorter than the default `REQUEST_TIMEOUT_SECS` (10 s), so a slow client is
/// told apart from a slow database (503). With `REQUEST_TIMEOUT_SECS` set below 5 s, the request
/// timeout answers first.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request body accepted (contract: 64 KiB, larger → 413); the platform's router
/// sets it as every route's default limit.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A JSON request body of type `T`, deserialized and validated.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = has_json_content_type(req.headers());
        let bytes = read_declared_body(
            req,
            state,
            declared,
            "Expected a JSON body with Content-Type: application/json",
        )
        .await?;
        let value: T = from_json(&bytes)?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// An optional JSON body (`Option<JsonBody<T>>`): `None` for a request with no body and no
/// `Content-Type`, as a body-less `POST` is sent; otherwise read as [`JsonBody`] reads it (a
/// body without `Content-Type: application/json` is 415).
impl<T, S> OptionalFromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some);
        }
        let bytes =
            crate::budget::paused(read_body(req, state, BODY_READ_TIMEOUT, BODY_LIMIT_BYTES))
                .await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        Err(ApiError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Expected a JSON body with Content-Type: application/json",
        ))
    }
}

/// The body of a request whose `Content-Type` was `declared` as the extractor's format (else 415
/// with `refusal`), read as every body is: within [`BODY_READ_TIMEOUT`] (408), at most the
/// services' 64 KiB (413), and with the request's database deadline paused, since a slow upload
/// is the client's time, not the database's.
async fn read_declared_body<S: Send + Sync>(
    req: Request,
    state: &S,
    declared: bool,
    refusal: &'static str,
) -> ApiResult<Bytes> {
    if !declared {
        return Err(ApiError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            refusal,
        ));
    }
    crate::budget::paused(read_body(req, state, BODY_READ_TIMEOUT, BODY_LIMIT_BYTES)).await
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    has_content_type(headers, "application", "json")
        || content_type(headers).is_some_and(|(kind, subtype)| {
            kind.eq_ignore_ascii_case("application")
                && subtype.to_ascii_lowercase().ends_with("+json")
        })
}

/// Whether the request's `Content-Type` is `kind/subtype` (in any case, parameters ignored).
fn has_content_type(headers: &HeaderMap, kind: &str, subtype: &str) -> bool {
    content_type(headers)
        .is_some_and(|(k, s)| k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype))
}

/// The request's `Content-Type` without its parameters, as type and subtype.
fn content_type(headers: &HeaderMap) -> Option<(&str, &str)> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.split_once('/')
}

/// A whole request body that is not JSON (such as an image), read as [`JsonBody`] reads its own:
/// waiting for it is the client's time, not the database's ([`crate::budget::paused`]); a body
/// that has not arrived within [`BODY_READ_TIMEOUT`] is 408 `REQUEST_TIMEOUT`, one over
/// `max_bytes` 413 `PAYLOAD_TOO_LARGE`, one that cannot be read 400 `INVALID_BODY`.
///
/// The route must raise its own `DefaultBodyLimit` to `max_bytes`: the services' 64 KiB
/// ([`BODY_LIMIT_BYTES`]) applies otherwise.
pub async fn read_raw_body<S: Send + Sync>(
    req: Request,
    state: &S,
    max_bytes: usize,
) -> ApiResult<Bytes> {
    let bytes = crate::budget::paused(read_body(req, state, BODY_READ_TIMEOUT, max_bytes)).await?;
    if bytes.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(bytes)
}

/// Reads the whole body within `limit`, or answers 408 `REQUEST_TIMEOUT`; `max_bytes` is the
/// route's body limit, named in a 413.
async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
    limit: Duration,
    max_bytes: usize,
) -> ApiResult<Bytes> {
    match tokio::time::timeout(limit, Bytes::from_request(req, state)).await {
        Ok(read) => read.map_err(|rejection| body_read_error(&rejection, max_bytes)),
        Err(_) => Err(ApiError::client(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request body did not arrive in time",
        )),
    }
}

fn body_read_error(rejection: &BytesRejection, max_bytes: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max_bytes)
    } else {
        ApiError::bad_request("INVALID_BODY", "The request body could not be read")
    }
}

fn too_large(max_bytes: usize) -> ApiError {
    ApiError::client(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("The request body is larger than {} KiB", max_bytes / 1024),
    )
}

/// A form body (`application/x-www-form-urlencoded`, as an OAuth2 token request is sent) of
/// type `T`, deserialized and validated, answered like [`JsonBody`]: 415 for another content
/// type, 413, 408, and 422 at `["body", field]`.
#[derive(Debug)]
pub struct FormBody<T>(pub T);

impl<T, S> FromRequest<S> for FormBody<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = has_content_type(req.headers(), "application", "x-www-form-urlencoded");
        let bytes = read_declared_body(
            req,
            state,
            declared,
            "Expected a form body with Content-Type: application/x-www-form-urlencoded",
        )
        .await?;
        let value: T = from_urlencoded(&bytes, "body")?;
        value.validate()?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod body_timeout_tests {
    use axum::{body::Body, response::IntoResponse};
    use futures_util::stream::{self, StreamExt};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Anything {}

    impl Validate for Anything {}

    /// A body that sends one chunk and then nothing, forever.
    fn stalled_body() -> Body {
        let first = stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{\"a\":")) });
        Body::from_stream(first.chain(stream::pending()))
    }

    // Paused time advances on its own while everything waits, so the 5 s pass instantly.
    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_is_answered_408_after_the_body_read_timeout() {
        let request = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(stalled_body())
            .unwrap();
        let started = tokio::time::Instant::now();

        let err = <JsonBody<Anything> as FromRequest<()>>::from_request(request, &())
            .await
            .unwrap_err();

        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            serde_json::json!({
                "detail": "The request body did not arrive in time",
                "error_code": "REQUEST_TIMEOUT",
            })
        );
    }

    // Receiving the body is the client's time: the database budget (1.5 s, as the platform's
    // deadline layer gives it) must not run out for a body that is still arriving.
    #[tokio::test(start_paused = true)]
    async fn behind_a_database_budget_a_stalled_body_is_still_answered_408() {
        use axum::{
            Router,
            middleware::{self, Next},
            response::{IntoResponse, Response},
            routing::post,
        };
        use tower::ServiceExt;

        async fn under_budget(request: Request<Body>, next: Next) -> Response {
            let budget = crate::budget::Budget::start(Duration::from_millis(1500));
            tokio::select! {
                response = budget.scope(next.run(request)) => response,
                () = budget.expired() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }

        let app = Router::new()
            .route("/", post(|_: JsonBody<Anything>| async { "read" }))
            .layer(middleware::from_fn(under_budget));
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(stalled_body())
            .unwrap();
        let started = tokio::time::Instant::now();

        let response = app.oneshot(request).await.unwrap();

        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_raw_body_is_read_within_its_own_limit_and_timeout() {
        // No route layer here: the limit given is enforced all the same.
        let read = |body: Body| async move {
            let request = Request::builder().method("PUT").body(body).unwrap();
            read_raw_body(request, &(), 100).await
        };

        assert_eq!(read(Body::from(vec![1; 100])).await.unwrap().len(), 100);
        let too_large = read(Body::from(vec![1; 101])).await.unwrap_err();
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let started = tokio::time::Instant::now();
        let stalled = read(stalled_body()).await.unwrap_err();
        assert_eq!(stalled.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_is_read() {
        let request = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();

        assert!(
            <JsonBody<Anything> as FromRequest<()>>::from_request(request, &())
                .await
                .is_ok()
        );
    }

    #[test]
    fn content_types_with_parameters_and_suffixes_are_json() {
        for (value, expected) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("json", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(has_json_content_type(&headers), expected, "{value}");
        }
        assert!(!has_json_content_type(&HeaderMap::new()));
    }
}
