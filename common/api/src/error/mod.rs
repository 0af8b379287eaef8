//! The one error type of every service, rendered as the contract's error body.
//!
//! Client errors carry a stable `error_code` and a sentence for humans. Server errors (5xx) keep
//! their cause for the log, where the request id of the surrounding span ties it to the request,
//! and send only a generic sentence: no driver messages, no internals.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use mongodb::error::{ErrorKind, WriteFailure};

mod body;

pub use self::body::{ErrorBody, FieldError, Loc, ValidationErrorBody, Violations};

/// `Result` with [`ApiError`] as the error.
pub type ApiResult<T> = Result<T, ApiError>;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error with a stable code, e.g. 404 `ORDER_NOT_FOUND`.
    #[error("{status} {code}: {detail}")]
    Client {
        status: StatusCode,
        code: &'static str,
        detail: Cow<'static, str>,
    },
    /// 422 `VALIDATION_ERROR` with FastAPI's list of field errors.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// 422 in the same shape as [`ApiError::Validation`], with an `error_code` of its own, for a
    /// request that is well-formed but refused for a reason a client must tell apart (e.g.
    /// `IDEMPOTENCY_KEY_REUSED`). Built with [`ApiError::validation_with_code`].
    #[error("{code}: {errors:?}")]
    CodedValidation {
        code: &'static str,
        errors: Vec<FieldError>,
    },
    /// 429 `TOO_MANY_ATTEMPTS`, with `Retry-After` in seconds.
    ///
    /// Only the user service answers it (its failed-login limit). It is a variant here rather
    /// than a type of that service because it is one of the contract's error bodies (plus a
    /// header), and every handler returns this one error type.
    #[error("too many attempts, retry after {retry_after_secs}s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// 429 `RATE_LIMITED`, with `Retry-After` in seconds: one client (IP address) sent more
    /// requests than its limit allows.
    #[error("rate limited, retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    /// 503 `OVERLOADED`, with `Retry-After` in seconds: work the request needs (such as a bcrypt
    /// hash) could not start soon, so the request is refused instead of queued without bound.
    #[error("overloaded, retry after {retry_after_secs}s")]
    Overloaded { retry_after_secs: u64 },
    /// 503 `DB_UNAVAILABLE`: the database could not be reached in time.
    #[error("database unavailable: {0:#}")]
    DbUnavailable(anyhow::Error),
    /// 500 `INTERNAL_ERROR`: a bug or an unexpected failure.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// A client error with any status.
    pub fn client(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Client {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// 422 with FastAPI's list of field errors and `code` as its `error_code`, instead of
    /// `VALIDATION_ERROR`.
    pub fn validation_with_code(code: &'static str, errors: Vec<FieldError>) -> Self {
        Self::CodedValidation { code, errors }
    }

    /// 400 with the given code.
    pub fn bad_request(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 400 `INVALID_ID` "Invalid {what} id", for a malformed id in a path.
    pub fn invalid_id(what: &str) -> Self {
        Self::bad_request("INVALID_ID", format!("Invalid {what} id"))
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail)
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::FORBIDDEN, "FORBIDDEN", detail)
    }

    /// 404 with the given code.
    pub fn not_found(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::NOT_FOUND, code, detail)
    }

    /// 409 with the given code.
    pub fn conflict(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::CONFLICT, code, detail)
    }

    /// 500 for an unexpected failure; `cause` goes to the log only.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } => *status,
            Self::Validation(_) | Self::CodedValidation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyAttempts { .. } | Self::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::DbUnavailable(_) | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `error_code` of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Client { code, .. } => code,
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::CodedValidation { code, .. } => code,
            Self::TooManyAttempts { .. } => "TOO_MANY_ATTEMPTS",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Overloaded { .. } => "OVERLOADED",
            Self::DbUnavailable(_) => "DB_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

impl From<mongodb::error::Error> for ApiError {
    fn from(err: mongodb::error::Error) -> Self {
        if is_unavailable(&err) {
            Self::DbUnavailable(err.into())
        } else {
            Self::Internal(err.into())
        }
    }
}

