//! The error responses the user service's own routes share, declared once for OpenAPI beside the
//! shared sets of `common_api::openapi`. The enums are never built: they only describe responses.

#![allow(dead_code, reason = "the enums only describe responses")]

use common_api::error::ErrorBody;
use utoipa::IntoResponses;

/// 429 `RATE_LIMITED` of the rate-limited routes (login lists its own 429, which has two causes).
#[derive(IntoResponses)]
pub enum RateLimitedError {
    /// The client sent too many requests.
    #[response(
        status = 429,
        description = "Too many requests from this client (IP address): `RATE_LIMITED`, see `RATE_LIMIT_PER_MINUTE` and `RATE_LIMIT_BURST`",
        headers(("Retry-After" = u64, description = "Seconds until the client may try again"))
    )]
    RateLimited(ErrorBody),
}

/// The 503 of the routes that hash a password; it replaces the shared `DbUnavailable` set there,
/// since an operation lists each status once.
#[derive(IntoResponses)]
pub enum BusyOrDbUnavailable {
    /// The database or the password hasher cannot serve the request now.
    #[response(
        status = 503,
        description = "Database unavailable (`DB_UNAVAILABLE`), or too many password checks queued (`OVERLOADED`, with `Retry-After: 1`)",
        headers(("Retry-After" = u64, description = "With `OVERLOADED`: seconds until the client may try again"))
    )]
    Unavailable(ErrorBody),
}