/// Marks a 503 whose cause is the driver failing to reach the database (rather than a deadline
/// that expired): the platform's deadline layer (`common_platform::deadline::guard`) stops sending requests to the database when it sees
/// one.
#[derive(Clone, Copy, Debug)]
pub struct Unreachable;

/// Server codes that mean "no usable primary right now" rather than a bad request.
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Whether `err` means the database cannot be reached or has no primary (answered 503), as opposed
/// to a bug or a rejected operation (answered 500). It decides a status, so it lives with the
/// statuses rather than in `db`, which would make the two modules depend on each other.
fn is_unavailable(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => true,
        ErrorKind::Command(e) => UNAVAILABLE_CODES.contains(&e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => UNAVAILABLE_CODES.contains(&e.code),
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = match self {
            Self::Validation(errors) | Self::CodedValidation { errors, .. } => (
                status,
                Json(ValidationErrorBody {
                    detail: errors,
                    error_code: code.into(),
                }),
            )
                .into_response(),
            Self::Client { detail, .. } => error_body(status, code, detail),
            Self::TooManyAttempts { retry_after_secs } => retry_later(
                error_body(
                    status,
                    code,
                    "Too many failed login attempts; try again later".into(),
                ),
                retry_after_secs,
            ),
            Self::RateLimited { retry_after_secs } => retry_later(
                error_body(
                    status,
                    code,
                    "Too many requests from this client; try again later".into(),
                ),
                retry_after_secs,
            ),
            Self::Overloaded { retry_after_secs } => retry_later(
                error_body(
                    status,
                    code,
                    "The service is busy; try again shortly".into(),
                ),
                retry_after_secs,
            ),
            Self::DbUnavailable(cause) => {
                let mut response = retry_later(
                    error_body(
                        status,
                        code,
                        "The database is unavailable; try again shortly".into(),
                    ),
                    1,
                );
                if cause.downcast_ref::<mongodb::error::Error>().is_some() {
                    response.extensions_mut().insert(Unreachable);
                }
                response
            }
            Self::Internal(_) => error_body(status, code, "Internal server error".into()),
        };
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn retry_later(mut response: Response, retry_after_secs: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn error_body(status: StatusCode, code: &str, detail: Cow<'static, str>) -> Response {
    (
        status,
        Json(ErrorBody {
            detail: detail.into_owned(),
            error_code: code.into(),
        }),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    async fn rendered(err: ApiError) -> (StatusCode, Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_validation_error_with_its_own_code_keeps_the_422_list_shape() {
        let field = FieldError::new(
            [Loc::from("header"), Loc::from("Idempotency-Key")],
            "Used with a different request",
            "value_error",
        );
        let err = ApiError::validation_with_code("IDEMPOTENCY_KEY_REUSED", vec![field]);

        assert_eq!(err.code(), "IDEMPOTENCY_KEY_REUSED");
        let (status, body) = rendered(err).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body,
            json!({
                "detail": [{
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "Used with a different request",
                    "type": "value_error",
                }],
                "error_code": "IDEMPOTENCY_KEY_REUSED",
            })
        );
    }

    #[tokio::test]
    async fn rate_limited_and_overloaded_carry_retry_after_and_their_codes() {
        for (err, status, code, secs) in [
            (
                ApiError::RateLimited {
                    retry_after_secs: 7,
                },
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "7",
            ),
            (
                ApiError::Overloaded {
                    retry_after_secs: 1,
                },
                StatusCode::SERVICE_UNAVAILABLE,
                "OVERLOADED",
                "1",
            ),
        ] {
            let response = err.into_response();
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[header::RETRY_AFTER], secs);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["error_code"], code);
            assert!(body["detail"].is_string());
        }
    }

    #[tokio::test]
    async fn a_plain_validation_error_is_still_validation_error() {
        let field = FieldError::new([Loc::from("body")], "Field required", "missing");

        let (status, body) = rendered(ApiError::Validation(vec![field])).await;

        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error_code"], "VALIDATION_ERROR");
        assert!(body["detail"].is_array());
    }
}
